// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Interface for a block device that moves sectors by DMA at bus addresses.
//!
//! Such a device (virtio-blk is one) is told "read `len` bytes from sector
//! `sector` into bus address `iova`" (or write them from there) and later
//! reports completion. As with `hil::dma_device`, the bus address is what
//! the device emits: behind an IOMMU it is translated through the domain of
//! the device's context, so the caller decides what the device can reach
//! by what it maps there (a kernel bounce buffer, or a process's buffer for
//! one request), and a driver of this trait checks no memory. No kernel
//! buffer is lent, so nothing is handed back on error.
//!
//! Split-phase (TRD3): `start` returning `Ok` means exactly one
//! `operation_done` follows, unless [`DmaBlock::abort`] abandons the
//! request first. `abort` exists because a device may never complete a
//! request: it resets the device, after which the device reaches no
//! memory, so that the caller can take the request's memory back.
//!
//! [`BounceBuffer`] is the other half of the copying alternative: kernel
//! memory lent to the device for good, which a capsule (without `unsafe`)
//! copies to and from a process's buffer.

use crate::ErrorCode;
use crate::processbuffer::{ReadableProcessSlice, WriteableProcessSlice};

/// Which way an operation moves data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// From the medium to the bus address (the device writes memory).
    Read,
    /// From the bus address to the medium (the device reads memory).
    Write,
}

/// Receives the completion of [`DmaBlock::start`].
pub trait DmaBlockClient {
    /// The operation started with these arguments ended.
    ///
    /// Errors:
    /// - `FAIL`: the device reported an I/O error, or answered outside
    ///   its protocol (no or an unknown status).
    /// - `NOSUPPORT`: the device does not support the operation.
    fn operation_done(
        &self,
        operation: Operation,
        sector: u64,
        iova: usize,
        len: usize,
        result: Result<(), ErrorCode>,
    );
}

/// A block device whose data moves by DMA.
pub trait DmaBlock<'a> {
    /// Sets the client for `operation_done`.
    fn set_client(&self, client: &'a dyn DmaBlockClient);

    /// Bytes per sector: the unit of `sector` and of `len`.
    fn sector_size(&self) -> usize;

    /// Number of sectors of the medium (0 until the device is ready).
    fn sectors(&self) -> u64;

    /// True if the medium refuses writes.
    fn read_only(&self) -> bool;

    /// Starts moving `len` bytes between sectors `sector..` of the medium
    /// and `[iova, iova + len)` on the bus.
    ///
    /// Errors (nothing was started):
    /// - `INVAL`: `len` is 0 or not a whole number of sectors, the sectors
    ///   are beyond the medium (or overflow), or the bus range overflows.
    /// - `NOSUPPORT`: a write to a read-only medium.
    /// - `BUSY`: the device holds as many requests as it can.
    /// - `OFF`: the device is not ready.
    /// - `FAIL`: the device broke its protocol; it must be aborted
    ///   (reset) before it takes requests again.
    fn start(
        &self,
        operation: Operation,
        sector: u64,
        iova: usize,
        len: usize,
    ) -> Result<(), ErrorCode>;

    /// Abandons every operation in flight: when this returns `Ok` the
    /// device no longer reaches any memory for them, no `operation_done`
    /// follows for them, and the device takes new requests.
    ///
    /// Errors:
    /// - `FAIL`: the device did not confirm it stopped. It may still reach
    ///   the operations' memory: the caller must keep that memory out of
    ///   its reach by other means (an IOMMU unmap) and stop using it.
    fn abort(&self) -> Result<(), ErrorCode>;
}

/// Kernel memory lent to a device for good, which the kernel copies to and
/// from process buffers (the bounce-buffer alternative to mapping a
/// process's buffer for the device).
///
/// Copies are made only while no operation on the range is in flight; the
/// implementation orders them against the device's accesses (the
/// platform's DMA fences).
pub trait BounceBuffer {
    /// Size in bytes.
    fn size(&self) -> usize;

    /// Copies `source` into the buffer from `offset`; returns the bytes
    /// copied (fewer if the buffer ends first).
    fn copy_from_process(&self, offset: usize, source: &ReadableProcessSlice) -> usize;

    /// Copies the buffer from `offset` into `destination`; returns the
    /// bytes copied (fewer if either ends first).
    fn copy_to_process(&self, offset: usize, destination: &WriteableProcessSlice) -> usize;
}
