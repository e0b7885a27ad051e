// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Property test: random multi-process syscall sequences against a model.
//!
//! Random system call sequences from several processes are checked step
//! by step against a reference model of ownership and
//! mappings, and against the invariants on what devices can reach.
//!
//! Each sequence is a few random operations (commands with real, stale,
//! foreign and garbage handles; allows; brk; completions delivered in
//! order or all at once; device accesses; process exit, restart and fault)
//! followed by a restart of every process. After every step:
//!
//! - every command's result is the one the model predicts (exactly, or,
//!   where the model cannot know the driver's progress on a revocation,
//!   one of the allowed outcomes);
//! - every page-table entry of every domain points into memory its owner
//!   allowed (read-write allows only for writable entries) (I2);
//! - every context that can reach a domain is owned by that domain's
//!   owner; unowned contexts reach nothing (I1, I3);
//! - `DONE` and `FAULT` upcalls go only to the owner of the handle they
//!   carry, one fault at a time per context (I3, I6);
//! - once the kernel considers a revocation complete, nothing of the old
//!   instance is left in any page table or context (I4).
//!
//! Sequences: 200,000 by default (`IOMMU_PROPERTY_SEQUENCES` to change;
//! `IOMMU_PROPERTY_SEED` for the seed); the ignored `soak` test runs
//! `IOMMU_SOAK_SEQUENCES` (default 2,000,000).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use capsules_iommu::Quotas;
use capsules_iommu::driver::command::*;
use capsules_iommu::driver::upcall;
use common::*;
use kernel::capabilities::ProcessManagementCapability;
use kernel::hil::iommu::AccessType;
use kernel::process::State;
use kernel::syscall::SyscallReturn;
use kernel::{ErrorCode, FaultPolicy, ProcessId, create_capability};

const DRIVER: usize = capsules_iommu::DRIVER_NUM;
const SLOTS: usize = 3;
const NAMES: [&str; SLOTS] = ["p0", "p1", "p2"];
/// Two instances: (contexts, domains, pool pages, page shift 256 B).
const INSTANCES: &[MockConfig] = &[(3, 8, 24, 8), (2, 4, 10, 8)];
const POOL: [usize; 2] = [24, 10];
const QUOTAS: Quotas = Quotas {
    contexts: 2,
    domains: 3,
    pages: 6,
};
/// p1 may not use context 2 of instance 0.
const DENIED: (usize, usize, usize) = (1, 0, 2);
const PAGE: usize = 256;
/// Domain-table slots of `common::Storage`.
const TABLE_DOMAINS: usize = 16;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CtxPending {
    Attach(usize),
    Detach,
}

#[derive(Debug)]
struct Ctx {
    inst: usize,
    hw: usize,
    owner: Option<(usize, ProcessId)>,
    handle: usize,
    attached: Option<usize>,
    pending: Option<CtxPending>,
    zombie: bool,
    armed: bool,
}

#[derive(Debug)]
struct Dom {
    handle: usize,
    owner: (usize, ProcessId),
    inst: usize,
    hw: usize,
    pending: Option<usize>,
    pages: BTreeMap<usize, (usize, bool)>,
    regions: BTreeSet<usize>,
    zombie: bool,
}

#[derive(Debug)]
struct Proc {
    pid: ProcessId,
    alive: bool,
    /// Set while the ended instance `pid` is being revoked.
    revoking: bool,
    ram: usize,
    brk: usize,
    hwm: usize,
    rw: [(usize, usize); 2],
    ro: [(usize, usize); 2],
    /// Every range this instance allowed: (start, end, writable).
    allowed: Vec<(usize, usize, bool)>,
}

struct World {
    r: Rig,
    procs: Vec<Proc>,
    ctxs: Vec<Ctx>,
    doms: Vec<Dom>,
    /// Every handle issued in this sequence (any process, maybe stale).
    issued: Vec<usize>,
    /// Handles issued in this sequence, per table: a new one never equals
    /// an old one (generations).
    fresh: BTreeSet<(u8, u32)>,
    cap: &'static dyn ProcessManagementCapability,
    steps: usize,
}

/// What a command may return.
enum Expect {
    Exactly(SyscallReturn),
    Fails(ErrorCode),
    /// Success (any variant) or one of these errors.
    SucceedsOr(&'static [ErrorCode]),
}

impl World {
    fn new() -> World {
        let r = rig(SLOTS, INSTANCES);
        r.policy.quotas.set(QUOTAS);
        r.policy
            .deny
            .borrow_mut()
            .push((NAMES[DENIED.0], DENIED.1, DENIED.2));
        let procs = NAMES
            .iter()
            .map(|n| {
                let pid = r.h.spawn(n);
                let mut p = Proc {
                    pid,
                    alive: true,
                    revoking: false,
                    ram: 0,
                    brk: 0,
                    hwm: 0,
                    rw: [(0, 0); 2],
                    ro: [(0, 0); 2],
                    allowed: Vec::new(),
                };
                p.reset(&r, pid);
                p
            })
            .collect();
        let mut ctxs = Vec::new();
        for (inst, cfg) in INSTANCES.iter().enumerate() {
            for hw in 0..cfg.0 {
                ctxs.push(Ctx {
                    inst,
                    hw,
                    owner: None,
                    handle: 0,
                    attached: None,
                    pending: None,
                    zombie: false,
                    armed: true,
                });
            }
        }
        let cap: &'static dyn ProcessManagementCapability =
            r.h.leak(create_capability!(ProcessManagementCapability));
        World {
            r,
            procs,
            ctxs,
            doms: Vec::new(),
            issued: Vec::new(),
            fresh: BTreeSet::new(),
            cap,
            steps: 0,
        }
    }

