// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Context commands: acquire, release, attach, detach, fault acknowledgement.
//!
//! Invariants kept here (`doc/invariants.md`):
//! - I1: a context is handed out only while it blocks (detached), and
//!   released only once detached, confirmed by the hardware; a new owner
//!   never inherits a domain.
//! - I8: a context is handed out only once the device behind it holds
//!   nothing of another process (`DeviceHandover::prepare_for`, asked
//!   last, so that a refused `ACQUIRE` starts no reset).
//! - I3: every command names its context by a handle checked against the
//!   calling process (`Tables::context`); another process's handle is
//!   indistinguishable from garbage (`INVAL`), so nothing is observable.
//! - I7: the table is changed before the HIL is called and put back if the
//!   HIL refuses, so a refused command leaves nothing half-done (also when
//!   the HIL's callback runs before the call returns).

use kernel::hil::iommu::{ContextId, DomainId};
use kernel::{ErrorCode, ProcessId};

use crate::driver::{IommuDriver, command, upcall};
use crate::table::ContextOp;

impl IommuDriver<'_> {
    /// `ACQUIRE`: returns the new context handle.
    pub(crate) fn acquire(
        &self,
        process: ProcessId,
        instance: usize,
        context: usize,
    ) -> Result<u32, ErrorCode> {
        let port = self.port(instance).ok_or(ErrorCode::INVAL)?;
        if context >= port.iommu.context_count() {
            return Err(ErrorCode::INVAL);
        }
        let slot = self
            .tables
            .find_context(instance, context)
            .ok_or(ErrorCode::NOSUPPORT)?;
        if !self.policy.may_use(process, instance, context) {
            return Err(ErrorCode::RESERVE);
        }
        let entry = self.tables.context_entry(slot);
        if entry.owner == Some(process) {
            return Err(ErrorCode::ALREADY);
        }
        if entry.owner.is_some() || entry.held() {
            return Err(ErrorCode::BUSY);
        }
        let (held, _, _) = self.tables.usage(process, instance);
        if held >= self.policy.quotas(process, instance).contexts {
            return Err(ErrorCode::NOMEM);
        }
        // I1: never hand out a context that translates: not one attached by
        // this driver, nor one attached by anyone else (as the instance
        // records it, `Attach::attached`). A context whose detach the
        // hardware did not confirm is never freed in the first place
        // (`ContextEntry::unconfirmed`), so it has an owner and is BUSY.
        if entry.attached.is_some() || port.iommu.attached(ContextId(context)).is_some() {
            return Err(ErrorCode::BUSY);
        }
        if let Some(device) = self.device.get() {
            device.prepare_for(instance, context, process)?;
        }
        self.tables.update_context(slot, |e| {
            e.owner = Some(process);
            e.op = ContextOp::Idle;
            e.set_armed(true);
            e.dropped = 0;
        });
        Ok(self.tables.context_entry(slot).handle(slot).to_register())
    }

    /// `RELEASE`: only a detached, idle context can be released.
    pub(crate) fn release(&self, process: ProcessId, handle: usize) -> Result<(), ErrorCode> {
        let slot = self
            .tables
            .context(process, handle)
            .ok_or(ErrorCode::INVAL)?;
        let entry = self.tables.context_entry(slot.index());
        if entry.op != ContextOp::Idle || entry.attached.is_some() || entry.unconfirmed() {
            return Err(ErrorCode::BUSY);
        }
        self.tables.update_context(slot.index(), |e| e.free());
        Ok(())
    }

    /// `ATTACH`: points the context at one of the process's domains of the
    /// same instance, or switches it from another.
    pub(crate) fn attach(
        &self,
        process: ProcessId,
        context_handle: usize,
        domain_handle: usize,
    ) -> Result<(), ErrorCode> {
        let context = self
            .tables
            .context(process, context_handle)
            .ok_or(ErrorCode::INVAL)?;
        let domain = self
            .tables
            .domain(process, domain_handle)
            .ok_or(ErrorCode::INVAL)?;
        let c = self.tables.context_entry(context.index());
        let d = self.tables.domain_entry(domain.index());
        if c.instance != d.instance {
            return Err(ErrorCode::INVAL);
        }
        if c.op != ContextOp::Idle {
            return Err(ErrorCode::BUSY);
        }
        if c.attached == Some(domain.index() as u8) {
            return Err(ErrorCode::ALREADY);
        }
        let port = self.port(usize::from(c.instance)).ok_or(ErrorCode::FAIL)?;
        self.tables.update_context(context.index(), |e| {
            e.op = ContextOp::Attaching(domain.index() as u8)
        });
        let started = port.iommu.attach(
            ContextId(usize::from(c.context)),
            DomainId(usize::from(d.domain)),
        );
        if started.is_err() {
            self.tables.update_context(context.index(), |e| e.op = c.op);
        }
        started
    }

    /// `DETACH`: the context blocks once `DONE` arrives.
    pub(crate) fn detach(&self, process: ProcessId, handle: usize) -> Result<(), ErrorCode> {
        let context = self
            .tables
            .context(process, handle)
            .ok_or(ErrorCode::INVAL)?;
        let c = self.tables.context_entry(context.index());
        if c.op != ContextOp::Idle {
            return Err(ErrorCode::BUSY);
        }
        if c.attached.is_none() {
            return Err(ErrorCode::ALREADY);
        }
        let port = self.port(usize::from(c.instance)).ok_or(ErrorCode::FAIL)?;
        self.tables
            .update_context(context.index(), |e| e.op = ContextOp::Detaching);
        let started = port.iommu.detach(ContextId(usize::from(c.context)));
        if started.is_err() {
            self.tables.update_context(context.index(), |e| e.op = c.op);
        }
        started
    }

    /// `FAULT_ACK`: returns the faults dropped since the last one and lets
    /// the next fault through.
    pub(crate) fn fault_ack(&self, process: ProcessId, handle: usize) -> Result<u32, ErrorCode> {
        let context = self
            .tables
            .context(process, handle)
            .ok_or(ErrorCode::INVAL)?;
        let dropped = self.tables.context_entry(context.index()).dropped;
        self.tables.update_context(context.index(), |e| {
            e.dropped = 0;
            e.set_armed(true);
        });
        Ok(u32::from(dropped))
    }

    /// `attach_done` or `detach_done` of `context` on `instance`.
    pub(crate) fn context_op_done(
        &self,
        instance: usize,
        context: ContextId,
        result: Result<(), ErrorCode>,
    ) {
        let Some(slot) = self.tables.find_context(instance, context.0) else {
            return;
        };
        let entry = self.tables.context_entry(slot);
        if entry.op == ContextOp::Idle {
            return; // not ours (e.g. the board's own use of the HIL)
        }
        // The hardware's view decides what the context now translates
        // through; after a failed attach it may be either domain, so trust
        // `attached` rather than our request.
        let attached = self
            .port(instance)
            .and_then(|p| p.iommu.attached(context))
            .and_then(|d| self.tables.find_domain(instance, d.0))
            .map(|d| d as u8);
        let command = match entry.op {
            ContextOp::Detaching => command::DETACH,
            _ => command::ATTACH,
        };
        self.tables.update_context(slot, |e| {
            e.attached = attached;
            e.op = ContextOp::Idle;
            // A change the hardware did not confirm may have left the device
            // with a cached configuration of the context (the old domain):
            // until a later attach or detach is confirmed, the context is
            // neither released nor freed by revocation (I1, I4).
            e.set_unconfirmed(result.is_err());
        });
        if !entry.revoking() {
            let status = kernel::errorcode::into_statuscode(result);
            let handle = entry.handle(slot).to_register() as usize;
            self.notify(entry.owner, upcall::DONE, (status, command, handle));
        }
        self.advance_revocations();
    }
}
