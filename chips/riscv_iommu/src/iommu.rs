// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! One RISC-V IOMMU instance: state, bring-up, interrupt entry,
//! completion of operations.
//!
//! RISC-V IOMMU spec 1.0: bring-up follows section 6.2 ("Guidelines for
//! initialization"): `ddtp` Off while configuring, `fctl.WSI` (5.4),
//! `icvec` (5.28), the queues (`queues.rs`), then `ddtp` (5.5) with a
//! directory in which every device context is invalid, so every device
//! blocks until attached. The HIL operations are in `hil.rs`.
//!
//! Completion: every batch of commands ends with an `IOFENCE.C` that writes
//! an increasing sequence number to a completion word in the driver's
//! queue memory and, with `WSI`, raises `ipsr.cip`. `handle_interrupt` (and
//! a deferred call, for operations that need no command) reads the word and
//! completes, in order, every operation up to it. Nothing waits for the
//! hardware except bounded polls of `busy` (and of `cqon`/`fqon` when
//! turning off queues left on) at bring-up.

use crate::commands::Command;
use crate::device_context::{ContextSlot, Directory};
use crate::pending::{Operation, Pending, PendingRing, reached};
use crate::pool::{PagePool, Table};
use crate::registers::{
    IommuRegisters, capabilities, cqcsr, ddtp, fctl, fqcsr, icvec, ipsr, queue_base,
};
use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::ErrorCode;
use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::iommu::{AttachClient, ContextId, DomainId, FaultClient, FenceClient, MapClient};
use kernel::platform::dma_fence::DmaFence;
use kernel::utilities::StaticRef;
use kernel::utilities::cells::OptionalCell;
use kernel::utilities::registers::interfaces::{Readable, Writeable};

/// Commands in the command queue (16 bytes each: 2 KiB).
pub const COMMAND_QUEUE_ENTRIES: usize = 128;
/// Records in the fault queue (32 bytes each: 4 KiB).
pub const FAULT_QUEUE_ENTRIES: usize = 128;
/// Outstanding split-phase operations per instance.
pub const PENDING_OPERATIONS: usize = 16;
/// Polls of a `busy`/`on` bit before giving up (QEMU never needs one).
const POLL_LIMIT: usize = 100_000;
/// Command-queue recoveries in a row before the instance is declared
/// failed.
pub(crate) const MAX_RECOVERIES: u32 = 3;

/// Queue memory the board gives each instance (8 KiB, page aligned): the
/// command queue, the completion word, the fault queue.
#[repr(C, align(4096))]
pub struct QueueMemory {
    pub(crate) command_queue: [u64; 2 * COMMAND_QUEUE_ENTRIES],
    pub(crate) completion: [u64; 2 * COMMAND_QUEUE_ENTRIES],
    pub(crate) fault_queue: [u64; 4 * FAULT_QUEUE_ENTRIES],
}

impl QueueMemory {
    /// Zeroed queue memory, for a `static`.
    pub const ZERO: QueueMemory = QueueMemory {
        command_queue: [0; 2 * COMMAND_QUEUE_ENTRIES],
        completion: [0; 2 * COMMAND_QUEUE_ENTRIES],
        fault_queue: [0; 4 * FAULT_QUEUE_ENTRIES],
    };
}