    // ----- model queries ---------------------------------------------------

    fn owned_ctx(&self, i: usize, handle: usize) -> Option<usize> {
        let pid = self.procs[i].pid;
        self.ctxs
            .iter()
            .position(|c| !c.zombie && c.handle == handle && c.owner == Some((i, pid)))
    }

    fn owned_dom(&self, i: usize, handle: usize) -> Option<usize> {
        let pid = self.procs[i].pid;
        self.doms
            .iter()
            .position(|d| !d.zombie && d.handle == handle && d.owner == (i, pid))
    }

    fn usage(&self, i: usize) -> (usize, usize, usize) {
        let pid = self.procs[i].pid;
        let c = self
            .ctxs
            .iter()
            .filter(|c| c.owner == Some((i, pid)) && !c.zombie)
            .count();
        let owned = self
            .doms
            .iter()
            .filter(|d| d.owner == (i, pid) && !d.zombie);
        let (d, p) = owned.fold((0, 0), |(d, p), x| (d + 1, p + 1 + x.regions.len()));
        (c, d, p)
    }

    /// Mostly one of the caller's own handles of the right kind (so that
    /// operations get far), else anyone's (foreign, stale) or garbage.
    fn pick_handle(&self, rng: &mut Rng, i: usize, context: bool) -> usize {
        let pid = self.procs[i].pid;
        if rng.chance(60) {
            let own: Vec<usize> = if context {
                let owned = self
                    .ctxs
                    .iter()
                    .filter(|c| c.owner == Some((i, pid)) && !c.zombie);
                owned.map(|c| c.handle).collect()
            } else {
                let owned = self
                    .doms
                    .iter()
                    .filter(|d| d.owner == (i, pid) && !d.zombie);
                owned.map(|d| d.handle).collect()
            };
            if !own.is_empty() {
                return own[rng.below(own.len())];
            }
        }
        if !self.issued.is_empty() && rng.chance(80) {
            self.issued[rng.below(self.issued.len())]
        } else {
            rng.below(0x400)
        }
    }

    fn pid_of(&self, i: usize) -> ProcessId {
        self.procs[i].pid
    }

    // ----- checking a command ------------------------------------------------

    fn command(
        &mut self,
        i: usize,
        command: usize,
        r2: usize,
        r3: usize,
        expect: Expect,
    ) -> SyscallReturn {
        let ret = self.r.cmd(self.pid_of(i), command, r2, r3);
        let ok = match &expect {
            Expect::Exactly(want) => ret == *want,
            Expect::Fails(e) => ret == SyscallReturn::Failure(*e),
            Expect::SucceedsOr(errors) => match ret {
                SyscallReturn::Failure(e) => errors.contains(&e),
                r => r.is_success(),
            },
        };
        if !ok {
            panic!(
                "step {}: p{i} command {command}({r2:#x}, {r3:#x}) returned {ret:?}, model expected {}\nmodel ctxs {:#?}\ndoms {:#?}",
                self.steps,
                match expect {
                    Expect::Exactly(r) => format!("{r:?}"),
                    Expect::Fails(e) => format!("Failure({e:?})"),
                    Expect::SucceedsOr(e) => format!("success or {e:?}"),
                },
                self.ctxs,
                self.doms
            );
        }
        ret
    }

    // ----- operations ----------------------------------------------------------

    fn acquire(&mut self, rng: &mut Rng, i: usize) {
        let inst = rng.below(3);
        let hw = rng.below(4);
        self.acquire_at(i, inst, hw);
    }

