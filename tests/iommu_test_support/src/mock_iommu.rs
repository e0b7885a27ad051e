// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! A mock IOMMU instance implementing `kernel::hil::iommu`, for tests.
//!
//! It keeps what a device could reach, not just what the page tables say:
//! a translation removed by `unmap` stays reachable ("stale", as in an
//! IOTLB) until `unmap_done` is delivered, and a context keeps reaching its
//! previous domain until `attach_done`/`detach_done`. Tests use
//! [`MockIommu::reachable`] and [`MockIommu::entries_into`] to check that
//! after revocation nothing points into a process's memory. Completions are
//! queued and delivered when the test says ([`MockIommu::complete_all`]),
//! or at once inside the call ([`Completion::Synchronous`]).
//!
//! A new mapping is reachable as soon as `map` returns (the mock caches
//! nothing that was unmapped). Whether the mock *says* so
//! (`Geometry::map_visible_on_return`) is [`MockIommu::map_visible`]:
//! false by default, so the capsule waits for `map_done` as on an IOMMU
//! that caches invalid entries; true to test the capsule's synchronous
//! `MAP`, as on the RISC-V IOMMU.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use kernel::ErrorCode;
use kernel::hil::iommu::{
    AccessType, Attach, AttachClient, ContextId, DmaMemory, DomainId, Domains, Fault, FaultCause,
    FaultClient, Faults, Fence, FenceClient, Geometry, Map, MapClient, Permissions, Translate,
    Translation,
};
use kernel::utilities::cells::OptionalCell;

/// How completions are delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// Queued until the test calls `complete_*`.
    Queued,
    /// Called back before the call returns (what TRD3 discourages, but a
    /// client must survive it).
    Synchronous,
}

/// Which HIL call a refusal is injected into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Create,
    Destroy,
    Map,
    Unmap,
    Attach,
    Detach,
    Fence,
}

#[derive(Clone, Copy, Debug)]
enum Pending {
    Map(usize, usize, usize),
    Unmap(usize, usize, usize),
    Attach(usize, usize),
    Detach(usize),
    Fence,
}

/// One mapped page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub phys: usize,
    pub permissions: Permissions,
}

#[derive(Default)]
struct DomainState {
    /// iova page number -> entry.
    pages: BTreeMap<usize, Entry>,
    /// Unmapped but not yet invalidated: (iova page, entry).
    stale: Vec<(usize, Entry)>,
    /// Leaf tables allocated (by table region).
    tables: BTreeSet<usize>,
}

/// The mock instance.
pub struct MockIommu {
    pub contexts: usize,
    pub max_domains: usize,
    pub page_shift: u32,
    pub iova_bits: u32,
    free_pages: Cell<usize>,
    domains: RefCell<Vec<Option<DomainState>>>,
    attached: RefCell<Vec<Option<usize>>>,
    /// Domains a context may still reach until its attach/detach completes.
    previous: RefCell<Vec<Vec<usize>>>,
    pending: RefCell<VecDeque<Pending>>,
    pub completion: Cell<Completion>,
    /// What `Geometry::map_visible_on_return` answers.
    pub map_visible: Cell<bool>,
    /// The next call of this kind fails with this error (once).
    refuse: Cell<Option<(Call, ErrorCode)>>,
    /// Completions are delivered with this result.
    pub complete_with: Cell<Result<(), ErrorCode>>,
    map_client: OptionalCell<&'static dyn MapClient>,
    attach_client: OptionalCell<&'static dyn AttachClient>,
    fence_client: OptionalCell<&'static dyn FenceClient>,
    fault_client: OptionalCell<&'static dyn FaultClient>,
}

