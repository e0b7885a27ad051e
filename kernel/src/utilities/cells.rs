// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Interior-mutability cells with Tock's `tock-cells` API.
//!
//! Tock keeps these in its `tock-cells` library, which is not published on a
//! registry we can reach; this module offers the same types, method names and
//! signatures so that capsules written for Tock compile unchanged.

use core::cell::{Cell, UnsafeCell};

/// A shared reference to a mutable reference (`&'a mut T`) that can be taken
/// out, used, and put back.
pub struct TakeCell<'a, T: 'a + ?Sized> {
    val: Cell<Option<&'a mut T>>,
}

impl<'a, T: ?Sized> TakeCell<'a, T> {
    pub const fn empty() -> TakeCell<'a, T> {
        TakeCell {
            val: Cell::new(None),
        }
    }

    pub fn new(value: &'a mut T) -> TakeCell<'a, T> {
        TakeCell {
            val: Cell::new(Some(value)),
        }
    }

    pub fn is_none(&self) -> bool {
        !self.is_some()
    }

    pub fn is_some(&self) -> bool {
        let inner = self.val.take();
        let present = inner.is_some();
        self.val.set(inner);
        present
    }

    pub fn take(&self) -> Option<&'a mut T> {
        self.val.take()
    }

    pub fn put(&self, val: Option<&'a mut T>) {
        self.val.set(val);
    }

    pub fn replace(&self, val: &'a mut T) -> Option<&'a mut T> {
        self.val.replace(Some(val))
    }

    pub fn get_mut(&mut self) -> Option<&mut T> {
        match self.val.get_mut() {
            Some(v) => Some(*v),
            None => None,
        }
    }

    /// Runs `closure` on the value, if present. The value is out of the cell
    /// while the closure runs, so a nested `map` sees an empty cell.
    pub fn map<F, R>(&self, closure: F) -> Option<R>
    where
        F: FnOnce(&mut T) -> R,
    {
        let maybe_val = self.take();
        maybe_val.map(|val| {
            let res = closure(val);
            self.replace(val);
            res
        })
    }

    pub fn map_or<F, R>(&self, default: R, closure: F) -> R
    where
        F: FnOnce(&mut T) -> R,
    {
        self.map(closure).unwrap_or(default)
    }

    pub fn map_or_else<U, D, F>(&self, default: D, f: F) -> U
    where
        D: FnOnce() -> U,
        F: FnOnce(&mut T) -> U,
    {
        self.map(f).unwrap_or_else(default)
    }

    pub fn and_then<F, R>(&self, closure: F) -> Option<R>
    where
        F: FnOnce(&mut T) -> Option<R>,
    {
        self.map(closure).flatten()
    }

    pub fn modify_or_replace<F, G>(&self, modify: F, mkval: G)
    where
        F: FnOnce(&mut T),
        G: FnOnce() -> &'a mut T,
    {
        let val = match self.take() {
            Some(val) => {
                modify(val);
                val
            }
            None => mkval(),
        };
        self.replace(val);
    }
}

/// A `Cell<Option<T>>` with convenience methods.
pub struct OptionalCell<T> {
    value: Cell<Option<T>>,
}

impl<T> OptionalCell<T> {
    pub const fn new(val: T) -> OptionalCell<T> {
        OptionalCell {
            value: Cell::new(Some(val)),
        }
    }

    pub const fn empty() -> OptionalCell<T> {
        OptionalCell {
            value: Cell::new(None),
        }
    }

    pub fn set(&self, val: T) {
        self.value.set(Some(val));
    }

    pub fn insert(&self, opt: Option<T>) {
        self.value.set(opt);
    }

    pub fn replace(&self, val: T) -> Option<T> {
        self.value.replace(Some(val))
    }

    pub fn clear(&self) {
        self.value.set(None);
    }

    pub fn is_some(&self) -> bool {
        let v = self.value.take();
        let present = v.is_some();
        self.value.set(v);
        present
    }

    pub fn is_none(&self) -> bool {
        !self.is_some()
    }

    pub fn contains(&self, x: &T) -> bool
    where
        T: PartialEq,
    {
        let v = self.value.take();
        let equal = v.as_ref() == Some(x);
        self.value.set(v);
        equal
    }

