// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Buffers lent to DMA devices.
//!
//! While a device reads or writes a buffer by DMA, Rust code must neither
//! hold a reference through which the compiler assumes the contents are
//! stable nor read data the device has not finished writing. A driver
//! therefore consumes the buffer into one of these types before it gives
//! the device the buffer's address, and gets the buffer back only once
//! the device can no longer reach it:
//!
//! - [`DmaSlice`] wraps a shared slice for DMA that only reads memory;
//! - [`DmaSliceMut`] wraps a unique slice for DMA that may write it, and
//!   gives it back through the `unsafe` [`DmaSliceMut::take`].
//!
//! Constructing either issues [`DmaFence::release`] over the slice, so
//! the Rust writes made before are visible to a device started afterwards
//! by an MMIO access; `take` issues [`DmaFence::acquire`], so the device's
//! writes are visible to the reads that follow. The element type is
//! restricted to plain integers ([`immutable_from_into_bytes`]), for which
//! any bytes a device leaves behind are a valid value.
//!
//! Tock also offers `DmaSubSlice` and `DmaSubSliceMut` over its
//! `leasable_buffer` types, and `DmaSliceMutImmut`; this kernel has no
//! `leasable_buffer` and leaves all three out (`doc/kernel.md`).
//!
//! ```
//! # use kernel::platform::dma_fence::DmaFence;
//! # use kernel::utilities::dma_slice::DmaSliceMut;
//! # #[derive(Clone, Copy, Debug)]
//! # struct CoherentFence;
//! # unsafe impl DmaFence for CoherentFence {
//! #     fn release<T>(self, _buf: *mut [T]) {}
//! #     fn acquire<T>(self, _buf: *mut [T]) {}
//! # }
//! # let device_address = core::cell::Cell::new(0usize);
//! let mut buffer = [0u32; 8];
//! // SAFETY: `take` is called below, once the device is stopped.
//! let lent = unsafe { DmaSliceMut::new(&mut buffer, CoherentFence) };
//! device_address.set(lent.ptr_addr()); // the MMIO write that starts DMA
//! // ... the device signals completion and is stopped ...
//! // SAFETY: the device can no longer reach the buffer.
//! let buffer = unsafe { lent.take(CoherentFence) };
//! assert_eq!(buffer.len(), 8);
//! ```

use core::marker::PhantomData;
use core::ptr::NonNull;

use self::immutable_from_into_bytes::ImmutableFromIntoBytes;
use crate::platform::dma_fence::DmaFence;

/// A shared slice lent to a device for DMA that only reads it.
///
/// Creating it releases the slice to devices (see the module
/// documentation). It must live until the driver has observed that the
/// DMA finished; since the device never writes the memory, dropping it
/// afterwards needs no fence and is safe.
#[derive(Debug)]
pub struct DmaSlice<'a, T: ImmutableFromIntoBytes> {
    slice: &'a [T],
}

#[allow(
    clippy::len_without_is_empty,
    reason = "Tock's DmaSlice has `len` and no `is_empty`"
)]
impl<'a, T: ImmutableFromIntoBytes> DmaSlice<'a, T> {
    /// Lends `slice`, releasing it with `fence`.
    pub fn new(slice: &[T], fence: impl DmaFence) -> DmaSlice<'_, T> {
        // The fence does not write through the pointer; `*mut` is only the
        // type `DmaFence` takes.
        fence.release::<T>(core::ptr::from_ref(slice).cast_mut());
        DmaSlice { slice }
    }

    /// The address of the first element, to program into the device.
    pub fn as_ptr(&self) -> *const T {
        self.slice.as_ptr()
    }

    /// The address of the first element as an integer (its provenance is
    /// not exposed).
    pub fn ptr_addr(&self) -> usize {
        self.as_ptr().addr()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.slice.len()
    }

    /// The slice itself: the device only reads it, so the kernel may too.
    pub fn get(&self) -> &'a [T] {
        self.slice
    }
}

