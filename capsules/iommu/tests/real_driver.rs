// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The IOMMU capsule over the real RISC-V IOMMU driver on the model.
//!
//! The driver is `chips/riscv_iommu`, the model `tests/iommu_model`, the
//! processes come from the capsule harness. The model has an IOTLB and a
//! device-context cache that keep stale entries until invalidated, so these
//! tests fail if the capsule reported an unmap or a revocation complete
//! before the driver's invalidation completed.

use capsules_iommu::driver::command::*;
use capsules_iommu::driver::upcall;
use iommu_test_support::capsule_rig::{map_r2, range_r3};
use iommu_test_support::real_rig::{DRIVER, PAGE, Real, real, real_two};
use kernel::ErrorCode;
use kernel::process::State;
use kernel::syscall::SyscallReturn;
use riscv_iommu_model::Access;

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
    r.map_complete(p, map_r2(dom, 0, 1, true), range_r3(0x11, 1));
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
    assert_eq!(r.h.state(p), Some(State::Terminated));
    assert!(r.h.process(p).restart_requested());
    r.settle();
    let p2 = r.h.kernel().process_id_at(0).unwrap();
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
    r.map_complete(p, map_r2(b, 0, 1, false), range_r3(0x30, 1));
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

#[test]
fn two_instances_each_with_its_own_contexts_and_domains() {
    let r = real_two(2);
    let p = r.spawn("p");
    let q = r.spawn("q");
    // p: device 8 behind instance 0; q: device 8 behind instance 1. Same
    // requester id, different IOMMUs.
    let (_, _, p_page) = r.mapped(p);
    let qc = r.handle(q, ACQUIRE, 1, 0);
    let qd = r.handle(q, CREATE_DOMAIN, 1, 0);
    let q_page = r.h.ram_start(q) + r.page_offset(q);
    assert!(r.h.allow_rw(q, DRIVER, 0, q_page, PAGE).is_success());
    r.map_complete(q, map_r2(qd, 0, 0, false), range_r3(0x10, 1));
    // A domain of one instance does not attach to a context of the other.
    let pd = r.handle(p, CREATE_DOMAIN, 0, 0);
    assert_eq!(
        r.cmd(q, ATTACH, qc, pd),
        SyscallReturn::Failure(ErrorCode::INVAL)
    );
    assert_eq!(r.done(q, ATTACH, qc, qd), (0, ATTACH, qc));
    let dma = |instance: usize, data: &[u8]| {
        let mut buffer = data.to_vec();
        let (model, _) = r.instances()[instance];
        model
            .borrow_mut()
            .dma(8, 0x10_000, Access::Write, &mut buffer)
            .completed
    };
    assert_eq!(dma(0, b"pppp"), 1);
    assert_eq!(dma(1, b"qqqq"), 1);
    assert_eq!(r.h.read_ram(p, p_page - r.h.ram_start(p), 4), b"pppp");
    assert_eq!(r.h.read_ram(q, q_page - r.h.ram_start(q), 4), b"qqqq");
    // q exits: only instance 1 is cleaned; p's device keeps working.
    r.h.exit(q, 0);
    r.settle();
    assert_eq!(r.h.process(q).revocations_pending(), 0);
    assert_eq!(dma(1, b"QQQQ"), 0);
    assert_eq!(r.h.read_ram(q, q_page - r.h.ram_start(q), 4), b"qqqq");
    assert_eq!(dma(0, b"PPPP"), 1);
    r.settle();
}

/// A DMA device over the model: what `edu` does on QEMU, on the host.
struct ModelDma {
    r: &'static Real,
    device: u32,
    buffer: std::cell::RefCell<Vec<u8>>,
    job: std::cell::Cell<Option<(kernel::hil::dma_device::Direction, usize, usize)>>,
    client: kernel::utilities::cells::OptionalCell<
        &'static dyn kernel::hil::dma_device::DmaDeviceClient,
    >,
    reset_client: kernel::utilities::cells::OptionalCell<
        &'static dyn kernel::hil::dma_device::DmaDeviceResetClient,
    >,
}

impl ModelDma {
    fn run(&self) {
        use kernel::hil::dma_device::Direction;
        let Some((direction, iova, len)) = self.job.take() else {
            return;
        };
        let mut data = self.buffer.borrow()[..len].to_vec();
        let access = match direction {
            Direction::DeviceToMemory => Access::Write,
            Direction::MemoryToDevice => Access::Read,
        };
        self.r
            .model
            .borrow_mut()
            .dma(self.device, iova as u64, access, &mut data);
        if direction == Direction::MemoryToDevice {
            self.buffer.borrow_mut()[..len].copy_from_slice(&data);
        }
        self.client
            .map(|c| c.transfer_done(direction, 0, iova, len, Ok(())));
    }
}

/// Resets as `edu` does: the buffer read from IOVA 0 through the context,
/// done at once (the capsule runs it only while the context blocks).
impl kernel::hil::dma_device::DmaDeviceReset<'static> for ModelDma {
    fn set_reset_client(&self, client: &'static dyn kernel::hil::dma_device::DmaDeviceResetClient) {
        self.reset_client.set(client);
    }
    fn reset(&self) -> Result<(), ErrorCode> {
        if self.job.get().is_some() {
            return Err(ErrorCode::BUSY);
        }
        let mut data = vec![0; self.buffer.borrow().len()];
        self.r
            .model
            .borrow_mut()
            .dma(self.device, 0, Access::Read, &mut data);
        self.buffer.borrow_mut().copy_from_slice(&data);
        self.reset_client.map(|c| c.reset_done(Ok(())));
        Ok(())
    }
}