    fn acquire_at(&mut self, i: usize, inst: usize, hw: usize) {
        let expect = if inst >= INSTANCES.len() || hw >= INSTANCES[inst].0 {
            Expect::Fails(ErrorCode::INVAL)
        } else if (i, inst, hw) == DENIED {
            Expect::Fails(ErrorCode::RESERVE)
        } else {
            let c = self
                .ctxs
                .iter()
                .find(|c| c.inst == inst && c.hw == hw)
                .unwrap();
            if c.owner == Some((i, self.pid_of(i))) && !c.zombie {
                Expect::Fails(ErrorCode::ALREADY)
            } else if c.zombie {
                if self.usage(i).0 >= QUOTAS.contexts {
                    Expect::SucceedsOr(&[ErrorCode::BUSY, ErrorCode::NOMEM])
                } else {
                    Expect::SucceedsOr(&[ErrorCode::BUSY])
                }
            } else if c.owner.is_some() {
                Expect::Fails(ErrorCode::BUSY)
            } else if self.usage(i).0 >= QUOTAS.contexts {
                Expect::Fails(ErrorCode::NOMEM)
            } else {
                Expect::SucceedsOr(&[])
            }
        };
        if let SyscallReturn::SuccessU32(h) = self.command(i, ACQUIRE, inst, hw, expect) {
            let pid = self.pid_of(i);
            let c = self
                .ctxs
                .iter_mut()
                .find(|c| c.inst == inst && c.hw == hw)
                .unwrap();
            assert!(c.attached.is_none() && c.pending.is_none() || c.zombie);
            *c = Ctx {
                owner: Some((i, pid)),
                handle: h as usize,
                attached: None,
                pending: None,
                zombie: false,
                armed: true,
                ..*c
            };
            assert!(
                self.fresh.insert((0, h)),
                "I3: context handle {h:#x} issued twice"
            );
            self.issued.push(h as usize);
        }
    }

    fn release(&mut self, rng: &mut Rng, i: usize) {
        let h = self.pick_handle(rng, i, true);
        let expect = match self.owned_ctx(i, h) {
            None => Expect::Fails(ErrorCode::INVAL),
            Some(c) if self.ctxs[c].pending.is_some() || self.ctxs[c].attached.is_some() => {
                Expect::Fails(ErrorCode::BUSY)
            }
            Some(_) => Expect::Exactly(SyscallReturn::Success),
        };
        if self.command(i, RELEASE, h, 0, expect).is_success() {
            let c = self.owned_ctx(i, h).unwrap();
            self.ctxs[c].owner = None;
        }
    }

    fn create(&mut self, rng: &mut Rng, i: usize) {
        let inst = rng.below(3);
        self.create_on(i, inst);
    }

    fn create_on(&mut self, i: usize, inst: usize) {
        let (_, d, p) = self.usage(i);
        let expect = if inst >= INSTANCES.len() {
            Expect::Fails(ErrorCode::INVAL)
        } else if d >= QUOTAS.domains || p >= QUOTAS.pages {
            Expect::Fails(ErrorCode::NOMEM)
        } else {
            let mock = self.r.mocks[inst];
            let full = self.doms.len() >= TABLE_DOMAINS
                || mock.live_domain_ids().len() >= INSTANCES[inst].1
                || mock.free_pages_now() == 0;
            let zombies = self.doms.iter().any(|d| d.zombie);
            match (full, zombies) {
                (true, false) => Expect::Fails(ErrorCode::NOMEM),
                (false, false) => Expect::SucceedsOr(&[]),
                (_, true) => Expect::SucceedsOr(&[ErrorCode::NOMEM]),
            }
        };
        let before = self.r.mocks.get(inst).map(|m| m.live_domain_ids());
        if let SyscallReturn::SuccessU32(h) = self.command(i, CREATE_DOMAIN, inst, 0, expect) {
            let after = self.r.mocks[inst].live_domain_ids();
            let before = before.unwrap();
            let new: Vec<_> = after.iter().filter(|d| !before.contains(d)).collect();
            assert_eq!(new.len(), 1);
            // A hardware domain id of a zombie the driver destroyed meanwhile
            // may come back: that zombie is gone.
            let hw = *new[0];
            self.doms
                .retain(|d| !(d.zombie && d.inst == inst && d.hw == hw));
            self.doms.push(Dom {
                handle: h as usize,
                owner: (i, self.pid_of(i)),
                inst,
                hw,
                pending: None,
                pages: BTreeMap::new(),
                regions: BTreeSet::new(),
                zombie: false,
            });
            assert!(
                self.fresh.insert((1, h)),
                "I3: domain handle {h:#x} issued twice"
            );
            self.issued.push(h as usize);
        }
    }

    fn destroy(&mut self, rng: &mut Rng, i: usize) {
        let h = self.pick_handle(rng, i, false);
        let expect = match self.owned_dom(i, h) {
            None => Expect::Fails(ErrorCode::INVAL),
            Some(d) => {
                let used = self
                    .ctxs
                    .iter()
                    .any(|c| c.attached == Some(h) || c.pending == Some(CtxPending::Attach(h)));
                // A map complete on return is outstanding on the instance
                // until its `map_done` is delivered: the domain stays.
                let dm = &self.doms[d];
                let settling = self.r.mocks[dm.inst].pending_maps(dm.hw) > 0;
                if dm.pending.is_some() || used || settling {
                    Expect::Fails(ErrorCode::BUSY)
                } else {
                    Expect::Exactly(SyscallReturn::Success)
                }
            }
        };
        if self.command(i, DESTROY_DOMAIN, h, 0, expect).is_success() {
            let d = self.owned_dom(i, h).unwrap();
            self.doms.remove(d);
        }
    }

