// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! `KernelDomain`: a kernel driver's own context and domain, with a
//! per-request mapping of a process buffer (the DMA-API usage model), over
//! the mock instance and the capsule harness's fake processes.

use std::cell::RefCell;

use capsule_test_harness::Harness;
use capsules_iommu::kernel_domain::{KernelDomain, KernelDomainClient};
use iommu_test_support::mock_iommu::MockIommu;
use iommu_test_support::test_memory;
use kernel::capabilities::ProcessManagementCapability;
use kernel::grant::{AllowRoCount, AllowRwCount, Grant, UpcallCount};
use kernel::hil::iommu::{AccessType, ContextId, DmaMemory};
use kernel::process::Error;
use kernel::syscall::{CommandReturn, SyscallDriver};
use kernel::{ErrorCode, ProcessId, create_capability};

const DRIVER: usize = 0x9100;
/// The request window's IOVA, and the ring's.
const WINDOW: usize = 0x10_0000;
const RING: usize = 0x1000;

/// A stand-in kernel driver: lends out the process's read-write allow 0.
struct Lender {
    apps: Grant<(), UpcallCount<0>, AllowRoCount<0>, AllowRwCount<1>>,
}

impl Lender {
    fn memory(&self, pid: ProcessId) -> Option<DmaMemory> {
        self.apps
            .enter(pid, |_, kd| {
                kd.get_readwrite_processbuffer(0)
                    .ok()
                    .and_then(|b| b.dma_memory())
            })
            .ok()
            .flatten()
    }
}

impl SyscallDriver for Lender {
    fn command(&self, _: usize, _: usize, _: usize, _: ProcessId) -> CommandReturn {
        CommandReturn::failure(ErrorCode::NOSUPPORT)
    }
    fn allocate_grant(&self, pid: ProcessId) -> Result<(), Error> {
        self.apps.enter(pid, |_, _| {})
    }
}

