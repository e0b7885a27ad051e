// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The DMA capsule (0x10004) over a mock device and the mock IOMMU.
//!
//! The device copies byte by byte through the mock IOMMU: an owner's copy
//! lands, a copy outside its mappings faults,
//! is reported, and changes nothing; non-owners cannot start copies; a
//! context with a copy in flight cannot change hands.

use capsules_iommu::dma::{self, DmaDriver, DmaPort};
use capsules_iommu::driver::command::*;
use capsules_iommu::driver::upcall;
use iommu_test_support::capsule_rig::*;
use iommu_test_support::mock_dma::MockDma;
use kernel::ErrorCode;
use kernel::hil::dma_device::SharedDmaDevice;
use kernel::syscall::SyscallReturn;

const DRIVER: usize = capsules_iommu::DRIVER_NUM;

struct DmaRig {
    r: Rig,
    devices: Vec<&'static MockDma>,
}

fn dma_rig(processes: usize) -> DmaRig {
    let r = rig(processes, ONE);
    let devices: Vec<&'static MockDma> = (0..2)
        .map(|c| r.h.leak(MockDma::new(r.mock(), c, 4096)))
        .collect();
    let ports: &'static [DmaPort<'static>] = Vec::leak(
        devices
            .iter()
            .enumerate()
            .map(|(c, d)| DmaPort::new(*d as &'static dyn SharedDmaDevice<'static>, 0, c))
            .collect(),
    );
    let driver = r.h.leak(DmaDriver::new(
        r.h.create_grant(dma::DRIVER_NUM),
        ports,
        r.driver,
    ));
    driver.setup();
    r.h.add_driver(dma::DRIVER_NUM, driver);
    DmaRig { r, devices }
}

fn start(
    d: &DmaRig,
    p: kernel::ProcessId,
    device: usize,
    direction: usize,
    len: usize,
    iova: usize,
) -> SyscallReturn {
    d.r.h.command(
        p,
        dma::DRIVER_NUM,
        dma::command::START,
        device | direction << 8 | len << 16,
        iova,
    )
}

#[test]
fn owner_copies_into_its_mapping_and_gets_done() {
    let d = dma_rig(1);
    let r = &d.r;
    let p = r.h.spawn("p");
    let page = r.mock().page();
    let ctx = r.acquire(p, 0, 0);
    let dom = r.create(p, 0);
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, 2 * page);
    assert_eq!(r.map_now(p, map_r2(dom, 0, 0, false), range_r3(0x40, 2)), 0);
    r.attach_now(p, ctx, dom);
    assert_eq!(
        r.h.command(p, dma::DRIVER_NUM, dma::command::DEVICE_INFO, 0, 0),
        SyscallReturn::SuccessU32U32U32(0, 0, 4096)
    );
    d.devices[0].buffer.borrow_mut()[..5].copy_from_slice(b"hello");
    let iova = 0x40 * page + 3;
    assert_eq!(
        start(&d, p, 0, dma::direction::DEVICE_TO_MEMORY, 5, iova),
        SyscallReturn::Success
    );
    assert_eq!(
        start(&d, p, 0, dma::direction::DEVICE_TO_MEMORY, 5, iova),
        SyscallReturn::Failure(ErrorCode::BUSY)
    );
    d.devices[0].run();
    assert_eq!(r.h.read_ram(p, off + 3, 5), b"hello");
    let ups = r.h.upcalls(p);
    assert_eq!(ups.len(), 1);
    assert_eq!(
        (ups[0].driver_num, ups[0].args),
        (dma::DRIVER_NUM, (0, 0, 5))
    );
    // And back: memory to device.
    r.h.write_ram(p, off + page, b"world");
    assert_eq!(
        start(&d, p, 0, dma::direction::MEMORY_TO_DEVICE, 5, 0x41 * page),
        SyscallReturn::Success
    );
    d.devices[0].run();
    assert_eq!(&d.devices[0].buffer.borrow()[..5], b"world");
}

