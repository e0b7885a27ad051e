// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The IOMMU capsule over the real RISC-V IOMMU driver (`chips/riscv_iommu`)
//! running on the behavioural model of the hardware (`tests/iommu_model`),
//! with processes from the capsule harness. The model has an IOTLB and a
//! device-context cache that keep stale entries until invalidated, so these
//! tests fail if the capsule reported an unmap or a revocation complete
//! before the driver's invalidation completed.

mod common;

use std::cell::{Cell, RefCell};

use capsule_test_harness::{Harness, RAM_SIZE};
use capsules_iommu::driver::command::*;
use capsules_iommu::driver::upcall;
use capsules_iommu::{InstancePort, IommuDriver, IommuStorage, Quotas};
use common::{TestPolicy, map_r2, range_r3};
use kernel::capabilities::ProcessManagementCapability;
use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::iommu::Iommu;
use kernel::process::State;
use kernel::syscall::SyscallReturn;
use kernel::utilities::StaticRef;
use kernel::{ErrorCode, ProcessId, create_capability};
use riscv_iommu::registers::IommuRegisters;
use riscv_iommu::{InterruptVectors, Page, PagePool, QueueMemory, RiscvIommu};
use riscv_iommu_model::{Access, Model};

const DRIVER: usize = capsules_iommu::DRIVER_NUM;
const PAGE: usize = 4096;
/// Requester ids of the two contexts (edu devices on QEMU are 8 and 0x10).
const DEVICES: [u32; 2] = [8, 9];

type Chip = RiscvIommu<'static, 2, 4>;

struct Real {
    h: &'static Harness,
    model: RefCell<Model>,
    iommu: &'static Chip,
    ram_registered: Cell<usize>,
}

fn leak_pages(count: usize) -> &'static mut [Page] {
    Box::leak(
        (0..count)
            .map(|_| Page::ZERO)
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

fn real(processes: usize) -> Real {
    let h = Harness::new(processes);
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
    let ports: &'static [InstancePort<'static>] = Vec::leak(vec![InstancePort::new(
        0,
        iommu as &'static dyn Iommu<'static>,
    )]);
    let storage: &'static IommuStorage<2, 4, 4> = h.leak(IommuStorage::new());
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
        model: RefCell::new(model),
        iommu,
        ram_registered: Cell::new(0),
    };
    iommu.init().expect("init");
    r.settle();
    r
}

impl Real {
    /// Plays the platform until nothing is pending: the model runs its
    /// command queue, its interrupt reaches the driver, deferred calls run.
    fn settle(&self) {
        for _ in 0..1000 {
            self.model.borrow_mut().process();
            if self.model.borrow_mut().interrupt_pending() {
                self.iommu.handle_interrupt();
            } else if DeferredCall::has_tasks() {
                DeferredCall::service_next_pending();
            } else {
                return;
            }
        }
        panic!("never settled");
    }

    fn spawn(&self, name: &'static str) -> ProcessId {
        let p = self.h.spawn(name);
        self.model
            .borrow_mut()
            .add_ram(self.h.ram_start(p), RAM_SIZE);
        self.ram_registered.set(self.ram_registered.get() + 1);
        p
    }

    fn cmd(&self, p: ProcessId, command: usize, r2: usize, r3: usize) -> SyscallReturn {
        self.h.command(p, DRIVER, command, r2, r3)
    }

    fn handle(&self, p: ProcessId, command: usize, r2: usize, r3: usize) -> usize {
        match self.cmd(p, command, r2, r3) {
            SyscallReturn::SuccessU32(h) => h as usize,
            other => panic!("{command}: {other:?}"),
        }
    }

