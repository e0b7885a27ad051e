// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The test rig: the IOMMU instance, the two `edu`s, the recorded
//! callbacks (`events.rs`), the DMA buffers (`buffers.rs`), and the bounded
//! poll loop.
//!
//! Every IOMMU operation goes through `kernel::hil::iommu` and is
//! split-phase: a helper makes the call, then runs the kernel loop (chip
//! interrupts, deferred calls, `wfi`) until the matching callback arrives,
//! and fails the run unless the callback carries the call's arguments and
//! `Ok`. Each wait is bounded twice: by a watchdog alarm (virtual time)
//! and by a number of loop rounds.

pub use crate::buffers::{Buffer, checksum_all};
pub use crate::events::{DmaWatch, Events, FaultSummary, IommuInterrupts};
use core::cell::Cell;
use core::fmt;
use kernel::deferred_call::DeferredCall;
use kernel::hil::iommu::{
    AccessType, ContextId, DmaMemory, DomainId, FaultCause, Iommu as IommuHil, Permissions,
};
use kernel::hil::time::{Alarm, ConvertTicks, Time};
use kernel::platform::chip::Chip;
use qemu_rv32_virt_chip::QemuRv32VirtChip;
use qemu_rv32_virt_chip::edu::{DmaDirection, Edu};
use qemu_rv32_virt_chip::timer::MachineTimer;
use riscv_iommu::RiscvIommu;
use rv32::dma_fence::RiscvCoherentDmaFence;

/// Contexts of the instance: edu0 and edu1.
pub const CONTEXTS: usize = 2;
/// Domains that may exist at once.
pub const DOMAINS: usize = 8;
/// The IOMMU as this image instantiates it.
pub type Iommu = RiscvIommu<'static, CONTEXTS, DOMAINS, RiscvCoherentDmaFence>;
/// An `edu` driver as this image instantiates it.
pub type TestEdu = Edu<'static, RiscvCoherentDmaFence>;
/// The chip: both `edu`s and the IOMMU serve PLIC sources.
pub type TestChip = QemuRv32VirtChip<
    'static,
    (
        &'static TestEdu,
        (&'static TestEdu, &'static IommuInterrupts),
    ),
>;

/// The context of edu0 (requester id 0x8 on QEMU virt).
pub const EDU0: ContextId = ContextId(0);
/// The context of edu1 (requester id 0x10).
pub const EDU1: ContextId = ContextId(1);

/// Bytes in a page.
pub const PAGE: usize = 4096;

/// Virtual time one wait may take: an `edu` DMA needs about 100 ms.
const WAIT_MS: u32 = 3_000;
/// Kernel-loop rounds one wait may take.
const MAX_ROUNDS: usize = 10_000;
/// Rounds `settle` runs at most.
const SETTLE_ROUNDS: usize = 100;

/// What a faulting DMA must have produced.
pub struct ExpectedFault {
    pub context: ContextId,
    pub cause: FaultCause,
    /// The access every record reports; `None` where the hardware does not
    /// report it (QEMU 10.0.2 writes TTYPE "untranslated read" and no
    /// `iotval` for every device-context fault, cause 256-259, whatever
    /// the transaction was).
    pub access: Option<AccessType>,
    /// The DMA's IOVA and length: with `address_reported`, the first
    /// record's IOVA is `iova` and every record's lies in
    /// `[iova, iova + len)`; without, records may carry 0 instead.
    pub iova: usize,
    pub len: usize,
    pub address_reported: bool,
}

