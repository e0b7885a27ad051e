// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! A reference to memory at a fixed address, typically MMIO registers.

use core::ops::Deref;
use core::ptr::NonNull;

/// A pointer to statically allocated, mutable data such as memory-mapped
/// registers, usable as a `&'static T`.
#[derive(Debug)]
pub struct StaticRef<T> {
    ptr: NonNull<T>,
}

impl<T> StaticRef<T> {
    /// Creates a new `StaticRef` from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be non-null, aligned for `T`, and point to memory that is
    /// valid as a `T` for the rest of the program (`'static`). Callers must
    /// make sure no `&mut` to that memory ever exists.
    pub const unsafe fn new(ptr: *const T) -> StaticRef<T> {
        StaticRef {
            // SAFETY: the caller promises `ptr` is non-null.
            ptr: unsafe { NonNull::new_unchecked(ptr.cast_mut()) },
        }
    }
}

impl<T> Clone for StaticRef<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for StaticRef<T> {}

impl<T> Deref for StaticRef<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `new` requires a pointer valid for `'static` with no
        // mutable aliases, so a shared reference is sound.
        unsafe { self.ptr.as_ref() }
    }
}
