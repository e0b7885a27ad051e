// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Revocation of device access to process memory before it changes hands.
//!
//! A capsule that lets a device reach a process's memory (an IOMMU mapping,
//! a DMA transfer into an allowed buffer) registers a
//! [`ProcessMemoryObserver`] with `Kernel::register_memory_observer`. When a
//! process instance ends (exit-terminate, exit-restart, a fault, or a
//! terminate or restart by the board), the kernel tells every observer
//! once, after the instance stopped running and before its memory can be
//! used by anyone else. An observer that needs the hardware to confirm (an
//! IOTLB invalidation in flight) answers [`Revocation::Pending`] and calls
//! `Kernel::revocation_complete` later; until every observer is complete a
//! restart of the process waits (`Process::memory_revocations_pending`).
//!
//! This is the kernel interface `doc/process-memory-revocation.md` proposes
//! for Tock: additive (a new module, two `Kernel` methods, one `Process`
//! trait method with a default), with its hook points named there.

use crate::process::ProcessId;

/// Whether an observer finished revoking device access to process memory.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Revocation {
    /// Nothing of the process's memory is reachable by a device any more.
    Complete,
    /// Revocation was started (e.g. an IOTLB invalidation is in flight); the
    /// observer will call `Kernel::revocation_complete` when it is done.
    Pending,
}

/// Told once when a process instance ends, before its memory can change
/// hands.
pub trait ProcessMemoryObserver {
    /// `process_id` has ended. Remove every device mapping of its memory and
    /// detach its contexts. Return `Complete` only once the hardware can no
    /// longer reach that memory (invalidation completed); otherwise
    /// `Pending`, and call `Kernel::revocation_complete` once it is. Until
    /// every observer is complete the process is not restarted.
    fn process_memory_revoked(&self, process_id: ProcessId) -> Revocation;
}
