// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The driver's QEMU scenarios, through `kernel::hil::iommu` only.
//!
//! edu0 is context `EDU0` (requester id 0x8), edu1 is `EDU1` (0x10). Each
//! scenario prints one `[x] ...: pass (...)` line; the first failed check
//! ends the run with its code (10-19 scenario a, 20-29 b, and so on).
//!
//! - a. translated DMA round trip (RAM -> device -> RAM through two IOVAs);
//! - b. unmapped and read-only accesses fault with the right context,
//!   cause, access and IOVA, and change no RAM;
//! - c. a detached context blocks;
//! - d. a context switched between two domains on the fly;
//! - e. a fault flood overflows the fault queue, the driver recovers;
//! - f. the two devices are isolated;
//! - teardown: detach, destroy every domain, fence; the pool is whole.

use crate::rig::{Buffer, EDU0, EDU1, ExpectedFault, PAGE, Rig};
use crate::say;
use kernel::hil::iommu::{AccessType, ContextId, DomainId, FaultCause, Permissions};
use qemu_rv32_virt_chip::edu::DmaDirection::{FromRam, ToRam};

/// edu0's source page (mapped read/write in domain 0).
const SRC: Buffer = Buffer(0);
/// edu0's destination page (domain 0).
const DST: Buffer = Buffer(1);
/// A read-only page (domain 0).
const READ_ONLY: Buffer = Buffer(2);
/// Where `IOVA_DST` leads in domain 1.
const OTHER: Buffer = Buffer(3);
/// edu1's destination page (domain 2, at the same IOVA as edu0's).
const EDU1_DST: Buffer = Buffer(4);
/// edu1's source page (domain 2).
const EDU1_SRC: Buffer = Buffer(5);

const IOVA_SRC: usize = 0x0001_0000;
const IOVA_DST: usize = 0x0001_1000;
const IOVA_READ_ONLY: usize = 0x0001_2000;
const IOVA_UNMAPPED: usize = 0x0001_3000;
const IOVA_EDU1_SRC: usize = 0x0001_4000;
const IOVA_FLOOD: usize = 0x0002_0000;

/// Bytes a translated DMA copies.
const LEN: usize = 256;
/// Bytes a faulting DMA tries (QEMU writes one record per 4 bytes).
const FAULT_LEN: usize = 64;
/// Bytes of the flood: 1024 records for a 128-entry queue.
const FLOOD_LEN: usize = 4096;

/// The domains the scenarios create.
pub struct ScenarioDomains {
    d0: DomainId,
    d1: DomainId,
    d2: DomainId,
}

/// A page fault of `access` at `iova`: the record names the IOVA.
fn fault(
    context: ContextId,
    cause: FaultCause,
    access: AccessType,
    iova: usize,
    len: usize,
) -> ExpectedFault {
    ExpectedFault {
        context,
        cause,
        access: Some(access),
        iova,
        len,
        address_reported: true,
    }
}

/// A blocked access by `context`: QEMU 10.0.2 reports device-context
/// faults (cause 256-259) with TTYPE "untranslated read" and `iotval` 0
/// whatever the transaction was, so only the context and the cause are
/// checked (and that no RAM changed).
fn blocked(context: ContextId, iova: usize, len: usize) -> ExpectedFault {
    ExpectedFault {
        context,
        cause: FaultCause::Blocked,
        access: None,
        iova,
        len,
        address_reported: false,
    }
}

fn create(rig: &Rig, code: u16) -> DomainId {
    match rig.iommu.create_domain() {
        Ok(domain) => domain,
        Err(error) => rig.fail(code, format_args!("create_domain -> {error:?}")),
    }
}

/// Runs every scenario in order.
pub fn run(rig: &Rig) {
    let d0 = round_trip(rig);
    faults(rig);
    detached_blocks(rig);
    let d1 = switch(rig, d0);
    flood(rig, d0);
    let d2 = isolation(rig);
    teardown(rig, ScenarioDomains { d0, d1, d2 });
}

