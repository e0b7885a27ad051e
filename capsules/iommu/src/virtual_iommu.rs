// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! One IOMMU instance shared by several users, each with contexts of its own.
//!
//! A board that keeps some contexts of an instance for kernel drivers (the
//! kernel-owned usage model of `doc/iommu-hil.md`) and gives the rest to the
//! system call driver puts a [`MuxIommu`] over the instance and gives each
//! user a [`VirtualIommu`] over a range of its contexts, as Tock's
//! virtualizers share an alarm or a UART. Each virtual instance implements
//! the whole HIL (`hil::iommu::Iommu`) for its own contexts, numbered from 0,
//! and for the domains it created: a user cannot attach, map into,
//! translate or destroy anything of another user, and hears only of its own
//! operations and of faults of its own contexts.
//!
//! The HIL's callbacks name a context or a domain; the mux routes each to the
//! user that owns it. A fence is the one operation without an owner: each
//! user may have one outstanding, and the instance completes fences in the
//! order they were asked for (it completes all operations in order), so the
//! mux answers them in that order.

use core::cell::Cell;
use core::ops::Range;

use kernel::ErrorCode;
use kernel::hil::iommu::{
    Attach, AttachClient, ContextId, DmaMemory, DomainId, Domains, Fault, FaultClient, Faults,
    Fence, FenceClient, Geometry, Iommu, Map, MapClient, Permissions, Translate, Translation,
};
use kernel::utilities::cells::OptionalCell;

/// The instance, its users, who owns each domain, and the fences in flight.
///
/// `USERS` bounds the users; `DOMAINS` must be at least the instance's
/// `domain_count` (a domain number beyond it is refused, `NOMEM`).
pub struct MuxIommu<'a, const USERS: usize, const DOMAINS: usize> {
    iommu: &'a dyn Iommu<'a>,
    users: [OptionalCell<&'a VirtualIommu<'a, USERS, DOMAINS>>; USERS],
    /// The user (its index) that created each domain.
    owners: [Cell<Option<u8>>; DOMAINS],
    /// Users waiting for `fence_done`, oldest first, in `fences[..waiting]`.
    fences: [Cell<u8>; USERS],
    waiting: Cell<usize>,
    /// Faults of no user's context, counted for the board.
    stray_faults: Cell<usize>,
}

impl<'a, const USERS: usize, const DOMAINS: usize> MuxIommu<'a, USERS, DOMAINS> {
    pub const fn new(iommu: &'a dyn Iommu<'a>) -> Self {
        MuxIommu {
            iommu,
            users: [const { OptionalCell::empty() }; USERS],
            owners: [const { Cell::new(None) }; DOMAINS],
            fences: [const { Cell::new(0) }; USERS],
            waiting: Cell::new(0),
            stray_faults: Cell::new(0),
        }
    }

    /// Becomes the instance's client for every callback. Call once, before
    /// any user starts an operation.
    pub fn setup(&'a self) {
        Map::set_client(self.iommu, self);
        Attach::set_client(self.iommu, self);
        Fence::set_client(self.iommu, self);
        Faults::set_client(self.iommu, self);
    }

    /// Adds `user`. `INVAL` if its contexts are beyond the instance's or
    /// overlap another user's; `NOMEM` if `USERS` users exist already.
    pub fn add_user(&self, user: &'a VirtualIommu<'a, USERS, DOMAINS>) -> Result<(), ErrorCode> {
        let contexts = &user.contexts;
        if contexts.end > self.iommu.context_count() || contexts.start > contexts.end {
            return Err(ErrorCode::INVAL);
        }
        let overlaps = self.users.iter().any(|u| {
            u.map_or(false, |other| {
                other.contexts.start < contexts.end && contexts.start < other.contexts.end
            })
        });
        if overlaps {
            return Err(ErrorCode::INVAL);
        }
        let slot = self
            .users
            .iter()
            .position(|u| u.is_none())
            .ok_or(ErrorCode::NOMEM)?;
        user.index.set(slot as u8);
        self.users[slot].set(user);
        Ok(())
    }

    /// Faults of contexts no user has (counted, not reported).
    pub fn stray_faults(&self) -> usize {
        self.stray_faults.get()
    }

    fn user(&self, index: u8) -> Option<&'a VirtualIommu<'a, USERS, DOMAINS>> {
        self.users.get(usize::from(index)).and_then(|u| u.get())
    }

    fn owner_of(&self, domain: DomainId) -> Option<&'a VirtualIommu<'a, USERS, DOMAINS>> {
        let index = self.owners.get(domain.0)?.get()?;
        self.user(index)
    }

