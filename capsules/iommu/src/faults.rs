// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Fault routing to the context's owner, rate-limited (invariant I6).
//!
//! A device can fault once per access (QEMU's riscv-iommu writes one record
//! per 4 bytes of a faulting DMA), far faster than a process can take
//! upcalls. So each context has at most one fault upcall outstanding: after
//! one is scheduled, further faults only count in the context's dropped
//! counter until the owner acknowledges with `FAULT_ACK`, which returns and
//! clears the count and re-arms the upcall. Faults of contexts nobody owns,
//! or whose owner is being revoked, block (I1) and are not reported to
//! anyone. When the hardware itself lost fault records (`faults_lost`),
//! every owned context of that instance counts one dropped fault, since any
//! of them may have lost one.
//!
//! Faults follow the device's user, not only the context (I8): when a
//! device capsule drives the device behind the context
//! (`ownership::DeviceHandover`), a fault is reported only if the latest
//! transfer on the device was started by the context's current owner. A
//! record of an access made for a previous owner, or for the kernel's
//! reset of the device, may still be in the IOMMU's queue when the
//! context has a new owner: it is counted in `handover_faults` and
//! reported to nobody.

use kernel::hil::iommu::{AccessType, Fault, FaultCause};

use crate::driver::{IommuDriver, upcall};
use crate::ownership::DeviceUser;

/// The cause field of a fault upcall (bits 16..23 of its first argument).
pub mod fault_cause {
    pub const BLOCKED: usize = 0;
    pub const PAGE_FAULT: usize = 1;
    pub const ACCESS_FAULT: usize = 2;
    pub const MISCONFIGURED: usize = 3;
    pub const OTHER: usize = 4;
}

/// The access field of a fault upcall (bits 24..31 of its first argument).
pub mod fault_access {
    pub const READ: usize = 0;
    pub const WRITE: usize = 1;
    pub const EXECUTE: usize = 2;
}

impl IommuDriver<'_> {
    pub(crate) fn route_fault(&self, instance: usize, fault: Fault) {
        let Some(slot) = fault
            .context
            .and_then(|c| self.tables.find_context(instance, c.0))
        else {
            self.stray_faults
                .set(self.stray_faults.get().wrapping_add(1));
            return;
        };
        let e = self.tables.context_entry(slot);
        if e.owner.is_none() || e.revoking() {
            return;
        }
        let user = self.device.get().map_or(DeviceUser::NotDriven, |d| {
            d.user(instance, usize::from(e.context))
        });
        let owners = match user {
            DeviceUser::NotDriven => true,
            DeviceUser::Kernel => false,
            DeviceUser::Process(process) => e.owner == Some(process),
        };
        if !owners {
            self.handover_faults
                .set(self.handover_faults.get().wrapping_add(1));
            return;
        }
        let cause = match fault.cause {
            FaultCause::Blocked => fault_cause::BLOCKED,
            FaultCause::PageFault => fault_cause::PAGE_FAULT,
            FaultCause::AccessFault => fault_cause::ACCESS_FAULT,
            FaultCause::Misconfigured => fault_cause::MISCONFIGURED,
            FaultCause::Other => fault_cause::OTHER,
        };
        let access = match fault.access {
            AccessType::Read => fault_access::READ,
            AccessType::Write => fault_access::WRITE,
            AccessType::Execute => fault_access::EXECUTE,
        };
        let first = e.handle(slot).to_register() as usize | cause << 16 | access << 24;
        let args = (first, fault.iova as usize, fault.raw_cause as usize);
        if e.armed() && self.notify(e.owner, upcall::FAULT, args) {
            self.tables.update_context(slot, |c| c.set_armed(false));
        } else {
            self.tables
                .update_context(slot, |c| c.dropped = c.dropped.saturating_add(1));
        }
    }

    pub(crate) fn faults_lost(&self, instance: usize) {
        for slot in self.tables.contexts {
            let mut e = slot.0.get();
            if usize::from(e.instance) == instance && e.owner.is_some() && !e.revoking() {
                e.dropped = e.dropped.saturating_add(1);
                slot.0.set(e);
            }
        }
    }
}