#[test]
fn copy_outside_the_mappings_faults_and_changes_nothing() {
    let d = dma_rig(2);
    let r = &d.r;
    let p = r.h.spawn("p");
    let q = r.h.spawn("q");
    let page = r.mock().page();
    // q's memory holds a secret pattern; p will aim at it by every means.
    let q_off = r.first_page_offset(q);
    r.h.write_ram(q, q_off, &[0x5a; 64]);
    let ctx = r.acquire(p, 0, 0);
    assert!(
        r.h.subscribe(p, DRIVER, upcall::FAULT, 0x100, 0)
            .is_success()
    );
    let dom = r.create(p, 0);
    let off = r.first_page_offset(p);
    r.allow_ro(p, 0, off, page);
    assert_eq!(r.map_now(p, map_r2(dom, 0, 0, true), range_r3(0, 1)), 0);
    // Not attached yet: blocked.
    d.devices[0].buffer.borrow_mut().fill(0xee);
    let q_addr = r.h.ram_start(q) + q_off;
    assert_eq!(
        start(&d, p, 0, 0, 64, q_addr & 0x0fff_ffff),
        SyscallReturn::Success
    );
    d.devices[0].run();
    // One fault upcall (rate limit), the rest counted.
    let faults: Vec<_> =
        r.h.upcalls(p)
            .into_iter()
            .filter(|u| u.driver_num == DRIVER && u.subscribe_num == upcall::FAULT)
            .collect();
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0].args, (ctx | 1 << 24, q_addr & 0x0fff_ffff, 256));
    r.attach_now(p, ctx, dom);
    // Attached: unmapped IOVA, and a write to a read-only mapping.
    assert_eq!(start(&d, p, 0, 0, 64, 0x80 * page), SyscallReturn::Success);
    d.devices[0].run();
    assert_eq!(start(&d, p, 0, 0, 64, 0), SyscallReturn::Success);
    d.devices[0].run();
    assert_eq!(r.h.read_ram(q, q_off, 64), vec![0x5a; 64]);
    assert_eq!(r.h.read_ram(p, off, 64), vec![0; 64]);
    assert!(
        r.h.upcalls(p)
            .iter()
            .all(|u| u.subscribe_num != upcall::FAULT || u.driver_num != DRIVER)
    );
    assert_eq!(r.ok_u32(p, FAULT_ACK, ctx, 0), 3 * 64 - 1);
}

#[test]
fn only_the_owner_may_start_and_a_busy_context_is_not_handed_over() {
    let d = dma_rig(2);
    let r = &d.r;
    let p = r.h.spawn("p");
    let q = r.h.spawn("q");
    assert_eq!(
        start(&d, q, 0, 0, 4, 0),
        SyscallReturn::Failure(ErrorCode::RESERVE)
    );
    let ctx = r.acquire(p, 0, 0);
    assert_eq!(
        start(&d, q, 0, 0, 4, 0),
        SyscallReturn::Failure(ErrorCode::RESERVE)
    );
    // Garbage: no such device, bad direction, zero length, too long, iova
    // beyond the device's reach.
    for (dev, dir, len, iova) in [
        (2, 0, 4, 0),
        (0, 2, 4, 0),
        (0, 0, 0, 0),
        (0, 0, 4097, 0),
        (0, 0, 4, 1 << 28),
    ] {
        assert_eq!(
            start(&d, p, dev, dir, len, iova),
            SyscallReturn::Failure(ErrorCode::INVAL)
        );
    }
    assert_eq!(
        r.h.command(p, dma::DRIVER_NUM, dma::command::START, usize::MAX, 0),
        SyscallReturn::Failure(ErrorCode::INVAL)
    );
    assert!(!d.devices[0].busy(), "refused starts leave the device idle");
    // p starts a copy, releases the context and exits: the copy is still in
    // flight, so q cannot take the context (the copy would land in q's
    // domain).
    assert_eq!(start(&d, p, 0, 0, 4, 0), SyscallReturn::Success);
    r.ok(p, RELEASE, ctx, 0);
    assert_eq!(r.err(q, ACQUIRE, 0, 0), ErrorCode::BUSY);
    r.h.exit(p, 0);
    assert_eq!(r.err(q, ACQUIRE, 0, 0), ErrorCode::BUSY);
    d.devices[0].run();
    // The copy ended, but the device holds what p's copy put there: q's
    // acquire starts the device's reset and is refused until it ends.
    assert_eq!(r.err(q, ACQUIRE, 0, 0), ErrorCode::BUSY);
    assert!(d.devices[0].resetting());
    d.devices[0].run();
    r.acquire(q, 0, 0);
}