/// a. Map two pages in a new domain, attach edu0, copy RAM -> device ->
/// RAM, compare.
fn round_trip(rig: &Rig) -> DomainId {
    rig.begin("a");
    let d0 = create(rig, 10);
    rig.map(11, d0, IOVA_SRC, SRC.phys(), PAGE, Permissions::READ_WRITE);
    rig.map(12, d0, IOVA_DST, DST.phys(), PAGE, Permissions::READ_WRITE);
    let translation = rig.iommu.translate(d0, IOVA_SRC + 0x10);
    rig.ensure(
        matches!(translation, Ok(Some(t)) if t.phys == SRC.phys() + 0x10
            && t.permissions == Permissions::READ_WRITE && t.page_size == PAGE),
        13,
        format_args!("translate: {translation:?}"),
    );
    rig.attach(14, EDU0, d0);
    SRC.fill(0xa1);
    DST.zero();
    rig.dma_clean(15, 0, FromRam, IOVA_SRC, LEN);
    rig.dma_clean(16, 0, ToRam, IOVA_DST, LEN);
    rig.ensure(
        DST.holds(0xa1, LEN),
        17,
        format_args!("the bytes did not come back"),
    );
    say!(
        "[a] translated DMA round trip: pass (edu0 read {LEN} bytes at IOVA {IOVA_SRC:#x} = phys {:#x} and wrote them at IOVA {IOVA_DST:#x} = phys {:#x}; bytes match)",
        SRC.phys(),
        DST.phys()
    );
    d0
}

/// b. Write to a read-only page, write and read an unmapped IOVA: each
/// faults, RAM is unchanged, the device reads zeros; reading the
/// read-only page works.
fn faults(rig: &Rig) {
    rig.begin("b");
    let Some(d0) = rig.iommu.attached(EDU0) else {
        rig.fail(20, format_args!("edu0 not attached"));
    };
    READ_ONLY.fill(0xb2);
    rig.map(
        21,
        d0,
        IOVA_READ_ONLY,
        READ_ONLY.phys(),
        PAGE,
        Permissions::READ,
    );
    let write_ro = rig.dma_faulting(
        22,
        0,
        ToRam,
        fault(
            EDU0,
            FaultCause::PageFault,
            AccessType::Write,
            IOVA_READ_ONLY,
            FAULT_LEN,
        ),
    );
    rig.ensure(
        READ_ONLY.holds(0xb2, PAGE),
        23,
        format_args!("the read-only page changed"),
    );
    let write_unmapped = rig.dma_faulting(
        24,
        0,
        ToRam,
        fault(
            EDU0,
            FaultCause::PageFault,
            AccessType::Write,
            IOVA_UNMAPPED,
            FAULT_LEN,
        ),
    );
    let read_unmapped = rig.dma_faulting(
        25,
        0,
        FromRam,
        fault(
            EDU0,
            FaultCause::PageFault,
            AccessType::Read,
            IOVA_UNMAPPED,
            FAULT_LEN,
        ),
    );
    // What the device read from the unmapped IOVA: zeros, not RAM.
    DST.fill(0x77);
    rig.dma_clean(26, 0, ToRam, IOVA_DST, FAULT_LEN);
    rig.ensure(
        DST.is_zero(FAULT_LEN),
        27,
        format_args!("the device read something other than zeros from an unmapped IOVA"),
    );
    rig.dma_clean(28, 0, FromRam, IOVA_READ_ONLY, LEN);
    rig.dma_clean(28, 0, ToRam, IOVA_DST, LEN);
    rig.ensure(
        DST.holds(0xb2, LEN),
        29,
        format_args!("reading through the read-only mapping"),
    );
    say!(
        "[b] unmapped and read-only accesses fault: pass (edu0 write to read-only IOVA {IOVA_READ_ONLY:#x}: {write_ro} write page-fault records; write to unmapped {IOVA_UNMAPPED:#x}: {write_unmapped}; read of unmapped {IOVA_UNMAPPED:#x}: {read_unmapped} read page-fault records and the device read zeros; context 0, first iova exact; RAM unchanged; read through the read-only mapping works)"
    );
}

/// c. Detach edu0: its DMA faults as blocked and lands nowhere.
fn detached_blocks(rig: &Rig) {
    rig.begin("c");
    rig.detach(30, EDU0);
    let write = rig.dma_faulting(31, 0, ToRam, blocked(EDU0, IOVA_DST, FAULT_LEN));
    say!(
        "[c] detached context blocks: pass (edu0 write to IOVA {IOVA_DST:#x}, mapped in its old domain: {write} blocked records, RAM unchanged)"
    );
}

