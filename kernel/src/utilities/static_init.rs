// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! `static_init!` and `static_buf!`: statically allocated kernel objects, as
//! Tock's boards create them.
//!
//! Both have Tock's semantics: each expansion owns one `static mut` buffer;
//! running the same expansion a second time (in a loop, or by calling the
//! function that holds it twice) panics instead of handing out a second
//! `&'static mut` to the same memory; and the caller must be in an `unsafe`
//! context, because the macros touch a `static mut`.
//!
//! `static_init!(T, value)` builds `value` first and then moves it into the
//! buffer, so the value passes through the stack: a large object (a
//! page-table pool of many KiB) belongs in a `static` of its own, or in a
//! `static_buf!` that is then initialized in place.

/// Marks a `static_buf!` buffer as handed out; panics if it already was.
///
/// Public only for the macros' expansions.
#[inline(never)]
pub fn static_buf_check_used(used: &mut bool) {
    if *used {
        panic!("static_buf!: the same buffer was taken twice");
    }
    *used = true;
}

/// Reserves static memory for one `T` and returns it uninitialized, as
/// `&'static mut MaybeUninit<T>`. Panics if the same expansion runs twice.
///
/// Must be expanded inside `unsafe`: it takes a reference to a `static mut`,
/// which is sound because the used flag makes it the only one.
#[macro_export]
macro_rules! static_buf {
    ($T:ty $(,)?) => {{
        static mut BUF: (core::mem::MaybeUninit<$T>, bool) =
            (core::mem::MaybeUninit::uninit(), false);
        let buf = &raw mut BUF;
        $crate::utilities::static_init::static_buf_check_used(&mut (*buf).1);
        &mut (*buf).0
    }};
}

/// Allocates a `T` statically, initializes it with `value` and returns
/// `&'static mut T`. Panics if the same expansion runs twice.
///
/// Must be expanded inside `unsafe` (see `static_buf!`).
#[macro_export]
macro_rules! static_init {
    ($T:ty, $value:expr $(,)?) => {{
        let buf: &'static mut core::mem::MaybeUninit<$T> = $crate::static_buf!($T);
        buf.write($value)
    }};
}

#[cfg(test)]
mod tests {
    extern crate std;

    fn make_counter() -> &'static mut u32 {
        // SAFETY: the macro's buffer is taken at most once (it panics
        // otherwise), so this is the only reference to it.
        unsafe { crate::static_init!(u32, 7) }
    }

    #[test]
    fn static_init_returns_the_initialized_value() {
        // SAFETY: as in `make_counter`.
        let value = unsafe { crate::static_init!([u16; 3], [1, 2, 3]) };
        value[1] = 20;
        assert_eq!(*value, [1, 20, 3]);
    }

    #[test]
    fn an_expansion_that_runs_twice_panics() {
        let first = make_counter();
        assert_eq!(*first, 7);
        let second = std::panic::catch_unwind(make_counter);
        assert!(second.is_err(), "a second &'static mut to the same buffer");
        // The first reference is still the only one, and still usable.
        *first += 1;
        assert_eq!(*first, 8);
    }
}