impl MockIommu {
    pub fn new(contexts: usize, max_domains: usize, pool_pages: usize, page_shift: u32) -> Self {
        MockIommu {
            contexts,
            max_domains,
            page_shift,
            iova_bits: 32,
            free_pages: Cell::new(pool_pages),
            domains: RefCell::new((0..max_domains).map(|_| None).collect()),
            attached: RefCell::new(vec![None; contexts]),
            previous: RefCell::new(vec![Vec::new(); contexts]),
            pending: RefCell::new(VecDeque::new()),
            completion: Cell::new(Completion::Queued),
            map_visible: Cell::new(false),
            refuse: Cell::new(None),
            complete_with: Cell::new(Ok(())),
            map_client: OptionalCell::empty(),
            attach_client: OptionalCell::empty(),
            fence_client: OptionalCell::empty(),
            fault_client: OptionalCell::empty(),
        }
    }

    pub fn page(&self) -> usize {
        1 << self.page_shift
    }

    /// Makes the next `call` fail with `error`.
    pub fn refuse_next(&self, call: Call, error: ErrorCode) {
        self.refuse.set(Some((call, error)));
    }

    fn refused(&self, call: Call) -> Result<(), ErrorCode> {
        match self.refuse.get() {
            Some((c, e)) if c == call => {
                self.refuse.set(None);
                Err(e)
            }
            _ => Ok(()),
        }
    }

    fn queue(&self, p: Pending) {
        self.pending.borrow_mut().push_back(p);
        if self.completion.get() == Completion::Synchronous {
            self.complete_all();
        }
    }

    pub fn pending_count(&self) -> usize {
        self.pending.borrow().len()
    }

    /// Maps of `domain` whose `map_done` has not been delivered yet.
    pub fn pending_maps(&self, domain: usize) -> usize {
        self.pending
            .borrow()
            .iter()
            .filter(|p| matches!(p, Pending::Map(d, ..) if *d == domain))
            .count()
    }

    /// Delivers the oldest completion; false if none.
    pub fn complete_one(&self) -> bool {
        let Some(p) = self.pending.borrow_mut().pop_front() else {
            return false;
        };
        let result = self.complete_with.get();
        match p {
            Pending::Map(d, iova, len) => {
                self.map_client
                    .map(|c| c.map_done(DomainId(d), iova, len, result));
            }
            Pending::Unmap(d, iova, len) => {
                // A failed invalidation leaves the stale entries reachable.
                if let (Ok(()), Some(Some(s))) = (result, self.domains.borrow_mut().get_mut(d)) {
                    let first = iova >> self.page_shift;
                    let last = (iova + len) >> self.page_shift;
                    s.stale.retain(|(p, _)| *p < first || *p >= last);
                }
                self.map_client
                    .map(|c| c.unmap_done(DomainId(d), iova, len, result));
            }
            Pending::Attach(ctx, d) => {
                if result.is_ok() {
                    self.previous.borrow_mut()[ctx].clear();
                }
                self.attach_client
                    .map(|c| c.attach_done(ContextId(ctx), DomainId(d), result));
            }
            Pending::Detach(ctx) => {
                if result.is_ok() {
                    self.previous.borrow_mut()[ctx].clear();
                }
                self.attach_client
                    .map(|c| c.detach_done(ContextId(ctx), result));
            }
            Pending::Fence => {
                self.fence_client.map(|c| c.fence_done(result));
            }
        }
        true
    }

    /// Delivers every completion, including ones queued meanwhile.
    pub fn complete_all(&self) -> usize {
        let mut n = 0;
        while self.complete_one() {
            n += 1;
            assert!(n < 10_000, "completions never settle");
        }
        n
    }

    /// Every (context, iova, entry) a device could use now.
    pub fn reachable(&self) -> Vec<(usize, usize, Entry)> {
        let domains = self.domains.borrow();
        let mut out = Vec::new();
        for ctx in 0..self.contexts {
            let mut ds: Vec<usize> = self.previous.borrow()[ctx].clone();
            ds.extend(self.attached.borrow()[ctx]);
            for d in ds {
                if let Some(Some(s)) = domains.get(d) {
                    for (p, e) in s
                        .pages
                        .iter()
                        .map(|(p, e)| (*p, *e))
                        .chain(s.stale.iter().copied())
                    {
                        out.push((ctx, p << self.page_shift, e));
                    }
                }
            }
        }
        out
    }

