// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Kernel memory lent to a virtio device for good: the queue rings and
//! the drivers' data buffers.
//!
//! The device reaches this memory at an IOVA through the IOMMU, so the
//! board has to map it, and `kernel::hil::iommu::Map::map` takes a
//! `DmaMemory` as the proof that the memory may be given to devices. The
//! driver still has to read and write the same memory. Both come from one
//! `&'static mut` here: [`DmaBuffer::lend`] and `QueueMemory::lend` turn
//! it into the driver's handle (a raw pointer: no Rust reference to the
//! memory exists afterwards, since the device writes it behind the
//! compiler's back) and the `DmaMemory` the board maps. Every access
//! through the handle is volatile.

use core::ptr::NonNull;

use kernel::hil::dma_block::BounceBuffer;
use kernel::hil::iommu::DmaMemory;
use kernel::platform::dma_fence::DmaFence;
use kernel::processbuffer::{ReadableProcessSlice, WriteableProcessSlice};

/// A byte buffer lent to devices for good, for data the device reads
/// (requests) or writes (responses).
#[derive(Debug)]
pub struct DmaBuffer {
    start: NonNull<u8>,
    len: usize,
}

impl DmaBuffer {
    /// Lends `buffer` for good: returns the driver's handle and the proof
    /// the board maps into the device's IOMMU domain.
    pub fn lend(buffer: &'static mut [u8]) -> (DmaBuffer, DmaMemory) {
        let len = buffer.len();
        let start = NonNull::from(buffer).cast::<u8>();
        // SAFETY: `start` and `len` come from a `&'static mut [u8]` that
        // this function consumed, so the slice is valid for `'static` and
        // no other reference to it exists; this one is handed straight to
        // `from_static`, which keeps only its address and length.
        let memory =
            DmaMemory::from_static(unsafe { core::slice::from_raw_parts_mut(start.as_ptr(), len) });
        (DmaBuffer { start, len }, memory)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty buffer.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `bytes` into the buffer at `offset` and releases the buffer
    /// to devices with `fence`. Returns the number of bytes copied (fewer
    /// than `bytes.len()` if the buffer ends first).
    ///
    /// Call it only while the buffer is in no request: a device reading
    /// concurrently may see any mix of old and new bytes.
    pub fn write(&self, offset: usize, bytes: &[u8], fence: impl DmaFence) -> usize {
        let count = bytes.len().min(self.len.saturating_sub(offset));
        for (index, byte) in bytes[..count].iter().enumerate() {
            // SAFETY: `offset + index < len`, inside the lent buffer, which
            // lives for good; a volatile byte store races with nothing Rust
            // can observe.
            unsafe { self.start.add(offset + index).write_volatile(*byte) }
        }
        fence.release(self.as_raw());
        count
    }

    /// Acquires the buffer from devices with `fence`, then copies it from
    /// `offset` into `out`. Returns the number of bytes copied.
    ///
    /// Call it after observing that the device finished writing (its
    /// request completed): bytes a device is still writing read as any
    /// value, though never unsoundly (every byte is a valid `u8`).
    pub fn read(&self, offset: usize, out: &mut [u8], fence: impl DmaFence) -> usize {
        fence.acquire(self.as_raw());
        let count = out.len().min(self.len.saturating_sub(offset));
        for (index, byte) in out[..count].iter_mut().enumerate() {
            // SAFETY: `offset + index < len`, inside the lent buffer; a
            // volatile byte load of memory a device may write is a plain
            // read of some byte value.
            *byte = unsafe { self.start.add(offset + index).read_volatile() };
        }
        count
    }

    fn as_raw(&self) -> *mut [u8] {
        core::ptr::slice_from_raw_parts_mut(self.start.as_ptr(), self.len)
    }
}

/// A [`DmaBuffer`] with the platform's fence, as the bounce buffer a
/// capsule copies process data through (`kernel::hil::dma_block`).
#[derive(Debug)]
pub struct FencedBuffer<F: DmaFence> {
    buffer: DmaBuffer,
    fence: F,
}

impl<F: DmaFence> FencedBuffer<F> {
    pub fn new(buffer: DmaBuffer, fence: F) -> Self {
        FencedBuffer { buffer, fence }
    }
}

impl<F: DmaFence> BounceBuffer for FencedBuffer<F> {
    fn size(&self) -> usize {
        self.buffer.len
    }

    fn copy_from_process(&self, offset: usize, source: &ReadableProcessSlice) -> usize {
        let count = source.len().min(self.buffer.len.saturating_sub(offset));
        for (index, byte) in source.iter().take(count).enumerate() {
            // SAFETY: `offset + index < len`, inside the lent buffer; no
            // operation on it is in flight (the trait's contract).
            unsafe {
                self.buffer
                    .start
                    .add(offset + index)
                    .write_volatile(byte.get())
            }
        }
        self.fence.release(self.buffer.as_raw());
        count
    }

    fn copy_to_process(&self, offset: usize, destination: &WriteableProcessSlice) -> usize {
        self.fence.acquire(self.buffer.as_raw());
        let count = destination
            .len()
            .min(self.buffer.len.saturating_sub(offset));
        for (index, byte) in destination.iter().take(count).enumerate() {
            // SAFETY: as in `copy_from_process`, for a read.
            byte.set(unsafe { self.buffer.start.add(offset + index).read_volatile() });
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::platform::dma_fence::DmaFence;

    #[derive(Clone, Copy, Debug)]
    struct NoFence;
    // SAFETY: host test without devices.
    unsafe impl DmaFence for NoFence {
        fn release<T>(self, _buf: *mut [T]) {}
        fn acquire<T>(self, _buf: *mut [T]) {}
    }

    #[test]
    fn lend_gives_the_same_memory_to_both() {
        let buffer: &'static mut [u8] = Box::leak(vec![0u8; 64].into_boxed_slice());
        let address = buffer.as_ptr() as usize;
        let (handle, memory) = DmaBuffer::lend(buffer);
        assert_eq!(memory.start(), address);
        assert_eq!(memory.len(), 64);
        assert!(memory.writable());
        assert_eq!(handle.write(60, &[1, 2, 3, 4, 5, 6], NoFence), 4);
        let mut out = [0u8; 8];
        assert_eq!(handle.read(58, &mut out, NoFence), 6);
        assert_eq!(out, [0, 0, 1, 2, 3, 4, 0, 0]);
    }
}