/// Everything a scenario uses.
pub struct Rig {
    pub chip: &'static TestChip,
    /// The instance, as the HIL sees it: every call is dynamically
    /// dispatched, which also keeps the driver's code out of the board's
    /// functions for the benchmark's size count.
    pub iommu: &'static dyn IommuHil<'static>,
    /// The same instance, for its benchmark counter only.
    pub driver: &'static Iommu,
    pub edus: [&'static TestEdu; 2],
    pub watches: [&'static DmaWatch; 2],
    pub timer: &'static MachineTimer<'static>,
    pub events: &'static Events,
    /// The scenario running, for failure messages.
    scenario: Cell<&'static str>,
}

impl Rig {
    pub fn new(
        chip: &'static TestChip,
        driver: &'static Iommu,
        edus: [&'static TestEdu; 2],
        watches: [&'static DmaWatch; 2],
        timer: &'static MachineTimer<'static>,
        events: &'static Events,
    ) -> Self {
        Rig {
            chip,
            iommu: driver,
            driver,
            edus,
            watches,
            timer,
            events,
            scenario: Cell::new("setup"),
        }
    }

    /// Names the scenario that runs from now on.
    pub fn begin(&self, scenario: &'static str) {
        self.scenario.set(scenario);
    }

    /// Ends the run with `code`, naming the scenario.
    pub fn fail(&self, code: u16, what: fmt::Arguments) -> ! {
        crate::io::fail(
            format_args!("scenario {}: {}", self.scenario.get(), what),
            code,
        )
    }

    /// Fails with `what` unless `condition`.
    pub fn ensure(&self, condition: bool, code: u16, what: fmt::Arguments) {
        if !condition {
            self.fail(code, what);
        }
    }

    /// One round of the kernel loop: interrupts first, then one deferred
    /// call, else sleep until an interrupt.
    fn round(&self) {
        if self.chip.has_pending_interrupts() {
            self.chip.service_pending_interrupts();
        } else if DeferredCall::has_tasks() {
            DeferredCall::service_next_pending();
        } else {
            self.chip.sleep();
        }
    }

    /// Runs the kernel loop until `done()`; fails with `code` if the
    /// watchdog alarm fires or the rounds run out first.
    pub fn wait(&self, what: &str, code: u16, done: impl Fn() -> bool) {
        self.events.alarm.set(false);
        self.timer
            .set_alarm(self.timer.now(), self.timer.ticks_from_ms(WAIT_MS));
        let mut rounds = 0;
        while !done() {
            if self.events.alarm.get() || rounds == MAX_ROUNDS {
                self.fail(
                    code,
                    format_args!("no {what} within {WAIT_MS} ms / {MAX_ROUNDS} rounds"),
                );
            }
            self.round();
            rounds += 1;
        }
        let _ = self.timer.disarm();
    }

    /// Services whatever is pending (interrupts, deferred calls) without
    /// sleeping, until nothing is, at most `SETTLE_ROUNDS` rounds.
    pub fn settle(&self) {
        for _ in 0..SETTLE_ROUNDS {
            if self.chip.has_pending_interrupts() {
                self.chip.service_pending_interrupts();
            } else if DeferredCall::has_tasks() {
                DeferredCall::service_next_pending();
            } else {
                return;
            }
        }
    }

    /// `Map::map`, then waits for `map_done` with the same arguments and
    /// `Ok`. Returns the instructions (`minstret`) the `map` call itself
    /// took: the page-table update, without the completion.
    pub fn map(
        &self,
        code: u16,
        domain: DomainId,
        iova: usize,
        phys: usize,
        len: usize,
        permissions: Permissions,
    ) -> u64 {
        self.events.map_done.set(None);
        // SAFETY: the scenarios map only the DMA pages of `buffers.rs`, which
        // this image owns and lends to the edu devices (fenced around each
        // transfer), and addresses no device is started on.
        let memory = unsafe { DmaMemory::new(phys, len, true) };
        let start = rv32::csr::minstret();
        let result = self.iommu.map(domain, iova, memory, permissions);
        let instructions = rv32::csr::minstret() - start;
        if let Err(error) = result {
            self.fail(
                code,
                format_args!("map({domain:?}, {iova:#x}, {phys:#x}, {len:#x}) -> {error:?}"),
            );
        }
        self.wait("map_done", code, || self.events.map_done.get().is_some());
        let got = self.events.map_done.get();
        if got != Some((domain, iova, len, Ok(()))) {
            self.fail(code, format_args!("map_done: {got:?}"));
        }
        instructions
    }

    /// `Map::unmap`, then waits for `unmap_done` with `Ok`. Returns the
    /// instructions the `unmap` call itself took.
    pub fn unmap(&self, code: u16, domain: DomainId, iova: usize, len: usize) -> u64 {
        self.events.unmap_done.set(None);
        let start = rv32::csr::minstret();
        let result = self.iommu.unmap(domain, iova, len);
        let instructions = rv32::csr::minstret() - start;
        if let Err(error) = result {
            self.fail(
                code,
                format_args!("unmap({domain:?}, {iova:#x}, {len:#x}) -> {error:?}"),
            );
        }
        self.wait("unmap_done", code, || {
            self.events.unmap_done.get().is_some()
        });
        let got = self.events.unmap_done.get();
        if got != Some((domain, iova, len, Ok(()))) {
            self.fail(code, format_args!("unmap_done: {got:?}"));
        }
        instructions
    }

    /// `Attach::attach`, then waits for `attach_done` with `Ok`.
    pub fn attach(&self, code: u16, context: ContextId, domain: DomainId) {
        self.events.attach_done.set(None);
        if let Err(error) = self.iommu.attach(context, domain) {
            self.fail(
                code,
                format_args!("attach({context:?}, {domain:?}) -> {error:?}"),
            );
        }
        self.wait("attach_done", code, || {
            self.events.attach_done.get().is_some()
        });
        let got = self.events.attach_done.get();
        if got != Some((context, domain, Ok(()))) {
            self.fail(code, format_args!("attach_done: {got:?}"));
        }
        if self.iommu.attached(context) != Some(domain) {
            self.fail(code, format_args!("attached({context:?}) after attach"));
        }
    }

    /// `Attach::detach`, then waits for `detach_done` with `Ok`.
    pub fn detach(&self, code: u16, context: ContextId) {
        self.events.detach_done.set(None);
        if let Err(error) = self.iommu.detach(context) {
            self.fail(code, format_args!("detach({context:?}) -> {error:?}"));
        }
        self.wait("detach_done", code, || {
            self.events.detach_done.get().is_some()
        });
        let got = self.events.detach_done.get();
        if got != Some((context, Ok(()))) {
            self.fail(code, format_args!("detach_done: {got:?}"));
        }
        if self.iommu.attached(context).is_some() {
            self.fail(code, format_args!("attached({context:?}) after detach"));
        }
    }

    /// `Fence::fence`, then waits for `fence_done` with `Ok`.
    pub fn fence(&self, code: u16) {
        self.events.fence_done.set(None);
        if let Err(error) = self.iommu.fence() {
            self.fail(code, format_args!("fence() -> {error:?}"));
        }
        self.wait("fence_done", code, || {
            self.events.fence_done.get().is_some()
        });
        let got = self.events.fence_done.get();
        if got != Some(Ok(())) {
            self.fail(code, format_args!("fence_done: {got:?}"));
        }
    }

    /// Runs one DMA of `edu` `device` and waits for it (the device's own
    /// completion interrupt), then services the IOMMU's fault interrupt
    /// that QEMU raises during the transfer. Clears the fault log first;
    /// returns what was reported for this DMA.
    pub fn dma(
        &self,
        code: u16,
        device: usize,
        direction: DmaDirection,
        iova: usize,
        len: usize,
    ) -> FaultSummary {
        self.events.faults.clear();
        let watch = self.watches[device];
        watch.done.set(None);
        if let Err(error) = self.edus[device].start_dma(direction, iova as u32, 0, len as u32) {
            self.fail(
                code,
                format_args!("edu{device} start_dma({direction:?}, {iova:#x}, {len}) -> {error:?}"),
            );
        }
        self.wait("edu DMA completion", code, || watch.done.get().is_some());
        if watch.done.get() != Some(Ok(())) {
            self.fail(
                code,
                format_args!("edu{device} dma_done: {:?}", watch.done.get()),
            );
        }
        self.settle();
        self.events.faults.summary()
    }

    /// A DMA that must not fault.
    pub fn dma_clean(
        &self,
        code: u16,
        device: usize,
        direction: DmaDirection,
        iova: usize,
        len: usize,
    ) {
        let faults = self.dma(code, device, direction, iova, len);
        if faults.count != 0 || faults.lost != 0 {
            self.fail(
                code,
                format_args!(
                    "edu{device} {direction:?} at {iova:#x}: {} unexpected fault(s), first {:?}",
                    faults.count, faults.first
                ),
            );
        }
    }

    /// A DMA that must fault as `expected`, every record alike and inside
    /// the range, and change no DMA page. Returns the number of records.
    pub fn dma_faulting(
        &self,
        code: u16,
        device: usize,
        direction: DmaDirection,
        expected: ExpectedFault,
    ) -> usize {
        let before = checksum_all();
        let faults = self.dma(code, device, direction, expected.iova, expected.len);
        let Some(first) = faults.first else {
            self.fail(
                code,
                format_args!(
                    "edu{device} {direction:?} at {:#x}: no fault reported",
                    expected.iova
                ),
            );
        };
        let range = expected.iova as u64..(expected.iova + expected.len) as u64;
        let addresses = if expected.address_reported {
            first.iova == expected.iova as u64
                && range.contains(&faults.lowest)
                && range.contains(&faults.highest)
        } else {
            (faults.lowest == 0 || range.contains(&faults.lowest))
                && (faults.highest == 0 || range.contains(&faults.highest))
        };
        let right = first.context == Some(expected.context)
            && first.cause == expected.cause
            && expected.access.is_none_or(|access| first.access == access)
            && faults.odd == 0
            && addresses
            && faults.lost == 0;
        if !right {
            self.fail(
                code,
                format_args!(
                    "edu{device} {direction:?} at {:#x}: want {:?}/{:?}/{:?}, got {} record(s) ({} odd, iova {:#x}..={:#x}, {} lost), first {first:?}",
                    expected.iova,
                    expected.context,
                    expected.cause,
                    expected.access,
                    faults.count,
                    faults.odd,
                    faults.lowest,
                    faults.highest,
                    faults.lost
                ),
            );
        }
        if checksum_all() != before {
            self.fail(
                code,
                format_args!("a faulting DMA at {:#x} changed RAM", expected.iova),
            );
        }
        faults.count
    }
}
