// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The ownership tables: who owns which context and which domain.
//!
//! All state of the driver that outlives a system call is here, in tables
//! the board sizes statically ([`IommuStorage`]) — nothing in a process's
//! grant, because the tables must still be read after the process died
//! (revocation, `revocation.rs`), when its grant can no longer be entered.
//!
//! An owner is recorded as the process instance's `ProcessId`, which
//! compares by the instance's unique identifier, so an entry can never be
//! taken for a later instance in the same process slot. A free entry has no
//! owner (`None`): no `ProcessId` value stands for "nobody", since the kernel
//! may hand out any identifier, 0 included. Looking an entry up from
//! a process-supplied handle ([`Tables::context`], [`Tables::domain`]) is
//! the only way to obtain an [`OwnedContext`] or [`OwnedDomain`]: the one
//! check of index, generation and owner, done at the boundary.

use core::cell::Cell;

use kernel::ProcessId;

use crate::handles::{Handle, next_generation};

/// What is in flight on a context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ContextOp {
    Idle,
    /// `attach` to the domain in this domain-table slot.
    Attaching(u8),
    Detaching,
}

/// Bits of `ContextEntry::flags`.
struct ContextFlags;

impl ContextFlags {
    const REVOKING: u8 = 1 << 0;
    const ARMED: u8 = 1 << 1;
    const HELD: u8 = 1 << 2;
    const UNCONFIRMED: u8 = 1 << 3;
}

/// One context-table entry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ContextEntry {
    /// The process instance that owns the context, if any.
    pub owner: Option<ProcessId>,
    pub generation: u8,
    /// Instance index, or `u8::MAX` for a slot with no hardware context.
    pub instance: u8,
    /// The context's number on its instance.
    pub context: u16,
    /// Domain-table slot the context translates through (as the capsule
    /// last asked; the hardware's view is `Attach::attached`).
    pub attached: Option<u8>,
    pub op: ContextOp,
    /// Faults not reported since the last FAULT_ACK.
    pub dropped: u16,
    /// `ContextFlags` bits.
    flags: u8,
}

impl ContextEntry {
    const UNUSED: ContextEntry = ContextEntry {
        owner: None,
        generation: Handle::FIRST_GENERATION,
        instance: u8::MAX,
        context: 0,
        attached: None,
        op: ContextOp::Idle,
        dropped: 0,
        flags: ContextFlags::ARMED,
    };

    pub fn handle(&self, index: usize) -> Handle {
        Handle::new(index as u8, self.generation)
    }

    /// Frees the entry: no owner, a new generation, fault reporting reset.
    /// A hold (a transfer still in flight) stays.
    pub fn free(&mut self) {
        self.owner = None;
        self.generation = next_generation(self.generation);
        self.flags &= ContextFlags::HELD | ContextFlags::UNCONFIRMED;
        self.flags |= ContextFlags::ARMED;
        self.dropped = 0;
    }

    fn flag(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }

    fn set_flag(&mut self, bit: u8, on: bool) {
        if on {
            self.flags |= bit;
        } else {
            self.flags &= !bit;
        }
    }

    /// The owner ended; the entry is being taken back.
    pub fn revoking(&self) -> bool {
        self.flag(ContextFlags::REVOKING)
    }
    pub fn set_revoking(&mut self, on: bool) {
        self.set_flag(ContextFlags::REVOKING, on)
    }
    /// A fault upcall may be scheduled (rate limit: re-armed by FAULT_ACK).
    pub fn armed(&self) -> bool {
        self.flag(ContextFlags::ARMED)
    }
    pub fn set_armed(&mut self, on: bool) {
        self.set_flag(ContextFlags::ARMED, on)
    }
    /// A device transfer through this context is in flight (`ownership`):
    /// the context may not get a new owner until it ends.
    pub fn held(&self) -> bool {
        self.flag(ContextFlags::HELD)
    }
    pub fn set_held(&mut self, on: bool) {
        self.set_flag(ContextFlags::HELD, on)
    }
    /// The hardware did not confirm the last attach or detach: the device
    /// may still use an older configuration (see `context_op_done`).
    pub fn unconfirmed(&self) -> bool {
        self.flag(ContextFlags::UNCONFIRMED)
    }
    pub fn set_unconfirmed(&mut self, on: bool) {
        self.set_flag(ContextFlags::UNCONFIRMED, on)
    }
}

/// What is in flight on a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DomainOp {
    Idle,
    Mapping,
    Unmapping,
}