    fn random_range(rng: &mut Rng) -> (usize, usize) {
        let first = if rng.chance(15) {
            rng.below(3) * 512 + rng.below(4)
        } else {
            rng.below(8)
        };
        let count = if rng.chance(3) { 0 } else { 1 + rng.below(2) };
        (first, count)
    }

    fn map(&mut self, rng: &mut Rng, i: usize) {
        let h = self.pick_handle(rng, i, false);
        let offset = rng.below(3);
        let slot = if rng.chance(80) { 0 } else { rng.below(3) };
        let ro = rng.chance(40);
        let (first, count) = Self::random_range(rng);
        let mut r2 = map_r2(h, offset, slot, ro);
        if rng.chance(2) {
            r2 |= 1 << (28 + rng.below(4));
        }
        let r3 = range_r3(first, count);
        let decoded = r2 >> 28 == 0 && h <= 0xffff && h >> 8 != 0;
        let buffer = match (slot, ro) {
            (2, _) => None,
            (s, false) => Some(self.procs[i].rw[s]),
            (s, true) => Some(self.procs[i].ro[s]),
        };
        let phys = buffer.and_then(|(addr, len)| {
            let start = addr.next_multiple_of(PAGE) + offset * PAGE;
            (len != 0 && count != 0 && start + count * PAGE <= addr + len).then_some(start)
        });
        let dom = self.owned_dom(i, h);
        let expect = match (decoded, dom, count, phys) {
            (false, ..) | (_, None, ..) | (_, _, 0, _) | (_, _, _, None) => {
                Expect::Fails(ErrorCode::INVAL)
            }
            (true, Some(d), _, Some(_)) => {
                let dm = &self.doms[d];
                let needed: BTreeSet<usize> = (first..first + count)
                    .map(|p| p >> 9)
                    .filter(|r| !dm.regions.contains(r))
                    .collect();
                if dm.pending.is_some() {
                    Expect::Fails(ErrorCode::BUSY)
                } else if self.usage(i).2 >= QUOTAS.pages {
                    Expect::Fails(ErrorCode::NOMEM)
                } else if (first..first + count).any(|p| dm.pages.contains_key(&p)) {
                    Expect::Fails(ErrorCode::ALREADY)
                } else if needed.len() > self.r.mocks[dm.inst].free_pages_now() {
                    Expect::Fails(ErrorCode::NOMEM)
                } else if self.r.mocks[dm.inst].map_visible.get() {
                    // Complete on return: 1, and no DONE (`done` would
                    // find nothing pending and fail).
                    Expect::Exactly(SyscallReturn::SuccessU32(1))
                } else {
                    Expect::Exactly(SyscallReturn::Success)
                }
            }
        };
        if self.command(i, MAP, r2, r3, expect).is_success() {
            let d = dom.unwrap();
            let phys = phys.unwrap();
            let visible = self.r.mocks[self.doms[d].inst].map_visible.get();
            let dm = &mut self.doms[d];
            if !visible {
                dm.pending = Some(MAP);
            }
            for k in 0..count {
                dm.pages.insert(first + k, (phys + k * PAGE, !ro));
                dm.regions.insert((first + k) >> 9);
            }
        }
    }

    fn unmap(&mut self, rng: &mut Rng, i: usize) {
        let h = self.pick_handle(rng, i, false);
        let (first, count) = Self::random_range(rng);
        let expect = match self.owned_dom(i, h) {
            None => Expect::Fails(ErrorCode::INVAL),
            Some(_) if count == 0 => Expect::Fails(ErrorCode::INVAL),
            Some(d) if self.doms[d].pending.is_some() => Expect::Fails(ErrorCode::BUSY),
            Some(_) => Expect::Exactly(SyscallReturn::Success),
        };
        if self
            .command(i, UNMAP, h, range_r3(first, count), expect)
            .is_success()
        {
            let d = self.owned_dom(i, h).unwrap();
            let dm = &mut self.doms[d];
            dm.pending = Some(UNMAP);
            for k in first..first + count {
                dm.pages.remove(&k);
            }
        }
    }

    fn translate(&mut self, rng: &mut Rng, i: usize) {
        let h = self.pick_handle(rng, i, false);
        let page = rng.below(10);
        let iova = page * PAGE + rng.below(PAGE);
        let expect = match self.owned_dom(i, h) {
            None => Expect::Fails(ErrorCode::INVAL),
            Some(d) => Expect::Exactly(match self.doms[d].pages.get(&page) {
                None => SyscallReturn::SuccessU32U64(0, 0),
                Some(&(phys, w)) => SyscallReturn::SuccessU32U64(
                    1 | u32::from(w) << 1 | 8 << 8,
                    (phys + iova % PAGE) as u64,
                ),
            }),
        };
        self.command(i, TRANSLATE, h, iova, expect);
    }

