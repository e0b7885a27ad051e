// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Interfaces for I/O memory management units (IOMMUs).
//!
//! An IOMMU translates the addresses a DMA-capable device emits (I/O
//! virtual addresses, IOVAs) through page tables the kernel controls. This
//! HIL follows TRD3 and uses three concepts (see `doc/iommu-hil.md`):
//!
//! - an **instance** is one hardware IOMMU; a board may have several, and
//!   each implements these traits on its own;
//! - a **context** ([`ContextId`]) is one hardware translation context of an
//!   instance, fixed by hardware and board: a RISC-V IOMMU device context, an
//!   ARM SMMU context bank, an MSM System MMU context;
//! - a **domain** ([`DomainId`]) is one I/O address space: a page table whose
//!   pages come from a pool the board gives the instance, plus the tag the
//!   hardware caches it under.
//!
//! A context translates through at most one domain. [`Attach::attach`]
//! points it at a domain, or switches it to another one on the fly;
//! [`Attach::detach`] leaves it *blocking*: every access faults, there is no
//! bypass. Contexts block from reset until attached.
//!
//! Page-table edits ([`Map`]) take effect in memory at once, but the
//! hardware may still use cached translations: every change that the
//! hardware must observe is followed by an invalidation, and its callback
//! comes only when the invalidation has *completed*. An instance whose
//! hardware caches no invalid entries says so with
//! [`Geometry::map_visible_on_return`]: a new mapping is then usable when
//! `map` returns, before `map_done`. After `unmap_done`
//! (or `detach_done`, or `fence_done`) with `Ok`, no device can reach the
//! memory through the old translation any more.
//!
//! Ownership of contexts and domains by processes is the business of the
//! capsule that uses this HIL. Which memory may be mapped is not: [`Map::map`]
//! takes a [`DmaMemory`], a proof that only the kernel creates, for memory
//! the caller holds (a process's allowed buffer, a kernel buffer lent for
//! good), so that code without `unsafe` cannot give a device any other
//! memory.

use crate::ErrorCode;
use crate::process::ProcessId;

/// A hardware translation context of one instance, numbered from 0 to
/// [`Geometry::context_count`] - 1. Which device each context serves is
/// fixed by the board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextId(pub usize);

/// An I/O address space of one instance, as returned by
/// [`Domains::create_domain`]. Numbered from 0 to
/// [`Geometry::domain_count`] - 1; a number is reused after the domain is
/// destroyed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainId(pub usize);

/// What a device may do through a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permissions {
    /// The device may read.
    pub read: bool,
    /// The device may write.
    pub write: bool,
    /// The device may fetch instructions (only meaningful for devices that
    /// tag their reads as instruction fetches).
    pub execute: bool,
}

impl Permissions {
    /// Device read only.
    pub const READ: Permissions = Permissions {
        read: true,
        write: false,
        execute: false,
    };
    /// Device read and write.
    pub const READ_WRITE: Permissions = Permissions {
        read: true,
        write: true,
        execute: false,
    };
}

/// Memory its holder may let a device reach: the proof [`Map::map`] takes.
///
/// Only the kernel makes one, for memory the caller holds:
///
/// - [`ReadWriteProcessBuffer::dma_memory`] and
///   [`ReadOnlyProcessBuffer::dma_memory`]: a buffer a process allowed,
///   which stays that process's memory while the process instance lives
///   (the kernel refuses a brk below allowed memory and never carves grants
///   below the break); a read-only allow gives read-only memory;
/// - [`DmaMemory::from_static`]: a kernel buffer lent to devices for good;
/// - [`DmaMemory::new`], `unsafe`, for memory no safe constructor covers
///   (a chip's own descriptor rings at fixed addresses, tests).
///
/// It is not `Clone`: `map` consumes it, and a holder narrows it
/// ([`DmaMemory::sub_range`], [`DmaMemory::read_only`]) but never widens
/// it. Process memory is held only while its process instance lives:
/// `map` refuses memory whose process has ended ([`DmaMemory::is_held`]).
/// Taking the mapping away again when the process ends is the mapper's job
/// (`kernel::process_memory`).
///
/// [`ReadWriteProcessBuffer::dma_memory`]: crate::processbuffer::ReadWriteProcessBuffer::dma_memory
/// [`ReadOnlyProcessBuffer::dma_memory`]: crate::processbuffer::ReadOnlyProcessBuffer::dma_memory
#[derive(Debug, PartialEq, Eq)]
pub struct DmaMemory {
    start: usize,
    len: usize,
    writable: bool,
    /// The process whose memory this is; `None` for kernel memory.
    owner: Option<ProcessId>,
}