/// One domain-table entry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DomainEntry {
    /// The process instance that owns the domain, if any.
    pub owner: Option<ProcessId>,
    pub generation: u8,
    pub instance: u8,
    /// The instance's `DomainId`.
    pub domain: u16,
    /// Page-table pages charged to the owner for this domain.
    pub pages: u16,
    pub op: DomainOp,
    pub revoking: bool,
    /// Maps that were complete when `MAP` returned (the instance's
    /// `map_visible_on_return`) and whose `map_done` has not come yet. They
    /// do not hold `op`: they are still outstanding operations of the
    /// instance, so the domain cannot be destroyed (by its owner or by
    /// revocation) until this is 0. Bounded by `u8::MAX` (`MAP` is refused
    /// `BUSY` beyond); instances bound their outstanding operations far
    /// lower (16 on the RISC-V IOMMU).
    pub settling: u8,
}

impl DomainEntry {
    const UNUSED: DomainEntry = DomainEntry {
        owner: None,
        generation: Handle::FIRST_GENERATION,
        instance: 0,
        domain: 0,
        pages: 0,
        op: DomainOp::Idle,
        revoking: false,
        settling: 0,
    };

    pub fn handle(&self, index: usize) -> Handle {
        Handle::new(index as u8, self.generation)
    }

    pub fn free(&mut self) {
        self.owner = None;
        self.generation = next_generation(self.generation);
        self.pages = 0;
        self.op = DomainOp::Idle;
        self.revoking = false;
        self.settling = 0;
    }

    /// True if nothing of this domain is outstanding on its instance: no
    /// operation the process waits for, no settling map.
    pub fn quiet(&self) -> bool {
        self.op == DomainOp::Idle && self.settling == 0
    }
}

/// One context slot of the board's storage.
pub struct ContextSlot(pub(crate) Cell<ContextEntry>);
/// One domain slot of the board's storage.
pub struct DomainSlot(pub(crate) Cell<DomainEntry>);
/// A process instance whose memory is being revoked.
pub struct RevocationSlot(pub(crate) Cell<Option<ProcessId>>);

impl Default for ContextSlot {
    fn default() -> Self {
        Self::new()
    }
}

impl ContextSlot {
    pub const fn new() -> ContextSlot {
        ContextSlot(Cell::new(ContextEntry::UNUSED))
    }
}
impl Default for DomainSlot {
    fn default() -> Self {
        Self::new()
    }
}

impl DomainSlot {
    pub const fn new() -> DomainSlot {
        DomainSlot(Cell::new(DomainEntry::UNUSED))
    }
}
impl Default for RevocationSlot {
    fn default() -> Self {
        Self::new()
    }
}

impl RevocationSlot {
    pub const fn new() -> RevocationSlot {
        RevocationSlot(Cell::new(None))
    }
}

/// The driver's tables, sized by the board.
///
/// `CONTEXTS` contexts over all instances, `DOMAINS` domains over all
/// instances, and `PROCESSES` (the board's process slots) revocations in
/// progress at once. Indices are 8 bits wide, so at most 255 contexts and
/// 255 domains.
pub struct IommuStorage<const CONTEXTS: usize, const DOMAINS: usize, const PROCESSES: usize> {
    contexts: [ContextSlot; CONTEXTS],
    domains: [DomainSlot; DOMAINS],
    revocations: [RevocationSlot; PROCESSES],
}

impl<const CONTEXTS: usize, const DOMAINS: usize, const PROCESSES: usize> Default
    for IommuStorage<CONTEXTS, DOMAINS, PROCESSES>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const CONTEXTS: usize, const DOMAINS: usize, const PROCESSES: usize>
    IommuStorage<CONTEXTS, DOMAINS, PROCESSES>
{
    pub const fn new() -> Self {
        const { assert!(CONTEXTS < 256 && DOMAINS < 256, "handles index 8 bits") };
        IommuStorage {
            contexts: [const { ContextSlot::new() }; CONTEXTS],
            domains: [const { DomainSlot::new() }; DOMAINS],
            revocations: [const { RevocationSlot::new() }; PROCESSES],
        }
    }

    /// The tables the driver works on.
    pub fn tables(&self) -> Tables<'_> {
        Tables {
            contexts: &self.contexts,
            domains: &self.domains,
            revocations: &self.revocations,
        }
    }
}

/// Borrowed tables (see [`IommuStorage`]).
#[derive(Clone, Copy)]
pub struct Tables<'a> {
    pub(crate) contexts: &'a [ContextSlot],
    pub(crate) domains: &'a [DomainSlot],
    pub(crate) revocations: &'a [RevocationSlot],
}

/// A context slot that a handle named and that the calling process owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnedContext(usize);
/// A domain slot that a handle named and that the calling process owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnedDomain(usize);

impl OwnedContext {
    pub fn index(self) -> usize {
        self.0
    }
}
impl OwnedDomain {
    pub fn index(self) -> usize {
        self.0
    }
}

