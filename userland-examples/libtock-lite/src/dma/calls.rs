// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The DMA driver's system calls.

use super::{DRIVER_NUMBER, DeviceInfo, Direction, check_done, command, start_word, upcall};
use crate::error::ErrorCode;
use crate::return_variant::SyscallReturn;
use crate::syscall;

/// Whether the DMA driver is present.
pub fn exists() -> bool {
    syscall::command(DRIVER_NUMBER, command::EXISTS, 0, 0)
        .to_result()
        .is_ok()
}

/// How many devices the board gave the driver.
pub fn device_count() -> Result<u32, ErrorCode> {
    syscall::command(DRIVER_NUMBER, command::INFO, 0, 0).to_result_u32()
}

/// Where device `device` sits and how big its buffer is.
pub fn device_info(device: u8) -> Result<DeviceInfo, ErrorCode> {
    match syscall::command(DRIVER_NUMBER, command::DEVICE_INFO, device.into(), 0) {
        SyscallReturn::SuccessU32U32U32(instance, context, buffer_len) => Ok(DeviceInfo {
            instance,
            context,
            buffer_len,
        }),
        other => Err(other.error().unwrap_or(ErrorCode::BadReturnVariant)),
    }
}

/// Starts a copy of `len` bytes between the device's buffer and `iova`,
/// without waiting; [`wait_done`] waits for its end. `RESERVE` if the
/// caller does not own the device's context, `BUSY` if a copy is in
/// flight, `INVAL` for a length the device refuses.
pub fn start(device: u8, direction: Direction, len: u16, iova: usize) -> Result<(), ErrorCode> {
    let word = start_word(device, direction, len) as usize;
    syscall::command(DRIVER_NUMBER, command::START, word, iova).to_result()
}

/// Waits (Yield-WaitFor, no upcall function needed) for the end of the
/// copy [`start`] began, and checks its status, direction and length.
pub fn wait_done(direction: Direction, len: u16) -> Result<(), ErrorCode> {
    check_done(
        syscall::yield_wait_for(DRIVER_NUMBER, upcall::DONE),
        direction,
        len,
    )
}

/// Copies `len` bytes between the device's buffer and `iova` and waits
/// for the end. `Ok` means the device finished; whether the IOMMU let
/// every access through is reported as a fault by the IOMMU driver.
pub fn copy(device: u8, direction: Direction, len: u16, iova: usize) -> Result<(), ErrorCode> {
    start(device, direction, len, iova)?;
    wait_done(direction, len)
}