/// Which `icvec` vectors the causes use; the board routes vector `n` to
/// its interrupt controller (on QEMU virt: PLIC source 0x24 + n).
#[derive(Clone, Copy, Debug)]
pub struct InterruptVectors {
    /// Command-queue interrupt vector (`icvec.civ`).
    pub civ: u8,
    /// Fault-queue interrupt vector (`icvec.fiv`).
    pub fiv: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Off,
    Running,
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DomainState {
    Free,
    /// A domain: its Sv39 root table and the PSCID the IOMMU caches its
    /// translations under.
    Live {
        root: Table,
        pscid: u32,
    },
}

/// PSCIDs are 20 bits (spec 1.0 section 3.1.3.5, `iohgatp`/`fsc` PSCID).
pub(crate) const PSCID_LIMIT: u32 = 1 << 20;

/// A RISC-V IOMMU instance with `CONTEXTS` device contexts and room for
/// `DOMAINS` domains, sharing memory with it under the fence `F`.
///
/// The IOMMU reads the command queue, the device directory and the page
/// tables, and writes the completion word and the fault queue, all by DMA.
/// The board passes its architecture's `DmaFence`; the driver releases
/// what it wrote before the MMIO write that makes the IOMMU read it
/// (`cqt`, `ddtp`, the queue enables) or before a device may walk it, and
/// acquires what the IOMMU wrote after it observed the write (the
/// completion word's new value, `fqt` past a record).
pub struct RiscvIommu<'a, const CONTEXTS: usize, const DOMAINS: usize, F: DmaFence> {
    pub(crate) registers: StaticRef<IommuRegisters>,
    pub(crate) queues: NonNull<QueueMemory>,
    pub(crate) device_ids: [u32; CONTEXTS],
    /// Where each context's device context is in the directory (from
    /// `init` on).
    pub(crate) slots: [Cell<Option<ContextSlot>>; CONTEXTS],
    /// The domain each context translates with, if any, as of the last
    /// `attach` or `detach` call.
    pub(crate) attached: [Cell<Option<DomainId>>; CONTEXTS],
    /// For each context, the domains (bit `n`: `DomainId(n)`) it may still
    /// translate through because an attach or detach away from them was not
    /// confirmed (its completion failed). Cleared when a later attach or
    /// detach of the context is confirmed. Such a domain is never destroyed
    /// (`Domains::destroy_domain`).
    pub(crate) unconfirmed: [Cell<u64>; CONTEXTS],
    pub(crate) domains: [Cell<DomainState>; DOMAINS],
    /// Where the search for a PSCID for the next new domain starts.
    pub(crate) next_pscid: Cell<u32>,
    pub(crate) directory_pages: PagePool<'a, F>,
    pub(crate) tables: PagePool<'a, F>,
    /// The directory's shape, once `init` built it.
    pub(crate) directory: Cell<Option<Directory>>,
    vectors: InterruptVectors,
    pub(crate) state: Cell<State>,
    pub(crate) tail: Cell<u32>,
    pub(crate) issued: Cell<u32>,
    pub(crate) recoveries: Cell<u32>,
    pub(crate) commands_written: Cell<usize>,
    pub(crate) pending: PendingRing<PENDING_OPERATIONS>,
    pub(crate) deferred_call: DeferredCall,
    pub(crate) map_client: OptionalCell<&'a dyn MapClient>,
    pub(crate) attach_client: OptionalCell<&'a dyn AttachClient>,
    pub(crate) fence_client: OptionalCell<&'a dyn FenceClient>,
    pub(crate) fault_client: OptionalCell<&'a dyn FaultClient>,
    pub(crate) fence: F,
    _queues: PhantomData<&'a mut QueueMemory>,
}

fn poll(mut done: impl FnMut() -> bool) -> Result<(), ErrorCode> {
    for _ in 0..POLL_LIMIT {
        if done() {
            return Ok(());
        }
    }
    Err(ErrorCode::FAIL)
}

/// The `PPN` field halves of a 4 KiB-aligned physical address: bits 31:10
/// of the low word and 21:0 of the high word (spec 5.5, 5.6, 5.9).
fn ppn_halves(phys: u64) -> (u32, u32) {
    let ppn = phys >> 12;
    ((ppn & 0x3f_ffff) as u32, (ppn >> 22) as u32)
}