/// A unique slice lent to a device for DMA that may read and write it.
///
/// Holds only a raw pointer, so no Rust reference to the memory exists
/// while the device owns it. Creating it releases the slice to devices;
/// [`take`](Self::take) acquires it back.
///
/// The rules for the driver: start DMA on the slice only after creating
/// this, and only within [`as_mut_ptr`](Self::as_mut_ptr) and
/// [`len`](Self::len); call `take` only after observing completion, when
/// the device can no longer write the memory; and never drop it otherwise
/// (for a borrowed slice that would end the borrow while the device may
/// still write, which is why [`new`](Self::new) is `unsafe`).
#[derive(Debug)]
pub struct DmaSliceMut<'a, T: ImmutableFromIntoBytes> {
    slice: NonNull<[T]>,
    _borrow: PhantomData<&'a mut [T]>,
}

#[allow(
    clippy::len_without_is_empty,
    reason = "Tock's DmaSliceMut has `len` and no `is_empty`"
)]
impl<'a, T: ImmutableFromIntoBytes> DmaSliceMut<'a, T> {
    /// Lends a `'static` slice, releasing it with `fence`. Safe: dropping
    /// the result without `take` only loses the slice for good, so no
    /// reference to it can ever alias the device's accesses.
    pub fn new_static(slice: &'static mut [T], fence: impl DmaFence) -> DmaSliceMut<'static, T> {
        // SAFETY: a `'static` borrow never ends, so the obligation of `new`
        // (no drop without `take`) cannot be broken in a way that matters:
        // a dropped result leaves the slice unreachable forever.
        unsafe { Self::new(slice, fence) }
    }

    /// Lends `slice`, releasing it with `fence`.
    ///
    /// # Safety
    ///
    /// The caller must not drop or forget the result: it must eventually
    /// give it to [`take`](Self::take), after the DMA finished. Otherwise
    /// the borrow of `slice` ends while a device may still write it, and
    /// without the acquire fence.
    #[must_use]
    pub unsafe fn new(slice: &mut [T], fence: impl DmaFence) -> DmaSliceMut<'_, T> {
        let slice = NonNull::from(slice);
        fence.release::<T>(slice.as_ptr());
        DmaSliceMut {
            slice,
            _borrow: PhantomData,
        }
    }

    /// The address of the first element, to program into the device.
    pub fn as_mut_ptr(&self) -> *mut T {
        self.slice.as_ptr().cast::<T>()
    }

    /// The address of the first element as an integer (its provenance is
    /// not exposed).
    pub fn ptr_addr(&self) -> usize {
        self.as_mut_ptr().addr()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.slice.len()
    }

    /// Acquires the slice back from devices with `fence` and returns it.
    ///
    /// # Safety
    ///
    /// The caller has observed (through a status register or a completion
    /// record) that every DMA started on the slice finished, and no device
    /// will access it again.
    pub unsafe fn take(self, fence: impl DmaFence) -> &'a mut [T] {
        fence.acquire::<T>(self.slice.as_ptr());
        let mut slice = self.slice;
        // SAFETY: `slice` came from a `&'a mut [T]` whose borrow this value
        // carried; the caller guarantees no device accesses it any more,
        // the acquire fence made the device's writes visible, and any bytes
        // it left are a valid `T` (`ImmutableFromIntoBytes`).
        unsafe { slice.as_mut() }
    }
}

/// Element types a device may fill with arbitrary bytes.
pub mod immutable_from_into_bytes {
    mod private {
        /// Keeps [`ImmutableFromIntoBytes`](super::ImmutableFromIntoBytes)
        /// to the types listed in this module.
        pub trait Sealed {}
    }

    /// A type whose values are exactly its bytes: any initialized bytes
    /// of its size form a valid value, every value is fully initialized
    /// (no padding), and it has no interior mutability. A slice of it can
    /// be handed to a device as bytes and read back as values, whatever
    /// the device wrote.
    ///
    /// # Safety
    ///
    /// An implementing type has no padding or other uninitialized bytes,
    /// no interior mutability, and no invalid bit patterns. The trait is
    /// sealed; only the unsigned integers implement it.
    pub unsafe trait ImmutableFromIntoBytes: private::Sealed {}

    macro_rules! plain_integers {
        ($($t:ty),*) => {$(
            impl private::Sealed for $t {}
            // SAFETY: an unsigned integer has no padding, no interior
            // mutability, and every bit pattern is a value.
            unsafe impl ImmutableFromIntoBytes for $t {}
        )*};
    }

