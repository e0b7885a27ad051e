// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Domain commands: create, destroy, map, unmap and translate.
//!
//! Invariants kept here (`doc/invariants.md`):
//! - I2: a map takes its physical pages only from a buffer the calling
//!   process allowed to this driver, whole pages inside it, and a
//!   read-only allow gives a device-read-only mapping. The kernel checked
//!   the buffer to be the process's own memory when it was allowed, and
//!   the allow high-water mark keeps it the process's until the process
//!   instance ends (`doc/process-memory-revocation.md`).
//! - I3: domains are named by handles checked against the caller.
//! - I5: domains and page-table pages are charged to their owner and
//!   bounded by its `Quotas`; the pools are the board's static ones.
//! - I7: nothing is changed unless the HIL accepted the operation.

use kernel::hil::iommu::{DmaMemory, DomainId, Permissions};
use kernel::{ErrorCode, ProcessId};

use crate::args::{AllowKind, MapSource, PageRange, pages_in_buffer};
use crate::driver::{IommuDriver, command, ro_allow, rw_allow, upcall};
use crate::table::{DomainEntry, DomainOp};

/// `TRANSLATE` flags: the mapping's permissions and page size.
pub mod translate_flags {
    pub const READ: u32 = 1 << 0;
    pub const WRITE: u32 = 1 << 1;
    pub const EXECUTE: u32 = 1 << 2;
    /// log2 of the page size is in bits 8..15.
    pub const PAGE_SHIFT_SHIFT: u32 = 8;
}