/// Acquires context 0 for `p` as an app does: retries while `BUSY`,
/// letting the device run (its copy or its reset) in between.
fn acquire_when_free(d: &DmaRig, p: kernel::ProcessId) -> usize {
    for _ in 0..4 {
        match d.r.cmd(p, ACQUIRE, 0, 0) {
            SyscallReturn::SuccessU32(handle) => return handle as usize,
            SyscallReturn::Failure(ErrorCode::BUSY) => {
                d.r.complete_all();
                d.devices[0].run();
            }
            other => panic!("acquire returned {other:?}"),
        }
    }
    panic!("context 0 still BUSY");
}

/// Fault upcalls queued for `p` since the last look (the harness hands
/// each upcall out once).
fn fault_upcalls(r: &Rig, p: kernel::ProcessId) -> usize {
    r.h.upcalls(p)
        .iter()
        .filter(|u| u.driver_num == DRIVER && u.subscribe_num == upcall::FAULT)
        .count()
}

/// `p` maps 4 KiB of its RAM at IOVA `0x40 * page`, attaches context
/// `ctx` and subscribes to faults; returns the RAM offset of the 4 KiB.
fn map_and_attach(d: &DmaRig, p: kernel::ProcessId, ctx: usize) -> usize {
    let r = &d.r;
    let page = r.mock().page();
    assert!(
        r.h.subscribe(p, DRIVER, upcall::FAULT, 0x100, 0)
            .is_success()
    );
    let dom = r.create(p, 0);
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, 4096);
    assert_eq!(
        r.map_now(p, map_r2(dom, 0, 0, false), range_r3(0x40, 4096 / page)),
        0
    );
    r.attach_now(p, ctx, dom);
    off
}

#[test]
fn i8_what_a_killed_owner_loaded_into_the_device_is_not_readable_by_the_next_owner() {
    let d = dma_rig(2);
    let r = &d.r;
    let p = r.h.spawn("p");
    let q = r.h.spawn("q");
    let page = r.mock().page();
    // p loads a secret into the whole device buffer.
    let ctx = acquire_when_free(&d, p);
    let off = map_and_attach(&d, p, ctx);
    let secret: Vec<u8> = (0..4096).map(|i| 0x80 | (i % 0x7f) as u8).collect();
    r.h.write_ram(p, off, &secret);
    assert_eq!(
        start(
            &d,
            p,
            0,
            dma::direction::MEMORY_TO_DEVICE,
            4096,
            0x40 * page
        ),
        SyscallReturn::Success
    );
    d.devices[0].run();
    assert_eq!(*d.devices[0].buffer.borrow(), secret);
    // p starts a copy out of the device and is killed with it in flight.
    assert_eq!(
        start(
            &d,
            p,
            0,
            dma::direction::DEVICE_TO_MEMORY,
            4096,
            0x40 * page
        ),
        SyscallReturn::Success
    );
    r.h.fault(p, kernel::FaultPolicy::Stop);
    r.complete_all();
    // q takes the context and copies the whole device buffer into a page
    // of its own, filled with a marker first.
    let ctx = acquire_when_free(&d, q);
    assert_eq!(d.devices[0].resets.get(), 1);
    let off = map_and_attach(&d, q, ctx);
    r.h.write_ram(q, off, &[0x5a; 4096]);
    assert_eq!(
        start(
            &d,
            q,
            0,
            dma::direction::DEVICE_TO_MEMORY,
            4096,
            0x40 * page
        ),
        SyscallReturn::Success
    );
    d.devices[0].run();
    let read = r.h.read_ram(q, off, 4096);
    let leaked = read.iter().zip(&secret).filter(|(a, b)| a == b).count();
    assert_eq!(leaked, 0, "q read {leaked} bytes of p's secret");
    assert_eq!(read, vec![0; 4096], "the reset leaves zeros");
    // The reset's refused reads (through the blocking context) and p's
    // blocked copy reached no one: q heard of no fault.
    assert_eq!(fault_upcalls(r, q), 0);
    assert_eq!(r.ok_u32(q, FAULT_ACK, ctx, 0), 0);
}