    /// Starts `command`, settles, and returns the DONE upcall's arguments.
    fn done(&self, p: ProcessId, command: usize, r2: usize, r3: usize) -> (usize, usize, usize) {
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

    /// Offset of the first 4 KiB page boundary in `p`'s RAM.
    fn page_offset(&self, p: ProcessId) -> usize {
        let start = self.h.ram_start(p);
        start.next_multiple_of(PAGE) - start
    }

    fn dma_write(&self, device: u32, iova: usize, data: &[u8]) -> (usize, usize) {
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
    fn mapped(&self, p: ProcessId) -> (usize, usize, usize) {
        let ctx = self.handle(p, ACQUIRE, 0, 0);
        let dom = self.handle(p, CREATE_DOMAIN, 0, 0);
        let off = self.page_offset(p);
        let page = self.h.ram_start(p) + off;
        assert!(self.h.allow_rw(p, DRIVER, 0, page, PAGE).is_success());
        assert_eq!(
            self.done(p, MAP, map_r2(dom, 0, 0, false), range_r3(0x10, 1)),
            (0, MAP, dom)
        );
        assert_eq!(self.done(p, ATTACH, ctx, dom), (0, ATTACH, ctx));
        (ctx, dom, page)
    }
}

#[test]
fn dma_lands_in_the_mapping_and_elsewhere_faults_to_the_owner() {
    let r = real(2);
    let p = r.spawn("p");
    let q = r.spawn("q");
    let q_off = r.page_offset(q);
    r.h.write_ram(q, q_off, &[0x5a; 32]);
    assert!(
        r.h.subscribe(p, DRIVER, upcall::FAULT, 0x100, 0)
            .is_success()
    );
    // Blocked before anything is attached: nothing lands.
    let q_page = r.h.ram_start(q) + q_off;
    assert_eq!(r.dma_write(8, q_page, &[1; 32]), (0, 8));
    // Its faults reach no one: nobody owns the context. (They are drained
    // here; records still queued when a context changes owner would be
    // reported to the new owner, see doc/syscalls/10003_iommu.md.)
    r.settle();
    assert!(r.h.upcalls(p).is_empty() && r.h.upcalls(q).is_empty());
    let (ctx, dom, page) = r.mapped(p);
    let off = page - r.h.ram_start(p);
    assert_eq!(
        r.cmd(p, TRANSLATE, dom, 0x10_010),
        SyscallReturn::SuccessU32U64(3 | 12 << 8, (page + 0x10) as u64)
    );
    assert_eq!(r.dma_write(8, 0x10_010, b"through the iommu"), (5, 0));
    assert_eq!(r.h.read_ram(p, off + 0x10, 17), b"through the iommu");
    // Outside the mapping, and at q's physical address: faults, nothing
    // lands, the owner hears of it once.
    assert_eq!(r.dma_write(8, 0x20_000, &[0xaa; 16]), (0, 4));
    assert_eq!(r.dma_write(8, q_page, &[0xaa; 16]).0, 0);
    r.settle();
    assert_eq!(r.h.read_ram(q, q_off, 32), vec![0x5a; 32]);
    let faults: Vec<_> =
        r.h.upcalls(p)
            .into_iter()
            .filter(|u| u.subscribe_num == upcall::FAULT)
            .collect();
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0].args, (ctx | 1 << 16 | 1 << 24, 0x20_000, 15));
    assert!(matches!(r.cmd(p, FAULT_ACK, ctx, 0), SyscallReturn::SuccessU32(n) if n >= 3));
    // The other device (context 1) is not p's: it blocks.
    assert_eq!(r.dma_write(9, 0x10_000, &[3; 4]), (0, 1));
    r.settle();
    assert!(r.h.upcalls(p).is_empty() && r.h.upcalls(q).is_empty());
}

#[test]
fn read_only_allow_gives_a_read_only_mapping() {
    let r = real(1);
    let p = r.spawn("p");
    let (_, dom, page) = r.mapped(p);
    let off = page - r.h.ram_start(p);
    assert!(r.h.allow_ro(p, DRIVER, 1, page, PAGE).is_success());
    assert_eq!(
        r.done(p, MAP, map_r2(dom, 0, 1, true), range_r3(0x11, 1)),
        (0, MAP, dom)
    );
    r.h.write_ram(p, off, b"ro");
    assert_eq!(r.dma_write(8, 0x11_000, b"xx"), (0, 1));
    assert_eq!(r.h.read_ram(p, off, 2), b"ro");
    let mut buffer = [0u8; 4];
    let read = r
        .model
        .borrow_mut()
        .dma(8, 0x11_000, Access::Read, &mut buffer);
    assert_eq!((read.completed, &buffer[..2]), (1, &b"ro"[..]));
}

