// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The property test's process-side steps: allows, brk, device accesses, and the end of a process.

use super::*;

impl World {
    pub(super) fn allow(&mut self, rng: &mut Rng, i: usize) {
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

    pub(super) fn allow_exactly(
        &mut self,
        i: usize,
        ro: bool,
        slot: usize,
        addr: usize,
        len: usize,
    ) {
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

    pub(super) fn brk(&mut self, rng: &mut Rng, i: usize) {
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

    pub(super) fn device_access(&self, rng: &mut Rng) {
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

    pub(super) fn end_process(&mut self, rng: &mut Rng, i: usize) {
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
    pub(super) fn bury(&mut self, i: usize) {
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
}
