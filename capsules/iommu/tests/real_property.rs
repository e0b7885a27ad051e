// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Random sequences on the real driver, checked by what devices read.
//!
//! The model caches translations until they are invalidated, so what a
//! device can actually read is the test's oracle.
//!
//! Every process instance fills its RAM below the break with its own tag
//! byte, and the CPU never changes it while the instance lives. Devices
//! only read (the model's DMA). So whenever a device read through a context
//! completes, every byte it got must be the tag of the instance that owns
//! the context (I2, I3) — in particular never the tag of a *new* instance
//! in the same slot, which the test writes only once the kernel declared
//! the old instance's revocation complete (I4). Reads through unowned
//! contexts never complete (I1).
//!
//! 10,000 sequences by default (`IOMMU_REAL_SEQUENCES`).

use capsule_test_harness::INITIAL_BREAK;
use capsules_iommu::driver::command::*;
use iommu_test_support::Rng;
use iommu_test_support::capsule_rig::{map_r2, range_r3};
use iommu_test_support::real_rig::{DEVICES, DRIVER, PAGE, Real, real};
use kernel::syscall::SyscallReturn;
use kernel::{FaultPolicy, ProcessId};
use riscv_iommu_model::Access;

const SLOTS: usize = 2;
const IOVA_PAGES: [usize; 4] = [0x10, 0x11, 0x20, 0x200];

struct World {
    r: Real,
    /// Current instance of each slot and its tag.
    procs: [(ProcessId, u8); SLOTS],
    /// Ended instances whose revocation is not complete yet: (slot, old).
    revoking: Vec<(usize, ProcessId)>,
    /// Owner of each context: (slot, instance, tag).
    owners: [Option<(usize, ProcessId, u8)>; 2],
    handles: Vec<usize>,
    /// Handles issued to each slot's current instance: (contexts, domains).
    own: [(Vec<usize>, Vec<usize>); SLOTS],
    next_tag: u8,
    reads: usize,
    completed_reads: usize,
    /// `MAP`s that returned "complete" (1).
    maps_complete: usize,
}

