// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The IOMMU capsule over mock IOMMU instances.
//!
//! A harness kernel, mock IOMMU instances, the IOMMU driver wired as a
//! board would wire it, and small helpers for its commands.

use std::cell::{Cell, RefCell};

use capsule_test_harness::Harness;
use kernel::capabilities::ProcessManagementCapability;
use kernel::create_capability;
use kernel::hil::iommu::Iommu;
use kernel::syscall::SyscallReturn;
use kernel::{ErrorCode, ProcessId};

use capsules_iommu::driver::{DRIVER_NUM, command};
use capsules_iommu::{ContextPolicy, InstancePort, IommuDriver, IommuStorage, Quotas, Tables};

pub use crate::mock_iommu::{Call, Completion, MockIommu};

/// Contexts, domains and process slots of the test storage.
pub type Storage = IommuStorage<8, 16, 8>;

/// A policy for tests.
///
/// Every process is listed, with the share `quotas` of every instance,
/// except processes named in `unlisted` (nothing at all); every listed
/// process may use every context except those in `deny` by (process
/// name, instance, context). It reserves `quotas` for
/// each of `listed` applications.
pub struct TestPolicy {
    pub harness: &'static Harness,
    pub deny: RefCell<Vec<(&'static str, usize, usize)>>,
    pub unlisted: RefCell<Vec<&'static str>>,
    pub quotas: Cell<Quotas>,
    pub listed: Cell<usize>,
}

impl TestPolicy {
    fn name(&self, process: ProcessId) -> &'static str {
        let capability = kernel::create_capability!(ProcessManagementCapability);
        self.harness.kernel().process_map_or_external(
            "",
            process,
            |p| p.get_process_name(),
            &capability,
        )
    }

    fn is_listed(&self, name: &str) -> bool {
        !self.unlisted.borrow().contains(&name)
    }
}

impl ContextPolicy for TestPolicy {
    fn may_use(&self, process: ProcessId, instance: usize, context: usize) -> bool {
        let name = self.name(process);
        self.is_listed(name)
            && !self
                .deny
                .borrow()
                .iter()
                .any(|&(n, i, c)| n == name && i == instance && c == context)
    }

    fn quotas(&self, process: ProcessId, _instance: usize) -> Quotas {
        if self.is_listed(self.name(process)) {
            self.quotas.get()
        } else {
            Quotas::NONE
        }
    }

    fn reserved(&self, _instance: usize) -> Quotas {
        (0..self.listed.get()).fold(Quotas::NONE, |sum, _| sum.plus(self.quotas.get()))
    }
}

/// The IOMMU capsule over `ports`, wired as a board wires it.
///
/// Grant, clients, driver table, memory observer, under a [`TestPolicy`]
/// that denies nothing and reserves `quotas` for each of the harness's
/// process slots. `setup`'s check of the shares against the pools is not
/// asserted here (tests of small pools break it on purpose); tests of I5
/// call `driver.setup()` again and check it.
pub fn iommu_driver(
    h: &'static Harness,
    ports: &'static [InstancePort<'static>],
    tables: Tables<'static>,
    quotas: Quotas,
) -> (&'static IommuDriver<'static>, &'static TestPolicy) {
    let policy = h.leak(TestPolicy {
        harness: h,
        deny: RefCell::new(Vec::new()),
        unlisted: RefCell::new(Vec::new()),
        quotas: Cell::new(quotas),
        listed: Cell::new(h.kernel().process_count()),
    });
    let cap: &'static dyn ProcessManagementCapability =
        h.leak(create_capability!(ProcessManagementCapability));
    let driver = h.leak(IommuDriver::new(
        h.create_grant(DRIVER_NUM),
        ports,
        tables,
        policy,
        h.kernel(),
        cap,
    ));
    // Rigs with deliberately small pools break the promise; their tests
    // check `setup` themselves.
    let _ = driver.setup();
    h.add_driver(DRIVER_NUM, driver);
    h.add_memory_observer(driver);
    (driver, policy)
}

/// Everything a test needs.
pub struct Rig {
    pub h: &'static Harness,
    pub driver: &'static IommuDriver<'static>,
    pub mocks: Vec<&'static MockIommu>,
    pub policy: &'static TestPolicy,
}

/// Mock geometry: `(contexts, domains, pool pages, page shift)`.
pub type MockConfig = (usize, usize, usize, u32);

/// Default: one instance, 4 contexts, 8 domains, 64 pool pages, 256-byte
/// pages (so the harness's small process RAM holds many pages).
pub const ONE: &[MockConfig] = &[(4, 8, 64, 8)];

