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
use kernel::hil::dma_device::DmaDevice;
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
            .map(|(c, d)| DmaPort::new(*d as &'static dyn DmaDevice<'static>, 0, c))
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
    r.acquire(q, 0, 0);
}
