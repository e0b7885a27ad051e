// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! DMA device copies (driver 0x10004, `doc/syscalls/10004_dma.md`) and
//! [`DmaBuffer`], the memory devices reach.
//!
//! A device (QEMU's `edu` on our board) copies between its own buffer
//! (always from its offset 0) and an IOVA. Only the owner of the device's
//! IOMMU context may start a copy ([`crate::iommu::acquire`]); the driver
//! checks no address: the device reaches only what the domain attached to
//! that context maps, and a refused access shows up as an IOMMU fault
//! ([`crate::iommu::FaultLog`]), not here. The copy itself still completes
//! with status 0, since the device does not know.

mod buffer;
#[cfg(not(test))]
mod calls;

pub use buffer::{Difference, DmaBuffer, PAGE_ALIGN};
#[cfg(not(test))]
pub use calls::{copy, device_count, device_info, exists, start, wait_done};

use crate::error::ErrorCode;
use crate::iommu::abi::status_to_result;

/// Driver number of the DMA driver.
pub const DRIVER_NUMBER: u32 = 0x10004;

/// Command numbers.
pub mod command {
    pub const EXISTS: u32 = 0;
    /// Returns the number of devices.
    pub const INFO: u32 = 1;
    /// Returns (IOMMU instance, context, device buffer length) of a device.
    pub const DEVICE_INFO: u32 = 2;
    /// Starts a copy: device | direction << 8 | length << 16, IOVA.
    pub const START: u32 = 3;
}

/// Upcall (subscribe) numbers.
pub mod upcall {
    /// A copy ended; values: (status, direction, length).
    pub const DONE: u32 = 0;
}

/// Which way a copy goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The device writes its buffer to memory at the IOVA.
    DeviceToMemory,
    /// The device reads memory at the IOVA into its buffer.
    MemoryToDevice,
}

impl Direction {
    /// The register value.
    pub const fn raw(self) -> u32 {
        match self {
            Direction::DeviceToMemory => 0,
            Direction::MemoryToDevice => 1,
        }
    }
}

/// `DEVICE_INFO`: where a device sits and how big its buffer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The IOMMU instance its context belongs to.
    pub instance: u32,
    /// Its context number on that instance.
    pub context: u32,
    /// Its own buffer's length in bytes.
    pub buffer_len: u32,
}

/// The first argument of `START`. Lengths of 1 to 65535 fit; 0 is sent
/// as it is and refused by the driver.
pub const fn start_word(device: u8, direction: Direction, len: u16) -> u32 {
    device as u32 | direction.raw() << 8 | (len as u32) << 16
}

/// Checks a `DONE` upcall's values against the copy that was started:
/// the status as a result, `BadReturnVariant` for another copy's values.
pub fn check_done(
    values: (usize, usize, usize),
    direction: Direction,
    len: u16,
) -> Result<(), ErrorCode> {
    let (status, done_direction, done_len) = values;
    status_to_result(status)?;
    if done_direction != direction.raw() as usize || done_len != usize::from(len) {
        return Err(ErrorCode::BadReturnVariant);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_words() {
        assert_eq!(
            start_word(1, Direction::MemoryToDevice, 256),
            1 | 1 << 8 | 256 << 16
        );
        assert_eq!(
            start_word(0, Direction::DeviceToMemory, 0xffff),
            0xffff_0000
        );
    }

    #[test]
    fn done_values() {
        assert_eq!(
            check_done((0, 0, 64), Direction::DeviceToMemory, 64),
            Ok(())
        );
        assert_eq!(
            check_done((0, 1, 64), Direction::DeviceToMemory, 64),
            Err(ErrorCode::BadReturnVariant)
        );
        assert_eq!(
            check_done((8, 0, 64), Direction::DeviceToMemory, 64),
            Err(ErrorCode::Cancel)
        );
    }
}