impl DmaMemory {
    /// Memory `[start, start + len)` of `owner` (or the kernel's), made by
    /// the kernel's constructors, which have checked that it is.
    pub(crate) fn held(start: usize, len: usize, writable: bool, owner: Option<ProcessId>) -> Self {
        DmaMemory {
            start,
            len,
            writable,
            owner,
        }
    }

    /// Claims `[start, start + len)` for DMA.
    ///
    /// # Safety
    ///
    /// For as long as any device may reach it through a mapping made from
    /// this value: (1) the range is memory the caller owns, that no Rust
    /// reference other than the caller's aliases in a way the device's
    /// accesses could break (use the `DmaSlice` family's fences around the
    /// device's accesses), and (2) if `writable`, the caller lets devices
    /// write it.
    pub unsafe fn new(start: usize, len: usize, writable: bool) -> Self {
        DmaMemory::held(start, len, writable, None)
    }

    /// Lends `buffer` to devices for good: nothing else can ever reach it.
    pub fn from_static(buffer: &'static mut [u8]) -> Self {
        DmaMemory::held(buffer.as_mut_ptr() as usize, buffer.len(), true, None)
    }

    /// First byte (a physical address: the kernel runs untranslated).
    pub fn start(&self) -> usize {
        self.start
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty range.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True if devices may write it.
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// The process whose memory this is (`None`: the kernel's).
    pub fn owner(&self) -> Option<ProcessId> {
        self.owner
    }

    /// True while the memory is still its holder's: always for kernel
    /// memory; for process memory, while the process instance lives.
    pub fn is_held(&self) -> bool {
        self.owner
            .is_none_or(|pid| pid.kernel.process_is_alive(pid))
    }

    /// The part `[offset, offset + len)` of this memory, or `None` if it
    /// does not lie inside.
    pub fn sub_range(self, offset: usize, len: usize) -> Option<DmaMemory> {
        let end = offset.checked_add(len)?;
        (end <= self.len).then(|| DmaMemory {
            start: self.start + offset,
            len,
            ..self
        })
    }

    /// The same memory, for device reads only.
    pub fn read_only(self) -> DmaMemory {
        DmaMemory {
            writable: false,
            ..self
        }
    }
}

/// The kind of device access that faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessType {
    /// A read.
    Read,
    /// A write (or atomic read-modify-write).
    Write,
    /// A read for instruction fetch.
    Execute,
}

/// Why an access faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultCause {
    /// The context has no domain attached (or translation is off): the
    /// context blocks.
    Blocked,
    /// The IOVA is not mapped in the domain, or the mapping does not allow
    /// this access.
    PageFault,
    /// Reading a page table or a hardware structure failed (bus error).
    AccessFault,
    /// The hardware found its configuration invalid.
    Misconfigured,
    /// Any other cause; see `Fault::raw_cause`.
    Other,
}

/// One fault, as reported by the hardware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The context that faulted, or `None` if the faulting device is not
    /// one of the board's contexts (it blocks as well).
    pub context: Option<ContextId>,
    /// The cause, decoded.
    pub cause: FaultCause,
    /// The hardware's own cause code, for logs.
    pub raw_cause: u32,
    /// The faulting IOVA.
    pub iova: u64,
    /// The access that faulted.
    pub access: AccessType,
}