#[test]
fn i8_a_released_context_goes_back_to_its_last_user_without_a_reset() {
    let d = dma_rig(1);
    let r = &d.r;
    let p = r.h.spawn("p");
    let page = r.mock().page();
    let ctx = acquire_when_free(&d, p);
    let off = map_and_attach(&d, p, ctx);
    r.h.write_ram(p, off, b"mine");
    assert_eq!(
        start(&d, p, 0, dma::direction::MEMORY_TO_DEVICE, 4, 0x40 * page),
        SyscallReturn::Success
    );
    d.devices[0].run();
    r.ok(p, DETACH, ctx, 0);
    r.complete_all();
    r.ok(p, RELEASE, ctx, 0);
    // Not a change of owner: nothing to scrub, the data stays.
    r.acquire(p, 0, 0);
    assert_eq!(d.devices[0].resets.get(), 0);
    assert_eq!(&d.devices[0].buffer.borrow()[..4], b"mine");
}

#[test]
fn i8_a_fault_record_of_the_previous_owner_is_not_delivered_to_the_next() {
    let d = dma_rig(2);
    let r = &d.r;
    let p = r.h.spawn("p");
    let q = r.h.spawn("q");
    let blocked = kernel::hil::iommu::Fault {
        context: Some(kernel::hil::iommu::ContextId(0)),
        cause: kernel::hil::iommu::FaultCause::Blocked,
        raw_cause: 256,
        iova: 0,
        access: kernel::hil::iommu::AccessType::Write,
    };
    // p copies through its context without a domain: blocked, reported.
    let ctx = acquire_when_free(&d, p);
    assert!(
        r.h.subscribe(p, DRIVER, upcall::FAULT, 0x100, 0)
            .is_success()
    );
    assert_eq!(start(&d, p, 0, 0, 64, 0), SyscallReturn::Success);
    d.devices[0].run();
    assert_eq!(fault_upcalls(r, p), 1);
    r.ok(p, RELEASE, ctx, 0);
    let ctx = acquire_when_free(&d, q);
    assert!(
        r.h.subscribe(q, DRIVER, upcall::FAULT, 0x100, 0)
            .is_success()
    );
    // A record of p's copy that the IOMMU's queue still held is handled
    // only now, with q the owner: it reaches neither.
    r.mock().inject_fault(blocked);
    assert_eq!(fault_upcalls(r, q), 0);
    assert_eq!(r.ok_u32(q, FAULT_ACK, ctx, 0), 0);
    assert_eq!(fault_upcalls(r, p), 0);
    assert_eq!(r.driver.handover_faults(), 1);
    // q's own copy faults to q (I6).
    assert_eq!(start(&d, q, 0, 0, 64, 0), SyscallReturn::Success);
    d.devices[0].run();
    assert_eq!(fault_upcalls(r, q), 1);
    r.mock().inject_fault(blocked);
    assert_eq!(r.ok_u32(q, FAULT_ACK, ctx, 0), 64);
}