#[test]
fn unmap_is_done_only_after_the_iotlb_is_invalidated() {
    let r = real(1);
    let p = r.spawn("p");
    let (_, dom, _) = r.mapped(p);
    // Warm the IOTLB, then unmap.
    assert_eq!(r.dma_write(8, 0x10_000, &[1; 4]), (1, 0));
    assert_eq!(
        r.cmd(p, UNMAP, dom, range_r3(0x10, 1)),
        SyscallReturn::Success
    );
    assert!(
        r.h.upcalls(p)
            .iter()
            .all(|u| u.subscribe_num != upcall::DONE),
        "DONE before the invalidation"
    );
    r.settle();
    let done: Vec<_> =
        r.h.upcalls(p)
            .into_iter()
            .filter(|u| u.subscribe_num == upcall::DONE)
            .collect();
    assert_eq!(done[0].args, (0, UNMAP, dom));
    assert_eq!(r.dma_write(8, 0x10_000, &[2; 4]), (0, 1));
}

#[test]
fn exit_and_restart_revoke_before_the_memory_is_reused() {
    let r = real(1);
    let p = r.spawn("p");
    let (_, _, page) = r.mapped(p);
    let off = page - r.h.ram_start(p);
    // Warm the caches, then restart: the slot waits for the detach.
    assert_eq!(r.dma_write(8, 0x10_000, b"old!"), (1, 0));
    assert_eq!(r.h.restart(p), p);
    assert_eq!(r.h.state(p), Some(State::Revoking));
    r.settle();
    let p2 = r.h.kernel().process_id_at(0);
    assert_ne!(p2, p);
    assert_eq!(r.h.state(p2), Some(State::Running));
    // The new instance's memory (same RAM) is out of the device's reach.
    r.h.write_ram(p2, off, b"new!");
    assert_eq!(r.dma_write(8, 0x10_000, b"bad!").0, 0);
    assert_eq!(r.h.read_ram(p2, off, 4), b"new!");
    // Everything went back: p2 can build the same thing again.
    let (_, _, _) = r.mapped(p2);
    r.h.exit(p2, 0);
    assert_eq!(r.h.process(p2).revocations_pending(), 1);
    r.settle();
    assert_eq!(r.h.process(p2).revocations_pending(), 0);
    assert_eq!(r.dma_write(8, 0x10_000, b"bad!").0, 0);
}

#[test]
fn switching_between_own_domains_on_the_real_driver() {
    let r = real(1);
    let p = r.spawn("p");
    let (ctx, a, page) = r.mapped(p);
    let off = page - r.h.ram_start(p);
    let b = r.handle(p, CREATE_DOMAIN, 0, 0);
    assert!(r.h.allow_rw(p, DRIVER, 1, page, PAGE).is_success());
    assert_eq!(
        r.done(p, MAP, map_r2(b, 0, 1, false), range_r3(0x30, 1)),
        (0, MAP, b)
    );
    assert_eq!(r.done(p, ATTACH, ctx, b), (0, ATTACH, ctx));
    assert_eq!(
        r.dma_write(8, 0x10_000, b"a").0,
        0,
        "old domain no longer used"
    );
    assert_eq!(r.dma_write(8, 0x30_000, b"bbbb"), (1, 0));
    assert_eq!(r.h.read_ram(p, off, 4), b"bbbb");
    assert_eq!(
        r.cmd(p, DESTROY_DOMAIN, b, 0),
        SyscallReturn::Failure(ErrorCode::BUSY)
    );
    assert_eq!(r.cmd(p, DESTROY_DOMAIN, a, 0), SyscallReturn::Success);
    assert_eq!(r.done(p, DETACH, ctx, 0), (0, DETACH, ctx));
    assert_eq!(r.dma_write(8, 0x30_000, b"cccc").0, 0);
    assert_eq!(r.cmd(p, RELEASE, ctx, 0), SyscallReturn::Success);
    assert_eq!(r.cmd(p, DESTROY_DOMAIN, b, 0), SyscallReturn::Success);
}