    fn attach(&mut self, rng: &mut Rng, i: usize) {
        let mut ch = self.pick_handle(rng, i, true);
        let mut dh = self.pick_handle(rng, i, false);
        if rng.chance(50) {
            // A pair that can work: own context and domain, one instance.
            let pid = self.pid_of(i);
            let pairs: Vec<(usize, usize)> = self
                .ctxs
                .iter()
                .filter(|c| c.owner == Some((i, pid)) && !c.zombie)
                .flat_map(|c| {
                    self.doms
                        .iter()
                        .filter(move |d| d.owner == (i, pid) && !d.zombie && d.inst == c.inst)
                        .map(move |d| (c.handle, d.handle))
                })
                .collect();
            if !pairs.is_empty() {
                (ch, dh) = pairs[rng.below(pairs.len())];
            }
        }
        let expect = match (self.owned_ctx(i, ch), self.owned_dom(i, dh)) {
            (Some(c), Some(d)) => {
                let c = &self.ctxs[c];
                if c.inst != self.doms[d].inst {
                    Expect::Fails(ErrorCode::INVAL)
                } else if c.pending.is_some() {
                    Expect::Fails(ErrorCode::BUSY)
                } else if c.attached == Some(dh) {
                    Expect::Fails(ErrorCode::ALREADY)
                } else {
                    Expect::Exactly(SyscallReturn::Success)
                }
            }
            _ => Expect::Fails(ErrorCode::INVAL),
        };
        if self.command(i, ATTACH, ch, dh, expect).is_success() {
            let c = self.owned_ctx(i, ch).unwrap();
            self.ctxs[c].pending = Some(CtxPending::Attach(dh));
        }
    }

    fn detach(&mut self, rng: &mut Rng, i: usize) {
        let h = self.pick_handle(rng, i, true);
        let expect = match self.owned_ctx(i, h) {
            None => Expect::Fails(ErrorCode::INVAL),
            Some(c) if self.ctxs[c].pending.is_some() => Expect::Fails(ErrorCode::BUSY),
            Some(c) if self.ctxs[c].attached.is_none() => Expect::Fails(ErrorCode::ALREADY),
            Some(_) => Expect::Exactly(SyscallReturn::Success),
        };
        if self.command(i, DETACH, h, 0, expect).is_success() {
            let c = self.owned_ctx(i, h).unwrap();
            self.ctxs[c].pending = Some(CtxPending::Detach);
        }
    }

    fn fault_ack(&mut self, rng: &mut Rng, i: usize) {
        let h = self.pick_handle(rng, i, true);
        let expect = match self.owned_ctx(i, h) {
            None => Expect::Fails(ErrorCode::INVAL),
            Some(_) => Expect::SucceedsOr(&[]),
        };
        if self.command(i, FAULT_ACK, h, 0, expect).is_success() {
            let c = self.owned_ctx(i, h).unwrap();
            self.ctxs[c].armed = true;
        }
    }

    fn garbage(&mut self, rng: &mut Rng, i: usize) {
        let command = 1 + rng.below(20);
        // Bit 33 set: no handle, instance or packed argument decodes.
        let r2 = rng.next() as usize | 1 << 33;
        let r3 = rng.next() as usize;
        let expect = match command {
            INFO | INFO_PAGES => Expect::SucceedsOr(&[]),
            c if c > FAULT_ACK => Expect::Fails(ErrorCode::NOSUPPORT),
            _ => Expect::Fails(ErrorCode::INVAL),
        };
        self.command(i, command, r2, r3, expect);
    }

    fn allow(&mut self, rng: &mut Rng, i: usize) {
        let ro = rng.chance(40);
        let slot = rng.below(2);
        let p = &self.procs[i];
        let pid = p.pid;
        let (addr, len) = if rng.chance(10) {
            (0, 0)
        } else if ro && rng.chance(10) {
            let flash = self.r.h.process(pid).layout().unwrap().flash_start;
            (flash + rng.below(8) * PAGE, rng.below(4) * PAGE)
        } else {
            let unaligned = if rng.chance(20) { rng.below(PAGE) } else { 0 };
            let start = p.ram.next_multiple_of(PAGE) + rng.below(28) * PAGE + unaligned;
            (
                start,
                (1 + rng.below(5)) * PAGE + if rng.chance(20) { rng.below(PAGE) } else { 0 },
            )
        };
        self.allow_exactly(i, ro, slot, addr, len);
    }

