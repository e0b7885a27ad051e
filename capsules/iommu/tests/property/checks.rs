// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The property test's checks after every step: upcalls, revocations, reachability of memory by devices.

use super::*;

impl World {
    pub(super) fn after_step(&mut self) {
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
        // Domains destroyed while their maps settled go once the instance
        // destroyed them.
        let mocks = &self.r.mocks;
        self.doms
            .retain(|d| !d.dying || mocks[d.inst].live_domain_ids().contains(&d.hw));
        self.check_revocations();
        self.check_reachability();
    }

    pub(super) fn done(&mut self, i: usize, (status, command, handle): (usize, usize, usize)) {
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

    pub(super) fn check_revocations(&mut self) {
        for i in 0..SLOTS {
            if !self.procs[i].revoking {
                continue;
            }
            let old = self.pid_of(i);
            let slot_now = self.r.h.kernel().process_id_at(i).unwrap();
            let state = self.r.h.kernel().process_slot(slot_now).map(|p| p.state());
            let complete = slot_now != old || self.r.h.process(old).revocations_pending() == 0;
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
    pub(super) fn check_reachability(&self) {
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
    pub(super) fn check_allowed(&self, (i, pid): (usize, ProcessId), phys: usize, write: bool) {
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
}
