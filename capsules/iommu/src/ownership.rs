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

use kernel::{ErrorCode, ProcessId};

use crate::driver::IommuDriver;

/// Ownership queries on the contexts of the IOMMU driver.
pub trait ContextOwnership {
    /// True if `process` owns `context` of `instance` (and is not being
    /// revoked).
    fn is_owner(&self, process: ProcessId, instance: usize, context: usize) -> bool;

    /// Marks `context` as in use by a device transfer.
    ///
    /// Errors: `BUSY` if already held; `INVAL` if there is no such context.
    fn hold(&self, instance: usize, context: usize) -> Result<(), ErrorCode>;

    /// Ends a `hold`.
    fn unhold(&self, instance: usize, context: usize);
}

impl ContextOwnership for IommuDriver<'_> {
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
}