    fn allow_exactly(&mut self, i: usize, ro: bool, slot: usize, addr: usize, len: usize) {
        let p = &self.procs[i];
        let pid = p.pid;
        let in_ram = addr >= p.ram && addr + len <= p.brk;
        let flash = self.r.h.process(pid).layout().unwrap();
        let in_flash =
            addr >= flash.flash_start && addr + len <= flash.flash_start + flash.flash_len;
        let valid = len == 0 || in_ram || (ro && in_flash);
        let ret = if ro {
            self.r.h.allow_ro(pid, DRIVER, slot, addr, len)
        } else {
            self.r.h.allow_rw(pid, DRIVER, slot, addr, len)
        };
        assert_eq!(
            ret.is_success(),
            valid,
            "allow {addr:#x}+{len:#x} ro={ro}: {ret:?}"
        );
        if valid {
            let p = &mut self.procs[i];
            if ro {
                p.ro[slot] = (addr, len);
            } else {
                p.rw[slot] = (addr, len);
            }
            if len > 0 {
                p.allowed.push((addr, addr + len, !ro));
                if in_ram {
                    p.hwm = p.hwm.max(addr + len);
                }
            }
        }
    }

    fn brk(&mut self, rng: &mut Rng, i: usize) {
        let p = &self.procs[i];
        let new = p.ram + rng.below(48) * PAGE;
        let kernel_break = self.r.h.process(p.pid).kernel_break();
        let ret = self.r.h.memop(p.pid, 0, new);
        // Below the allow high-water mark the kernel refuses (INVAL, or
        // NOMEM as Tock returns for every refused brk).
        let ok = if new < p.hwm {
            matches!(
                ret,
                SyscallReturn::Failure(ErrorCode::INVAL | ErrorCode::NOMEM)
            )
        } else if new > kernel_break {
            ret == SyscallReturn::Failure(ErrorCode::NOMEM)
        } else {
            ret == SyscallReturn::Success
        };
        assert!(ok, "brk {new:#x} (hwm {:#x}): {ret:?}", p.hwm);
        if ret.is_success() {
            self.procs[i].brk = new;
        }
    }

    fn device_access(&mut self, rng: &mut Rng) {
        let mut c = rng.below(self.ctxs.len());
        let mut iova = if rng.chance(20) {
            512 * PAGE
        } else {
            rng.below(8) * PAGE
        } + rng.below(PAGE);
        if rng.chance(50) {
            // Aim at something mapped through an attached context.
            let targets: Vec<(usize, usize)> = (0..self.ctxs.len())
                .filter_map(|k| {
                    let d = self.ctxs[k].attached?;
                    let dom = self
                        .doms
                        .iter()
                        .find(|x| x.handle == d && Some(x.owner) == self.ctxs[k].owner)?;
                    let page = *dom.pages.keys().next()?;
                    Some((k, page))
                })
                .collect();
            if !targets.is_empty() {
                let (k, page) = targets[rng.below(targets.len())];
                c = k;
                iova = page * PAGE + rng.below(PAGE);
            }
        }
        let (inst, hw) = (self.ctxs[c].inst, self.ctxs[c].hw);
        let write = rng.chance(50);
        let access = if write {
            AccessType::Write
        } else {
            AccessType::Read
        };
        let mock = self.r.mocks[inst];
        if let Ok(phys) = mock.device_access(hw, iova, access) {
            let d = mock.attached_to(hw).unwrap();
            let dom = self
                .doms
                .iter()
                .find(|x| x.inst == inst && x.hw == d)
                .expect("device reached a domain no one owns");
            assert_eq!(
                self.ctxs[c].owner,
                Some(dom.owner),
                "I3: context and domain owners differ"
            );
            self.check_allowed(dom.owner, phys, write);
        }
    }

    fn end_process(&mut self, rng: &mut Rng, i: usize) {
        if !self.procs[i].alive {
            return;
        }
        let pid = self.pid_of(i);
        match rng.below(3) {
            0 => self.r.h.exit(pid, 0),
            1 => {
                self.r.h.restart(pid);
            }
            _ => {
                self.r.h.fault(pid, FaultPolicy::Restart(usize::MAX));
            }
        }
        self.bury(i);
    }

    /// The model's side of a process ending.
    fn bury(&mut self, i: usize) {
        let pid = self.pid_of(i);
        for c in &mut self.ctxs {
            if c.owner == Some((i, pid)) {
                c.zombie = true;
            }
        }
        for d in &mut self.doms {
            if d.owner == (i, pid) {
                d.zombie = true;
            }
        }
        self.procs[i].alive = false;
        self.procs[i].revoking = true;
    }

    // ----- after every step ------------------------------------------------------

    fn after_step(&mut self) {
        self.steps += 1;
        for i in 0..SLOTS {
            if !self.procs[i].alive {
                continue;
            }
            let pid = self.pid_of(i);
            for u in self.r.h.upcalls(pid) {
                assert_eq!(u.driver_num, DRIVER);
                match u.subscribe_num {
                    upcall::DONE => self.done(i, u.args),
                    upcall::FAULT => {
                        let h = u.args.0 & 0xffff;
                        let c = self.owned_ctx(i, h).unwrap_or_else(|| {
                            panic!("I3/I6: fault for p{i} names {h:#x}, not its own")
                        });
                        assert!(self.ctxs[c].armed, "I6: a second fault before FAULT_ACK");
                        self.ctxs[c].armed = false;
                    }
                    n => panic!("unknown upcall {n}"),
                }
            }
        }
        self.check_revocations();
        self.check_reachability();
    }

