// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The test rig: the IOMMU instance, the two `edu`s, a client that records
//! every HIL callback, the DMA buffers, and the bounded poll loop.
//!
//! Every IOMMU operation goes through `kernel::hil::iommu` and is
//! split-phase: a helper makes the call, then runs the kernel loop (chip
//! interrupts, deferred calls, `wfi`) until the matching callback arrives,
//! and fails the run unless the callback carries the call's arguments and
//! `Ok`. Each wait is bounded twice: by a watchdog alarm (virtual time)
//! and by a number of loop rounds.

use core::cell::Cell;
use core::fmt;
use kernel::ErrorCode;
use kernel::deferred_call::DeferredCall;
use kernel::hil::iommu::{
    AccessType, AttachClient, ContextId, DomainId, Fault, FaultCause, FaultClient, FenceClient,
    Iommu as IommuHil, MapClient, Permissions,
};
use kernel::hil::time::{Alarm, AlarmClient, ConvertTicks, Time};
use kernel::platform::chip::{Chip, InterruptService};
use qemu_rv32_virt_chip::QemuRv32VirtChip;
use qemu_rv32_virt_chip::edu::{DmaDirection, Edu, EduClient};
use qemu_rv32_virt_chip::interrupts::{IOMMU_BASE, IOMMU_VECTORS};
use qemu_rv32_virt_chip::timer::MachineTimer;
use riscv_iommu::RiscvIommu;