impl IommuDriver<'_> {
    /// `CREATE_DOMAIN` on `instance`: returns the domain handle.
    pub(crate) fn create_domain(
        &self,
        process: ProcessId,
        instance: usize,
    ) -> Result<u32, ErrorCode> {
        let port = self.port(instance).ok_or(ErrorCode::INVAL)?;
        let quotas = self.policy.quotas(process, instance);
        if quotas.domains == 0 {
            // Not listed for this instance: it gets nothing.
            return Err(ErrorCode::RESERVE);
        }
        let (_, domains, pages) = self.tables.usage(process, instance);
        // A domain takes one page for its root table (`Domains`).
        if domains >= quotas.domains || pages.saturating_add(1) > quotas.pages {
            return Err(ErrorCode::NOMEM);
        }
        let slot = self
            .tables
            .domains
            .iter()
            .position(|s| s.0.get().owner.is_none())
            .ok_or(ErrorCode::NOMEM)?;
        let before = port.iommu.free_pages();
        let domain = port.iommu.create_domain()?;
        let Ok(hw) = u16::try_from(domain.0) else {
            // Cannot be recorded: undo rather than leak it.
            let _ = port.iommu.destroy_domain(domain);
            return Err(ErrorCode::NOMEM);
        };
        let charged = before.saturating_sub(port.iommu.free_pages());
        let generation = self.tables.domain_entry(slot).generation;
        self.tables.set_domain(
            slot,
            DomainEntry {
                owner: Some(process),
                generation,
                instance: instance as u8,
                domain: hw,
                pages: charged.min(usize::from(u16::MAX)) as u16,
                op: DomainOp::Idle,
                revoking: false,
                settling: 0,
            },
        );
        Ok(self.tables.domain_entry(slot).handle(slot).to_register())
    }

    /// `DESTROY_DOMAIN`: only a domain no context uses and with no map or
    /// unmap the process waits for. Maps that were complete when `MAP`
    /// returned but have not settled on the instance do not hold it up:
    /// the handle is gone at once, and the domain is destroyed when they
    /// settle (it stays charged to the process until then).
    pub(crate) fn destroy_domain(
        &self,
        process: ProcessId,
        handle: usize,
    ) -> Result<(), ErrorCode> {
        let domain = self
            .tables
            .domain(process, handle)
            .ok_or(ErrorCode::INVAL)?;
        let d = self.tables.domain_entry(domain.index());
        if d.op != DomainOp::Idle || self.tables.domain_in_use(domain.index()) {
            return Err(ErrorCode::BUSY);
        }
        if d.settling > 0 {
            // Taken back like a dead owner's domain (`revocation.rs`):
            // destroyed as soon as it is quiet.
            self.tables
                .update_domain(domain.index(), |e| e.revoking = true);
            return Ok(());
        }
        let port = self.port(usize::from(d.instance)).ok_or(ErrorCode::FAIL)?;
        port.iommu.destroy_domain(DomainId(usize::from(d.domain)))?;
        self.tables.update_domain(domain.index(), |e| e.free());
        Ok(())
    }

    /// The buffer allowed in `slot` of `kind`, as memory the process lets
    /// devices reach (read-only for a read-only allow). `INVAL` if nothing
    /// is allowed there.
    fn allowed_memory(
        &self,
        process: ProcessId,
        kind: AllowKind,
        slot: usize,
    ) -> Result<DmaMemory, ErrorCode> {
        let count = match kind {
            AllowKind::ReadWrite => rw_allow::COUNT,
            AllowKind::ReadOnly => ro_allow::COUNT,
        };
        if slot >= usize::from(count) {
            return Err(ErrorCode::INVAL);
        }
        self.apps
            .enter(process, |_, kd| match kind {
                AllowKind::ReadWrite => {
                    kd.get_readwrite_processbuffer(slot).map(|b| b.dma_memory())
                }
                AllowKind::ReadOnly => kd.get_readonly_processbuffer(slot).map(|b| b.dma_memory()),
            })
            .and_then(|r| r)
            .map_err(ErrorCode::from)?
            .ok_or(ErrorCode::INVAL)
    }

    /// `MAP`: maps whole pages of an allowed buffer at a chosen IOVA.
    ///
    /// Returns whether the map is complete already. On an instance whose
    /// new entries are visible when `map` returns
    /// (`Geometry::map_visible_on_return`), it is: the process may use the
    /// mapping at once and gets no `DONE`, and the domain is not held busy
    /// for it, so the next `MAP` or `UNMAP` need not wait. The instance
    /// still calls `map_done` later; until then the map is counted in
    /// `DomainEntry::settling`, which keeps the domain from being destroyed
    /// (I4: revocation waits for it like for any operation in flight).
    /// Otherwise the map holds the domain's one operation until `map_done`,
    /// which the process learns of from `DONE`.
    pub(crate) fn map(&self, process: ProcessId, r2: usize, r3: usize) -> Result<bool, ErrorCode> {
        let source = MapSource::from_register(r2).ok_or(ErrorCode::INVAL)?;
        let domain = self
            .tables
            .domain(process, source.domain.to_register() as usize)
            .ok_or(ErrorCode::INVAL)?;
        let d = self.tables.domain_entry(domain.index());
        let port = self.port(usize::from(d.instance)).ok_or(ErrorCode::FAIL)?;
        let shift = port.page_shift();
        let range = PageRange::from_register(r3).ok_or(ErrorCode::INVAL)?;
        let (iova, len) = range
            .in_bytes(shift, port.iommu.iova_bits())
            .ok_or(ErrorCode::INVAL)?;
        let buffer = self.allowed_memory(process, source.kind, source.slot)?;
        let (phys, _) = pages_in_buffer(
            buffer.start(),
            buffer.len(),
            shift,
            source.page_offset,
            range.pages(),
        )
        .ok_or(ErrorCode::INVAL)?;
        let offset = phys - buffer.start();
        let memory = buffer.sub_range(offset, len).ok_or(ErrorCode::INVAL)?;
        // An unmap in flight still holds the domain: a map of the range it
        // is cutting off must not look complete before the unmap is.
        if d.op != DomainOp::Idle || d.settling == u8::MAX {
            return Err(ErrorCode::BUSY);
        }
        // Refused before it starts if it could take the process past its
        // page quota: an instance never allocates more than it announced.
        let instance = usize::from(d.instance);
        let needed = port
            .iommu
            .map_table_pages(DomainId(usize::from(d.domain)), iova, len)?;
        let charged = self.tables.pages_charged(process, instance);
        if charged.saturating_add(needed) > self.policy.quotas(process, instance).pages {
            return Err(ErrorCode::NOMEM);
        }
        let permissions = match source.kind {
            AllowKind::ReadWrite => Permissions::READ_WRITE,
            AllowKind::ReadOnly => Permissions::READ,
        };
        let complete = port.iommu.map_visible_on_return();
        // Recorded before the call: an instance may call `map_done` from
        // inside `map`, and it must find the map it completes.
        self.tables.update_domain(domain.index(), |e| {
            if complete {
                e.settling += 1;
            } else {
                e.op = DomainOp::Mapping;
            }
        });
        let before = port.iommu.free_pages();
        let started = port
            .iommu
            .map(DomainId(usize::from(d.domain)), iova, memory, permissions);
        let taken = before.saturating_sub(port.iommu.free_pages());
        self.tables.update_domain(domain.index(), |e| {
            e.pages = (usize::from(e.pages) + taken).min(usize::from(u16::MAX)) as u16;
            // Refused: no `map_done` will come, so nothing is outstanding.
            if started.is_err() {
                if complete {
                    e.settling = e.settling.saturating_sub(1);
                } else if e.op == DomainOp::Mapping {
                    e.op = DomainOp::Idle;
                }
            }
        });
        started.map(|()| complete)
    }

    /// `UNMAP`: done (and every device cut off) when `DONE` arrives.
    pub(crate) fn unmap(&self, process: ProcessId, r2: usize, r3: usize) -> Result<(), ErrorCode> {
        let domain = self.tables.domain(process, r2).ok_or(ErrorCode::INVAL)?;
        let d = self.tables.domain_entry(domain.index());
        let port = self.port(usize::from(d.instance)).ok_or(ErrorCode::FAIL)?;
        let range = PageRange::from_register(r3).ok_or(ErrorCode::INVAL)?;
        let (iova, len) = range
            .in_bytes(port.page_shift(), port.iommu.iova_bits())
            .ok_or(ErrorCode::INVAL)?;
        if d.op != DomainOp::Idle {
            return Err(ErrorCode::BUSY);
        }
        self.tables
            .update_domain(domain.index(), |e| e.op = DomainOp::Unmapping);
        let before = port.iommu.free_pages();
        let started = port.iommu.unmap(DomainId(usize::from(d.domain)), iova, len);
        let returned = port.iommu.free_pages().saturating_sub(before);
        self.tables.update_domain(domain.index(), |e| {
            e.pages = e
                .pages
                .saturating_sub(returned.min(usize::from(u16::MAX)) as u16);
            if started.is_err() && e.op == DomainOp::Unmapping {
                e.op = DomainOp::Idle;
            }
        });
        started
    }

    /// `TRANSLATE`: `(flags, physical address)`, or `(0, 0)` if unmapped.
    pub(crate) fn translate(
        &self,
        process: ProcessId,
        r2: usize,
        iova: usize,
    ) -> Result<(u32, u64), ErrorCode> {
        let domain = self.tables.domain(process, r2).ok_or(ErrorCode::INVAL)?;
        let d = self.tables.domain_entry(domain.index());
        let port = self.port(usize::from(d.instance)).ok_or(ErrorCode::FAIL)?;
        let bits = port.iommu.iova_bits();
        if bits < usize::BITS && iova >> bits != 0 {
            return Err(ErrorCode::INVAL);
        }
        let Some(t) = port
            .iommu
            .translate(DomainId(usize::from(d.domain)), iova)?
        else {
            return Ok((0, 0));
        };
        let mut flags = (t.page_size.trailing_zeros() & 0xff) << translate_flags::PAGE_SHIFT_SHIFT;
        if t.permissions.read {
            flags |= translate_flags::READ;
        }
        if t.permissions.write {
            flags |= translate_flags::WRITE;
        }
        if t.permissions.execute {
            flags |= translate_flags::EXECUTE;
        }
        Ok((flags, t.phys as u64))
    }

    /// `map_done` (`kind` is `Mapping`) or `unmap_done` (`Unmapping`) of
    /// `domain` on `instance`.
    pub(crate) fn domain_op_done(
        &self,
        instance: usize,
        domain: DomainId,
        kind: DomainOp,
        result: Result<(), ErrorCode>,
    ) {
        let Some(slot) = self.tables.find_domain(instance, domain.0) else {
            return;
        };
        let entry = self.tables.domain_entry(slot);
        // The instance completes in the order it started, and a settling
        // map was started before any map that holds `op` could be (an
        // instance's geometry does not change), so a `map_done` is a
        // settling map's first.
        if kind == DomainOp::Mapping && entry.settling > 0 {
            self.settled_map(slot, result);
            return;
        }
        let command = match (entry.op, kind) {
            (DomainOp::Mapping, DomainOp::Mapping) => command::MAP,
            (DomainOp::Unmapping, DomainOp::Unmapping) => command::UNMAP,
            // Not the operation we wait for (nothing in flight, or the
            // other kind): never taken as its completion.
            _ => return,
        };
        self.tables.update_domain(slot, |e| e.op = DomainOp::Idle);
        if !entry.revoking {
            let status = kernel::errorcode::into_statuscode(result);
            let handle = entry.handle(slot).to_register() as usize;
            self.notify(entry.owner, upcall::DONE, (status, command, handle));
        }
        self.advance_revocations();
    }

    /// The late `map_done` of a map that `MAP` reported complete: no
    /// `DONE` (the process was told none would come).
    ///
    /// An error here means the instance could not confirm a map that was
    /// already visible (on the RISC-V IOMMU: the instance failed, and all
    /// its outstanding operations complete with `FAIL`; it then refuses
    /// every new operation with `OFF`). The entries stay as written: they
    /// only ever point at the owner's own memory (I2), the owner can still
    /// find them with `TRANSLATE` and remove them with `UNMAP`, and
    /// revocation destroys the domain whatever its mappings (I4), so
    /// safety does not depend on the map's completion. A device that
    /// cannot use them faults, and the owner gets `FAULT`. The error is
    /// counted for the board (`late_map_failures`).
    fn settled_map(&self, slot: usize, result: Result<(), ErrorCode>) {
        self.tables.update_domain(slot, |e| e.settling -= 1);
        if result.is_err() {
            self.late_map_failures
                .set(self.late_map_failures.get().wrapping_add(1));
        }
        // A revocation may be waiting for this domain to be quiet.
        self.advance_revocations();
    }
}
