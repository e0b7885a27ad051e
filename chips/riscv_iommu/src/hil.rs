// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! `kernel::hil::iommu` for the RISC-V IOMMU.
//!
//! Domains are Sv39 tables (`sv39.rs`) tagged with PSCID = slot + 1 (RISC-V
//! IOMMU spec 1.0 section 2.1.3.3, `ta.PSCID`); contexts are device contexts
//! (`device_context.rs`). Each operation checks everything, and that the
//! pending ring and command queue have room, before it writes anything, so
//! an error always means nothing changed. Invalidation sequences (section
//! 6.3 "Guidelines for invalidations"):
//! - unmap: `IOTINVAL.VMA` (PSCID, plus the address for a single page),
//!   `IOFENCE.C`;
//! - map: none (entries with V clear are never cached, section 2.8);
//! - attach/switch: `IODIR.INVAL_DDT`, `IOTINVAL.VMA` for the new (and the
//!   old) PSCID, in case the IOMMU read the context while it was being
//!   rewritten, `IOFENCE.C`;
//! - detach: `IODIR.INVAL_DDT`, `IOFENCE.C`;
//! - destroy: `IOTINVAL.VMA` (PSCID), `IOFENCE.C`, before the PSCID is
//!   reused.

use crate::commands::Command;
use crate::iommu::{DomainState, RiscvIommu, State};
use crate::pending::Operation;
use crate::pool::{PAGE_SIZE, Table};
use crate::sv39;
use core::cell::Cell;
use kernel::ErrorCode;
use kernel::hil::iommu::{
    Attach, AttachClient, ContextId, DmaMemory, DomainId, Domains, FaultClient, Faults, Fence,
    FenceClient, Geometry, Map, MapClient, Permissions, Translate, Translation,
};
use kernel::platform::dma_fence::DmaFence;

impl<const CONTEXTS: usize, const DOMAINS: usize, F: DmaFence>
    RiscvIommu<'_, CONTEXTS, DOMAINS, F>
{
    fn running(&self) -> Result<(), ErrorCode> {
        match self.state.get() {
            State::Running => Ok(()),
            _ => Err(ErrorCode::OFF),
        }
    }

    /// The root table and PSCID of live domain `domain`.
    fn live(&self, domain: DomainId) -> Result<(Table, u32), ErrorCode> {
        match self.domains.get(domain.0).map(|d| d.get()) {
            Some(DomainState::Live { root, pscid }) => Ok((root, pscid)),
            _ => Err(ErrorCode::INVAL),
        }
    }

    fn root(&self, domain: DomainId) -> Result<Table, ErrorCode> {
        self.live(domain).map(|(root, _)| root)
    }

    /// The PSCID tagging live domain `domain`.
    fn pscid(&self, domain: DomainId) -> Result<u32, ErrorCode> {
        self.live(domain).map(|(_, pscid)| pscid)
    }

    /// Room for one more operation with `commands` commands (plus fence).
    fn room(&self, commands: usize) -> Result<(), ErrorCode> {
        if self.pending.is_full() || !self.has_room(commands) {
            return Err(ErrorCode::BUSY);
        }
        Ok(())
    }

    fn device_id(&self, context: ContextId) -> Result<u32, ErrorCode> {
        self.device_ids
            .get(context.0)
            .copied()
            .ok_or(ErrorCode::INVAL)
    }
}

impl<const CONTEXTS: usize, const DOMAINS: usize, F: DmaFence> Geometry
    for RiscvIommu<'_, CONTEXTS, DOMAINS, F>
{
    fn context_count(&self) -> usize {
        CONTEXTS
    }

    fn domain_count(&self) -> usize {
        DOMAINS
    }

    fn page_sizes(&self) -> usize {
        PAGE_SIZE | sv39::SUPERPAGE_SIZE
    }

    fn iova_bits(&self) -> u32 {
        sv39::IOVA_BITS
    }

    fn free_pages(&self) -> usize {
        self.tables.free_count()
    }

    /// True: the IOMMU never caches a page-table entry with V clear (spec
    /// 1.0 section 2.8), and `map` only fills entries that were invalid
    /// and releases the tables to the IOMMU before it returns, so
    /// the next walk of any device finds them. `map_done` follows from the
    /// deferred call, with no command queued for it.
    fn map_visible_on_return(&self) -> bool {
        true
    }
}

impl<const CONTEXTS: usize, const DOMAINS: usize, F: DmaFence> Domains
    for RiscvIommu<'_, CONTEXTS, DOMAINS, F>
{
    fn create_domain(&self) -> Result<DomainId, ErrorCode> {
        self.running()?;
        let index = self
            .domains
            .iter()
            .position(|d| d.get() == DomainState::Free)
            .ok_or(ErrorCode::NOMEM)?;
        let pscid = self.fresh_pscid()?;
        let root = self.tables.allocate().ok_or(ErrorCode::NOMEM)?;
        self.domains[index].set(DomainState::Live { root, pscid });
        Ok(DomainId(index))
    }

    fn destroy_domain(&self, domain: DomainId) -> Result<(), ErrorCode> {
        let root = self.root(domain)?;
        let attached = self.attached.iter().any(|a| a.get() == Some(domain));
        if attached || self.pending.uses(domain) || self.maybe_in_use(domain) {
            return Err(ErrorCode::BUSY);
        }
        let running = self.state.get() == State::Running;
        if running {
            self.room(1)?;
        }
        // No context uses the domain and every detach from it completed,
        // so no device can walk these tables any more, and the slot is free
        // at once. Its PSCID is not given to a new domain until its
        // invalidation completed (`fresh_pscid`); if the instance is not
        // running, no domain is created again anyway.
        let pscid = self.pscid(domain)?;
        sv39::destroy(&self.tables, root);
        self.domains[domain.0].set(DomainState::Free);
        if !running {
            return Ok(());
        }
        let sequence = self.submit(&[Command::iotinval_vma(Some(pscid), None)]);
        self.start(sequence, Operation::Release { pscid })
    }
}