    plain_integers!(u8, u16, u32, u64, u128);
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::{DmaSlice, DmaSliceMut};
    use crate::platform::dma_fence::DmaFence;
    use std::boxed::Box;
    use std::sync::Mutex;
    use std::vec::Vec;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Call {
        Release { address: usize, len: usize },
        Acquire { address: usize, len: usize },
    }

    /// A fence that only records its calls (nothing runs concurrently in
    /// these tests, so no ordering is needed).
    #[derive(Clone, Copy, Debug)]
    struct RecordingFence(&'static Mutex<Vec<Call>>);

    impl RecordingFence {
        fn new() -> RecordingFence {
            RecordingFence(Box::leak(Box::new(Mutex::new(Vec::new()))))
        }

        fn calls(&self) -> Vec<Call> {
            self.0.lock().unwrap().clone()
        }
    }

    // SAFETY: test only; the "device" below is the test itself, on the same
    // thread, so program order is all the ordering there is to provide.
    unsafe impl DmaFence for RecordingFence {
        fn release<T>(self, buf: *mut [T]) {
            let call = Call::Release {
                address: buf.cast::<T>().addr(),
                len: buf.len(),
            };
            self.0.lock().unwrap().push(call);
        }

        fn acquire<T>(self, buf: *mut [T]) {
            let call = Call::Acquire {
                address: buf.cast::<T>().addr(),
                len: buf.len(),
            };
            self.0.lock().unwrap().push(call);
        }
    }

    #[test]
    fn shared_slice_is_released_once_and_never_acquired() {
        let fence = RecordingFence::new();
        let data = [1u16, 2, 3];
        let address = data.as_ptr().addr();
        let lent = DmaSlice::new(&data, fence);
        assert_eq!(fence.calls(), [Call::Release { address, len: 3 }]);
        assert_eq!(lent.as_ptr(), data.as_ptr());
        assert_eq!(lent.ptr_addr(), address);
        assert_eq!(lent.len(), 3);
        assert_eq!(lent.get(), &[1, 2, 3]);
        assert_eq!(fence.calls().len(), 1);
    }

    #[test]
    fn unique_slice_is_released_then_acquired_on_take() {
        let fence = RecordingFence::new();
        let mut data = [0u8; 16];
        let address = data.as_ptr().addr();
        // SAFETY: `take` is called below.
        let lent = unsafe { DmaSliceMut::new(&mut data[4..], fence) };
        assert_eq!(
            fence.calls(),
            [Call::Release {
                address: address + 4,
                len: 12
            }]
        );
        assert_eq!(lent.ptr_addr(), address + 4);
        assert_eq!(lent.len(), 12);
        // The "device" writes through the lent pointer.
        // SAFETY: index 2 of the 12 lent bytes; nothing else refers to them.
        unsafe { lent.as_mut_ptr().add(2).write(0xa5) };
        // SAFETY: the "device" is done.
        let back = unsafe { lent.take(fence) };
        assert_eq!(back[2], 0xa5);
        assert_eq!(
            fence.calls()[1],
            Call::Acquire {
                address: address + 4,
                len: 12
            }
        );
        assert_eq!(fence.calls().len(), 2);
        assert_eq!(data[6], 0xa5);
    }

    #[test]
    fn static_slice_needs_no_unsafe_to_lend() {
        let fence = RecordingFence::new();
        let buffer: &'static mut [u64] = Box::leak(Box::new([7u64; 4]));
        let address = buffer.as_ptr().addr();
        let lent = DmaSliceMut::new_static(buffer, fence);
        assert_eq!(lent.as_mut_ptr().addr(), address);
        // SAFETY: no device was started.
        let back = unsafe { lent.take(fence) };
        assert_eq!(back, &[7, 7, 7, 7]);
        assert_eq!(
            fence.calls(),
            [
                Call::Release { address, len: 4 },
                Call::Acquire { address, len: 4 }
            ]
        );
    }

    #[test]
    fn empty_slices_are_lent_too() {
        let fence = RecordingFence::new();
        let lent = DmaSlice::<u32>::new(&[], fence);
        assert_eq!(lent.len(), 0);
        assert!(matches!(fence.calls()[..], [Call::Release { len: 0, .. }]));
    }
}