/// d. The same IOVA maps to different RAM in two domains; switching edu0
/// between them on the fly moves where its DMA lands.
fn switch(rig: &Rig, d0: DomainId) -> DomainId {
    rig.begin("d");
    let d1 = create(rig, 40);
    rig.map(
        41,
        d1,
        IOVA_DST,
        OTHER.phys(),
        PAGE,
        Permissions::READ_WRITE,
    );
    rig.attach(42, EDU0, d0);
    SRC.fill(0xd4);
    DST.zero();
    OTHER.zero();
    rig.dma_clean(43, 0, FromRam, IOVA_SRC, LEN);
    rig.dma_clean(44, 0, ToRam, IOVA_DST, LEN);
    rig.ensure(
        DST.holds(0xd4, LEN) && OTHER.is_zero(PAGE),
        45,
        format_args!("before the switch the DMA must land in domain 0's page"),
    );
    DST.zero();
    rig.attach(46, EDU0, d1);
    rig.dma_clean(47, 0, ToRam, IOVA_DST, LEN);
    rig.ensure(
        OTHER.holds(0xd4, LEN) && DST.is_zero(PAGE),
        48,
        format_args!("after the switch the DMA must land in domain 1's page only"),
    );
    // Domain 0's other mapping is gone for edu0 (no stale translation):
    // a write to it faults and the page keeps its bytes. (A write, so the
    // device buffer keeps the pattern for the next step.)
    let stale = rig.dma_faulting(
        49,
        0,
        ToRam,
        fault(
            EDU0,
            FaultCause::PageFault,
            AccessType::Write,
            IOVA_SRC,
            FAULT_LEN,
        ),
    );
    OTHER.zero();
    rig.attach(50, EDU0, d0);
    rig.dma_clean(51, 0, ToRam, IOVA_DST, LEN);
    rig.ensure(
        DST.holds(0xd4, LEN) && OTHER.is_zero(PAGE),
        52,
        format_args!("after switching back the DMA must land in domain 0's page only"),
    );
    say!(
        "[d] context switched between two domains on the fly: pass (IOVA {IOVA_DST:#x} is phys {:#x} in domain {} and {:#x} in domain {}; edu0's write landed in each in turn, domain 0 -> 1 -> 0; in domain 1 domain 0's IOVA {IOVA_SRC:#x} faults: {stale} records)",
        DST.phys(),
        d0.0,
        OTHER.phys(),
        d1.0
    );
    d1
}

/// e. A 4 KiB faulting write floods the fault queue; the driver reports
/// the loss, recovers, and both faults and translation work afterwards.
fn flood(rig: &Rig, d0: DomainId) {
    rig.begin("e");
    let before = crate::rig::checksum_all();
    let flood = rig.dma(60, 0, ToRam, IOVA_FLOOD, FLOOD_LEN);
    let first_ok = matches!(flood.first, Some(f) if f.context == Some(EDU0)
        && f.cause == FaultCause::PageFault && f.access == AccessType::Write);
    rig.ensure(
        flood.lost >= 1,
        61,
        format_args!("no faults_lost after a {FLOOD_LEN}-byte faulting DMA: {flood:?}"),
    );
    rig.ensure(
        flood.count >= 1
            && flood.count < riscv_iommu::iommu::FAULT_QUEUE_ENTRIES
            && first_ok
            && flood.odd == 0
            && flood.lowest >= IOVA_FLOOD as u64
            && flood.highest < (IOVA_FLOOD + FLOOD_LEN) as u64,
        62,
        format_args!("flood records: {flood:?}"),
    );
    rig.ensure(
        crate::rig::checksum_all() == before,
        63,
        format_args!("the flood changed RAM"),
    );
    // Faults are recorded again: one 4-byte faulting write, one record.
    let after = rig.dma_faulting(
        64,
        0,
        ToRam,
        fault(
            EDU0,
            FaultCause::PageFault,
            AccessType::Write,
            IOVA_UNMAPPED,
            4,
        ),
    );
    rig.ensure(
        after == 1,
        64,
        format_args!("{after} records for a 4-byte faulting write"),
    );
    SRC.fill(0xe5);
    DST.zero();
    rig.dma_clean(65, 0, FromRam, IOVA_SRC, LEN);
    rig.dma_clean(66, 0, ToRam, IOVA_DST, LEN);
    rig.ensure(
        DST.holds(0xe5, LEN),
        67,
        format_args!("round trip after the flood"),
    );
    // And invalidation still completes: the read-only page, which edu0
    // read in b (so the IOTLB may hold it), faults once unmapped.
    rig.unmap(68, d0, IOVA_READ_ONLY, PAGE);
    rig.dma_faulting(
        69,
        0,
        FromRam,
        fault(
            EDU0,
            FaultCause::PageFault,
            AccessType::Read,
            IOVA_READ_ONLY,
            FAULT_LEN,
        ),
    );
    say!(
        "[e] fault flood overflows the fault queue and the driver recovers: pass ({FLOOD_LEN}-byte faulting write: {} records delivered, faults_lost reported {} time(s), RAM unchanged; then a 4-byte faulting write gave {after} record, a round trip worked, and an unmapped page faulted after unmap_done)",
        flood.count,
        flood.lost
    );
}