pub fn rig(processes: usize, instances: &[MockConfig]) -> Rig {
    let h = Harness::new(processes);
    let mocks: Vec<&'static MockIommu> = instances
        .iter()
        .map(|&(c, d, p, s)| h.leak(MockIommu::new(c, d, p, s)))
        .collect();
    let ports: &'static [InstancePort<'static>] = Vec::leak(
        mocks
            .iter()
            .enumerate()
            .map(|(i, m)| InstancePort::new(i, *m as &'static dyn Iommu<'static>))
            .collect(),
    );
    let storage: &'static Storage = h.leak(Storage::new());
    let (driver, policy) = iommu_driver(
        h,
        ports,
        storage.tables(),
        Quotas {
            contexts: 4,
            domains: 4,
            pages: 16,
        },
    );
    Rig {
        h,
        driver,
        mocks,
        policy,
    }
}

impl Rig {
    pub fn mock(&self) -> &'static MockIommu {
        self.mocks[0]
    }

    pub fn cmd(&self, p: ProcessId, command: usize, r2: usize, r3: usize) -> SyscallReturn {
        self.h.command(p, DRIVER_NUM, command, r2, r3)
    }

    pub fn ok_u32(&self, p: ProcessId, command: usize, r2: usize, r3: usize) -> usize {
        match self.cmd(p, command, r2, r3) {
            SyscallReturn::SuccessU32(v) => v as usize,
            other => panic!("command {command}({r2:#x}, {r3:#x}) returned {other:?}"),
        }
    }

    pub fn ok(&self, p: ProcessId, command: usize, r2: usize, r3: usize) {
        assert_eq!(
            self.cmd(p, command, r2, r3),
            SyscallReturn::Success,
            "command {command}({r2:#x}, {r3:#x})"
        );
    }

    pub fn err(&self, p: ProcessId, command: usize, r2: usize, r3: usize) -> ErrorCode {
        match self.cmd(p, command, r2, r3) {
            SyscallReturn::Failure(e) => e,
            other => panic!("command {command}({r2:#x}, {r3:#x}) returned {other:?}"),
        }
    }

    pub fn acquire(&self, p: ProcessId, instance: usize, context: usize) -> usize {
        self.ok_u32(p, command::ACQUIRE, instance, context)
    }

    pub fn create(&self, p: ProcessId, instance: usize) -> usize {
        self.ok_u32(p, command::CREATE_DOMAIN, instance, 0)
    }

    /// Allows `[offset, offset + len)` of `p`'s RAM read-write in `slot`.
    pub fn allow_rw(&self, p: ProcessId, slot: usize, offset: usize, len: usize) -> usize {
        let addr = self.h.ram_start(p) + offset;
        assert!(self.h.allow_rw(p, DRIVER_NUM, slot, addr, len).is_success());
        addr
    }

    pub fn allow_ro(&self, p: ProcessId, slot: usize, offset: usize, len: usize) -> usize {
        let addr = self.h.ram_start(p) + offset;
        assert!(self.h.allow_ro(p, DRIVER_NUM, slot, addr, len).is_success());
        addr
    }

    /// Offset in `p`'s RAM of its first page boundary.
    pub fn first_page_offset(&self, p: ProcessId) -> usize {
        let start = self.h.ram_start(p);
        start.next_multiple_of(self.mock().page()) - start
    }

    /// Starts a map and delivers its completion; returns the `DONE` status.
    pub fn map_now(&self, p: ProcessId, r2: usize, r3: usize) -> usize {
        self.ok(p, command::MAP, r2, r3);
        self.complete_all();
        self.done_status(p)
    }

    /// Delivers every queued completion of every instance.
    pub fn complete_all(&self) {
        while self.mocks.iter().map(|m| m.complete_all()).sum::<usize>() > 0 {}
    }

    /// The status of the last `DONE` upcall of `p` (panics if none).
    pub fn done_status(&self, p: ProcessId) -> usize {
        let ups = self.h.upcalls(p);
        let done = ups
            .iter()
            .rev()
            .find(|u| u.subscribe_num == capsules_iommu::driver::upcall::DONE)
            .unwrap_or_else(|| panic!("no DONE upcall in {ups:?}"));
        done.args.0
    }

    /// Attaches and completes; panics unless it succeeded.
    pub fn attach_now(&self, p: ProcessId, context: usize, domain: usize) {
        self.ok(p, command::ATTACH, context, domain);
        self.complete_all();
        assert_eq!(self.done_status(p), 0);
    }
}

/// r2 of MAP.
pub fn map_r2(domain: usize, page_offset: usize, slot: usize, read_only: bool) -> usize {
    domain | page_offset << 16 | slot << 24 | usize::from(read_only) << 27
}

/// r3 of MAP / UNMAP.
pub fn range_r3(first_page: usize, pages: usize) -> usize {
    first_page | pages << 20
}
