// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! A rig with the real RISC-V IOMMU driver over the behavioural model.
//!
//! The driver is `chips/riscv_iommu`, the model `tests/iommu_model`; the
//! IOMMU capsule sits on top, and the model treats the harness processes'
//! RAM as physical memory.

use std::cell::{Cell, RefCell};

use capsule_test_harness::{Harness, RAM_SIZE};
use capsules_iommu::driver::command::*;
use capsules_iommu::driver::upcall;
use capsules_iommu::{InstancePort, IommuDriver, IommuStorage, Quotas};
use kernel::capabilities::ProcessManagementCapability;
use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::iommu::Iommu;
use kernel::syscall::SyscallReturn;
use kernel::utilities::StaticRef;
use kernel::{ProcessId, create_capability};
use riscv_iommu::registers::IommuRegisters;
use riscv_iommu::{InterruptVectors, Page, PagePool, QueueMemory, RiscvIommu};
use riscv_iommu_model::{Access, Model};

use super::{TestPolicy, map_r2, range_r3};

pub const DRIVER: usize = capsules_iommu::DRIVER_NUM;
pub const PAGE: usize = 4096;
/// Requester ids of the two contexts (edu devices on QEMU are 8 and 0x10).
pub const DEVICES: [u32; 2] = [8, 9];

pub type Chip = RiscvIommu<'static, 2, 4>;

pub struct Real {
    pub h: &'static Harness,
    /// The IOMMU capsule.
    pub driver: &'static IommuDriver<'static>,
    /// Instance 0.
    pub model: RefCell<Model>,
    pub iommu: &'static Chip,
    /// Instance 1, if the rig has two.
    pub second: Option<(RefCell<Model>, &'static Chip)>,
}

fn leak_pages(count: usize) -> &'static mut [Page] {
    Box::leak(
        (0..count)
            .map(|_| Page::ZERO)
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

/// One modelled IOMMU and its driver, not yet initialized.
fn instance() -> (Model, &'static Chip) {
    let mut model = Model::new();
    let queues: &'static mut QueueMemory = Box::leak(Box::new(QueueMemory::ZERO));
    model.add_ram(
        std::ptr::from_mut(queues) as usize,
        size_of::<QueueMemory>(),
    );
    let directory = leak_pages(4);
    model.add_ram(directory.as_ptr() as usize, size_of_val(directory));
    let tables = leak_pages(24);
    model.add_ram(tables.as_ptr() as usize, size_of_val(tables));
    // SAFETY: the model's register block is boxed, 4 KiB and aligned, and
    // lives as long as `Real` (the test), which outlives every use.
    let registers = unsafe { StaticRef::new(model.registers_address() as *const IommuRegisters) };
    let iommu: &'static Chip = Box::leak(Box::new(RiscvIommu::new(
        registers,
        DEVICES,
        queues,
        PagePool::new(directory),
        PagePool::new(tables),
        InterruptVectors { civ: 0, fiv: 1 },
    )));
    iommu.register();
    (model, iommu)
}

/// The capsule over one real instance.
pub fn real(processes: usize) -> Real {
    build(processes, false)
}

/// The capsule over two real instances (each with devices 8 and 9).
pub fn real_two(processes: usize) -> Real {
    build(processes, true)
}

fn build(processes: usize, two: bool) -> Real {
    let h = Harness::new(processes);
    let (model, iommu) = instance();
    let second = two.then(instance);
    let mut ports = vec![InstancePort::new(0, iommu as &'static dyn Iommu<'static>)];
    if let Some((_, chip)) = &second {
        ports.push(InstancePort::new(1, *chip as &'static dyn Iommu<'static>));
    }
    let ports: &'static [InstancePort<'static>] = Vec::leak(ports);
    let storage: &'static IommuStorage<4, 8, 4> = h.leak(IommuStorage::new());
    let policy = h.leak(TestPolicy {
        harness: h,
        deny: RefCell::new(Vec::new()),
        quotas: Cell::new(Quotas::DEFAULT),
    });
    let cap: &'static dyn ProcessManagementCapability =
        h.leak(create_capability!(ProcessManagementCapability));
    let driver = h.leak(IommuDriver::new(
        h.create_grant(DRIVER),
        ports,
        storage.tables(),
        policy,
        h.kernel(),
        cap,
    ));
    driver.setup();
    h.add_driver(DRIVER, driver);
    h.add_memory_observer(driver);
    let r = Real {
        h,
        driver,
        model: RefCell::new(model),
        iommu,
        second: second.map(|(m, c)| (RefCell::new(m), c)),
    };
    iommu.init().expect("init");
    if let Some((_, chip)) = &r.second {
        chip.init().expect("init");
    }
    r.settle();
    r
}

