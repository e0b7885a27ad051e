// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Revocation of an ended process's contexts and domains (invariant I4).
//!
//! The kernel calls `process_memory_revoked` when a process instance exits,
//! faults or restarts, after it stopped running and before its memory can
//! be given to anyone (`doc/process-memory-revocation.md`). For each of the
//! instance's objects, in an order the hardware makes safe:
//!
//! 1. wait for the operations in flight on it, if any (their callbacks
//!    come), including maps that were complete for the process when `MAP`
//!    returned but whose `map_done` has not come yet;
//! 2. detach every context the process owns, and wait for `detach_done`:
//!    from then on no device reaches any of its domains (I1: blocking);
//! 3. destroy its domains: their page tables go back to the pool, and the
//!    driver does not reuse their tags before the hardware dropped them;
//! 4. when nothing of the process is left, tell the kernel
//!    (`Kernel::revocation_complete`), which only then lets the slot run a
//!    new instance.
//!
//! If all of that is done before `process_memory_revoked` returns, it
//! returns `Complete`; otherwise `Pending`, and the last callback
//! completes it. An attach or detach whose invalidation the hardware did
//! not confirm (`context_op_done`) is never taken as done: the context is
//! not freed and the process's revocation never completes, so its slot
//! never runs again, which keeps I4 at the price of that slot.
//!
//! Brk shrink and grant growth need no revocation: the kernel never lets
//! the break go below the highest allowed byte, and grants never grow below
//! the break, so memory a mapping was made from stays the process's until
//! the instance ends.

use kernel::hil::iommu::{ContextId, DomainId};
use kernel::process_memory::{ProcessMemoryObserver, Revocation};
use kernel::{ErrorCode, ProcessId};

use crate::driver::IommuDriver;
use crate::table::ContextOp;

/// Rounds of `fence` the driver asks for when the hardware keeps refusing a
/// revocation step with nothing in flight, before it gives up (the slot then
/// stays revoking).
const MAX_STALLED_ROUNDS: u8 = 8;

impl ProcessMemoryObserver for IommuDriver<'_> {
    fn process_memory_revoked(&self, process: ProcessId) -> Revocation {
        let owner = Some(process);
        if !self.tables.owns_anything(process) {
            return Revocation::Complete;
        }
        for slot in self.tables.contexts {
            let mut e = slot.0.get();
            if e.owner == owner {
                e.set_revoking(true);
                slot.0.set(e);
            }
        }
        for slot in self.tables.domains {
            let mut e = slot.0.get();
            if e.owner == owner {
                e.revoking = true;
                slot.0.set(e);
            }
        }
        let recorded = self
            .tables
            .revocations
            .iter()
            .any(|r| r.0.get().is_some_and(|p| p == process));
        if !recorded {
            // With no free record the revocation can never be reported
            // complete: the slot stays revoking, which is safe. The board
            // sizes the records as its process slots, so this does not
            // happen (one revocation per slot at a time).
            if let Some(r) = self.tables.revocations.iter().find(|r| r.0.get().is_none()) {
                r.0.set(Some(process));
            }
        }
        self.stalled_rounds.set(0);
        // Callbacks may come synchronously from here on; they must not report
        // this very revocation (the kernel counts it from our return value),
        // but may complete and report others.
        let outer = self.observing.replace(Some(process));
        self.advance_revocations();
        self.observing.set(outer);
        if self.tables.owns_anything(process) {
            Revocation::Pending
        } else {
            for r in self.tables.revocations {
                if r.0.get().is_some_and(|p| p == process) {
                    r.0.set(None);
                }
            }
            Revocation::Complete
        }
    }
}

impl IommuDriver<'_> {
    /// Moves every revocation in progress as far as it can go now, and
    /// destroys domains their owner destroyed while maps were settling.
    /// Called when revocation starts and after every completion callback.
    pub(crate) fn advance_revocations(&self) {
        if self.tables.revocations.iter().any(|r| r.0.get().is_some())
            || self.tables.domains.iter().any(|d| d.0.get().revoking)
        {
            self.advance_revocations_in_progress();
        }
    }

    /// `advance_revocations` once some revocation is in progress. Rare (a
    /// process ended with IOMMU state): kept out of line so that the check
    /// every completion makes stays small.
    #[cold]
    fn advance_revocations_in_progress(&self) {
        let mut stalled_on = None;
        let mut progressed = false;
        for index in 0..self.tables.contexts.len() {
            let e = self.tables.context_entry(index);
            if !e.revoking() || e.op != ContextOp::Idle {
                continue;
            }
            let Some(port) = self.port(usize::from(e.instance)) else {
                continue;
            };
            if e.attached.is_some() {
                self.tables
                    .update_context(index, |c| c.op = ContextOp::Detaching);
                match port.iommu.detach(ContextId(usize::from(e.context))) {
                    Ok(()) => progressed = true,
                    Err(ErrorCode::ALREADY) => self.tables.update_context(index, |c| {
                        c.op = ContextOp::Idle;
                        c.attached = None;
                    }),
                    Err(_) => {
                        self.tables
                            .update_context(index, |c| c.op = ContextOp::Idle);
                        stalled_on = Some(port);
                    }
                }
            }
            let e = self.tables.context_entry(index);
            // An unconfirmed detach is never taken as done: the entry stays,
            // so its owner's revocation never completes (the slot does not
            // run again rather than reuse memory a device may reach).
            if e.revoking() && e.op == ContextOp::Idle && e.attached.is_none() && !e.unconfirmed() {
                self.tables.update_context(index, |c| c.free());
                progressed = true;
            }
        }
        for index in 0..self.tables.domains.len() {
            let e = self.tables.domain_entry(index);
            // A settling map (complete for the process, outstanding on the
            // instance) is waited for like any operation: its `map_done`
            // calls us again.
            if !e.revoking || !e.quiet() || self.tables.domain_in_use(index) {
                continue;
            }
            let Some(port) = self.port(usize::from(e.instance)) else {
                continue;
            };
            match port.iommu.destroy_domain(DomainId(usize::from(e.domain))) {
                Ok(()) => {
                    self.tables.update_domain(index, |d| d.free());
                    progressed = true;
                }
                Err(_) => stalled_on = Some(port),
            }
        }
        self.report_completed_revocations();
        if progressed {
            self.stalled_rounds.set(0);
        }
        if let Some(port) = stalled_on {
            // A step was refused, maybe with nothing of ours in flight to
            // call us back: ask for a callback so it is retried. Progress is
            // finite (each step frees an entry), so this is bounded.
            let rounds = self.stalled_rounds.get();
            if rounds < MAX_STALLED_ROUNDS {
                self.stalled_rounds.set(rounds + 1);
                let _ = port.iommu.fence();
            }
        }
    }

    /// Tells the kernel about every revocation with nothing left.
    fn report_completed_revocations(&self) {
        for record in self.tables.revocations {
            let Some(process) = record.0.get() else {
                continue;
            };
            if self.tables.owns_anything(process) || self.observing.get() == Some(process) {
                continue;
            }
            record.0.set(None);
            self.kernel.revocation_complete(process, self.capability);
        }
    }

    /// `fence_done` on an instance: retry what was refused.
    pub(crate) fn fence_done(&self, _instance: usize) {
        self.advance_revocations();
    }
}