impl kernel::hil::dma_device::DmaDevice<'static> for ModelDma {
    fn set_client(&self, client: &'static dyn kernel::hil::dma_device::DmaDeviceClient) {
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
        direction: kernel::hil::dma_device::Direction,
        device_offset: usize,
        iova: usize,
        len: usize,
    ) -> Result<(), ErrorCode> {
        if len == 0 || device_offset + len > self.buffer_len() || iova + len > 1 << 28 {
            return Err(ErrorCode::INVAL);
        }
        if self.job.get().is_some() {
            return Err(ErrorCode::BUSY);
        }
        self.job.set(Some((direction, iova, len)));
        Ok(())
    }
}

#[test]
fn dma_capsule_end_to_end_on_the_real_driver() {
    use capsules_iommu::dma::{self, DmaDriver, DmaPort};
    let r: &'static Real = Box::leak(Box::new(real(2)));
    let device = r.h.leak(ModelDma {
        r,
        device: 8,
        buffer: std::cell::RefCell::new(vec![0; PAGE]),
        job: std::cell::Cell::new(None),
        client: kernel::utilities::cells::OptionalCell::empty(),
        reset_client: kernel::utilities::cells::OptionalCell::empty(),
    });
    let ports = Vec::leak(vec![DmaPort::new(
        device as &'static dyn kernel::hil::dma_device::SharedDmaDevice<'static>,
        0,
        0,
    )]);
    // The IOMMU capsule answers who owns the device's context.
    let dma_driver = r.h.leak(DmaDriver::new(
        r.h.create_grant(dma::DRIVER_NUM),
        ports,
        r.ownership(),
    ));
    dma_driver.setup();
    r.h.add_driver(dma::DRIVER_NUM, dma_driver);
    let p = r.spawn("p");
    let q = r.spawn("q");
    let start = |pid, direction: usize, len: usize, iova: usize| {
        r.h.command(
            pid,
            dma::DRIVER_NUM,
            dma::command::START,
            direction << 8 | len << 16,
            iova,
        )
    };
    // Not p's context yet: refused.
    assert_eq!(
        start(p, 0, 4, 0x10_000),
        SyscallReturn::Failure(ErrorCode::RESERVE)
    );
    assert!(
        r.h.subscribe(p, DRIVER, upcall::FAULT, 0x100, 0)
            .is_success()
    );
    let (ctx, _, page) = r.mapped(p);
    let off = page - r.h.ram_start(p);
    // Device buffer -> p's buffer, through the mapping.
    device.buffer.borrow_mut()[..12].copy_from_slice(b"edu says hi!");
    assert_eq!(start(p, 0, 12, 0x10_000), SyscallReturn::Success);
    assert_eq!(
        start(q, 0, 12, 0x10_000),
        SyscallReturn::Failure(ErrorCode::RESERVE)
    );
    device.run();
    r.settle();
    assert_eq!(r.h.read_ram(p, off, 12), b"edu says hi!");
    let ups = r.h.upcalls(p);
    assert!(
        ups.iter()
            .any(|u| u.driver_num == dma::DRIVER_NUM && u.args == (0, 0, 12))
    );
    // Outside the mapping (q's memory, by physical address, and an
    // unmapped IOVA): nothing changes, p hears of a fault.
    let q_page = r.h.ram_start(q) + r.page_offset(q);
    r.h.write_ram(q, q_page - r.h.ram_start(q), &[7; 16]);
    assert_eq!(
        start(p, 0, 16, q_page & 0x0fff_ffff),
        SyscallReturn::Success
    );
    device.run();
    assert_eq!(start(p, 0, 16, 0x50_000), SyscallReturn::Success);
    device.run();
    r.settle();
    assert_eq!(r.h.read_ram(q, q_page - r.h.ram_start(q), 16), vec![7; 16]);
    let faults: Vec<_> =
        r.h.upcalls(p)
            .into_iter()
            .filter(|u| u.driver_num == DRIVER && u.subscribe_num == upcall::FAULT)
            .collect();
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0].args.0 & 0xffff, ctx);
}

#[test]
fn a_map_is_usable_when_map_returns_before_its_completion() {
    // The RISC-V IOMMU caches no invalid entries (spec 1.0 section 2.8):
    // the model walks the new entries without any invalidation, with the
    // IOTLB warm for the domain and the driver's completion not yet run.
    let r = real(1);
    let p = r.spawn("p");
    let (_, dom, page) = r.mapped(p);
    let off = page - r.h.ram_start(p);
    assert_eq!(r.dma_write(8, 0x10_000, b"warm"), (1, 0));
    assert!(r.h.allow_rw(p, DRIVER, 1, page, PAGE).is_success());
    assert_eq!(
        r.cmd(p, MAP, map_r2(dom, 0, 1, false), range_r3(0x20, 1)),
        SyscallReturn::SuccessU32(1)
    );
    assert_eq!(r.dma_write(8, 0x20_000, b"now!"), (1, 0));
    assert_eq!(r.h.read_ram(p, off, 4), b"now!");
    // The domain is not held by the map: an unmap starts at once, and
    // its DONE is the only one.
    assert_eq!(
        r.cmd(p, UNMAP, dom, range_r3(0x20, 1)),
        SyscallReturn::Success
    );
    r.settle();
    let done: Vec<_> =
        r.h.upcalls(p)
            .into_iter()
            .filter(|u| u.subscribe_num == upcall::DONE)
            .map(|u| u.args)
            .collect();
    assert_eq!(done, vec![(0, UNMAP, dom)]);
    assert_eq!(r.dma_write(8, 0x20_000, b"gone").0, 0);
    assert_eq!(r.h.read_ram(p, off, 4), b"now!");
}
