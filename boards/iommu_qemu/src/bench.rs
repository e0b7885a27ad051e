// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The IOMMU benchmark: numbers, not a test (`doc/benchmarks.md`).
//!
//! For 1, 64 and 512 pages it prints the instructions (`minstret`) per page
//! that `Map::map` spends writing the page table, cold (fresh domain: the
//! intermediate tables are allocated and zeroed too) and warm (the same
//! range again after an unmap, tables in place), next to a bare loop that
//! stores the same number of Sv39 PTEs into one page (two 32-bit stores per
//! 8-byte entry, high word first, as the driver does); `Map::unmap` per
//! page; and the commands the driver queued per map and per unmap batch
//! (`RiscvIommu::commands_written`, the driver's benchmark counter), plus
//! per attach, switch and detach.
//!
//! QEMU counts instructions in `minstret` only with `-icount` (tools/bench.sh
//! runs `-icount shift=3`); without it the numbers follow the host clock
//! and mean nothing. Nothing here is compared with a target: the run fails
//! only if an IOMMU operation fails.
//!
//! The mapped physical range is the linker script's `.bench_target`
//! region, which nothing else uses, and no device is started on it.

use crate::rig::{EDU0, PAGE, Rig};
use crate::say;
use kernel::hil::iommu::{DomainId, Permissions};

/// 2 MiB-aligned IOVA of the benchmark range (one leaf table for 512
/// pages).
const BENCH_IOVA: usize = 0x0040_0000;
/// Batch sizes, in pages.
const SIZES: [usize; 3] = [1, 64, 512];
/// Sv39 leaf flags the bare loop writes: V, R, W, U, A, D.
const LEAF_FLAGS: u32 = 0b1101_0111;

unsafe extern "C" {
    /// Start of `.bench_target` (layout.ld): 512 + 1 pages, unused.
    static _sbench_target: u8;
}

/// The page the bare loop stores into.
#[repr(C, align(4096))]
struct BarePage([u32; 1024]);

/// Written only by `bare_pte_stores`, through a raw pointer, volatile.
static mut BARE_PAGE: BarePage = BarePage([0; 1024]);

/// Stores `count` (<= 512) leaf PTEs for consecutive pages from `phys`
/// into `BARE_PAGE`: two 32-bit stores each, high word then low word.
#[inline(never)]
fn bare_pte_stores(phys: usize, count: usize) {
    let words = (&raw mut BARE_PAGE).cast::<u32>();
    let first_ppn = (phys >> 12) as u64;
    for entry in 0..count.min(512) {
        let pte = ((first_ppn + entry as u64) << 10) | u64::from(LEAF_FLAGS);
        // SAFETY: `entry` < 512, so both words are inside `BARE_PAGE`
        // (1024 words), which nothing else accesses and no reference to
        // which exists.
        unsafe {
            words.add(2 * entry + 1).write_volatile((pte >> 32) as u32);
            words.add(2 * entry).write_volatile(pte as u32);
        }
    }
}

/// Instructions `f` takes, less the cost of reading `minstret` twice.
fn measure(overhead: u64, f: impl FnOnce()) -> u64 {
    let start = rv32::csr::minstret();
    f();
    (rv32::csr::minstret() - start).saturating_sub(overhead)
}

/// `numerator / denominator` with two decimals, as (whole, hundredths).
fn ratio(numerator: u64, denominator: u64) -> (u64, u64) {
    let hundredths = (numerator * 100 + denominator / 2) / denominator.max(1);
    (hundredths / 100, hundredths % 100)
}

fn create(rig: &Rig, code: u16) -> DomainId {
    match rig.iommu.create_domain() {
        Ok(domain) => domain,
        Err(error) => rig.fail(code, format_args!("create_domain -> {error:?}")),
    }
}

fn destroy(rig: &Rig, code: u16, domain: DomainId) {
    if let Err(error) = rig.iommu.destroy_domain(domain) {
        rig.fail(code, format_args!("destroy_domain -> {error:?}"));
    }
    // The slot is reusable once its invalidation completed.
    rig.fence(code);
}

/// Runs the benchmark and prints one line per measurement.
pub fn run(rig: &Rig) {
    rig.begin("bench");
    // One page in, so the range is not 2 MiB-aligned in physical memory
    // and the driver maps it with 4 KiB pages only.
    let phys = &raw const _sbench_target as usize + PAGE;
    let overhead = measure(0, || {});
    say!(
        "bench: minstret counts instructions only with -icount (tools/bench.sh: -icount shift=3); readout overhead {overhead} subtracted"
    );
    for pages in SIZES {
        let len = pages * PAGE;
        let domain = create(rig, 100);
        let commands = rig.driver.commands_written();
        let cold = rig.map(101, domain, BENCH_IOVA, phys, len, Permissions::READ_WRITE);
        let map_commands = rig.driver.commands_written() - commands;
        let commands = rig.driver.commands_written();
        let unmap = rig.unmap(102, domain, BENCH_IOVA, len);
        let unmap_commands = rig.driver.commands_written() - commands;
        let warm = rig.map(103, domain, BENCH_IOVA, phys, len, Permissions::READ_WRITE);
        rig.unmap(104, domain, BENCH_IOVA, len);
        destroy(rig, 105, domain);
        let bare = measure(overhead, || bare_pte_stores(phys, pages));
        let per_page = |total: u64| total.saturating_sub(overhead) / pages as u64;
        let (cold, warm, unmap, bare) = (
            per_page(cold),
            per_page(warm),
            per_page(unmap),
            bare / pages as u64,
        );
        let (warm_whole, warm_hundredths) = ratio(warm, bare);
        let (cold_whole, cold_hundredths) = ratio(cold, bare);
        say!(
            "bench: map pages={pages} cold/page={cold} warm/page={warm} bare/page={bare} warm/bare={warm_whole}.{warm_hundredths:02} cold/bare={cold_whole}.{cold_hundredths:02} unmap/page={unmap} map_commands={map_commands} unmap_commands={unmap_commands}"
        );
    }

    // Commands per attach, switch and detach.
    let first = create(rig, 110);
    let second = create(rig, 111);
    let commands = rig.driver.commands_written();
    rig.attach(112, EDU0, first);
    let attach = rig.driver.commands_written() - commands;
    let commands = rig.driver.commands_written();
    rig.attach(113, EDU0, second);
    let switch = rig.driver.commands_written() - commands;
    let commands = rig.driver.commands_written();
    rig.detach(114, EDU0);
    let detach = rig.driver.commands_written() - commands;
    destroy(rig, 115, first);
    destroy(rig, 116, second);
    say!("bench: commands attach={attach} switch={switch} detach={detach}");
}