    /// The user whose range holds hardware context `context`, and the
    /// context's number in that range.
    fn user_of(
        &self,
        context: ContextId,
    ) -> Option<(&'a VirtualIommu<'a, USERS, DOMAINS>, ContextId)> {
        self.users.iter().find_map(|u| {
            u.get()
                .filter(|user| user.contexts.contains(&context.0))
                .map(|user| (user, ContextId(context.0 - user.contexts.start)))
        })
    }
}

impl<const USERS: usize, const DOMAINS: usize> MapClient for MuxIommu<'_, USERS, DOMAINS> {
    fn map_done(&self, domain: DomainId, iova: usize, len: usize, result: Result<(), ErrorCode>) {
        if let Some(user) = self.owner_of(domain) {
            user.map_client
                .map(|c| c.map_done(domain, iova, len, result));
        }
    }

    fn unmap_done(&self, domain: DomainId, iova: usize, len: usize, result: Result<(), ErrorCode>) {
        if let Some(user) = self.owner_of(domain) {
            user.map_client
                .map(|c| c.unmap_done(domain, iova, len, result));
        }
    }
}

impl<const USERS: usize, const DOMAINS: usize> AttachClient for MuxIommu<'_, USERS, DOMAINS> {
    fn attach_done(&self, context: ContextId, domain: DomainId, result: Result<(), ErrorCode>) {
        if let Some((user, own)) = self.user_of(context) {
            user.attach_client
                .map(|c| c.attach_done(own, domain, result));
        }
    }

    fn detach_done(&self, context: ContextId, result: Result<(), ErrorCode>) {
        if let Some((user, own)) = self.user_of(context) {
            user.attach_client.map(|c| c.detach_done(own, result));
        }
    }
}

impl<const USERS: usize, const DOMAINS: usize> FenceClient for MuxIommu<'_, USERS, DOMAINS> {
    fn fence_done(&self, result: Result<(), ErrorCode>) {
        let waiting = self.waiting.get();
        if waiting == 0 {
            return;
        }
        let first = self.fences[0].get();
        for i in 1..waiting {
            self.fences[i - 1].set(self.fences[i].get());
        }
        self.waiting.set(waiting - 1);
        if let Some(user) = self.user(first) {
            user.fence_client.map(|c| c.fence_done(result));
        }
    }
}

impl<const USERS: usize, const DOMAINS: usize> FaultClient for MuxIommu<'_, USERS, DOMAINS> {
    fn fault(&self, fault: Fault) {
        match fault.context.and_then(|c| self.user_of(c)) {
            Some((user, own)) => user.fault_client.map(|c| {
                c.fault(Fault {
                    context: Some(own),
                    ..fault
                })
            }),
            None => {
                self.stray_faults
                    .set(self.stray_faults.get().wrapping_add(1));
                None
            }
        };
    }

    fn faults_lost(&self) {
        // Any user's fault may have been among the lost ones.
        for user in self.users.iter().filter_map(OptionalCell::get) {
            user.fault_client.map(|c| c.faults_lost());
        }
    }
}

/// One user's view of a shared instance: its own contexts, numbered from 0,
/// and the domains it created.
pub struct VirtualIommu<'a, const USERS: usize, const DOMAINS: usize> {
    mux: &'a MuxIommu<'a, USERS, DOMAINS>,
    /// The instance's contexts this user has.
    contexts: Range<usize>,
    index: Cell<u8>,
    map_client: OptionalCell<&'a dyn MapClient>,
    attach_client: OptionalCell<&'a dyn AttachClient>,
    fence_client: OptionalCell<&'a dyn FenceClient>,
    fault_client: OptionalCell<&'a dyn FaultClient>,
}

impl<'a, const USERS: usize, const DOMAINS: usize> VirtualIommu<'a, USERS, DOMAINS> {
    /// A user of `mux` with the instance's contexts `contexts`; add it with
    /// `MuxIommu::add_user` before use.
    pub const fn new(mux: &'a MuxIommu<'a, USERS, DOMAINS>, contexts: Range<usize>) -> Self {
        VirtualIommu {
            mux,
            contexts,
            index: Cell::new(u8::MAX),
            map_client: OptionalCell::empty(),
            attach_client: OptionalCell::empty(),
            fence_client: OptionalCell::empty(),
            fault_client: OptionalCell::empty(),
        }
    }

    /// The instance's number for this user's context `context`.
    fn hardware(&self, context: ContextId) -> Result<ContextId, ErrorCode> {
        (context.0 < self.contexts.len())
            .then(|| ContextId(self.contexts.start + context.0))
            .ok_or(ErrorCode::INVAL)
    }