    pub fn ok_or<E>(self, err: E) -> Result<T, E> {
        self.value.into_inner().ok_or(err)
    }

    pub fn ok_or_else<E, F>(self, err: F) -> Result<T, E>
    where
        F: FnOnce() -> E,
    {
        self.value.into_inner().ok_or_else(err)
    }

    pub fn and<U>(self, optb: Option<U>) -> Option<U> {
        self.value.into_inner().and(optb)
    }

    pub fn filter<P>(self, predicate: P) -> Option<T>
    where
        P: FnOnce(&T) -> bool,
    {
        self.value.into_inner().filter(predicate)
    }

    pub fn or(self, optb: Option<T>) -> Option<T> {
        self.value.into_inner().or(optb)
    }

    pub fn or_else<F>(self, f: F) -> Option<T>
    where
        F: FnOnce() -> Option<T>,
    {
        self.value.into_inner().or_else(f)
    }

    pub fn take(&self) -> Option<T> {
        self.value.take()
    }

    pub fn unwrap_or_default(self) -> T
    where
        T: Default,
    {
        self.value.into_inner().unwrap_or_default()
    }
}

impl<T: Copy> OptionalCell<T> {
    pub fn get(&self) -> Option<T> {
        self.value.get()
    }

    pub fn unwrap_or_panic(&self) -> T {
        self.value.get().unwrap()
    }

    pub fn unwrap_or(&self, default: T) -> T {
        self.value.get().unwrap_or(default)
    }

    pub fn unwrap_or_else<F>(&self, default: F) -> T
    where
        F: FnOnce() -> T,
    {
        self.value.get().unwrap_or_else(default)
    }

    pub fn map<F, R>(&self, closure: F) -> Option<R>
    where
        F: FnOnce(T) -> R,
    {
        self.value.get().map(closure)
    }

    pub fn map_or<F, R>(&self, default: R, closure: F) -> R
    where
        F: FnOnce(T) -> R,
    {
        self.value.get().map_or(default, closure)
    }

    pub fn map_or_else<U, D, F>(&self, default: D, closure: F) -> U
    where
        D: FnOnce() -> U,
        F: FnOnce(T) -> U,
    {
        self.value.get().map_or_else(default, closure)
    }

    pub fn and_then<U, F: FnOnce(T) -> Option<U>>(&self, f: F) -> Option<U> {
        self.value.get().and_then(f)
    }
}

impl<T> Default for OptionalCell<T> {
    fn default() -> Self {
        OptionalCell::empty()
    }
}

/// A cell owning a value that is lent out by reference to a closure.
///
/// While a closure runs the cell reads as borrowed: a nested `map` returns
/// `None` instead of creating a second `&mut`.
pub struct MapCell<T> {
    // `None` when empty. `borrowed` is set while a closure holds `&mut T`.
    val: UnsafeCell<Option<T>>,
    borrowed: Cell<bool>,
}

impl<T: Copy> MapCell<T> {
    pub fn get(&self) -> Option<T> {
        self.map(|v| *v)
    }
}

impl<T> MapCell<T> {
    pub const fn empty() -> MapCell<T> {
        MapCell {
            val: UnsafeCell::new(None),
            borrowed: Cell::new(false),
        }
    }

    pub const fn new(value: T) -> MapCell<T> {
        MapCell {
            val: UnsafeCell::new(Some(value)),
            borrowed: Cell::new(false),
        }
    }

    pub fn is_none(&self) -> bool {
        !self.is_some()
    }

    /// True if the cell holds a value (also while it is lent out).
    pub fn is_some(&self) -> bool {
        // SAFETY: a shared read of the discriminant; while lent out, the
        // closure's `&mut T` points inside the `Some`, whose tag never
        // changes during a borrow (take/put/replace refuse while borrowed).
        self.borrowed.get() || unsafe { (*self.val.get()).is_some() }
    }

    pub fn take(&self) -> Option<T> {
        if self.borrowed.get() {
            return None;
        }
        // SAFETY: not borrowed, so no reference into the cell exists.
        unsafe { (*self.val.get()).take() }
    }

    /// Stores `val`. Dropped silently if the cell is lent out (Tock panics
    /// with `debug_panics`; a kernel bug either way).
    pub fn put(&self, val: T) {
        let _ = self.replace(val);
    }

