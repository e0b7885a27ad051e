// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Interface for a device that copies between its buffer and a bus address.
//!
//! Such a device (QEMU's `edu` is one) is told "copy `len` bytes between
//! offset `device_offset` of your buffer and bus address `iova`" and later
//! reports completion. The bus address is what the device emits: behind an
//! IOMMU it is translated through the domain attached to the device's
//! context (`hil::iommu`), so a driver of this trait never checks or
//! converts addresses; confinement is the IOMMU's job. No kernel buffer is
//! lent, so nothing is handed back on error.
//!
//! Split-phase (TRD3): `start` returning `Ok` means exactly one
//! `transfer_done` follows, and `reset` returning `Ok` exactly one
//! `reset_done`.
//!
//! A device that several users take turns on keeps state of its own
//! between transfers (its buffer, above all): [`DmaDeviceReset`] wipes it,
//! so that a user never reads what the one before left in the device.

use crate::ErrorCode;

/// Which way a transfer copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the device's buffer to the bus address (a DMA write).
    DeviceToMemory,
    /// From the bus address to the device's buffer (a DMA read).
    MemoryToDevice,
}

/// Receives the completion of [`DmaDevice::start`].
pub trait DmaDeviceClient {
    /// The transfer started with these arguments ended.
    ///
    /// `Ok` means the device reports it finished; it does not mean every
    /// access was allowed: accesses the IOMMU blocked are reported as
    /// IOMMU faults, and the device may have read zeros or had its writes
    /// dropped.
    ///
    /// Errors:
    /// - `FAIL`: the device reported an error.
    /// - `CANCEL`: the transfer was abandoned (e.g. the device was reset).
    fn transfer_done(
        &self,
        direction: Direction,
        device_offset: usize,
        iova: usize,
        len: usize,
        result: Result<(), ErrorCode>,
    );
}

/// A device that copies between its own buffer and a bus address.
pub trait DmaDevice<'a> {
    /// Sets the client for `transfer_done`.
    fn set_client(&self, client: &'a dyn DmaDeviceClient);

    /// Size in bytes of the device's own buffer.
    fn buffer_len(&self) -> usize;

    /// Width of the bus addresses the device emits: `iova` must be below
    /// `2^address_bits()`.
    fn address_bits(&self) -> u32;

    /// Starts copying `len` bytes between `[device_offset, device_offset +
    /// len)` of the device's buffer and `[iova, iova + len)` on the bus.
    ///
    /// Errors (nothing was started):
    /// - `INVAL`: `len` is 0, the device range is not inside its buffer, or
    ///   the bus range is beyond `address_bits` (or overflows).
    /// - `BUSY`: a transfer is in flight.
    /// - `OFF`: the device is not enabled.
    fn start(
        &self,
        direction: Direction,
        device_offset: usize,
        iova: usize,
        len: usize,
    ) -> Result<(), ErrorCode>;
}

/// Receives the completion of [`DmaDeviceReset::reset`].
pub trait DmaDeviceResetClient {
    /// The reset started by `reset` ended.
    ///
    /// With `Ok`, nothing that any earlier transfer put into the device
    /// can be read from it any more: its buffer holds zeros.
    ///
    /// Errors:
    /// - `FAIL`: the device reported an error; what it holds is unknown,
    ///   and the caller must not treat it as reset.
    fn reset_done(&self, result: Result<(), ErrorCode>);
}

/// Wiping a device's own state between users.
///
/// A device whose buffer is reachable only by DMA (QEMU's `edu`) may
/// reset it by a copy of its own: a device-read at bus addresses of the
/// driver's choosing. The caller must therefore make sure, for as long as
/// the reset runs, that the device's bus accesses reach no memory at all
/// (its IOMMU context blocks), so that the device reads zeros or faults
/// and never copies anyone's memory into itself.
pub trait DmaDeviceReset<'a> {
    /// Sets the client for `reset_done`.
    fn set_reset_client(&self, client: &'a dyn DmaDeviceResetClient);

    /// Starts wiping the device's own state: its buffer, and anything
    /// else a later user could read back through the device.
    ///
    /// Errors (nothing was started):
    /// - `BUSY`: a transfer or a reset is in flight.
    /// - `OFF`: the device is not enabled.
    fn reset(&self) -> Result<(), ErrorCode>;
}

/// A DMA device that can be shared among users: it copies, and it can be
/// reset between them. Implemented for every type that is both.
pub trait SharedDmaDevice<'a>: DmaDevice<'a> + DmaDeviceReset<'a> {}

impl<'a, T: DmaDevice<'a> + DmaDeviceReset<'a>> SharedDmaDevice<'a> for T {}