/// The result of a software walk of a domain's page table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The physical address `iova` translates to.
    pub phys: usize,
    /// The permissions of the mapping that holds `iova`.
    pub permissions: Permissions,
    /// The size of that mapping's page (e.g. 4 KiB or 2 MiB).
    pub page_size: usize,
}

/// Fixed properties of an instance. No callbacks.
pub trait Geometry {
    /// Number of contexts of this instance.
    fn context_count(&self) -> usize;

    /// Largest number of domains that can exist at once (the page pool may
    /// run out earlier).
    fn domain_count(&self) -> usize;

    /// Bit mask of supported page sizes: bit `n` set means pages of `2^n`
    /// bytes. Map and unmap take ranges aligned to the smallest.
    fn page_sizes(&self) -> usize;

    /// IOVAs must be below `2^iova_bits()`.
    fn iova_bits(&self) -> u32;

    /// Number of page-table pages still free in the instance's pool.
    fn free_pages(&self) -> usize;

    /// True if a successful [`Map::map`] makes the new entries visible to
    /// devices by the time it returns: the hardware never caches entries
    /// that are invalid, so a mapping of a range that was unmapped needs no
    /// invalidation. A caller may then use the mapping (e.g. start a
    /// device) as soon as `map` returns `Ok`, without waiting for
    /// `map_done`.
    ///
    /// The split-phase contract is unchanged: `map_done` still follows
    /// every `Ok`, the map stays an outstanding operation of the domain
    /// until then (`destroy_domain` refuses it, `fence` waits for it), and
    /// it may still report an error (e.g. the instance failed meanwhile).
    ///
    /// The default is false, which is always safe: callers then wait for
    /// `map_done` before they rely on the mapping.
    fn map_visible_on_return(&self) -> bool {
        false
    }
}

/// Creating and destroying domains. Synchronous: no hardware is involved
/// until a domain is attached.
pub trait Domains {
    /// Creates an empty domain (every IOVA unmapped). It takes one page of
    /// the pool, for its root table.
    ///
    /// Errors:
    /// - `NOMEM`: no free domain slot, or no free page for its root table.
    /// - `OFF`: the instance is not running.
    fn create_domain(&self) -> Result<DomainId, ErrorCode>;

    /// Destroys `domain` and returns its page-table pages to the pool. The
    /// domain must be attached to no context and have no outstanding
    /// operation (wait for `detach_done`, `map_done`, `unmap_done`), and no
    /// context may still translate through it: after an attach or detach
    /// away from `domain` completed with an error, the hardware may still
    /// use it, and it stays in use until a later attach or detach of that
    /// context completes with `Ok` (memory mapped in it must not be reused
    /// either until then). Its slot becomes reusable once the hardware has
    /// dropped every cached translation tagged with it; `create_domain`
    /// never hands out a slot before that.
    ///
    /// Errors:
    /// - `INVAL`: `domain` does not exist.
    /// - `BUSY`: `domain` is attached, has an outstanding operation, or a
    ///   context may still translate through it (see above).
    fn destroy_domain(&self, domain: DomainId) -> Result<(), ErrorCode>;
}

/// Receives the completion of [`Map`] operations.
pub trait MapClient {
    /// The range given to `map` is mapped and the hardware has completed the
    /// invalidation that makes it observe the new entries.
    ///
    /// Errors:
    /// - `FAIL`: the invalidation could not be completed (the hardware
    ///   failed repeatedly); the entries are written but the hardware may
    ///   not use them.
    fn map_done(&self, domain: DomainId, iova: usize, len: usize, result: Result<(), ErrorCode>);