/// f. edu1 blocks before it is attached; attached to its own domain it
/// reaches only its own pages, never edu0's, at the same IOVAs.
fn isolation(rig: &Rig) -> DomainId {
    rig.begin("f");
    let blocked = rig.dma_faulting(70, 1, ToRam, blocked(EDU1, IOVA_DST, FAULT_LEN));
    let d2 = create(rig, 71);
    rig.map(
        72,
        d2,
        IOVA_DST,
        EDU1_DST.phys(),
        PAGE,
        Permissions::READ_WRITE,
    );
    rig.map(
        73,
        d2,
        IOVA_EDU1_SRC,
        EDU1_SRC.phys(),
        PAGE,
        Permissions::READ,
    );
    rig.attach(74, EDU1, d2);
    EDU1_SRC.fill(0xf6);
    EDU1_DST.zero();
    rig.dma_clean(75, 1, FromRam, IOVA_EDU1_SRC, LEN);
    rig.dma_clean(76, 1, ToRam, IOVA_DST, LEN);
    rig.ensure(
        EDU1_DST.holds(0xf6, LEN) && DST.holds(0xe5, LEN),
        77,
        format_args!("edu1's write to IOVA {IOVA_DST:#x} must land in its own page only"),
    );
    let write = rig.dma_faulting(
        78,
        1,
        ToRam,
        fault(
            EDU1,
            FaultCause::PageFault,
            AccessType::Write,
            IOVA_SRC,
            FAULT_LEN,
        ),
    );
    let read = rig.dma_faulting(
        79,
        1,
        FromRam,
        fault(
            EDU1,
            FaultCause::PageFault,
            AccessType::Read,
            IOVA_SRC,
            FAULT_LEN,
        ),
    );
    // edu0 still reaches its own pages at the shared IOVAs, not edu1's.
    DST.zero();
    rig.dma_clean(80, 0, FromRam, IOVA_SRC, LEN);
    rig.dma_clean(80, 0, ToRam, IOVA_DST, LEN);
    rig.ensure(
        DST.holds(0xe5, LEN) && EDU1_DST.holds(0xf6, LEN),
        81,
        format_args!("edu0's write to IOVA {IOVA_DST:#x} must land in its own page only"),
    );
    say!(
        "[f] the two devices are isolated: pass (edu1 before attach: {blocked} blocked records for context 1; in its own domain {} edu1's write to IOVA {IOVA_DST:#x} landed at phys {:#x}, not edu0's {:#x}; edu1 write/read of edu0's IOVA {IOVA_SRC:#x}: {write}/{read} page-fault records for context 1; edu0 unaffected)",
        d2.0,
        EDU1_DST.phys(),
        DST.phys()
    );
    d2
}

/// Detach both contexts, destroy every domain, fence: every table page is
/// back in the pool.
fn teardown(rig: &Rig, domains: ScenarioDomains) {
    rig.begin("teardown");
    rig.detach(90, EDU0);
    rig.detach(91, EDU1);
    for (index, domain) in [domains.d0, domains.d1, domains.d2].into_iter().enumerate() {
        if let Err(error) = rig.iommu.destroy_domain(domain) {
            rig.fail(
                92 + index as u16,
                format_args!("destroy_domain({domain:?}) -> {error:?}"),
            );
        }
    }
    rig.fence(95);
    let free = rig.iommu.free_pages();
    rig.ensure(
        free == crate::TABLE_PAGES,
        96,
        format_args!("{free} of {} table pages free", crate::TABLE_PAGES),
    );
    say!(
        "teardown: pass (both contexts detached, 3 domains destroyed, fence done, {free} of {} table pages free)",
        crate::TABLE_PAGES
    );
}