    fn done(&mut self, i: usize, (status, command, handle): (usize, usize, usize)) {
        assert_eq!(status, 0, "mock completions succeed");
        match command {
            MAP | UNMAP => {
                let d = self
                    .owned_dom(i, handle)
                    .unwrap_or_else(|| panic!("I3: DONE for p{i} names domain {handle:#x}"));
                assert_eq!(
                    self.doms[d].pending,
                    Some(command),
                    "DONE with nothing pending"
                );
                self.doms[d].pending = None;
            }
            ATTACH | DETACH => {
                let c = self
                    .owned_ctx(i, handle)
                    .unwrap_or_else(|| panic!("I3: DONE for p{i} names context {handle:#x}"));
                let ctx = &mut self.ctxs[c];
                match (command, ctx.pending) {
                    (ATTACH, Some(CtxPending::Attach(d))) => ctx.attached = Some(d),
                    (DETACH, Some(CtxPending::Detach)) => ctx.attached = None,
                    other => panic!("DONE {other:?} with nothing pending"),
                }
                ctx.pending = None;
            }
            _ => panic!("DONE for command {command}"),
        }
    }

    fn check_revocations(&mut self) {
        for i in 0..SLOTS {
            if !self.procs[i].revoking {
                continue;
            }
            let old = self.pid_of(i);
            let slot_now = self.r.h.kernel().process_id_at(i);
            let state = self.r.h.kernel().process_slot(slot_now).map(|p| p.state());
            let complete = if slot_now != old {
                true
            } else {
                state != Some(State::Revoking) && self.r.h.process(old).revocations_pending() == 0
            };
            if !complete {
                continue;
            }
            // I4: nothing of the old instance remains.
            let ram = self.procs[i].ram;
            for m in &self.r.mocks {
                let end = ram + capsule_test_harness::RAM_SIZE;
                assert_eq!(
                    m.entries_into(ram, end),
                    0,
                    "I4: revoked memory still mapped"
                );
            }
            for (inst, m) in self.r.mocks.iter().enumerate() {
                for (ctx, d) in m.context_links() {
                    let owned_by_old = self
                        .doms
                        .iter()
                        .any(|x| x.inst == inst && x.hw == d && x.owner == (i, old));
                    assert!(
                        !owned_by_old,
                        "I4: context {ctx} still reaches a revoked domain"
                    );
                }
            }
            self.doms.retain(|d| d.owner != (i, old));
            for c in &mut self.ctxs {
                if c.owner == Some((i, old)) {
                    *c = Ctx {
                        owner: None,
                        attached: None,
                        pending: None,
                        zombie: false,
                        ..*c
                    };
                }
            }
            let p = &mut self.procs[i];
            p.revoking = false;
            if slot_now != old && state == Some(State::Running) {
                let r = &self.r;
                p.reset(r, slot_now);
            }
        }
    }

    /// I1, I2, I3 on what the mock says a device could reach.
    fn check_reachability(&self) {
        for (inst, m) in self.r.mocks.iter().enumerate() {
            for (d, e) in m.all_entries() {
                let dom = self
                    .doms
                    .iter()
                    .find(|x| x.inst == inst && x.hw == d)
                    .expect("a page table no model domain owns");
                self.check_allowed(dom.owner, e.phys, e.permissions.write);
                assert!(e.permissions.read);
            }
            for (ctx, d) in m.context_links() {
                let c = self
                    .ctxs
                    .iter()
                    .find(|c| c.inst == inst && c.hw == ctx)
                    .unwrap();
                let dom = self.doms.iter().find(|x| x.inst == inst && x.hw == d);
                match (c.owner, dom) {
                    (Some(o), Some(dom)) => {
                        assert_eq!(o, dom.owner, "I3: context reaches a foreign domain")
                    }
                    _ => panic!("I1: unowned context {inst}/{ctx} reaches domain {d}"),
                }
            }
        }
    }

    /// `phys` is in memory `owner` allowed (writable if `write`).
    fn check_allowed(&self, (i, pid): (usize, ProcessId), phys: usize, write: bool) {
        let p = &self.procs[i];
        assert_eq!(p.pid, pid, "I4: a mapping of an older instance survived");
        let ok = p
            .allowed
            .iter()
            .any(|&(s, e, w)| phys >= s && phys < e && (w || !write));
        assert!(
            ok,
            "I2: p{i} entry {phys:#x} (write {write}) outside its allows {:x?}",
            p.allowed
        );
    }

    // ----- one sequence ------------------------------------------------------------