impl World {
    fn new() -> World {
        let r = real(SLOTS);
        let p0 = r.spawn("p0");
        let p1 = r.spawn("p1");
        let mut w = World {
            r,
            procs: [(p0, 0), (p1, 0)],
            revoking: Vec::new(),
            owners: [None, None],
            handles: Vec::new(),
            own: [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())],
            next_tag: 0x41,
            reads: 0,
            completed_reads: 0,
            maps_complete: 0,
        };
        w.begin(0, p0);
        w.begin(1, p1);
        w
    }

    /// A new instance in `slot`: tag its RAM, allow its first whole page.
    fn begin(&mut self, slot: usize, pid: ProcessId) {
        let tag = self.next_tag;
        self.next_tag = if tag == 0x7e { 0x41 } else { tag + 1 };
        self.r.h.write_ram(pid, 0, &[tag; INITIAL_BREAK]);
        self.procs[slot] = (pid, tag);
        self.own[slot] = (Vec::new(), Vec::new());
        let page = self.r.h.ram_start(pid) + self.r.page_offset(pid);
        assert!(self.r.h.allow_rw(pid, DRIVER, 0, page, PAGE).is_success());
        assert!(self.r.h.allow_ro(pid, DRIVER, 0, page, PAGE).is_success());
    }

    /// Mostly the caller's own handle of the right kind, else anyone's
    /// (foreign, stale) or garbage.
    fn pick_own(&self, rng: &mut Rng, slot: usize, context: bool) -> usize {
        let own = if context {
            &self.own[slot].0
        } else {
            &self.own[slot].1
        };
        if !own.is_empty() && rng.below(4) != 0 {
            own[rng.below(own.len())]
        } else {
            self.pick(rng)
        }
    }

    fn pick(&self, rng: &mut Rng) -> usize {
        if self.handles.is_empty() || rng.below(8) == 0 {
            rng.below(0x300)
        } else {
            self.handles[rng.below(self.handles.len())]
        }
    }

    fn step(&mut self, rng: &mut Rng) {
        let slot = rng.below(SLOTS);
        let (pid, tag) = self.procs[slot];
        let alive = self.r.h.kernel().process_is_alive(pid);
        match rng.below(20) {
            _ if !alive => {}
            0 | 1 => {
                let context = rng.below(3);
                if let SyscallReturn::SuccessU32(h) = self.r.cmd(pid, ACQUIRE, 0, context) {
                    // Free, or freed by an unfinished revocation (a
                    // context is freed as soon as its detach completed).
                    let previous = self.owners[context];
                    assert!(
                        previous.is_none_or(|o| self.revoking.iter().any(|r| r.1 == o.1)),
                        "I3: a held context was handed out"
                    );
                    self.owners[context] = Some((slot, pid, tag));
                    self.handles.push(h as usize);
                    self.own[slot].0.push(h as usize);
                }
            }
            2 => {
                let h = self.pick_own(rng, slot, true);
                if self.r.cmd(pid, RELEASE, h, 0).is_success() {
                    let c = h & 0xff;
                    assert_eq!(self.owners[c].map(|o| o.1), Some(pid));
                    self.owners[c] = None;
                }
            }
            3..=5 => {
                if let SyscallReturn::SuccessU32(h) = self.r.cmd(pid, CREATE_DOMAIN, 0, 0) {
                    self.handles.push(h as usize);
                    self.own[slot].1.push(h as usize);
                }
            }
            6 => {
                let h = self.pick_own(rng, slot, false);
                let _ = self.r.cmd(pid, DESTROY_DOMAIN, h, 0);
            }
            7..=10 => {
                let h = self.pick_own(rng, slot, false);
                let ro = rng.below(2) == 1;
                let iova = IOVA_PAGES[rng.below(IOVA_PAGES.len())];
                // The RISC-V IOMMU caches no invalid entries: a map that
                // succeeds is complete on return (1), never split-phase.
                match self.r.cmd(pid, MAP, map_r2(h, 0, 0, ro), range_r3(iova, 1)) {
                    SyscallReturn::SuccessU32(1) => self.maps_complete += 1,
                    SyscallReturn::Failure(_) => {}
                    other => panic!("MAP on the real driver returned {other:?}"),
                }
            }
            11 => {
                let h = self.pick_own(rng, slot, false);
                let iova = IOVA_PAGES[rng.below(IOVA_PAGES.len())];
                let _ = self.r.cmd(pid, UNMAP, h, range_r3(iova, 1 + rng.below(2)));
            }
            12..=14 => {
                let (c, d) = (
                    self.pick_own(rng, slot, true),
                    self.pick_own(rng, slot, false),
                );
                let _ = self.r.cmd(pid, ATTACH, c, d);
            }
            15 if rng.below(6) == 0 => self.end(slot, rng),
            15 => {
                let h = self.pick_own(rng, slot, true);
                let _ = self.r.cmd(pid, DETACH, h, 0);
            }
            16.. => self.r.settle(),
        }
        self.probe();
        self.check_revocations();
    }

    fn end(&mut self, slot: usize, rng: &mut Rng) {
        let (pid, _) = self.procs[slot];
        match rng.below(3) {
            0 => self.r.h.exit(pid, 0),
            1 => {
                self.r.h.restart(pid);
            }
            _ => {
                self.r.h.fault(pid, FaultPolicy::Restart(usize::MAX));
            }
        }
        self.revoking.push((slot, pid));
    }

    /// Every device reads every IOVA of interest.
    fn probe(&mut self) {
        for (context, &device) in DEVICES.iter().enumerate() {
            for &iova in &IOVA_PAGES {
                let mut buffer = [0u8; 8];
                let result = self.r.model.borrow_mut().dma(
                    device,
                    (iova * PAGE + 8) as u64,
                    Access::Read,
                    &mut buffer,
                );
                self.reads += 1;
                if result.completed == 0 {
                    continue;
                }
                self.completed_reads += 1;
                let Some((slot, owner, tag)) = self.owners[context] else {
                    panic!("I1: device {device:#x} read {iova:#x} through an unowned context");
                };
                assert!(
                    buffer[..4 * result.completed].iter().all(|&b| b == tag),
                    "device {device:#x} read {:x?} at {iova:#x}; owner p{slot} {owner:?} has tag {tag:#x}",
                    &buffer
                );
            }
        }
        // Fault records from blocked reads: let the driver drain them now
        // and then (overflow is part of the test).
        if self.reads.is_multiple_of(64) {
            self.r.settle();
        }
    }

    fn check_revocations(&mut self) {
        let mut i = 0;
        while i < self.revoking.len() {
            let (slot, old) = self.revoking[i];
            let kernel = self.r.h.kernel();
            let now = kernel.process_id_at(slot).unwrap();
            let done = now != old || self.r.h.process(old).revocations_pending() == 0;
            if !done {
                i += 1;
                continue;
            }
            self.revoking.remove(i);
            for owner in &mut self.owners {
                if owner.is_some_and(|o| o.1 == old) {
                    *owner = None;
                }
            }
            if now != old && kernel.process_is_alive(now) {
                // Only now may the memory hold anything new.
                self.begin(slot, now);
            }
        }
    }

    fn sequence(&mut self, rng: &mut Rng, length: usize) {
        self.handles.clear();
        self.own = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
        for _ in 0..length {
            self.step(rng);
        }
        // Restart every slot; everything must come back.
        for slot in 0..SLOTS {
            let (pid, _) = self.procs[slot];
            if !self.revoking.iter().any(|&(s, _)| s == slot) {
                let cap =
                    kernel::create_capability!(kernel::capabilities::ProcessManagementCapability);
                self.r.h.kernel().restart(pid, &cap);
                self.revoking.push((slot, pid));
            }
        }
        for _ in 0..4 {
            self.r.settle();
            self.check_revocations();
        }
        // A terminated slot whose revocation completed restarts now.
        for slot in 0..SLOTS {
            let (pid, _) = self.procs[slot];
            if !self.r.h.kernel().process_is_alive(pid) {
                let now = self.r.h.kernel().process_id_at(slot).unwrap();
                if now == pid {
                    let cap = kernel::create_capability!(
                        kernel::capabilities::ProcessManagementCapability
                    );
                    self.r.h.kernel().restart(pid, &cap);
                }
                let now = self.r.h.kernel().process_id_at(slot).unwrap();
                assert!(
                    self.r.h.kernel().process_is_alive(now),
                    "slot {slot} never came back"
                );
                self.begin(slot, now);
            }
        }
        assert!(
            self.revoking.is_empty(),
            "revocations never completed: {:?}",
            self.revoking
        );
        assert_eq!(self.owners, [None, None]);
        self.probe();
        assert_eq!(
            kernel::hil::iommu::Geometry::free_pages(self.r.iommu),
            24,
            "page-table pages leaked"
        );
    }
}

#[test]
fn random_sequences_on_the_real_driver() {
    let sequences = std::env::var("IOMMU_REAL_SEQUENCES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut w = World::new();
    for _ in 0..sequences {
        let length = 1 + rng.below(40);
        w.sequence(&mut rng, length);
    }
    assert!(
        w.completed_reads > 0,
        "no read ever went through: the test tests nothing"
    );
    assert!(w.maps_complete > 0, "no MAP ever succeeded");
    eprintln!(
        "real driver: {sequences} sequences, {} device reads, {} through, {} maps",
        w.reads, w.completed_reads, w.maps_complete
    );
}
