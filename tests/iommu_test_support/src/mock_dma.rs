// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! A mock DMA device that copies through the mock IOMMU.
//!
//! It implements `kernel::hil::dma_device`; every byte goes through
//! `MockIommu::device_access`, so what it can reach is exactly what the
//! IOMMU allows, and blocked accesses fault (reads give zeros, writes are
//! dropped), as on QEMU's `edu`. Its buffer persists between transfers,
//! as `edu`'s does, and its reset (`DmaDeviceReset`) wipes it the way the
//! `edu` driver does: by a 4 KiB device read from IOVA 0 into the buffer,
//! which gives zeros only while the context blocks.

use std::cell::{Cell, RefCell};

use kernel::ErrorCode;
use kernel::hil::dma_device::{
    Direction, DmaDevice, DmaDeviceClient, DmaDeviceReset, DmaDeviceResetClient,
};
use kernel::hil::iommu::AccessType;
use kernel::utilities::cells::OptionalCell;

use crate::mock_iommu::MockIommu;

pub struct MockDma {
    pub iommu: &'static MockIommu,
    pub context: usize,
    pub buffer: RefCell<Vec<u8>>,
    in_flight: Cell<Option<Job>>,
    client: OptionalCell<&'static dyn DmaDeviceClient>,
    reset_client: OptionalCell<&'static dyn DmaDeviceResetClient>,
    /// Resets completed.
    pub resets: Cell<usize>,
}

/// What the device is doing.
#[derive(Clone, Copy, Debug)]
enum Job {
    /// A transfer: direction, IOVA, length.
    Transfer(Direction, usize, usize),
    /// A reset: the whole buffer read from IOVA 0.
    Reset,
}

impl MockDma {
    pub fn new(iommu: &'static MockIommu, context: usize, len: usize) -> Self {
        MockDma {
            iommu,
            context,
            buffer: RefCell::new(vec![0; len]),
            in_flight: Cell::new(None),
            client: OptionalCell::empty(),
            reset_client: OptionalCell::empty(),
            resets: Cell::new(0),
        }
    }

    pub fn busy(&self) -> bool {
        self.in_flight.get().is_some()
    }

    /// True while a reset runs.
    pub fn resetting(&self) -> bool {
        matches!(self.in_flight.get(), Some(Job::Reset))
    }

    /// Runs the transfer or reset in flight, byte by byte through the
    /// IOMMU, and reports completion.
    pub fn run(&self) {
        match self.in_flight.take() {
            Some(Job::Transfer(direction, iova, len)) => {
                self.copy(direction, iova, len);
                self.client
                    .map(|c| c.transfer_done(direction, 0, iova, len, Ok(())));
            }
            Some(Job::Reset) => {
                self.copy(Direction::MemoryToDevice, 0, self.buffer_len());
                self.resets.set(self.resets.get() + 1);
                self.reset_client.map(|c| c.reset_done(Ok(())));
            }
            None => {}
        }
    }

    fn copy(&self, direction: Direction, iova: usize, len: usize) {
        for i in 0..len {
            match direction {
                Direction::DeviceToMemory => {
                    if let Ok(phys) =
                        self.iommu
                            .device_access(self.context, iova + i, AccessType::Write)
                    {
                        // SAFETY: the mock IOMMU maps only pages of the
                        // harness's leaked process RAM, which stays
                        // allocated for the whole test.
                        unsafe { (phys as *mut u8).write_volatile(self.buffer.borrow()[i]) };
                    }
                }
                Direction::MemoryToDevice => {
                    let byte =
                        match self
                            .iommu
                            .device_access(self.context, iova + i, AccessType::Read)
                        {
                            // SAFETY: as above.
                            Ok(phys) => unsafe { (phys as *const u8).read_volatile() },
                            Err(_) => 0,
                        };
                    self.buffer.borrow_mut()[i] = byte;
                }
            }
        }
    }
}

impl DmaDevice<'static> for MockDma {
    fn set_client(&self, client: &'static dyn DmaDeviceClient) {
        self.client.set(client);
    }

    fn buffer_len(&self) -> usize {
        self.buffer.borrow().len()
    }

    fn address_bits(&self) -> u32 {
        28
    }

    fn start(
        &self,
        direction: Direction,
        device_offset: usize,
        iova: usize,
        len: usize,
    ) -> Result<(), ErrorCode> {
        if len == 0
            || device_offset + len > self.buffer_len()
            || iova.checked_add(len).is_none_or(|e| e > 1 << 28)
        {
            return Err(ErrorCode::INVAL);
        }
        if self.busy() {
            return Err(ErrorCode::BUSY);
        }
        self.in_flight
            .set(Some(Job::Transfer(direction, iova, len)));
        Ok(())
    }
}

impl DmaDeviceReset<'static> for MockDma {
    fn set_reset_client(&self, client: &'static dyn DmaDeviceResetClient) {
        self.reset_client.set(client);
    }

    fn reset(&self) -> Result<(), ErrorCode> {
        if self.busy() {
            return Err(ErrorCode::BUSY);
        }
        self.in_flight.set(Some(Job::Reset));
        Ok(())
    }
}