    /// The range given to `unmap` is unmapped and the hardware has completed
    /// the invalidation: with `Ok`, no device can reach the old physical
    /// memory through this domain any more.
    ///
    /// Errors:
    /// - `FAIL`: the invalidation could not be completed; the hardware may
    ///   still hold the old translations, so the memory must not be reused.
    fn unmap_done(&self, domain: DomainId, iova: usize, len: usize, result: Result<(), ErrorCode>);
}

/// Mapping and unmapping ranges of a domain.
///
/// Split-phase: the page table is
/// updated before the call returns (a range is mapped or unmapped entirely,
/// or not at all), and `Ok` means a `map_done` or `unmap_done` callback
/// follows once the hardware's caches are invalidated. No buffer is lent,
/// so nothing needs to be returned on error.
pub trait Map<'a> {
    /// Sets the client for `map_done` and `unmap_done`.
    fn set_client(&self, client: &'a dyn MapClient);

    /// Maps `[iova, iova + memory.len())` to `memory` with `permissions`.
    /// The implementation may use larger pages where both addresses and the
    /// length allow. No part of the range may be mapped already. `memory`
    /// is consumed: it proves the caller may let devices reach it, and
    /// nothing is lent that would have to be returned.
    ///
    /// Errors (nothing was changed):
    /// - `INVAL`: `domain` does not exist; `iova`, `memory.start()` or
    ///   `memory.len()` not aligned to the smallest page size; `memory` is
    ///   empty; the range overflows or is beyond `iova_bits`; `permissions`
    ///   is not supported (e.g. write without read, or nothing), or asks
    ///   for write to memory that is not `writable`; `memory` is no longer
    ///   held (its process ended).
    /// - `ALREADY`: part of the range is mapped already.
    /// - `NOMEM`: the page pool cannot hold the tables the range needs.
    /// - `BUSY`: too many outstanding operations; retry after a callback.
    /// - `OFF`: the instance is not running.
    /// - `FAIL`: the implementation found its own tables inconsistent.
    fn map(
        &self,
        domain: DomainId,
        iova: usize,
        memory: DmaMemory,
        permissions: Permissions,
    ) -> Result<(), ErrorCode>;

    /// An upper bound on the pool pages a `map` of `[iova, iova + len)` in
    /// `domain` would take now: the tables it would have to create, as if
    /// no part of the range could use a large page. `map` never takes more
    /// (until the domain changes), so a caller can charge the pages before
    /// it maps (quotas). Synchronous; changes nothing.
    ///
    /// Errors: as `map` for `domain`, `iova` and `len` (`INVAL`, `ALREADY`),
    /// and `FAIL` if the implementation found its own tables inconsistent.
    fn map_table_pages(
        &self,
        domain: DomainId,
        iova: usize,
        len: usize,
    ) -> Result<usize, ErrorCode>;

    /// Unmaps every page in `[iova, iova + len)`; pages in the range that are
    /// not mapped are skipped. A large page must be unmapped whole.
    ///
    /// Errors (nothing was changed):
    /// - `INVAL`: `domain` does not exist; the range is not aligned, is
    ///   empty, overflows, or covers part of a large page.
    /// - `BUSY`: too many outstanding operations; retry after a callback.
    /// - `OFF`: the instance is not running.
    /// - `FAIL`: the implementation found its own tables inconsistent.
    fn unmap(&self, domain: DomainId, iova: usize, len: usize) -> Result<(), ErrorCode>;
}

/// Walking a domain's page table in software. Synchronous.
pub trait Translate {
    /// Returns what `iova` maps to in `domain`, or `Ok(None)` if it is not
    /// mapped.
    ///
    /// Errors:
    /// - `INVAL`: `domain` does not exist, or `iova` is beyond `iova_bits`.
    /// - `FAIL`: the implementation found its own tables inconsistent.
    fn translate(&self, domain: DomainId, iova: usize) -> Result<Option<Translation>, ErrorCode>;
}

