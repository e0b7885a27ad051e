// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The RISC-V IOMMU driver over the behavioural model, with a recording
//! client.
//!
//! The driver's memory comes from [`on_model::instance`]; "RAM" for DMA is
//! more leaked host memory registered with the model. [`Rig::settle`]
//! plays the platform until nothing is pending.

use std::cell::RefCell;

use kernel::ErrorCode;
use kernel::hil::iommu::{
    Attach, AttachClient, ContextId, DomainId, Fault, FaultClient, Faults, Fence, FenceClient, Map,
    MapClient,
};
use riscv_iommu_model::{Access, DmaResult, Model};

use crate::on_model::{self, CONTEXTS, Chip, leak_pages};

/// Page-table pages of the driver's pool.
pub const TABLE_PAGES: usize = 32;
/// Pages of RAM that DMA targets.
pub const RAM_PAGES: usize = 16;
pub const PAGE: usize = 4096;

/// Everything a client is told, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    MapDone(DomainId, usize, usize, Result<(), ErrorCode>),
    UnmapDone(DomainId, usize, usize, Result<(), ErrorCode>),
    AttachDone(ContextId, DomainId, Result<(), ErrorCode>),
    DetachDone(ContextId, Result<(), ErrorCode>),
    FenceDone(Result<(), ErrorCode>),
    Fault(Fault),
    FaultsLost,
}

#[derive(Default)]
pub struct Recorder {
    pub events: RefCell<Vec<Event>>,
}

impl Recorder {
    /// Takes the events recorded so far.
    pub fn take(&self) -> Vec<Event> {
        self.events.take()
    }

    fn push(&self, event: Event) {
        self.events.borrow_mut().push(event);
    }
}

impl MapClient for Recorder {
    fn map_done(&self, domain: DomainId, iova: usize, len: usize, result: Result<(), ErrorCode>) {
        self.push(Event::MapDone(domain, iova, len, result));
    }
    fn unmap_done(&self, domain: DomainId, iova: usize, len: usize, result: Result<(), ErrorCode>) {
        self.push(Event::UnmapDone(domain, iova, len, result));
    }
}

impl AttachClient for Recorder {
    fn attach_done(&self, context: ContextId, domain: DomainId, result: Result<(), ErrorCode>) {
        self.push(Event::AttachDone(context, domain, result));
    }
    fn detach_done(&self, context: ContextId, result: Result<(), ErrorCode>) {
        self.push(Event::DetachDone(context, result));
    }
}

impl FenceClient for Recorder {
    fn fence_done(&self, result: Result<(), ErrorCode>) {
        self.push(Event::FenceDone(result));
    }
}

impl FaultClient for Recorder {
    fn fault(&self, fault: Fault) {
        self.push(Event::Fault(fault));
    }
    fn faults_lost(&self) {
        self.push(Event::FaultsLost);
    }
}

pub struct Rig {
    pub model: RefCell<Model>,
    pub iommu: &'static Chip,
    pub client: &'static Recorder,
    /// Physical memory DMA targets, `RAM_PAGES` pages.
    pub ram: usize,
}

impl Default for Rig {
    fn default() -> Rig {
        Rig::new()
    }
}

impl Rig {
    /// A rig whose contexts are devices `device_ids`, not yet initialized.
    pub fn uninitialized(device_ids: [u32; CONTEXTS]) -> Rig {
        let (mut model, iommu) = on_model::instance(device_ids, TABLE_PAGES);
        let ram = leak_pages(RAM_PAGES);
        let ram_address = ram.as_ptr() as usize;
        model.add_ram(ram_address, size_of_val(ram));
        let client: &'static Recorder = Box::leak(Box::default());
        Map::set_client(iommu, client);
        Attach::set_client(iommu, client);
        Fence::set_client(iommu, client);
        Faults::set_client(iommu, client);
        Rig {
            model: RefCell::new(model),
            iommu,
            client,
            ram: ram_address,
        }
    }

    /// A running rig with contexts for devices 8 and 9.
    pub fn new() -> Rig {
        let mut rig = Rig::uninitialized([8, 9]);
        rig.iommu.init().expect("init");
        rig.settle();
        rig
    }

    /// Runs the model, the interrupt handler and deferred calls until
    /// nothing is pending.
    pub fn settle(&mut self) {
        on_model::settle(&[(&self.model, self.iommu)]);
    }

    /// Physical address of RAM page `page`.
    pub fn ram_page(&self, page: usize) -> usize {
        self.ram + page * PAGE
    }

    /// Reads RAM directly (as the CPU would).
    pub fn peek(&self, address: usize, len: usize) -> Vec<u8> {
        // SAFETY: tests only peek inside the leaked RAM pages.
        unsafe { std::slice::from_raw_parts(address as *const u8, len).to_vec() }
    }

    pub fn dma_write(&mut self, device_id: u32, iova: usize, data: &[u8]) -> DmaResult {
        let mut buffer = data.to_vec();
        self.model
            .borrow_mut()
            .dma(device_id, iova as u64, Access::Write, &mut buffer)
    }

    pub fn dma_read(&mut self, device_id: u32, iova: usize, len: usize) -> (DmaResult, Vec<u8>) {
        let mut buffer = vec![0xee; len];
        let result = self
            .model
            .borrow_mut()
            .dma(device_id, iova as u64, Access::Read, &mut buffer);
        (result, buffer)
    }

    /// Faults recorded since the last `take`, other events dropped.
    pub fn faults(&self) -> Vec<Fault> {
        self.client
            .take()
            .into_iter()
            .filter_map(|event| match event {
                Event::Fault(fault) => Some(fault),
                _ => None,
            })
            .collect()
    }
}