impl Tables<'_> {
    pub(crate) fn context_entry(&self, index: usize) -> ContextEntry {
        self.contexts[index].0.get()
    }

    pub(crate) fn set_context(&self, index: usize, entry: ContextEntry) {
        self.contexts[index].0.set(entry);
    }

    pub(crate) fn update_context(&self, index: usize, f: impl FnOnce(&mut ContextEntry)) {
        let mut e = self.context_entry(index);
        f(&mut e);
        self.set_context(index, e);
    }

    pub(crate) fn domain_entry(&self, index: usize) -> DomainEntry {
        self.domains[index].0.get()
    }

    pub(crate) fn set_domain(&self, index: usize, entry: DomainEntry) {
        self.domains[index].0.set(entry);
    }

    pub(crate) fn update_domain(&self, index: usize, f: impl FnOnce(&mut DomainEntry)) {
        let mut e = self.domain_entry(index);
        f(&mut e);
        self.set_domain(index, e);
    }

    /// Checks a process-supplied context handle: the slot exists, the
    /// generation matches and `process` owns it (and is not being revoked).
    pub fn context(&self, process: ProcessId, raw: usize) -> Option<OwnedContext> {
        let handle = Handle::from_register(raw)?;
        let entry = self.contexts.get(handle.index())?.0.get();
        let owned = entry.owner == Some(process)
            && entry.generation == handle.generation()
            && !entry.revoking();
        owned.then_some(OwnedContext(handle.index()))
    }

    /// As [`Tables::context`], for domains.
    pub fn domain(&self, process: ProcessId, raw: usize) -> Option<OwnedDomain> {
        let handle = Handle::from_register(raw)?;
        let entry = self.domains.get(handle.index())?.0.get();
        let owned = entry.owner == Some(process)
            && entry.generation == handle.generation()
            && !entry.revoking;
        owned.then_some(OwnedDomain(handle.index()))
    }

    /// The context-table slot of `context` on `instance`.
    pub(crate) fn find_context(&self, instance: usize, context: usize) -> Option<usize> {
        self.contexts.iter().position(|s| {
            let e = s.0.get();
            usize::from(e.instance) == instance && usize::from(e.context) == context
        })
    }

    /// The domain-table slot holding `domain` of `instance`, if owned.
    pub(crate) fn find_domain(&self, instance: usize, domain: usize) -> Option<usize> {
        self.domains.iter().position(|s| {
            let e = s.0.get();
            e.owner.is_some()
                && usize::from(e.instance) == instance
                && usize::from(e.domain) == domain
        })
    }

    /// Contexts, domains and page-table pages `owner` holds on `instance`.
    pub(crate) fn usage(&self, owner: ProcessId, instance: usize) -> (usize, usize, usize) {
        let contexts = self
            .contexts
            .iter()
            .map(|s| s.0.get())
            .filter(|e| e.owner == Some(owner) && usize::from(e.instance) == instance)
            .count();
        let (domains, pages) = self
            .domains
            .iter()
            .map(|s| s.0.get())
            .filter(|e| e.owner == Some(owner) && usize::from(e.instance) == instance)
            .fold((0, 0), |(d, p), e| (d + 1, p + usize::from(e.pages)));
        (contexts, domains, pages)
    }

    /// Page-table pages charged to `owner` on `instance`: what `usage`
    /// counts third, without walking the contexts (`MAP` checks it on
    /// every call).
    pub(crate) fn pages_charged(&self, owner: ProcessId, instance: usize) -> usize {
        self.domains
            .iter()
            .map(|s| s.0.get())
            .filter(|e| e.owner == Some(owner) && usize::from(e.instance) == instance)
            .map(|e| usize::from(e.pages))
            .sum()
    }

    /// True if a context is attached to, or attaching to, domain slot `d`.
    pub(crate) fn domain_in_use(&self, d: usize) -> bool {
        self.contexts.iter().any(|s| {
            let e = s.0.get();
            e.attached == Some(d as u8) || e.op == ContextOp::Attaching(d as u8)
        })
    }

    /// True if `owner` still owns anything.
    pub(crate) fn owns_anything(&self, owner: ProcessId) -> bool {
        self.contexts.iter().any(|s| s.0.get().owner == Some(owner))
            || self.domains.iter().any(|s| s.0.get().owner == Some(owner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_sizes_stay_small() {
        // Kernel RAM per context and per domain: the owner's `ProcessId`
        // (three words) and a few bytes of state, padded to a word.
        let word = core::mem::size_of::<usize>();
        assert!(core::mem::size_of::<ContextSlot>() <= 4 * word + 8);
        assert!(core::mem::size_of::<DomainSlot>() <= 4 * word + 8);
    }
}
