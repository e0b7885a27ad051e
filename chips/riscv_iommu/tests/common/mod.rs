// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! A test rig: the driver over the behavioural model, with a recording
//! client.
//!
//! Memory the driver gets (queues, directory and table pools) and "RAM"
//! for DMA are leaked host allocations registered with the model, which
//! treats host addresses as physical ones. `settle` plays the platform:
//! it lets the model run its command queue, delivers its interrupt to the
//! driver, and runs deferred calls, until nothing is left (bounded).

#![allow(dead_code, reason = "each test binary uses a different subset")]

use kernel::ErrorCode;
use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::iommu::{
    Attach, AttachClient, ContextId, DomainId, Fault, FaultClient, Faults, Fence, FenceClient, Map,
    MapClient,
};
use kernel::utilities::StaticRef;
use riscv_iommu::registers::IommuRegisters;
use riscv_iommu::{InterruptVectors, Page, PagePool, QueueMemory, RiscvIommu};
use riscv_iommu_model::{Access, DmaResult, Model};
use std::cell::RefCell;

pub const CONTEXTS: usize = 2;
pub const DOMAINS: usize = 4;
pub const TABLE_PAGES: usize = 32;
pub const RAM_PAGES: usize = 16;
pub const PAGE: usize = 4096;

pub type Iommu = RiscvIommu<'static, CONTEXTS, DOMAINS>;

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

fn leak_pages(count: usize) -> &'static mut [Page] {
    let pages: Vec<Page> = (0..count).map(|_| Page::ZERO).collect();
    Box::leak(pages.into_boxed_slice())
}

pub struct Rig {
    pub model: Model,
    pub iommu: &'static Iommu,
    pub client: &'static Recorder,
    /// Physical memory DMA targets, `RAM_PAGES` pages.
    pub ram: usize,
}

impl Rig {
    /// A rig whose contexts are devices `device_ids`, not yet initialized.
    pub fn uninitialized(device_ids: [u32; CONTEXTS]) -> Rig {
        let mut model = Model::new();
        let queues: &'static mut QueueMemory = Box::leak(Box::new(QueueMemory::ZERO));
        model.add_ram(
            std::ptr::from_mut(queues) as usize,
            size_of::<QueueMemory>(),
        );
        let directory = leak_pages(4);
        model.add_ram(directory.as_ptr() as usize, size_of_val(directory));
        let tables = leak_pages(TABLE_PAGES);
        model.add_ram(tables.as_ptr() as usize, size_of_val(tables));
        let ram = leak_pages(RAM_PAGES);
        let ram_address = ram.as_ptr() as usize;
        model.add_ram(ram_address, size_of_val(ram));
        // SAFETY: the model's register block is 4 KiB, 4 KiB-aligned and
        // boxed, so it stays put for as long as the model lives; the tests
        // stop using the driver before dropping the model.
        let registers =
            unsafe { StaticRef::new(model.registers_address() as *const IommuRegisters) };
        let iommu: &'static Iommu = Box::leak(Box::new(RiscvIommu::new(
            registers,
            device_ids,
            queues,
            PagePool::new(directory),
            PagePool::new(tables),
            InterruptVectors { civ: 0, fiv: 1 },
        )));
        iommu.register();
        let client: &'static Recorder = Box::leak(Box::default());
        Map::set_client(iommu, client);
        Attach::set_client(iommu, client);
        Fence::set_client(iommu, client);
        Faults::set_client(iommu, client);
        Rig {
            model,
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
        for _ in 0..1000 {
            self.model.process();
            if self.model.interrupt_pending() {
                self.iommu.handle_interrupt();
            } else if DeferredCall::has_tasks() {
                DeferredCall::service_next_pending();
            } else {
                return;
            }
        }
        panic!("the IOMMU never settled");
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
            .dma(device_id, iova as u64, Access::Write, &mut buffer)
    }

    pub fn dma_read(&mut self, device_id: u32, iova: usize, len: usize) -> (DmaResult, Vec<u8>) {
        let mut buffer = vec![0xee; len];
        let result = self
            .model
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