/// Contexts of the instance: edu0 and edu1.
pub const CONTEXTS: usize = 2;
/// Domains that may exist at once.
pub const DOMAINS: usize = 8;
/// The IOMMU as this image instantiates it.
pub type Iommu = RiscvIommu<'static, CONTEXTS, DOMAINS>;
/// The chip: both `edu`s and the IOMMU serve PLIC sources.
pub type TestChip = QemuRv32VirtChip<
    'static,
    (
        &'static Edu<'static>,
        (&'static Edu<'static>, &'static IommuInterrupts),
    ),
>;

/// The context of edu0 (requester id 0x8 on QEMU virt).
pub const EDU0: ContextId = ContextId(0);
/// The context of edu1 (requester id 0x10).
pub const EDU1: ContextId = ContextId(1);

/// Bytes in a page.
pub const PAGE: usize = 4096;
/// DMA buffer pages in RAM.
pub const BUFFERS: usize = 8;
/// 32-bit words in a page.
const WORDS: usize = PAGE / 4;

/// Virtual time one wait may take: an `edu` DMA needs about 100 ms.
const WAIT_MS: u32 = 3_000;
/// Kernel-loop rounds one wait may take.
const MAX_ROUNDS: usize = 10_000;
/// Rounds `settle` runs at most.
const SETTLE_ROUNDS: usize = 100;

/// Routes the IOMMU's wired vectors (PLIC 0x24..0x27) to its driver.
pub struct IommuInterrupts {
    iommu: &'static Iommu,
}

impl IommuInterrupts {
    pub fn new(iommu: &'static Iommu) -> Self {
        IommuInterrupts { iommu }
    }
}

impl InterruptService for IommuInterrupts {
    fn service_interrupt(&self, interrupt: u32) -> bool {
        if (IOMMU_BASE..IOMMU_BASE + IOMMU_VECTORS).contains(&interrupt) {
            iommu_handle_interrupt(self.iommu);
            true
        } else {
            false
        }
    }
}

/// `RiscvIommu::handle_interrupt`, kept out of line so the driver's code
/// stays in a symbol of its own for the benchmark's size count
/// (tools/bench.sh counts this wrapper as driver code).
#[inline(never)]
pub fn iommu_handle_interrupt(iommu: &Iommu) {
    iommu.handle_interrupt();
}

/// Faults reported through `FaultClient` since the last `clear`.
pub struct FaultLog {
    count: Cell<usize>,
    first: Cell<Option<Fault>>,
    /// Records whose context, cause or access differ from the first one.
    odd: Cell<usize>,
    lowest: Cell<u64>,
    highest: Cell<u64>,
    lost: Cell<usize>,
}

/// A summary of the faults since the last `clear`.
#[derive(Clone, Copy, Debug)]
pub struct FaultSummary {
    pub count: usize,
    pub first: Option<Fault>,
    pub odd: usize,
    pub lowest: u64,
    pub highest: u64,
    pub lost: usize,
}

impl FaultLog {
    const fn new() -> Self {
        FaultLog {
            count: Cell::new(0),
            first: Cell::new(None),
            odd: Cell::new(0),
            lowest: Cell::new(u64::MAX),
            highest: Cell::new(0),
            lost: Cell::new(0),
        }
    }

    pub fn clear(&self) {
        self.count.set(0);
        self.first.set(None);
        self.odd.set(0);
        self.lowest.set(u64::MAX);
        self.highest.set(0);
        self.lost.set(0);
    }

    pub fn summary(&self) -> FaultSummary {
        FaultSummary {
            count: self.count.get(),
            first: self.first.get(),
            odd: self.odd.get(),
            lowest: self.lowest.get(),
            highest: self.highest.get(),
            lost: self.lost.get(),
        }
    }
}

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

/// A `map_done` or `unmap_done`: domain, IOVA, length, result.
type RangeDone = (DomainId, usize, usize, Result<(), ErrorCode>);
/// An `attach_done`: context, domain, result.
type AttachDone = (ContextId, DomainId, Result<(), ErrorCode>);

/// Records every HIL callback and the alarm.
pub struct Events {
    map_done: Cell<Option<RangeDone>>,
    unmap_done: Cell<Option<RangeDone>>,
    attach_done: Cell<Option<AttachDone>>,
    detach_done: Cell<Option<(ContextId, Result<(), ErrorCode>)>>,
    fence_done: Cell<Option<Result<(), ErrorCode>>>,
    pub faults: FaultLog,
    alarm: Cell<bool>,
}

impl Events {
    pub const fn new() -> Self {
        Events {
            map_done: Cell::new(None),
            unmap_done: Cell::new(None),
            attach_done: Cell::new(None),
            detach_done: Cell::new(None),
            fence_done: Cell::new(None),
            faults: FaultLog::new(),
            alarm: Cell::new(false),
        }
    }
}

impl MapClient for Events {
    fn map_done(&self, domain: DomainId, iova: usize, len: usize, result: Result<(), ErrorCode>) {
        self.map_done.set(Some((domain, iova, len, result)));
    }

    fn unmap_done(&self, domain: DomainId, iova: usize, len: usize, result: Result<(), ErrorCode>) {
        self.unmap_done.set(Some((domain, iova, len, result)));
    }
}

impl AttachClient for Events {
    fn attach_done(&self, context: ContextId, domain: DomainId, result: Result<(), ErrorCode>) {
        self.attach_done.set(Some((context, domain, result)));
    }

    fn detach_done(&self, context: ContextId, result: Result<(), ErrorCode>) {
        self.detach_done.set(Some((context, result)));
    }
}

impl FenceClient for Events {
    fn fence_done(&self, result: Result<(), ErrorCode>) {
        self.fence_done.set(Some(result));
    }
}

impl FaultClient for Events {
    fn fault(&self, fault: Fault) {
        let log = &self.faults;
        log.count.set(log.count.get() + 1);
        match log.first.get() {
            None => log.first.set(Some(fault)),
            Some(first) => {
                if first.context != fault.context
                    || first.cause != fault.cause
                    || first.access != fault.access
                {
                    log.odd.set(log.odd.get() + 1);
                }
            }
        }
        log.lowest.set(log.lowest.get().min(fault.iova));
        log.highest.set(log.highest.get().max(fault.iova));
    }

    fn faults_lost(&self) {
        self.faults.lost.set(self.faults.lost.get() + 1);
    }
}

impl AlarmClient for Events {
    fn alarm(&self) {
        self.alarm.set(true);
    }
}

/// Completion of one `edu`'s DMA.
pub struct DmaWatch {
    done: Cell<Option<Result<(), ErrorCode>>>,
}

impl DmaWatch {
    pub const fn new() -> Self {
        DmaWatch {
            done: Cell::new(None),
        }
    }
}

impl EduClient for DmaWatch {
    fn dma_done(&self, result: Result<(), ErrorCode>) {
        self.done.set(Some(result));
    }
}

/// RAM the `edu`s reach through the IOMMU: page-aligned pages, each mapped
/// on its own.
#[repr(C, align(4096))]
struct DmaPages([[u32; WORDS]; BUFFERS]);

/// Accessed only through `Buffer`, with volatile accesses, because the
/// devices write it behind the compiler's back; no reference to it is
/// ever made.
static mut DMA_PAGES: DmaPages = DmaPages([[0; WORDS]; BUFFERS]);

/// One page of `DMA_PAGES`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer(pub usize);

/// Word `index` of the test pattern `seed`: distinct per seed and word, so
/// a shifted or partial copy is caught.
fn pattern(seed: u32, index: usize) -> u32 {
    seed.wrapping_mul(0x9e37_79b9) ^ (index as u32).wrapping_mul(0x0100_0193) ^ 0x5a5a_0000
}

impl Buffer {
    fn word(&self, index: usize) -> *mut u32 {
        assert!(self.0 < BUFFERS && index < WORDS);
        // SAFETY: both indices are in bounds (checked above), so the
        // pointer stays inside `DMA_PAGES`; only its address is taken.
        unsafe {
            (&raw mut DMA_PAGES)
                .cast::<u32>()
                .add(self.0 * WORDS + index)
        }
    }

    fn read(&self, index: usize) -> u32 {
        // SAFETY: `word` is in bounds and aligned; the page is plain RAM
        // that only this module and the devices access, and no reference
        // to it exists (see `DMA_PAGES`).
        unsafe { self.word(index).read_volatile() }
    }

    fn write(&self, index: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { self.word(index).write_volatile(value) }
    }

    /// The page's physical address (the kernel runs on physical addresses).
    pub fn phys(&self) -> usize {
        self.word(0) as usize
    }

    /// Fills the whole page with pattern `seed`.
    pub fn fill(&self, seed: u32) {
        for index in 0..WORDS {
            self.write(index, pattern(seed, index));
        }
        // The device reads the page after this: order the stores first.
        io_fence();
    }

    /// Zeroes the whole page.
    pub fn zero(&self) {
        for index in 0..WORDS {
            self.write(index, 0);
        }
        io_fence();
    }

    /// Whether the first `len` bytes hold pattern `seed` (word for word,
    /// from the start of the page).
    pub fn holds(&self, seed: u32, len: usize) -> bool {
        io_fence();
        (0..len / 4).all(|index| self.read(index) == pattern(seed, index))
    }

    /// Whether the first `len` bytes are zero.
    pub fn is_zero(&self, len: usize) -> bool {
        io_fence();
        (0..len / 4).all(|index| self.read(index) == 0)
    }
}

/// A checksum (FNV-1a over words) of every DMA page: equal before and after
/// a faulting DMA means no page changed.
pub fn checksum_all() -> u32 {
    let mut hash = 0x811c_9dc5u32;
    for buffer in 0..BUFFERS {
        for index in 0..WORDS {
            hash = (hash ^ Buffer(buffer).read(index)).wrapping_mul(0x0100_0193);
        }
    }
    hash
}

/// Orders this hart's memory and MMIO accesses (`fence iorw, iorw`):
/// buffer stores before the MMIO write that starts a DMA, and the DMA's
/// completion interrupt before reads of what the device wrote.
fn io_fence() {
    // SAFETY: a fence has no effect on memory contents or registers.
    unsafe { core::arch::asm!("fence iorw, iorw", options(nostack)) };
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
    pub edus: [&'static Edu<'static>; 2],
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
        edus: [&'static Edu<'static>; 2],
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
        let start = rv32::csr::minstret();
        let result = self.iommu.map(domain, iova, phys, len, permissions);
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