impl<'a, const CONTEXTS: usize, const DOMAINS: usize, F: DmaFence> Map<'a>
    for RiscvIommu<'a, CONTEXTS, DOMAINS, F>
{
    fn set_client(&self, client: &'a dyn MapClient) {
        self.map_client.set(client);
    }

    fn map(
        &self,
        domain: DomainId,
        iova: usize,
        memory: DmaMemory,
        permissions: Permissions,
    ) -> Result<(), ErrorCode> {
        self.running()?;
        let root = self.root(domain)?;
        if !memory.is_held() || (permissions.write && !memory.writable()) {
            return Err(ErrorCode::INVAL);
        }
        self.room(0)?;
        let (phys, len) = (memory.start(), memory.len());
        sv39::map(&self.tables, root, iova, phys, len, permissions)?;
        // Released before whatever starts the device.
        self.tables.publish_all();
        self.start(self.issued(), Operation::Map { domain, iova, len })
    }

    fn map_table_pages(
        &self,
        domain: DomainId,
        iova: usize,
        len: usize,
    ) -> Result<usize, ErrorCode> {
        let root = self.root(domain)?;
        sv39::tables_for_map(&self.tables, root, iova, len)
    }

    fn unmap(&self, domain: DomainId, iova: usize, len: usize) -> Result<(), ErrorCode> {
        self.running()?;
        let root = self.root(domain)?;
        self.room(1)?;
        sv39::unmap(&self.tables, root, iova, len)?;
        // The cleared entries must be what the IOMMU reads from the
        // invalidation on, or it could cache the old ones again.
        self.tables.publish_all();
        let address = (len == PAGE_SIZE).then_some(iova as u64);
        let pscid = self.pscid(domain)?;
        let sequence = self.submit(&[Command::iotinval_vma(Some(pscid), address)]);
        self.start(sequence, Operation::Unmap { domain, iova, len })
    }
}

impl<const CONTEXTS: usize, const DOMAINS: usize, F: DmaFence> Translate
    for RiscvIommu<'_, CONTEXTS, DOMAINS, F>
{
    fn translate(&self, domain: DomainId, iova: usize) -> Result<Option<Translation>, ErrorCode> {
        sv39::translate(&self.tables, self.root(domain)?, iova)
    }
}

impl<'a, const CONTEXTS: usize, const DOMAINS: usize, F: DmaFence> Attach<'a>
    for RiscvIommu<'a, CONTEXTS, DOMAINS, F>
{
    fn set_client(&self, client: &'a dyn AttachClient) {
        self.attach_client.set(client);
    }

    fn attach(&self, context: ContextId, domain: DomainId) -> Result<(), ErrorCode> {
        self.running()?;
        let device_id = self.device_id(context)?;
        let root = self.root(domain)?;
        let previous = self.attached[context.0].get();
        if previous == Some(domain) {
            return Err(ErrorCode::ALREADY);
        }
        self.room(3)?;
        let (Some(slot), Some(directory)) = (self.slots[context.0].get(), self.directory.get())
        else {
            return Err(ErrorCode::OFF);
        };
        let pscid = self.pscid(domain)?;
        let old_pscid = previous.and_then(|old| self.pscid(old).ok());
        slot.write_translating(&self.directory_pages, &directory, root, pscid);
        self.attached[context.0].set(Some(domain));
        let inval_ddt = Command::iodir_inval_ddt(Some(device_id));
        let new = Command::iotinval_vma(Some(pscid), None);
        let sequence = match old_pscid {
            Some(old) => {
                let old = Command::iotinval_vma(Some(old), None);
                self.submit(&[inval_ddt, new, old])
            }
            None => self.submit(&[inval_ddt, new]),
        };
        self.start(
            sequence,
            Operation::Attach {
                context,
                domain,
                previous,
            },
        )
    }

    fn detach(&self, context: ContextId) -> Result<(), ErrorCode> {
        self.running()?;
        let device_id = self.device_id(context)?;
        let previous = self.attached[context.0].get().ok_or(ErrorCode::ALREADY)?;
        self.room(1)?;
        let slot = self.slots[context.0].get().ok_or(ErrorCode::OFF)?;
        slot.write_blocking(&self.directory_pages);
        self.attached[context.0].set(None);
        let sequence = self.submit(&[Command::iodir_inval_ddt(Some(device_id))]);
        self.start(sequence, Operation::Detach { context, previous })
    }

    fn attached(&self, context: ContextId) -> Option<DomainId> {
        self.attached.get(context.0).and_then(Cell::get)
    }
}

impl<'a, const CONTEXTS: usize, const DOMAINS: usize, F: DmaFence> Fence<'a>
    for RiscvIommu<'a, CONTEXTS, DOMAINS, F>
{
    fn set_client(&self, client: &'a dyn FenceClient) {
        self.fence_client.set(client);
    }

    fn fence(&self) -> Result<(), ErrorCode> {
        self.running()?;
        self.room(0)?;
        // Operations complete in order: waiting for the newest issued
        // sequence number waits for all of them.
        self.start(self.issued(), Operation::Fence)
    }
}

impl<'a, const CONTEXTS: usize, const DOMAINS: usize, F: DmaFence> Faults<'a>
    for RiscvIommu<'a, CONTEXTS, DOMAINS, F>
{
    fn set_client(&self, client: &'a dyn FaultClient) {
        self.fault_client.set(client);
    }
}