    pub fn replace(&self, val: T) -> Option<T> {
        if self.borrowed.get() {
            return Some(val);
        }
        // SAFETY: not borrowed, so no reference into the cell exists.
        unsafe { (*self.val.get()).replace(val) }
    }

    pub fn map<F, R>(&self, closure: F) -> Option<R>
    where
        F: FnOnce(&mut T) -> R,
    {
        if self.borrowed.get() {
            return None;
        }
        // SAFETY: not borrowed, so this is the only reference into the cell;
        // `borrowed` stays set until the closure returns, which makes every
        // other method refuse to touch the value meanwhile.
        let val = unsafe { (*self.val.get()).as_mut() }?;
        struct Release<'a>(&'a Cell<bool>);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        self.borrowed.set(true);
        let _release = Release(&self.borrowed);
        Some(closure(val))
    }

    pub fn map_or<F, R>(&self, default: R, closure: F) -> R
    where
        F: FnOnce(&mut T) -> R,
    {
        self.map(closure).unwrap_or(default)
    }

    pub fn and_then<F, R>(&self, closure: F) -> Option<R>
    where
        F: FnOnce(&mut T) -> Option<R>,
    {
        self.map(closure).flatten()
    }

    pub fn modify_or_replace<F, G>(&self, modify: F, mkval: G)
    where
        F: FnOnce(&mut T),
        G: FnOnce() -> T,
    {
        if self.map(modify).is_none() {
            self.put(mkval());
        }
    }
}

/// Arithmetic helpers on `Cell`s of numbers.
pub trait NumericCellExt<T>
where
    T: Copy + core::ops::Add + core::ops::Sub,
{
    fn add(&self, val: T);
    fn subtract(&self, val: T);
    fn increment(&self);
    fn decrement(&self);
    fn get_and_increment(&self) -> T;
    fn get_and_decrement(&self) -> T;
}

impl<T> NumericCellExt<T> for Cell<T>
where
    T: Copy + core::ops::Add<Output = T> + core::ops::Sub<Output = T> + From<usize>,
{
    fn add(&self, val: T) {
        self.set(self.get() + val);
    }

    fn subtract(&self, val: T) {
        self.set(self.get() - val);
    }

    fn increment(&self) {
        self.set(self.get() + T::from(1_usize));
    }

    fn decrement(&self) {
        self.set(self.get() - T::from(1_usize));
    }

    fn get_and_increment(&self) -> T {
        let old = self.get();
        self.set(old + T::from(1_usize));
        old
    }

    fn get_and_decrement(&self) -> T {
        let old = self.get();
        self.set(old - T::from(1_usize));
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_cell_map_puts_back() {
        let mut x = 5u32;
        let cell = TakeCell::new(&mut x);
        assert_eq!(
            cell.map(|v| {
                *v += 1;
                *v
            }),
            Some(6)
        );
        assert!(cell.is_some());
        let inner = cell.take().unwrap();
        assert_eq!(*inner, 6);
        assert!(cell.is_none());
        assert_eq!(cell.map(|v| *v), None);
    }

    #[test]
    fn optional_cell_basics() {
        let c = OptionalCell::empty();
        assert!(c.is_none());
        c.set(3u8);
        assert!(c.contains(&3));
        assert_eq!(c.replace(4), Some(3));
        assert_eq!(c.map(|v| v * 2), Some(8));
        assert_eq!(c.take(), Some(4));
        assert_eq!(c.unwrap_or(9), 9);
    }

    #[test]
    fn map_cell_refuses_nested_borrow() {
        let c = MapCell::new(1u32);
        let nested = c.map(|v| {
            *v = 2;
            (c.map(|w| *w), c.take(), c.is_some())
        });
        assert_eq!(nested, Some((None, None, true)));
        assert_eq!(c.get(), Some(2));
        assert_eq!(c.take(), Some(2));
        assert!(c.is_none());
    }

    #[test]
    fn numeric_cell_ext() {
        let c = Cell::new(5usize);
        c.increment();
        c.add(4);
        assert_eq!(c.get_and_decrement(), 10);
        assert_eq!(c.get(), 9);
    }
}
