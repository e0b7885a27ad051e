// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Memory fences for handing buffers to DMA devices and taking them back.
//!
//! A device that reads or writes RAM by DMA does so outside of what the
//! compiler and, on weakly ordered harts, the processor track. Before a
//! driver starts a device on memory it wrote, those writes must have
//! reached memory; after it sees that the device finished, its reads of
//! that memory must not have been served earlier. [`DmaFence`] names the
//! two operations; the architecture (or the chip, where DMA is not
//! cache-coherent) implements them, and drivers receive an implementation
//! from the board rather than choosing one themselves.
//!
//! `core::sync::atomic::fence` does not serve: it orders atomic accesses
//! between threads, not plain stores against a device.
//! `kernel::utilities::dma_slice` wraps buffers so that the two fences are
//! issued at the right moments.

/// The architecture's fences between the processor and DMA devices.
///
/// Both operations are named from the kernel's side: a buffer is
/// *released* to a device and, once the device is done with it,
/// *acquired* back.
///
/// An implementation only has to order the processor against DMA masters
/// (not against other harts), but it has to do so for every DMA master of
/// the chip it is used on, including flushing or invalidating caches where
/// the chip's DMA is not coherent with them.
///
/// # Safety
///
/// Drivers build their soundness on these fences: if [`release`] leaves a
/// write pending, a device reads stale data; if [`acquire`] lets a read
/// happen early, Rust code holds a reference to memory whose contents
/// change under it, which is undefined behaviour. Implementing this trait
/// promises that both operations do what their documentation says for
/// every buffer and every DMA-capable device of the platform.
///
/// [`release`]: DmaFence::release
/// [`acquire`]: DmaFence::acquire
pub unsafe trait DmaFence: core::fmt::Debug + Send + Sync + Copy {
    /// Makes every write to `buf` made before this call visible to DMA
    /// that an MMIO access issued after this call starts.
    ///
    /// The memory behind `buf` is not accessed; the pointer tells the
    /// implementation (and the compiler) which memory the device may read.
    fn release<T>(self, buf: *mut [T]);

    /// Makes every write a device made to `buf` during DMA that has
    /// finished before this call visible to reads issued after it.
    ///
    /// Call it only after the driver has observed completion, by reading
    /// a status register or a completion word the device wrote.
    fn acquire<T>(self, buf: *mut [T]);
}
