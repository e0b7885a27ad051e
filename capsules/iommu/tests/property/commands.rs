// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The property test's IOMMU commands: each issues one command for a process and checks its result against the model.

use super::*;

impl World {
    pub(super) fn acquire(&mut self, rng: &mut Rng, i: usize) {
        let inst = rng.below(3);
        let hw = rng.below(4);
        self.acquire_at(i, inst, hw);
    }

    pub(super) fn acquire_at(&mut self, i: usize, inst: usize, hw: usize) {
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
                if self.usage(i, inst).0 >= QUOTAS.contexts {
                    Expect::SucceedsOr(&[ErrorCode::BUSY, ErrorCode::NOMEM])
                } else {
                    Expect::SucceedsOr(&[ErrorCode::BUSY])
                }
            } else if c.owner.is_some() {
                Expect::Fails(ErrorCode::BUSY)
            } else if self.usage(i, inst).0 >= QUOTAS.contexts {
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

    pub(super) fn release(&mut self, rng: &mut Rng, i: usize) {
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

    pub(super) fn create(&mut self, rng: &mut Rng, i: usize) {
        let inst = rng.below(3);
        self.create_on(i, inst);
    }

    pub(super) fn create_on(&mut self, i: usize, inst: usize) {
        let expect = if inst >= INSTANCES.len() {
            Expect::Fails(ErrorCode::INVAL)
        } else if let (_, d, p) = self.usage(i, inst)
            && (d >= QUOTAS.domains || p >= QUOTAS.pages)
        {
            Expect::Fails(ErrorCode::NOMEM)
        } else {
            let mock = self.r.mocks[inst];
            let full = self.doms.len() >= TABLE_DOMAINS
                || mock.live_domain_ids().len() >= INSTANCES[inst].1
                || mock.free_pages_now() == 0;
            let zombies = self.doms.iter().any(|d| d.zombie || d.dying);
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
                .retain(|d| !((d.zombie || d.dying) && d.inst == inst && d.hw == hw));
            self.doms.push(Dom {
                handle: h as usize,
                owner: (i, self.pid_of(i)),
                inst,
                hw,
                pending: None,
                pages: BTreeMap::new(),
                regions: BTreeSet::new(),
                zombie: false,
                dying: false,
            });
            assert!(
                self.fresh.insert((1, h)),
                "I3: domain handle {h:#x} issued twice"
            );
            self.issued.push(h as usize);
        }
    }

    pub(super) fn destroy(&mut self, rng: &mut Rng, i: usize) {
        let h = self.pick_handle(rng, i, false);
        let expect = match self.owned_dom(i, h) {
            None => Expect::Fails(ErrorCode::INVAL),
            Some(d) => {
                let used = self
                    .ctxs
                    .iter()
                    .any(|c| c.attached == Some(h) || c.pending == Some(CtxPending::Attach(h)));
                // A map complete on return is outstanding on the instance
                // until its `map_done` is delivered; it does not hold the
                // process up, the domain is destroyed once it settled.
                let dm = &self.doms[d];
                if dm.pending.is_some() || used {
                    Expect::Fails(ErrorCode::BUSY)
                } else {
                    Expect::Exactly(SyscallReturn::Success)
                }
            }
        };
        if self.command(i, DESTROY_DOMAIN, h, 0, expect).is_success() {
            let d = self.owned_dom(i, h).unwrap();
            let dm = &self.doms[d];
            if self.r.mocks[dm.inst].live_domain_ids().contains(&dm.hw) {
                self.doms[d].dying = true;
            } else {
                self.doms.remove(d);
            }
        }
    }

    pub(super) fn random_range(rng: &mut Rng) -> (usize, usize) {
        let first = if rng.chance(15) {
            rng.below(3) * 512 + rng.below(4)
        } else {
            rng.below(8)
        };
        let count = if rng.chance(3) { 0 } else { 1 + rng.below(2) };
        (first, count)
    }

    pub(super) fn map(&mut self, rng: &mut Rng, i: usize) {
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
                } else if (first..first + count).any(|p| dm.pages.contains_key(&p)) {
                    Expect::Fails(ErrorCode::ALREADY)
                } else if self.usage(i, dm.inst).2 + needed.len() > QUOTAS.pages {
                    // Never past the share, not even by one map.
                    Expect::Fails(ErrorCode::NOMEM)
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

    pub(super) fn unmap(&mut self, rng: &mut Rng, i: usize) {
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

    pub(super) fn translate(&self, rng: &mut Rng, i: usize) {
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

    pub(super) fn attach(&mut self, rng: &mut Rng, i: usize) {
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

    pub(super) fn detach(&mut self, rng: &mut Rng, i: usize) {
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

    pub(super) fn fault_ack(&mut self, rng: &mut Rng, i: usize) {
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

    pub(super) fn garbage(&self, rng: &mut Rng, i: usize) {
        let command = 1 + rng.below(20);
        // Bit 33 set: no handle, instance or packed argument decodes.
        let r2 = rng.next_u64() as usize | 1 << 33;
        let r3 = rng.next_u64() as usize;
        let expect = match command {
            // Argument 1 is the instance: no such instance.
            INFO | INFO_PAGES => Expect::Fails(ErrorCode::INVAL),
            c if c > FAULT_ACK => Expect::Fails(ErrorCode::NOSUPPORT),
            _ => Expect::Fails(ErrorCode::INVAL),
        };
        self.command(i, command, r2, r3, expect);
    }
}