    fn sequence(&mut self, rng: &mut Rng, length: usize) {
        self.issued.clear();
        self.fresh.clear();
        // Sometimes the instances call back before their calls return. Half
        // of the time an instance's maps are complete on return (as on the
        // RISC-V IOMMU); a geometry does not change while anything is
        // outstanding, and nothing is between sequences.
        for m in &self.r.mocks {
            m.completion.set(if rng.chance(15) {
                Completion::Synchronous
            } else {
                Completion::Queued
            });
            assert_eq!(m.pending_count(), 0);
            m.map_visible.set(rng.chance(50));
        }
        // Every process starts with buffers to map from (random allows
        // change them later).
        for i in 0..SLOTS {
            if self.procs[i].alive {
                let base = self.procs[i].ram.next_multiple_of(PAGE);
                self.allow_exactly(i, false, 0, base, 4 * PAGE);
                self.allow_exactly(i, true, 0, base + 4 * PAGE, 2 * PAGE);
                if rng.chance(50) {
                    // And often a context and a domain to go with them.
                    let inst = rng.below(INSTANCES.len());
                    self.acquire_at(i, inst, rng.below(INSTANCES[inst].0));
                    self.create_on(i, inst);
                    self.after_step();
                }
            }
        }
        for _ in 0..length {
            let i = rng.below(SLOTS);
            if !self.procs[i].alive {
                // Dead processes make no calls; deliver completions instead.
                let inst = rng.below(INSTANCES.len());
                self.r.mocks[inst].complete_one();
                self.after_step();
                continue;
            }
            match rng.below(100) {
                0..=7 => self.acquire(rng, i),
                8..=10 => self.release(rng, i),
                11..=18 => self.create(rng, i),
                19..=21 => self.destroy(rng, i),
                22..=37 => self.map(rng, i),
                38..=43 => self.unmap(rng, i),
                44..=47 => self.translate(rng, i),
                48..=56 => self.attach(rng, i),
                57..=60 => self.detach(rng, i),
                61..=62 => self.fault_ack(rng, i),
                63 => {
                    // Switch an instance between queued and synchronous
                    // completions (what was queued stays queued).
                    let m = self.r.mocks[rng.below(INSTANCES.len())];
                    m.completion.set(match m.completion.get() {
                        Completion::Queued => Completion::Synchronous,
                        Completion::Synchronous => Completion::Queued,
                    });
                }
                64..=72 => {
                    let inst = rng.below(INSTANCES.len());
                    self.r.mocks[inst].complete_one();
                }
                73..=76 => self.r.complete_all(),
                77..=83 => self.device_access(rng),
                84..=90 => self.allow(rng, i),
                91..=92 => self.brk(rng, i),
                93..=95 => self.garbage(rng, i),
                _ => self.end_process(rng, i),
            }
            self.after_step();
        }
        self.teardown();
    }

    /// Restarts every slot and checks that everything came back.
    fn teardown(&mut self) {
        for i in 0..SLOTS {
            let pid = self.pid_of(i);
            if self.procs[i].alive {
                self.bury(i);
            }
            // A slot that ended earlier restarts too (its revocation, if
            // already complete, is then trivially complete again).
            self.procs[i].revoking = true;
            self.r.h.kernel().restart(pid, self.cap);
        }
        self.r.complete_all();
        self.after_step();
        for i in 0..SLOTS {
            assert!(!self.procs[i].revoking, "p{i}: revocation never completed");
            assert!(self.procs[i].alive);
        }
        for (m, pool) in self.r.mocks.iter().zip(POOL) {
            assert_eq!(m.live_domains(), 0);
            assert!(m.context_links().is_empty());
            assert_eq!(m.free_pages_now(), pool, "page-table pages leaked");
            assert_eq!(m.pending_count(), 0);
        }
        assert!(self.doms.is_empty());
        assert!(self.ctxs.iter().all(|c| c.owner.is_none()));
    }
}

impl Proc {
    fn reset(&mut self, r: &Rig, pid: ProcessId) {
        let ram = r.h.ram_start(pid);
        *self = Proc {
            pid,
            alive: true,
            revoking: false,
            ram,
            brk: ram + capsule_test_harness::INITIAL_BREAK,
            hwm: ram,
            rw: [(0, 0); 2],
            ro: [(0, 0); 2],
            allowed: Vec::new(),
        };
    }
}

fn run(sequences: usize) {
    let seed = std::env::var("IOMMU_PROPERTY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x1f0_3c5a_77e1_u64);
    let mut rng = Rng(seed | 1);
    let mut world = World::new();
    for n in 0..sequences {
        let length = 1 + rng.below(24);
        world.sequence(&mut rng, length);
        if n % 100_000 == 99_999 {
            eprintln!("{} sequences, {} steps", n + 1, world.steps);
        }
    }
    eprintln!(
        "property: {sequences} sequences, {} steps, seed {seed:#x}",
        world.steps
    );
}

fn from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn random_sequences_match_the_model() {
    run(from_env("IOMMU_PROPERTY_SEQUENCES", 200_000));
}

#[test]
#[ignore = "soak: cargo test -p capsules-iommu --test property -- --ignored"]
fn soak() {
    run(from_env("IOMMU_SOAK_SEQUENCES", 2_000_000));
}
