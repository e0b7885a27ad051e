// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! A mock DMA device that copies through the mock IOMMU.
//!
//! It implements `kernel::hil::dma_device`; every byte goes through
//! `MockIommu::device_access`, so what it can reach is exactly what the
//! IOMMU allows, and blocked accesses fault (reads give zeros, writes are
//! dropped), as on QEMU's `edu`.

use std::cell::{Cell, RefCell};

use kernel::ErrorCode;
use kernel::hil::dma_device::{Direction, DmaDevice, DmaDeviceClient};
use kernel::hil::iommu::AccessType;
use kernel::utilities::cells::OptionalCell;

use crate::mock_iommu::MockIommu;

pub struct MockDma {
    pub iommu: &'static MockIommu,
    pub context: usize,
    pub buffer: RefCell<Vec<u8>>,
    in_flight: Cell<Option<(Direction, usize, usize)>>,
    client: OptionalCell<&'static dyn DmaDeviceClient>,
}

impl MockDma {
    pub fn new(iommu: &'static MockIommu, context: usize, len: usize) -> Self {
        MockDma {
            iommu,
            context,
            buffer: RefCell::new(vec![0; len]),
            in_flight: Cell::new(None),
            client: OptionalCell::empty(),
        }
    }

    pub fn busy(&self) -> bool {
        self.in_flight.get().is_some()
    }

    /// Runs the transfer in flight, byte by byte through the IOMMU, and
    /// reports completion.
    pub fn run(&self) {
        let Some((direction, iova, len)) = self.in_flight.take() else {
            return;
        };
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
        self.client
            .map(|c| c.transfer_done(direction, 0, iova, len, Ok(())));
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
        self.in_flight.set(Some((direction, iova, len)));
        Ok(())
    }
}