impl<'a, const CONTEXTS: usize, const DOMAINS: usize, F: DmaFence>
    RiscvIommu<'a, CONTEXTS, DOMAINS, F>
{
    /// An instance at `registers` whose context `i` is the device with
    /// requester id `device_ids[i]`. `queues` holds its queues,
    /// `directory_pages` the device directory (1 page for device ids below
    /// 64, more for larger ids), `tables` the domains' page tables. The
    /// IOMMU is untouched until `init`. `fence` is the platform's DMA
    /// fence (the pools hold it too).
    pub fn new(
        registers: StaticRef<IommuRegisters>,
        device_ids: [u32; CONTEXTS],
        queues: &'a mut QueueMemory,
        directory_pages: PagePool<'a, F>,
        tables: PagePool<'a, F>,
        vectors: InterruptVectors,
        fence: F,
    ) -> Self {
        const {
            assert!(
                DOMAINS <= 64,
                "unconfirmed domains are one bit each in a u64"
            )
        };
        RiscvIommu {
            registers,
            queues: NonNull::from(queues),
            device_ids,
            slots: [const { Cell::new(None) }; CONTEXTS],
            attached: [const { Cell::new(None) }; CONTEXTS],
            unconfirmed: [const { Cell::new(0) }; CONTEXTS],
            domains: [const { Cell::new(DomainState::Free) }; DOMAINS],
            next_pscid: Cell::new(1),
            directory_pages,
            tables,
            directory: Cell::new(None),
            vectors,
            state: Cell::new(State::Off),
            tail: Cell::new(0),
            issued: Cell::new(0),
            recoveries: Cell::new(0),
            commands_written: Cell::new(0),
            pending: PendingRing::new(),
            deferred_call: DeferredCall::new(),
            map_client: OptionalCell::empty(),
            attach_client: OptionalCell::empty(),
            fence_client: OptionalCell::empty(),
            fault_client: OptionalCell::empty(),
            fence,
            _queues: PhantomData,
        }
    }

    /// Brings the IOMMU up with every context blocking: probes
    /// `capabilities`, builds the device directory, enables the queues and
    /// wired interrupts, then sets `ddtp`. Translation is never Bare.
    ///
    /// Errors: `ALREADY` (initialized), `NOSUPPORT` (not version 1.x, no
    /// Sv39, no wired interrupts, or the directory mode refused), `INVAL`
    /// (a device id beyond 24 bits, or given twice), `NOMEM` (directory
    /// pages), `FAIL` (the hardware stayed busy).
    pub fn init(&self) -> Result<(), ErrorCode> {
        if self.state.get() != State::Off {
            return Err(ErrorCode::ALREADY);
        }
        let caps = self.registers.capabilities.extract();
        let wired = caps.read(capabilities::IGS) != capabilities::IGS::Msi.value;
        if caps.read(capabilities::version) >> 4 != 1 || !caps.is_set(capabilities::Sv39) || !wired
        {
            return Err(ErrorCode::NOSUPPORT);
        }
        let ids = &self.device_ids;
        if ids.iter().enumerate().any(|(i, id)| ids[..i].contains(id)) {
            return Err(ErrorCode::INVAL);
        }
        let max_device_id = ids.iter().copied().max().unwrap_or(0);
        let directory =
            Directory::for_device_ids(max_device_id, caps.is_set(capabilities::MSI_FLAT))?;

        // Off blocks all DMA while the rest is set up (spec 5.5); fctl may
        // only change with the queues off (spec 5.4).
        // SAFETY: mode Off reads no directory; 0 is not dereferenced.
        unsafe { self.set_ddtp(ddtp::iommu_mode::Off.value, 0)? };
        self.disable_queues()?;
        self.registers.fctl.write(fctl::WSI::SET);
        if !self.registers.fctl.is_set(fctl::WSI) {
            return Err(ErrorCode::NOSUPPORT);
        }
        self.registers.icvec.write(
            icvec::civ.val(u32::from(self.vectors.civ))
                + icvec::fiv.val(u32::from(self.vectors.fiv)),
        );

        let root = self.directory_pages.allocate().ok_or(ErrorCode::NOMEM)?;
        // Every context's place is found (and its path built) now, so that
        // attach and detach never allocate or fail half way.
        for (slot, device_id) in self.slots.iter().zip(self.device_ids) {
            slot.set(Some(directory.locate(
                &self.directory_pages,
                root,
                device_id,
            )?));
        }
        self.directory.set(Some(directory));

        // The only queue memory the driver polls is the completion word
        // (the queues' heads and tails are registers, and records are read
        // only between them): reset it while the command queue is off.
        self.reset_completion();
        let queues = self.queues.as_ptr();
        // The IOMMU owns the queues from their enables on: whatever the
        // board left in them, and the reset word, are released first.
        self.fence
            .release(core::ptr::slice_from_raw_parts_mut(queues, 1));
        // SAFETY: both queues are inside `QueueMemory`, which the driver
        // holds for `'a` and the board placed in RAM; the command queue is
        // at offset 0 and the fault queue at 4096 of a 4 KiB-aligned block,
        // each the size given (obligations 1-3 of `set_cqb`/`set_fqb`).
        unsafe {
            self.set_cqb(queues as u64, COMMAND_QUEUE_ENTRIES)?;
            self.set_fqb(
                core::ptr::addr_of!((*queues).fault_queue) as u64,
                FAULT_QUEUE_ENTRIES,
            )?;
        }
        self.enable_command_queue()?;
        self.registers.fqh.set(0);
        poll(|| !self.registers.fqcsr.is_set(fqcsr::busy))?;
        self.registers
            .fqcsr
            .write(fqcsr::fqen::SET + fqcsr::fie::SET);
        poll(|| !self.registers.fqcsr.is_set(fqcsr::busy))?;

        // The paths `locate` built are walked from the `ddtp` write on.
        self.directory_pages.publish_all();
        // SAFETY: `root` is a zeroed (all contexts invalid) directory page
        // from the driver's pool, laid out for `directory.mode()`; the pool
        // lives for `'a` and its pages never move.
        unsafe { self.set_ddtp(directory.mode(), root.phys() as u64)? };
        self.state.set(State::Running);
        // Drop anything cached before the driver owned the IOMMU.
        self.submit(&[
            Command::iodir_inval_ddt(None),
            Command::iotinval_vma(None, None),
        ]);
        Ok(())
    }

    /// Writes `ddtp` and waits (bounded) for `busy` to clear.
    ///
    /// # Safety
    ///
    /// 1. Unless `mode` is Off or Bare, `root` is the physical address of a
    ///    4 KiB-aligned page that is a valid device directory of `mode`
    ///    levels (invalid entries are zero), and stays so, unmoved and
    ///    owned by this driver, as long as the IOMMU uses it.
    /// 2. `mode` is never Bare when devices must be confined (Bare lets
    ///    every device reach all memory).
    pub(crate) unsafe fn set_ddtp(&self, mode: u32, root: u64) -> Result<(), ErrorCode> {
        poll(|| !self.registers.ddtp.is_set(ddtp::busy))?;
        let (low, high) = ppn_halves(root);
        self.registers.ddtp_high.set(high);
        self.registers
            .ddtp
            .write(ddtp::iommu_mode.val(mode) + ddtp::PPN.val(low));
        poll(|| !self.registers.ddtp.is_set(ddtp::busy))?;
        // An IOMMU may refuse a mode (unsupported levels, or a transition
        // the spec does not allow): it then keeps the old one.
        if self.registers.ddtp.read(ddtp::iommu_mode) != mode {
            return Err(ErrorCode::NOSUPPORT);
        }
        Ok(())
    }

    /// Writes `cqb` while the command queue is off.
    ///
    /// # Safety
    ///
    /// 1. `base` is the physical address of `entries` * 16 bytes of RAM,
    ///    aligned to the larger of 4 KiB and that size.
    /// 2. The memory is owned by this driver for as long as the queue is
    ///    enabled, and only the driver writes it.
    /// 3. `entries` is a power of two, at least 2.
    pub(crate) unsafe fn set_cqb(&self, base: u64, entries: usize) -> Result<(), ErrorCode> {
        self.set_queue_base(true, base, entries)
    }

    /// Writes `fqb` while the fault queue is off.
    ///
    /// # Safety
    ///
    /// 1. `base` is the physical address of `entries` * 32 bytes of RAM,
    ///    aligned to the larger of 4 KiB and that size.
    /// 2. The memory is owned by this driver for as long as the queue is
    ///    enabled; the IOMMU writes records there.
    /// 3. `entries` is a power of two, at least 2.
    pub(crate) unsafe fn set_fqb(&self, base: u64, entries: usize) -> Result<(), ErrorCode> {
        self.set_queue_base(false, base, entries)
    }

    fn set_queue_base(&self, command: bool, base: u64, entries: usize) -> Result<(), ErrorCode> {
        if !entries.is_power_of_two() || entries < 2 || base & 0xfff != 0 {
            return Err(ErrorCode::INVAL);
        }
        let (low, high) = ppn_halves(base);
        let value = queue_base::LOG2SZ.val(entries.trailing_zeros() - 1) + queue_base::PPN.val(low);
        if command {
            self.registers.cqb_high.set(high);
            self.registers.cqb.write(value);
        } else {
            self.registers.fqb_high.set(high);
            self.registers.fqb.write(value);
        }
        Ok(())
    }

    /// Turns off queues left on (by firmware or an earlier boot), waiting
    /// (bounded) until the IOMMU no longer accesses them.
    fn disable_queues(&self) -> Result<(), ErrorCode> {
        if self.registers.cqcsr.is_set(cqcsr::cqon) {
            self.registers.cqcsr.write(cqcsr::cqen::CLEAR);
            poll(|| !self.registers.cqcsr.is_set(cqcsr::cqon))?;
        }
        if self.registers.fqcsr.is_set(fqcsr::fqon) {
            self.registers.fqcsr.write(fqcsr::fqen::CLEAR);
            poll(|| !self.registers.fqcsr.is_set(fqcsr::fqon))?;
        }
        Ok(())
    }

    /// Turns the command queue on from off: the IOMMU resets `cqh` and the
    /// error bits (spec 5.15), so the tail starts at 0. Commands may be
    /// queued before `cqon` reads 1; the IOMMU starts on them once the
    /// queue is active, and completions report it, so nothing waits here
    /// except for `busy` (a write to `cqcsr` while busy is unspecified).
    fn enable_command_queue(&self) -> Result<(), ErrorCode> {
        self.tail.set(0);
        self.registers.cqt.set(0);
        poll(|| !self.registers.cqcsr.is_set(cqcsr::busy))?;
        self.registers
            .cqcsr
            .write(cqcsr::cqen::SET + cqcsr::cie::SET);
        poll(|| !self.registers.cqcsr.is_set(cqcsr::busy))
    }

    /// Records an outstanding operation. If it is already complete (it
    /// needed no command, or the IOMMU executed the commands inside the
    /// `cqt` write), completion runs from a deferred call. The second case
    /// is QEMU's: it executes commands synchronously and its `IOFENCE.C`
    /// writes the completion word but ignores `WSI` (no `fence_w_ip`, no
    /// `cip`), so without this check its completions would never be
    /// reported. Hardware that completes later raises `cip` (spec 3.1.2).
    pub(crate) fn start(&self, sequence: u32, operation: Operation) -> Result<(), ErrorCode> {
        self.pending.push(Pending {
            sequence,
            operation,
        })?;
        if reached(self.completed(), sequence) {
            self.deferred_call.set();
        }
        Ok(())
    }

    /// Handles the IOMMU's wired interrupts (both vectors), in the order
    /// of spec 6.5: the command queue's error and `fence_w_ip` bits and the
    /// fault queue's `fqof`/`fqmf` are cleared first, then both `ipsr`
    /// bits (an `ipsr` bit is set again at once while its source is set,
    /// and a new interrupt needs a 0-to-1 edge), then the fault queue is
    /// drained and completed operations are reported. Both bits are
    /// acknowledged together because QEMU also clears a bit written as 0.
    pub fn handle_interrupt(&self) {
        self.service_command_queue();
        let lost = self.clear_fault_queue_errors();
        self.registers.ipsr.write(ipsr::cip::SET + ipsr::fip::SET);
        self.drain_faults();
        if lost {
            self.fault_client.map(|client| client.faults_lost());
        }
        self.complete_operations();
    }

    /// Completes, in order, every outstanding operation the hardware has
    /// reached (all of them, with `FAIL`, if the instance failed).
    fn complete_operations(&self) {
        let failed = self.state.get() == State::Failed;
        let done = self.completed();
        // Seen the IOMMU's completion write: acquire it before the clients
        // hear of it and reuse memory.
        self.fence.acquire(self.completion_word());
        let result = if failed { Err(ErrorCode::FAIL) } else { Ok(()) };
        while let Some(entry) = self.pending.pop_if(|p| failed || reached(done, p.sequence)) {
            self.complete(entry.operation, result);
        }
        if done == self.issued.get() {
            self.recoveries.set(0);
        }
    }

    /// Records how a change of `context` away from `previous` ended: with
    /// `Ok` the context uses only what it was last attached to; with an
    /// error it may still use `previous` (and whatever it may have used
    /// before), until a later change is confirmed.
    fn confirm(
        &self,
        context: ContextId,
        previous: Option<DomainId>,
        result: Result<(), ErrorCode>,
    ) {
        let Some(unconfirmed) = self.unconfirmed.get(context.0) else {
            return;
        };
        match (result, previous) {
            (Ok(()), _) => unconfirmed.set(0),
            (Err(_), Some(domain)) => unconfirmed.set(unconfirmed.get() | 1 << domain.0),
            (Err(_), None) => {}
        }
    }

    /// A PSCID for a new domain: one no live domain uses and whose
    /// invalidation after its last domain's destruction has completed, so
    /// the IOTLB holds nothing tagged with it. A destroyed domain's slot is
    /// thus reusable at once; its old PSCID waits instead. The search moves
    /// through the 2^20 values round-robin, so a PSCID is reused only after
    /// many others. `BUSY` only if every candidate of one pass is taken,
    /// which at most `DOMAINS` live domains and `PENDING_OPERATIONS`
    /// invalidations cannot do.
    pub(crate) fn fresh_pscid(&self) -> Result<u32, ErrorCode> {
        let taken = |pscid: u32| {
            self.pending.releases(pscid)
                || self.domains.iter().any(
                    |d| matches!(d.get(), DomainState::Live { pscid: used, .. } if used == pscid),
                )
        };
        let mut candidate = self.next_pscid.get();
        for _ in 0..=DOMAINS + PENDING_OPERATIONS {
            if candidate == 0 || candidate >= PSCID_LIMIT {
                candidate = 1;
            }
            if !taken(candidate) {
                self.next_pscid.set(candidate + 1);
                return Ok(candidate);
            }
            candidate += 1;
        }
        Err(ErrorCode::BUSY)
    }

    /// True if some context may still translate through `domain` after an
    /// unconfirmed attach or detach.
    pub(crate) fn maybe_in_use(&self, domain: DomainId) -> bool {
        self.unconfirmed
            .iter()
            .any(|u| u.get() & (1 << domain.0) != 0)
    }

    fn complete(&self, operation: Operation, result: Result<(), ErrorCode>) {
        match operation {
            Operation::Map { domain, iova, len } => {
                self.map_client
                    .map(|c| c.map_done(domain, iova, len, result));
            }
            Operation::Unmap { domain, iova, len } => {
                self.map_client
                    .map(|c| c.unmap_done(domain, iova, len, result));
            }
            Operation::Attach {
                context,
                domain,
                previous,
            } => {
                self.confirm(context, previous, result);
                self.attach_client
                    .map(|c| c.attach_done(context, domain, result));
            }
            Operation::Detach { context, previous } => {
                self.confirm(context, Some(previous), result);
                self.attach_client.map(|c| c.detach_done(context, result));
            }
            Operation::Fence => {
                self.fence_client.map(|c| c.fence_done(result));
            }
            // Leaving the ring is what frees the PSCID (`fresh_pscid`).
            Operation::Release { .. } => {}
        }
    }
}

impl<const CONTEXTS: usize, const DOMAINS: usize, F: DmaFence> DeferredCallClient
    for RiscvIommu<'_, CONTEXTS, DOMAINS, F>
{
    fn handle_deferred_call(&self) {
        self.complete_operations();
    }

    fn register(&'static self) {
        self.deferred_call.register(self);
    }
}
