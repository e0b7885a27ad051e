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

#[path = "property/checks.rs"]
mod checks;
#[path = "property/commands.rs"]
mod commands;
#[path = "property/process_ops.rs"]
mod process_ops;

use std::collections::{BTreeMap, BTreeSet};

use capsules_iommu::Quotas;
use capsules_iommu::driver::command::*;
use capsules_iommu::driver::upcall;
use iommu_test_support::Rng;
use iommu_test_support::capsule_rig::*;
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
/// Domain-table slots of `capsule_rig::Storage`.
const TABLE_DOMAINS: usize = 16;

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
    /// Destroyed by its live owner while maps settled: no handle any more,
    /// still charged, gone once the instance destroyed it.
    dying: bool,
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
            .position(|d| !d.zombie && !d.dying && d.handle == handle && d.owner == (i, pid))
    }

    /// What process `i` holds on instance `inst` (shares are per instance).
    fn usage(&self, i: usize, inst: usize) -> (usize, usize, usize) {
        let pid = self.procs[i].pid;
        let c = self
            .ctxs
            .iter()
            .filter(|c| c.owner == Some((i, pid)) && !c.zombie && c.inst == inst)
            .count();
        let owned = self
            .doms
            .iter()
            .filter(|d| d.owner == (i, pid) && !d.zombie && d.inst == inst);
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
        &self,
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
