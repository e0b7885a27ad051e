// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! A rig with the real RISC-V IOMMU driver over the behavioural model.
//!
//! The driver is `chips/riscv_iommu`, the model `tests/iommu_model`; the
//! IOMMU capsule sits on top, and the model treats the harness processes'
//! RAM as physical memory.

use std::cell::RefCell;

use capsule_test_harness::{Harness, RAM_SIZE};
use capsules_iommu::driver::command::{ACQUIRE, ATTACH, CREATE_DOMAIN, MAP};
use capsules_iommu::driver::upcall;
use capsules_iommu::{InstancePort, IommuDriver, IommuStorage, Quotas};
use kernel::ProcessId;
use kernel::hil::iommu::Iommu;
use kernel::syscall::SyscallReturn;
use riscv_iommu_model::{Access, Model};

use crate::capsule_rig::{iommu_driver, map_r2, range_r3};
use crate::on_model::{self, Chip};

pub const DRIVER: usize = capsules_iommu::DRIVER_NUM;
pub const PAGE: usize = 4096;
/// Requester ids of the two contexts (edu devices on QEMU are 8 and 0x10).
pub const DEVICES: [u32; 2] = [8, 9];

/// Page-table pages of each instance's pool.
const TABLE_PAGES: usize = 24;

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

/// One modelled IOMMU and its driver, not yet initialized.
fn instance() -> (Model, &'static Chip) {
    on_model::instance(DEVICES, TABLE_PAGES)
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
    let (driver, _) = iommu_driver(h, ports, storage.tables(), Quotas::DEFAULT);
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
        on_model::settle(&self.instances());
    }

    /// The IOMMU capsule as an ownership query (for device capsules).
    pub fn ownership(&self) -> &'static dyn capsules_iommu::ContextOwnership<'static> {
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