#[derive(Default)]
struct Events(RefCell<Vec<&'static str>>);

impl KernelDomainClient for Events {
    fn ready(&self, result: Result<(), ErrorCode>) {
        self.0
            .borrow_mut()
            .push(if result.is_ok() { "ready" } else { "failed" });
    }
    fn request_mapped(&self, _: Result<(), ErrorCode>) {
        self.0.borrow_mut().push("mapped");
    }
    fn request_unmapped(&self, _: Result<(), ErrorCode>) {
        self.0.borrow_mut().push("unmapped");
    }
}

struct Rig {
    h: &'static Harness,
    mock: &'static MockIommu,
    domain: &'static KernelDomain<'static>,
    events: &'static Events,
    lender: &'static Lender,
}

fn rig(visible: bool) -> Rig {
    let h = Harness::new(3);
    let mock = h.leak(MockIommu::new(2, 4, 16, 8));
    mock.map_visible.set(visible);
    let cap: &'static dyn ProcessManagementCapability =
        h.leak(create_capability!(ProcessManagementCapability));
    let domain = h.leak(KernelDomain::new(
        mock,
        ContextId(1),
        WINDOW,
        h.kernel(),
        cap,
    ));
    domain.register();
    let events = h.leak(Events::default());
    domain.set_client(events);
    h.add_memory_observer(domain);
    let lender = h.leak(Lender {
        apps: h.create_grant(DRIVER),
    });
    h.add_driver(DRIVER, lender);
    // The driver's ring: kernel memory at a fixed IOVA.
    domain
        .setup([(RING, test_memory(0x8000_0000, 256))])
        .unwrap();
    assert_eq!(domain.map_request(test_memory(0, 256)), Err(ErrorCode::OFF));
    mock.complete_all();
    assert_eq!(events.0.take(), vec!["ready"]);
    Rig {
        h,
        mock,
        domain,
        events,
        lender,
    }
}

/// The process memory the device can reach through the request window
/// (live or stale translations).
fn reachable(r: &Rig) -> Vec<usize> {
    r.mock
        .reachable()
        .iter()
        .filter(|e| e.1 >= WINDOW)
        .map(|e| e.2.phys)
        .collect()
}

/// A process with a page-aligned 2-page buffer allowed; its proof.
fn process_with_buffer(r: &Rig, name: &'static str) -> (ProcessId, DmaMemory) {
    let p = r.h.spawn(name);
    let start = (r.h.ram_start(p) + 0x100).next_multiple_of(0x100);
    assert!(r.h.allow_rw(p, DRIVER, 0, start, 0x200).is_success());
    let memory = r.lender.memory(p).unwrap();
    (p, memory)
}

#[test]
fn a_request_reaches_only_its_buffer_and_only_until_unmapped() {
    let r = rig(false);
    // The static mapping and the attach: the ring is reachable.
    assert!(r.mock.device_access(1, RING, AccessType::Read).is_ok());
    let (_p, memory) = process_with_buffer(&r, "p");
    let buffer = memory.start();
    assert_eq!(r.domain.map_request(memory), Ok(false));
    assert_eq!(
        r.domain.map_request(test_memory(0, 256)),
        Err(ErrorCode::BUSY)
    );
    r.mock.complete_all();
    assert_eq!(r.events.0.take(), vec!["mapped"]);
    assert_eq!(reachable(&r), vec![buffer, buffer + 0x100]);
    assert!(
        r.mock
            .device_access(1, WINDOW + 0x1ff, AccessType::Write)
            .is_ok()
    );
    assert!(
        r.mock
            .device_access(1, WINDOW + 0x200, AccessType::Write)
            .is_err()
    );
    r.domain.unmap_request().unwrap();
    // Not done until the invalidation completed: still reachable (stale).
    assert!(r.events.0.take().is_empty());
    assert_eq!(reachable(&r), vec![buffer, buffer + 0x100]);
    r.mock.complete_all();
    assert_eq!(r.events.0.take(), vec!["unmapped"]);
    assert!(reachable(&r).is_empty());
    assert!(r.mock.device_access(1, WINDOW, AccessType::Write).is_err());
    assert_eq!(r.domain.unmap_request(), Err(ErrorCode::ALREADY));
}

#[test]
fn kernel_memory_is_not_a_request() {
    let r = rig(false);
    assert_eq!(
        r.domain.map_request(test_memory(0x8000_1000, 256)),
        Err(ErrorCode::INVAL)
    );
}

#[test]
fn a_map_visible_on_return_is_unmapped_only_after_it_settled() {
    let r = rig(true);
    let (_p, memory) = process_with_buffer(&r, "p");
    assert_eq!(r.domain.map_request(memory), Ok(true));
    r.domain.unmap_request().unwrap();
    // The instance still owes the map's completion: the unmap waits for it.
    assert_eq!(r.mock.pending_count(), 1);
    r.mock.complete_all();
    assert_eq!(r.events.0.take(), vec!["unmapped"]);
    assert!(r.mock.device_access(1, WINDOW, AccessType::Write).is_err());
}

#[test]
fn a_process_that_ends_mid_request_is_revoked_before_its_memory_is_reused() {
    let r = rig(false);
    let (p, memory) = process_with_buffer(&r, "p");
    let buffer = memory.start();
    assert_eq!(r.domain.map_request(memory), Ok(false));
    r.mock.complete_all();
    r.events.0.take();
    r.h.exit(p, 0);
    // The kernel waits for the invalidation: until then the device may
    // still reach the buffer through a stale translation.
    assert_eq!(r.h.process(p).revocations_pending(), 1);
    assert!(reachable(&r).contains(&buffer));
    r.mock.complete_all();
    assert_eq!(r.h.process(p).revocations_pending(), 0);
    assert!(reachable(&r).is_empty());
    assert!(r.mock.device_access(1, WINDOW, AccessType::Write).is_err());
    // Another process's end changes nothing, and the window is free again.
    let (q, memory) = process_with_buffer(&r, "q");
    assert_eq!(r.domain.map_request(memory), Ok(false));
    let (s, _) = process_with_buffer(&r, "s");
    r.h.exit(s, 0);
    assert_eq!(r.h.process(s).revocations_pending(), 0);
    r.mock.complete_all();
    assert_eq!(r.h.process(q).revocations_pending(), 0);
}