/// Receives the completion of [`Attach`] operations.
pub trait AttachClient {
    /// `context` now translates through `domain`: the hardware has dropped
    /// its cached configuration of the context.
    ///
    /// Errors:
    /// - `FAIL`: the hardware could not confirm the change.
    fn attach_done(&self, context: ContextId, domain: DomainId, result: Result<(), ErrorCode>);

    /// `context` now blocks every access, and the hardware has dropped its
    /// cached configuration of the context.
    ///
    /// Errors:
    /// - `FAIL`: the hardware could not confirm the change.
    fn detach_done(&self, context: ContextId, result: Result<(), ErrorCode>);
}

/// Pointing contexts at domains. Split-phase: `Ok` means an `attach_done`
/// or `detach_done` callback follows when the hardware uses the new
/// configuration.
pub trait Attach<'a> {
    /// Sets the client for `attach_done` and `detach_done`.
    fn set_client(&self, client: &'a dyn AttachClient);

    /// Makes `context` translate through `domain`. If `context` is attached
    /// to another domain, it switches on the fly (it never bypasses
    /// translation in between; it may block briefly).
    ///
    /// Errors (nothing was changed):
    /// - `INVAL`: `context` or `domain` does not exist.
    /// - `ALREADY`: `context` is already attached to `domain`.
    /// - `BUSY`: too many outstanding operations; retry after a callback.
    /// - `OFF`: the instance is not running.
    fn attach(&self, context: ContextId, domain: DomainId) -> Result<(), ErrorCode>;

    /// Makes `context` block every access.
    ///
    /// Errors (nothing was changed):
    /// - `INVAL`: `context` does not exist.
    /// - `ALREADY`: `context` is not attached.
    /// - `BUSY`: too many outstanding operations; retry after a callback.
    /// - `OFF`: the instance is not running.
    fn detach(&self, context: ContextId) -> Result<(), ErrorCode>;

    /// The domain `context` is attached to as of the last `attach` or
    /// `detach` call, if any. This is what was asked, not what the
    /// hardware confirmed: after a failed `attach_done` or `detach_done`
    /// the context may still translate through the domain it used before
    /// (`Domains::destroy_domain` keeps such a domain).
    fn attached(&self, context: ContextId) -> Option<DomainId>;
}

/// Receives the completion of [`Fence::fence`].
pub trait FenceClient {
    /// Every operation started before the `fence` call has completed (its
    /// callback has been made).
    ///
    /// Errors:
    /// - `FAIL`: the hardware could not confirm completion.
    fn fence_done(&self, result: Result<(), ErrorCode>);
}

/// A barrier over all outstanding operations of an instance, for a caller
/// that must know that nothing is in flight any more (e.g. before memory
/// that was mapped changes hands). Split-phase.
pub trait Fence<'a> {
    /// Sets the client for `fence_done`.
    fn set_client(&self, client: &'a dyn FenceClient);

    /// Asks for `fence_done` once every operation started before this call
    /// has completed.
    ///
    /// Errors:
    /// - `BUSY`: too many outstanding operations; retry after a callback.
    /// - `OFF`: the instance is not running.
    fn fence(&self) -> Result<(), ErrorCode>;
}

/// Receives faults.
pub trait FaultClient {
    /// A device access faulted. Called from the instance's interrupt
    /// handling, once per fault record.
    fn fault(&self, fault: Fault);

    /// The hardware dropped fault records because its queue was full. The
    /// instance has recovered and reports new faults again.
    fn faults_lost(&self);
}

/// Fault reporting.
pub trait Faults<'a> {
    /// Sets the client for faults of every context of this instance.
    fn set_client(&self, client: &'a dyn FaultClient);
}

/// Everything one IOMMU instance offers, for capsules that use it all.
pub trait Iommu<'a>:
    Geometry + Domains + Map<'a> + Translate + Attach<'a> + Fence<'a> + Faults<'a>
{
}

impl<'a, T: Geometry + Domains + Map<'a> + Translate + Attach<'a> + Fence<'a> + Faults<'a>>
    Iommu<'a> for T
{
}