impl Real {
    /// Plays the platform until nothing is pending: the model runs its
    /// command queue, its interrupt reaches the driver, deferred calls run.
    pub fn settle(&self) {
        for _ in 0..1000 {
            let mut idle = true;
            for (model, chip) in self.instances() {
                model.borrow_mut().process();
                if model.borrow_mut().interrupt_pending() {
                    chip.handle_interrupt();
                    idle = false;
                }
            }
            if !idle {
                continue;
            }
            if DeferredCall::has_tasks() {
                DeferredCall::service_next_pending();
            } else {
                return;
            }
        }
        panic!("never settled");
    }

    /// The IOMMU capsule as an ownership query (for device capsules).
    pub fn ownership(&self) -> &'static dyn capsules_iommu::ContextOwnership {
        self.driver
    }

    /// Every instance: (model, driver).
    pub fn instances(&self) -> Vec<(&RefCell<Model>, &'static Chip)> {
        let mut all = vec![(&self.model, self.iommu)];
        if let Some((m, c)) = &self.second {
            all.push((m, *c));
        }
        all
    }

    pub fn spawn(&self, name: &'static str) -> ProcessId {
        let p = self.h.spawn(name);
        for (model, _) in self.instances() {
            model.borrow_mut().add_ram(self.h.ram_start(p), RAM_SIZE);
        }
        p
    }

    pub fn cmd(&self, p: ProcessId, command: usize, r2: usize, r3: usize) -> SyscallReturn {
        self.h.command(p, DRIVER, command, r2, r3)
    }

    pub fn handle(&self, p: ProcessId, command: usize, r2: usize, r3: usize) -> usize {
        match self.cmd(p, command, r2, r3) {
            SyscallReturn::SuccessU32(h) => h as usize,
            other => panic!("{command}: {other:?}"),
        }
    }

    /// Starts `command`, settles, and returns the DONE upcall's arguments.
    pub fn done(
        &self,
        p: ProcessId,
        command: usize,
        r2: usize,
        r3: usize,
    ) -> (usize, usize, usize) {
        assert_eq!(
            self.cmd(p, command, r2, r3),
            SyscallReturn::Success,
            "command {command}"
        );
        self.settle();
        self.h
            .upcalls(p)
            .into_iter()
            .rev()
            .find(|u| u.subscribe_num == upcall::DONE)
            .expect("no DONE")
            .args
    }

    /// `MAP` on the RISC-V IOMMU: complete when the command returns (1),
    /// no `DONE` even after everything settled.
    pub fn map_complete(&self, p: ProcessId, r2: usize, r3: usize) {
        assert_eq!(
            self.cmd(p, MAP, r2, r3),
            SyscallReturn::SuccessU32(1),
            "MAP complete on return"
        );
        self.settle();
        let ups = self.h.upcalls(p);
        assert!(
            ups.iter().all(|u| u.subscribe_num != upcall::DONE),
            "no DONE after a MAP complete on return: {ups:?}"
        );
    }

    /// Offset of the first 4 KiB page boundary in `p`'s RAM.
    pub fn page_offset(&self, p: ProcessId) -> usize {
        let start = self.h.ram_start(p);
        start.next_multiple_of(PAGE) - start
    }

    pub fn dma_write(&self, device: u32, iova: usize, data: &[u8]) -> (usize, usize) {
        let mut buffer = data.to_vec();
        let r = self
            .model
            .borrow_mut()
            .dma(device, iova as u64, Access::Write, &mut buffer);
        (r.completed, r.faulted)
    }

    /// p owns context 0 (device 8), attached to a domain that maps the
    /// first whole page of its RAM at IOVA 0x10000. Returns (context,
    /// domain, physical address of the page).
    pub fn mapped(&self, p: ProcessId) -> (usize, usize, usize) {
        let ctx = self.handle(p, ACQUIRE, 0, 0);
        let dom = self.handle(p, CREATE_DOMAIN, 0, 0);
        let off = self.page_offset(p);
        let page = self.h.ram_start(p) + off;
        assert!(self.h.allow_rw(p, DRIVER, 0, page, PAGE).is_success());
        self.map_complete(p, map_r2(dom, 0, 0, false), range_r3(0x10, 1));
        assert_eq!(self.done(p, ATTACH, ctx, dom), (0, ATTACH, ctx));
        (ctx, dom, page)
    }
}
