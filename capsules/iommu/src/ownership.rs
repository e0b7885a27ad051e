// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Who owns a context, for capsules that drive the device behind it.
//!
//! A device capsule (such as `dma::DmaDriver`) lets a process start device
//! transfers only through a context that process owns, and holds the
//! context while a transfer is in flight: a held context gets no new owner
//! (`ACQUIRE` returns `BUSY`), so a transfer started by one process can
//! never land in a domain of the next owner. It checks no address itself:
//! what the device reaches is decided by the IOMMU (the context's domain,
//! or blocking).
//!
//! The other way round, the IOMMU driver asks the device capsule
//! ([`DeviceHandover`]) before a context changes owner and when a fault
//! of it arrives, so that nothing of one owner reaches the next
//! (invariant I8): the device's own state is reset before a process other
//! than the one whose transfers left it there may acquire the context,
//! and a fault is reported only to the process on whose behalf the device
//! made the access.

use kernel::{ErrorCode, ProcessId};

use crate::driver::IommuDriver;

/// Ownership queries on the contexts of the IOMMU driver.
pub trait ContextOwnership<'a> {
    /// True if `process` owns `context` of `instance` (and is not being
    /// revoked).
    fn is_owner(&self, process: ProcessId, instance: usize, context: usize) -> bool;

    /// Marks `context` as in use by a device transfer or reset.
    ///
    /// Errors: `BUSY` if already held; `INVAL` if there is no such context.
    fn hold(&self, instance: usize, context: usize) -> Result<(), ErrorCode>;

    /// Ends a `hold`.
    fn unhold(&self, instance: usize, context: usize);

    /// Sets the capsule that drives the devices behind the contexts (one
    /// per IOMMU driver).
    fn set_device_client(&self, client: &'a dyn DeviceHandover);
}

/// On whose behalf the device behind a context made its latest accesses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceUser {
    /// The device capsule drives no device behind this context: the
    /// context's owner is taken as the device's user.
    NotDriven,
    /// No process since the device was last reset (or at boot): the
    /// kernel's own accesses (a reset), or none.
    Kernel,
    /// This process instance started the latest transfer.
    Process(ProcessId),
}

/// The device capsule, as the IOMMU driver sees it (invariant I8).
pub trait DeviceHandover {
    /// Called by `ACQUIRE` of `context` of `instance` by `process`, once
    /// the context is free, idle and blocking: may `process` have it now?
    ///
    /// `Ok` if the device behind it holds nothing of another process
    /// instance (no transfer since its last reset, or only transfers of
    /// `process` itself). Otherwise the capsule starts the device's reset,
    /// holding the context until it ends ([`ContextOwnership::hold`]), or
    /// finds it running, and returns `BUSY`.
    ///
    /// Errors: `BUSY`, as above; also when the reset could not be started
    /// (the next `ACQUIRE` tries again).
    fn prepare_for(
        &self,
        instance: usize,
        context: usize,
        process: ProcessId,
    ) -> Result<(), ErrorCode>;

    /// On whose behalf the device behind `context` of `instance` made its
    /// latest accesses: a fault of the context is reported to its owner
    /// only if that is the owner (or [`DeviceUser::NotDriven`]).
    fn user(&self, instance: usize, context: usize) -> DeviceUser;
}

impl<'a> ContextOwnership<'a> for IommuDriver<'a> {
    fn is_owner(&self, process: ProcessId, instance: usize, context: usize) -> bool {
        self.tables
            .find_context(instance, context)
            .map(|slot| self.tables.context_entry(slot))
            .is_some_and(|e| e.owner == Some(process) && !e.revoking())
    }

    fn hold(&self, instance: usize, context: usize) -> Result<(), ErrorCode> {
        let slot = self
            .tables
            .find_context(instance, context)
            .ok_or(ErrorCode::INVAL)?;
        if self.tables.context_entry(slot).held() {
            return Err(ErrorCode::BUSY);
        }
        self.tables.update_context(slot, |e| e.set_held(true));
        Ok(())
    }

    fn unhold(&self, instance: usize, context: usize) {
        if let Some(slot) = self.tables.find_context(instance, context) {
            self.tables.update_context(slot, |e| e.set_held(false));
        }
    }

    fn set_device_client(&self, client: &'a dyn DeviceHandover) {
        self.device.set(client);
    }
}
