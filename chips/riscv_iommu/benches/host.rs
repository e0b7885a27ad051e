// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Host benchmark of the page-table code and the command traffic.
//!
//! Prints counts that do not depend on the host CPU, for the targets of
//! `doc/benchmarks.md`: 32-bit entry stores per mapped page (the bare minimum is 2 per
//! 4 KiB page, one 8-byte entry written as two halves), tables allocated,
//! and commands issued per map and per unmap batch (target: at most 2,
//! whatever the batch size). Instructions (minstret) are measured on QEMU
//! separately.

use iommu_test_support::driver_rig::{PAGE, Rig};
use iommu_test_support::test_memory;
use kernel::hil::iommu::{Attach, ContextId, Domains, Geometry, Map, Permissions};
use riscv_iommu::PagePool;
use riscv_iommu::pool::Page;
use riscv_iommu::sv39;
use rv32::dma_fence::RiscvCoherentDmaFence;

const SUPERPAGE: usize = 2 << 20;

fn page_table_row(pages: usize, phys: usize) {
    let backing: Vec<Page> = (0..8).map(|_| Page::ZERO).collect();
    // SAFETY: no device reads these pages (host build: a compiler fence).
    let fence = unsafe { RiscvCoherentDmaFence::new() };
    let pool = PagePool::new(Box::leak(backing.into_boxed_slice()), fence);
    let root = pool.allocate().unwrap();
    let free = pool.free_count();
    sv39::map(
        &pool,
        root,
        SUPERPAGE,
        phys,
        pages * PAGE,
        Permissions::READ_WRITE,
    )
    .unwrap();
    let map_stores = pool.entry_stores();
    let tables = free - pool.free_count();
    sv39::unmap(&pool, root, SUPERPAGE, pages * PAGE).unwrap();
    let unmap_stores = pool.entry_stores() - map_stores;
    println!(
        "{pages:>6} {:>10} {:>14.2} {:>16.2} {tables:>7}",
        if phys.is_multiple_of(SUPERPAGE) {
            "2 MiB"
        } else {
            "4 KiB"
        },
        map_stores as f64 / pages as f64,
        unmap_stores as f64 / pages as f64,
    );
}

fn command_row(rig: &mut Rig, pages: usize) {
    let domain = rig.iommu.create_domain().unwrap();
    rig.iommu.attach(ContextId(0), domain).unwrap();
    rig.settle();
    rig.client.take();
    let before = rig.iommu.commands_written();
    rig.iommu
        .map(
            domain,
            0x4000_0000,
            test_memory(0x8000_1000, pages * PAGE),
            Permissions::READ_WRITE,
        )
        .unwrap();
    rig.settle();
    let map_commands = rig.iommu.commands_written() - before;
    let before = rig.iommu.commands_written();
    rig.iommu.unmap(domain, 0x4000_0000, pages * PAGE).unwrap();
    rig.settle();
    let unmap_commands = rig.iommu.commands_written() - before;
    assert_eq!(rig.client.take().len(), 2, "map_done and unmap_done");
    rig.iommu.detach(ContextId(0)).unwrap();
    rig.settle();
    rig.iommu.destroy_domain(domain).unwrap();
    rig.settle();
    println!("{pages:>6} {map_commands:>13} {unmap_commands:>15}");
}

fn main() {
    println!("Sv39 page tables: 32-bit entry stores per page (leaves + new pointers)");
    println!(
        "{:>6} {:>10} {:>14} {:>16} {:>7}",
        "pages", "leaf size", "stores/page map", "stores/page unmap", "tables"
    );
    for pages in [1, 64, 512] {
        page_table_row(pages, 0x8000_1000);
    }
    page_table_row(512, 0x8020_0000);
    println!();
    println!("Commands issued per batch (driver over the model)");
    println!(
        "{:>6} {:>13} {:>15}",
        "pages", "map commands", "unmap commands"
    );
    let mut rig = Rig::new();
    for pages in [1, 64, 512] {
        command_row(&mut rig, pages);
    }
    let free = rig.iommu.free_pages();
    println!();
    println!("table pages free after destroying every domain: {free}");
}