    /// `domain`, if this user created it.
    fn own(&self, domain: DomainId) -> Result<DomainId, ErrorCode> {
        let owner = self.mux.owners.get(domain.0).and_then(Cell::get);
        (owner == Some(self.index.get()))
            .then_some(domain)
            .ok_or(ErrorCode::INVAL)
    }
}

impl<const USERS: usize, const DOMAINS: usize> Geometry for VirtualIommu<'_, USERS, DOMAINS> {
    fn context_count(&self) -> usize {
        self.contexts.len()
    }

    fn domain_count(&self) -> usize {
        self.mux.iommu.domain_count().min(DOMAINS)
    }

    fn page_sizes(&self) -> usize {
        self.mux.iommu.page_sizes()
    }

    fn iova_bits(&self) -> u32 {
        self.mux.iommu.iova_bits()
    }

    fn free_pages(&self) -> usize {
        self.mux.iommu.free_pages()
    }

    fn map_visible_on_return(&self) -> bool {
        self.mux.iommu.map_visible_on_return()
    }
}

impl<const USERS: usize, const DOMAINS: usize> Domains for VirtualIommu<'_, USERS, DOMAINS> {
    fn create_domain(&self) -> Result<DomainId, ErrorCode> {
        let domain = self.mux.iommu.create_domain()?;
        let Some(owner) = self.mux.owners.get(domain.0) else {
            // Beyond what the board sized the mux for: give it back.
            let _ = self.mux.iommu.destroy_domain(domain);
            return Err(ErrorCode::NOMEM);
        };
        owner.set(Some(self.index.get()));
        Ok(domain)
    }

    fn destroy_domain(&self, domain: DomainId) -> Result<(), ErrorCode> {
        let domain = self.own(domain)?;
        self.mux.iommu.destroy_domain(domain)?;
        self.mux.owners[domain.0].set(None);
        Ok(())
    }
}

impl<'a, const USERS: usize, const DOMAINS: usize> Map<'a> for VirtualIommu<'a, USERS, DOMAINS> {
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
        self.mux
            .iommu
            .map(self.own(domain)?, iova, memory, permissions)
    }

    fn map_table_pages(
        &self,
        domain: DomainId,
        iova: usize,
        len: usize,
    ) -> Result<usize, ErrorCode> {
        self.mux.iommu.map_table_pages(self.own(domain)?, iova, len)
    }

    fn unmap(&self, domain: DomainId, iova: usize, len: usize) -> Result<(), ErrorCode> {
        self.mux.iommu.unmap(self.own(domain)?, iova, len)
    }
}

impl<const USERS: usize, const DOMAINS: usize> Translate for VirtualIommu<'_, USERS, DOMAINS> {
    fn translate(&self, domain: DomainId, iova: usize) -> Result<Option<Translation>, ErrorCode> {
        self.mux.iommu.translate(self.own(domain)?, iova)
    }
}

impl<'a, const USERS: usize, const DOMAINS: usize> Attach<'a> for VirtualIommu<'a, USERS, DOMAINS> {
    fn set_client(&self, client: &'a dyn AttachClient) {
        self.attach_client.set(client);
    }

    fn attach(&self, context: ContextId, domain: DomainId) -> Result<(), ErrorCode> {
        let context = self.hardware(context)?;
        self.mux.iommu.attach(context, self.own(domain)?)
    }

    fn detach(&self, context: ContextId) -> Result<(), ErrorCode> {
        self.mux.iommu.detach(self.hardware(context)?)
    }

    fn attached(&self, context: ContextId) -> Option<DomainId> {
        self.mux.iommu.attached(self.hardware(context).ok()?)
    }
}

impl<'a, const USERS: usize, const DOMAINS: usize> Fence<'a> for VirtualIommu<'a, USERS, DOMAINS> {
    fn set_client(&self, client: &'a dyn FenceClient) {
        self.fence_client.set(client);
    }

    /// `BUSY` also while this user's previous fence is outstanding.
    fn fence(&self) -> Result<(), ErrorCode> {
        let waiting = self.mux.waiting.get();
        let me = self.index.get();
        if self.mux.fences[..waiting].iter().any(|f| f.get() == me) || waiting == USERS {
            return Err(ErrorCode::BUSY);
        }
        self.mux.iommu.fence()?;
        self.mux.fences[waiting].set(me);
        self.mux.waiting.set(waiting + 1);
        Ok(())
    }
}

impl<'a, const USERS: usize, const DOMAINS: usize> Faults<'a> for VirtualIommu<'a, USERS, DOMAINS> {
    fn set_client(&self, client: &'a dyn FaultClient) {
        self.fault_client.set(client);
    }
}