    /// Entries (live or stale, attached or not) whose physical page lies
    /// in `[start, end)`.
    pub fn entries_into(&self, start: usize, end: usize) -> usize {
        let page = self.page();
        self.domains
            .borrow()
            .iter()
            .flatten()
            .flat_map(|s| s.pages.values().chain(s.stale.iter().map(|(_, e)| e)))
            .filter(|e| e.phys < end && e.phys + page > start)
            .count()
    }

    /// All entries of `domain`: (iova, entry).
    pub fn entries(&self, domain: usize) -> Vec<(usize, Entry)> {
        self.domains.borrow()[domain]
            .as_ref()
            .map(|s| {
                s.pages
                    .iter()
                    .map(|(p, e)| (p << self.page_shift, *e))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The domain `context` translates through (as last requested).
    pub fn attached_to(&self, context: usize) -> Option<usize> {
        self.attached.borrow()[context]
    }

    pub fn free_pages_now(&self) -> usize {
        self.free_pages.get()
    }

    /// Ids of the domains that exist.
    pub fn live_domain_ids(&self) -> Vec<usize> {
        let domains = self.domains.borrow();
        (0..domains.len())
            .filter(|&d| domains[d].is_some())
            .collect()
    }

    /// Contexts whose device could still use a domain (attached, or an
    /// attach/detach not yet complete): (context, domain).
    pub fn context_links(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for ctx in 0..self.contexts {
            for &d in self.previous.borrow()[ctx]
                .iter()
                .chain(self.attached.borrow()[ctx].iter())
            {
                out.push((ctx, d));
            }
        }
        out
    }

    /// Every entry of every domain, live and stale: (domain, entry).
    pub fn all_entries(&self) -> Vec<(usize, Entry)> {
        let domains = self.domains.borrow();
        let mut out = Vec::new();
        for (d, s) in domains.iter().enumerate() {
            if let Some(s) = s {
                out.extend(
                    s.pages
                        .values()
                        .chain(s.stale.iter().map(|(_, e)| e))
                        .map(|e| (d, *e)),
                );
            }
        }
        out
    }

    pub fn live_domains(&self) -> usize {
        self.domains.borrow().iter().flatten().count()
    }

    /// Attaches `context` behind the driver's back (as a board might).
    pub fn force_attach(&self, context: usize, domain: usize) {
        self.attached.borrow_mut()[context] = Some(domain);
    }

    /// A device access through `context`: the physical address, or a
    /// fault (reported to the fault client too).
    pub fn device_access(
        &self,
        context: usize,
        iova: usize,
        access: AccessType,
    ) -> Result<usize, Fault> {
        let fault = |cause, raw| Fault {
            context: Some(ContextId(context)),
            cause,
            raw_cause: raw,
            iova: iova as u64,
            access,
        };
        let result = match self.attached.borrow().get(context).copied().flatten() {
            None => Err(fault(FaultCause::Blocked, 256)),
            Some(d) => match self.lookup(d, iova) {
                Some(e)
                    if match access {
                        AccessType::Read => e.permissions.read,
                        AccessType::Write => e.permissions.write,
                        AccessType::Execute => e.permissions.execute,
                    } =>
                {
                    Ok(e.phys + (iova & (self.page() - 1)))
                }
                _ => Err(fault(FaultCause::PageFault, 15)),
            },
        };
        if let Err(f) = result {
            self.fault_client.map(|c| c.fault(f));
        }
        result
    }

    /// Reports a fault as the hardware would.
    pub fn inject_fault(&self, fault: Fault) {
        self.fault_client.map(|c| c.fault(fault));
    }

    pub fn inject_faults_lost(&self) {
        self.fault_client.map(|c| c.faults_lost());
    }

    fn lookup(&self, d: usize, iova: usize) -> Option<Entry> {
        let domains = self.domains.borrow();
        let s = domains.get(d)?.as_ref()?;
        s.pages.get(&(iova >> self.page_shift)).copied()
    }

    fn check_range(&self, d: usize, iova: usize, len: usize) -> Result<(), ErrorCode> {
        let mask = self.page() - 1;
        let ok = self.domains.borrow().get(d).is_some_and(|s| s.is_some())
            && len != 0
            && iova & mask == 0
            && len & mask == 0
            && iova
                .checked_add(len)
                .is_some_and(|end| end <= 1usize << self.iova_bits);
        if ok { Ok(()) } else { Err(ErrorCode::INVAL) }
    }
}

impl Geometry for MockIommu {
    fn context_count(&self) -> usize {
        self.contexts
    }
    fn domain_count(&self) -> usize {
        self.max_domains
    }
    fn page_sizes(&self) -> usize {
        1 << self.page_shift
    }
    fn iova_bits(&self) -> u32 {
        self.iova_bits
    }
    fn free_pages(&self) -> usize {
        self.free_pages.get()
    }
    fn map_visible_on_return(&self) -> bool {
        self.map_visible.get()
    }
}

impl Domains for MockIommu {
    fn create_domain(&self) -> Result<DomainId, ErrorCode> {
        self.refused(Call::Create)?;
        let mut domains = self.domains.borrow_mut();
        let slot = domains
            .iter()
            .position(Option::is_none)
            .ok_or(ErrorCode::NOMEM)?;
        if self.free_pages.get() == 0 {
            return Err(ErrorCode::NOMEM);
        }
        self.free_pages.set(self.free_pages.get() - 1);
        domains[slot] = Some(DomainState::default());
        Ok(DomainId(slot))
    }

    fn destroy_domain(&self, domain: DomainId) -> Result<(), ErrorCode> {
        self.refused(Call::Destroy)?;
        if !self
            .domains
            .borrow()
            .get(domain.0)
            .is_some_and(|s| s.is_some())
        {
            return Err(ErrorCode::INVAL);
        }
        let busy = self.attached.borrow().contains(&Some(domain.0))
            || self.previous.borrow().iter().any(|p| p.contains(&domain.0))
            || self.pending.borrow().iter().any(
                |p| matches!(p, Pending::Map(d, ..) | Pending::Unmap(d, ..) if *d == domain.0),
            );
        if busy {
            return Err(ErrorCode::BUSY);
        }
        let s = self.domains.borrow_mut()[domain.0].take().unwrap();
        self.free_pages
            .set(self.free_pages.get() + 1 + s.tables.len());
        Ok(())
    }
}

impl Map<'static> for MockIommu {
    fn set_client(&self, client: &'static dyn MapClient) {
        self.map_client.set(client);
    }

    fn map(
        &self,
        domain: DomainId,
        iova: usize,
        memory: DmaMemory,
        permissions: Permissions,
    ) -> Result<(), ErrorCode> {
        self.refused(Call::Map)?;
        let (phys, len) = (memory.start(), memory.len());
        self.check_range(domain.0, iova, len)?;
        if phys & (self.page() - 1) != 0
            || !permissions.read
            || !memory.is_held()
            || (permissions.write && !memory.writable())
        {
            return Err(ErrorCode::INVAL);
        }
        {
            let mut domains = self.domains.borrow_mut();
            let s = domains[domain.0].as_mut().unwrap();
            let first = iova >> self.page_shift;
            let count = len >> self.page_shift;
            if (first..first + count).any(|p| s.pages.contains_key(&p)) {
                return Err(ErrorCode::ALREADY);
            }
            let regions: BTreeSet<usize> = (first..first + count)
                .map(|p| p >> 9)
                .filter(|r| !s.tables.contains(r))
                .collect();
            if regions.len() > self.free_pages.get() {
                return Err(ErrorCode::NOMEM);
            }
            self.free_pages.set(self.free_pages.get() - regions.len());
            s.tables.extend(regions);
            for i in 0..count {
                s.pages.insert(
                    first + i,
                    Entry {
                        phys: phys + (i << self.page_shift),
                        permissions,
                    },
                );
            }
        }
        self.queue(Pending::Map(domain.0, iova, len));
        Ok(())
    }

    fn map_table_pages(
        &self,
        domain: DomainId,
        iova: usize,
        len: usize,
    ) -> Result<usize, ErrorCode> {
        self.check_range(domain.0, iova, len)?;
        let domains = self.domains.borrow();
        let s = domains[domain.0].as_ref().unwrap();
        let first = iova >> self.page_shift;
        let count = len >> self.page_shift;
        if (first..first + count).any(|p| s.pages.contains_key(&p)) {
            return Err(ErrorCode::ALREADY);
        }
        // Exactly what `map` takes: one table per 512-page region without one.
        let regions: BTreeSet<usize> = (first..first + count)
            .map(|p| p >> 9)
            .filter(|r| !s.tables.contains(r))
            .collect();
        Ok(regions.len())
    }

    fn unmap(&self, domain: DomainId, iova: usize, len: usize) -> Result<(), ErrorCode> {
        self.refused(Call::Unmap)?;
        self.check_range(domain.0, iova, len)?;
        {
            let mut domains = self.domains.borrow_mut();
            let s = domains[domain.0].as_mut().unwrap();
            let first = iova >> self.page_shift;
            for p in first..first + (len >> self.page_shift) {
                if let Some(e) = s.pages.remove(&p) {
                    s.stale.push((p, e));
                }
            }
        }
        self.queue(Pending::Unmap(domain.0, iova, len));
        Ok(())
    }
}

impl Translate for MockIommu {
    fn translate(&self, domain: DomainId, iova: usize) -> Result<Option<Translation>, ErrorCode> {
        if !self
            .domains
            .borrow()
            .get(domain.0)
            .is_some_and(|s| s.is_some())
            || iova >> self.iova_bits != 0
        {
            return Err(ErrorCode::INVAL);
        }
        Ok(self.lookup(domain.0, iova).map(|e| Translation {
            phys: e.phys + (iova & (self.page() - 1)),
            permissions: e.permissions,
            page_size: self.page(),
        }))
    }
}

impl Attach<'static> for MockIommu {
    fn set_client(&self, client: &'static dyn AttachClient) {
        self.attach_client.set(client);
    }

    fn attach(&self, context: ContextId, domain: DomainId) -> Result<(), ErrorCode> {
        self.refused(Call::Attach)?;
        if context.0 >= self.contexts
            || !self
                .domains
                .borrow()
                .get(domain.0)
                .is_some_and(|s| s.is_some())
        {
            return Err(ErrorCode::INVAL);
        }
        let old = self.attached.borrow()[context.0];
        if old == Some(domain.0) {
            return Err(ErrorCode::ALREADY);
        }
        if let Some(o) = old {
            self.previous.borrow_mut()[context.0].push(o);
        }
        self.attached.borrow_mut()[context.0] = Some(domain.0);
        self.queue(Pending::Attach(context.0, domain.0));
        Ok(())
    }

    fn detach(&self, context: ContextId) -> Result<(), ErrorCode> {
        self.refused(Call::Detach)?;
        if context.0 >= self.contexts {
            return Err(ErrorCode::INVAL);
        }
        let Some(old) = self.attached.borrow()[context.0] else {
            return Err(ErrorCode::ALREADY);
        };
        self.previous.borrow_mut()[context.0].push(old);
        self.attached.borrow_mut()[context.0] = None;
        self.queue(Pending::Detach(context.0));
        Ok(())
    }

    fn attached(&self, context: ContextId) -> Option<DomainId> {
        self.attached
            .borrow()
            .get(context.0)
            .copied()
            .flatten()
            .map(DomainId)
    }
}

impl Fence<'static> for MockIommu {
    fn set_client(&self, client: &'static dyn FenceClient) {
        self.fence_client.set(client);
    }

    fn fence(&self) -> Result<(), ErrorCode> {
        self.refused(Call::Fence)?;
        self.queue(Pending::Fence);
        Ok(())
    }
}

impl Faults<'static> for MockIommu {
    fn set_client(&self, client: &'static dyn FaultClient) {
        self.fault_client.set(client);
    }
}
