// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Host tests of the Sv39 page-table code.
//!
//! They check the mapping results, the entry encoding (U, A, D bits), the
//! all-or-nothing rule and the pool accounting.

extern crate std;
use super::*;
use crate::pool::test_pool::pool;
use std::vec::Vec;

const MIB: usize = 1 << 20;

fn leaf(pool: &PagePool<'_, impl DmaFence>, root: Table, iova: usize) -> u64 {
    let mut table = root;
    for level in (0..3).rev() {
        let pte = pool.read(table, index(iova / PAGE_SIZE, level));
        if is_leaf(pte) || pte & PTE_V == 0 {
            return pte;
        }
        table = next_table(pool, pte).unwrap().unwrap();
    }
    unreachable!("a level-0 entry is always returned above")
}

#[test]
fn map_4k_then_translate() {
    let pool = pool(8);
    let root = pool.allocate().unwrap();
    map(
        &pool,
        root,
        0x1000,
        0x8000_3000,
        0x2000,
        Permissions::READ_WRITE,
    )
    .unwrap();
    let t = translate(&pool, root, 0x1abc).unwrap().unwrap();
    assert_eq!(t.phys, 0x8000_3abc);
    assert_eq!(t.page_size, PAGE_SIZE);
    assert_eq!(t.permissions, Permissions::READ_WRITE);
    assert_eq!(
        translate(&pool, root, 0x2000).unwrap().unwrap().phys,
        0x8000_4000
    );
    assert_eq!(translate(&pool, root, 0x3000).unwrap(), None);
    assert_eq!(translate(&pool, root, 0).unwrap(), None);
    // root + level 1 + level 0
    assert_eq!(pool.free_count(), 8 - 3);
}

#[test]
fn leaf_bits_u_a_and_d_only_when_writable() {
    let pool = pool(8);
    let root = pool.allocate().unwrap();
    map(&pool, root, 0x1000, 0x5000, 0x1000, Permissions::READ).unwrap();
    map(&pool, root, 0x2000, 0x6000, 0x1000, Permissions::READ_WRITE).unwrap();
    let read_only = leaf(&pool, root, 0x1000);
    assert_eq!(read_only & 0x3ff, PTE_V | PTE_R | PTE_U | PTE_A);
    assert_eq!(pte_phys(read_only), 0x5000);
    let writable = leaf(&pool, root, 0x2000);
    assert_eq!(
        writable & 0x3ff,
        PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D
    );
}

#[test]
fn superpages_used_when_aligned() {
    let pool = pool(8);
    let root = pool.allocate().unwrap();
    // 2 MiB + 4 KiB: one superpage then one 4 KiB page.
    map(
        &pool,
        root,
        2 * MIB,
        0x8020_0000,
        2 * MIB + 0x1000,
        Permissions::READ,
    )
    .unwrap();
    let t = translate(&pool, root, 2 * MIB + 0x12345).unwrap().unwrap();
    assert_eq!(t.page_size, SUPERPAGE_SIZE);
    assert_eq!(t.phys, 0x8021_2345);
    let t = translate(&pool, root, 4 * MIB).unwrap().unwrap();
    assert_eq!(t.page_size, PAGE_SIZE);
    assert_eq!(t.phys, 0x8040_0000);
    // Misaligned physical address: 4 KiB pages only.
    map(
        &pool,
        root,
        8 * MIB,
        0x8000_1000,
        2 * MIB,
        Permissions::READ,
    )
    .unwrap();
    assert_eq!(
        translate(&pool, root, 8 * MIB).unwrap().unwrap().page_size,
        PAGE_SIZE
    );
}

#[test]
fn map_is_all_or_nothing_on_pool_exhaustion() {
    // Root, one level-1 table, one level-0 table: the second 2 MiB region
    // needs another level-0 table that the pool does not have.
    let pool = pool(3);
    let root = pool.allocate().unwrap();
    let before = pool.free_count();
    let stores = pool.entry_stores();
    let len = 2 * MIB + 0x2000;
    assert_eq!(
        map(&pool, root, 0x1ff000, 0x8000_0000, len, Permissions::READ),
        Err(ErrorCode::NOMEM)
    );
    assert_eq!(pool.free_count(), before);
    assert_eq!(pool.entry_stores(), stores, "nothing written");
    for page in 0..len / PAGE_SIZE {
        assert_eq!(
            translate(&pool, root, 0x1ff000 + page * PAGE_SIZE).unwrap(),
            None
        );
    }
    // A range that fits in the pool succeeds.
    map(
        &pool,
        root,
        0x1ff000,
        0x8000_0000,
        0x1000,
        Permissions::READ,
    )
    .unwrap();
}

#[test]
fn map_over_a_mapping_is_refused_and_changes_nothing() {
    let pool = pool(8);
    let root = pool.allocate().unwrap();
    map(&pool, root, 0x5000, 0x9000, 0x1000, Permissions::READ).unwrap();
    let stores = pool.entry_stores();
    assert_eq!(
        map(
            &pool,
            root,
            0x3000,
            0x10_0000,
            0x4000,
            Permissions::READ_WRITE
        ),
        Err(ErrorCode::ALREADY)
    );
    assert_eq!(pool.entry_stores(), stores);
    assert_eq!(translate(&pool, root, 0x3000).unwrap(), None);
    assert_eq!(
        translate(&pool, root, 0x5000).unwrap().unwrap().phys,
        0x9000
    );
    // A superpage over an existing superpage is refused too.
    map(&pool, root, 4 * MIB, 0, 2 * MIB, Permissions::READ).unwrap();
    assert_eq!(
        map(&pool, root, 4 * MIB, 0, 2 * MIB, Permissions::READ),
        Err(ErrorCode::ALREADY)
    );
}

#[test]
fn bad_arguments_are_inval() {
    let pool = pool(4);
    let root = pool.allocate().unwrap();
    let rw = Permissions::READ_WRITE;
    assert_eq!(
        map(&pool, root, 0x1001, 0, 0x1000, rw),
        Err(ErrorCode::INVAL)
    );
    assert_eq!(
        map(&pool, root, 0x1000, 0x10, 0x1000, rw),
        Err(ErrorCode::INVAL)
    );
    assert_eq!(map(&pool, root, 0x1000, 0, 0, rw), Err(ErrorCode::INVAL));
    assert_eq!(
        map(&pool, root, 0x1000, 0, 0x1800, rw),
        Err(ErrorCode::INVAL)
    );
    assert_eq!(
        map(&pool, root, usize::MAX & !0xfff, 0, 0x2000, rw),
        Err(ErrorCode::INVAL)
    );
    let write_only = Permissions {
        read: false,
        write: true,
        execute: false,
    };
    assert_eq!(
        map(&pool, root, 0x1000, 0, 0x1000, write_only),
        Err(ErrorCode::INVAL)
    );
    assert_eq!(unmap(&pool, root, 0x1000, 0), Err(ErrorCode::INVAL));
    assert_eq!(translate(&pool, root, 1 << 38), Err(ErrorCode::INVAL));
}

#[test]
fn unmap_clears_and_skips_holes() {
    let pool = pool(8);
    let root = pool.allocate().unwrap();
    map(
        &pool,
        root,
        0x1000,
        0x8000_0000,
        0x3000,
        Permissions::READ_WRITE,
    )
    .unwrap();
    map(
        &pool,
        root,
        6 * MIB,
        0x8060_0000,
        2 * MIB,
        Permissions::READ,
    )
    .unwrap();
    assert_eq!(unmap(&pool, root, 0, 16 * MIB), Ok(4));
    assert_eq!(translate(&pool, root, 0x2000).unwrap(), None);
    assert_eq!(translate(&pool, root, 6 * MIB).unwrap(), None);
    assert_eq!(leaf(&pool, root, 0x2000), 0, "both halves cleared");
    // Unmapping nothing is fine.
    assert_eq!(unmap(&pool, root, 0x1000, 0x1000), Ok(0));
    // The same range can be mapped again.
    map(&pool, root, 0x1000, 0x9000_0000, 0x1000, Permissions::READ).unwrap();
}

#[test]
fn unmap_of_part_of_a_superpage_is_refused() {
    let pool = pool(4);
    let root = pool.allocate().unwrap();
    map(
        &pool,
        root,
        2 * MIB,
        0x8020_0000,
        2 * MIB,
        Permissions::READ,
    )
    .unwrap();
    map(&pool, root, 0x1000, 0x5000, 0x1000, Permissions::READ).unwrap();
    let stores = pool.entry_stores();
    assert_eq!(unmap(&pool, root, 0x1000, 2 * MIB), Err(ErrorCode::INVAL));
    assert_eq!(unmap(&pool, root, 3 * MIB, 0x1000), Err(ErrorCode::INVAL));
    assert_eq!(pool.entry_stores(), stores, "checked before clearing");
    assert!(translate(&pool, root, 0x1000).unwrap().is_some());
    assert_eq!(unmap(&pool, root, 2 * MIB, 2 * MIB), Ok(1));
}

#[test]
fn destroy_returns_every_page() {
    let pool = pool(16);
    let root = pool.allocate().unwrap();
    map(&pool, root, 0, 0x8000_0000, 0x4000, Permissions::READ).unwrap();
    map(&pool, root, 1 << 30, 0x8000_0000, 0x1000, Permissions::READ).unwrap();
    map(
        &pool,
        root,
        5 << 30,
        0x8000_0000,
        2 * MIB,
        Permissions::READ,
    )
    .unwrap();
    assert_eq!(pool.free_count(), 16 - 1 - 2 - 2 - 1);
    destroy(&pool, root);
    assert_eq!(pool.free_count(), 16);
}

#[test]
fn two_stores_per_4k_page() {
    let pool = pool(8);
    let root = pool.allocate().unwrap();
    map(
        &pool,
        root,
        0,
        0x8000_0000,
        64 * PAGE_SIZE,
        Permissions::READ,
    )
    .unwrap();
    // 64 leaves + 2 pointers, two 32-bit stores each.
    assert_eq!(pool.entry_stores(), 2 * (64 + 2));
}

const GIB: usize = 1 << 30;

/// Checks that `pages` pages from `iova` translate to consecutive physical
/// pages from `phys` with `page_size`.
fn assert_mapped(
    pool: &PagePool<'_, impl DmaFence>,
    root: Table,
    iova: usize,
    phys: usize,
    pages: usize,
) {
    for page in 0..pages {
        let found = translate(pool, root, iova + page * PAGE_SIZE)
            .unwrap()
            .unwrap_or_else(|| panic!("page {page} not mapped"));
        assert_eq!(found.phys, phys + page * PAGE_SIZE, "page {page}");
    }
}

#[test]
fn ranges_across_2_mib_boundaries() {
    let pool = pool(8);
    let root = pool.allocate().unwrap();
    // Two pages each side of the boundary at 2 MiB: two level-0 tables.
    map(
        &pool,
        root,
        2 * MIB - 0x2000,
        0x8000_0000,
        0x4000,
        Permissions::READ,
    )
    .unwrap();
    assert_mapped(&pool, root, 2 * MIB - 0x2000, 0x8000_0000, 4);
    assert_eq!(translate(&pool, root, 2 * MIB - 0x3000).unwrap(), None);
    assert_eq!(translate(&pool, root, 2 * MIB + 0x2000).unwrap(), None);
    assert_eq!(pool.free_count(), 8 - 4, "root, level 1, two level 0");
    // A range ending exactly at a boundary, and one starting at it.
    map(
        &pool,
        root,
        2 * MIB - 0x5000,
        0x10_0000,
        0x3000,
        Permissions::READ,
    )
    .unwrap();
    map(&pool, root, 4 * MIB, 0x20_0000, 0x1000, Permissions::READ).unwrap();
    assert_mapped(&pool, root, 2 * MIB - 0x5000, 0x10_0000, 3);
    assert_eq!(pool.free_count(), 8 - 5, "one more level-0 table, at 4 MiB");
    // A full 2 MiB of 4 KiB pages across a boundary (physical address not
    // 2 MiB-aligned): the last entries of one table, the first of the next.
    map(
        &pool,
        root,
        6 * MIB - 0x10_0000,
        0x8000_1000,
        2 * MIB,
        Permissions::READ_WRITE,
    )
    .unwrap();
    assert_mapped(&pool, root, 6 * MIB - 0x10_0000, 0x8000_1000, 512);
    assert_eq!(translate(&pool, root, 7 * MIB).unwrap(), None);
    // An unmap across the boundaries clears both sides, skipping holes.
    assert_eq!(unmap(&pool, root, 0, 8 * MIB), Ok(4 + 3 + 1 + 512));
    for iova in [
        2 * MIB - 0x2000,
        2 * MIB,
        4 * MIB,
        5 * MIB,
        7 * MIB - 0x1000,
    ] {
        assert_eq!(translate(&pool, root, iova).unwrap(), None);
    }
}

#[test]
fn superpage_between_4k_spans() {
    let pool = pool(8);
    let root = pool.allocate().unwrap();
    // From 2 MiB - 4 KiB to 4 MiB + 4 KiB, physical address congruent: one
    // page, a superpage, one page.
    map(
        &pool,
        root,
        2 * MIB - 0x1000,
        0x801f_f000,
        2 * MIB + 0x2000,
        Permissions::READ,
    )
    .unwrap();
    let sizes: Vec<usize> = [2 * MIB - 0x1000, 2 * MIB, 3 * MIB, 4 * MIB]
        .iter()
        .map(|&iova| translate(&pool, root, iova).unwrap().unwrap().page_size)
        .collect();
    assert_eq!(
        sizes,
        [PAGE_SIZE, SUPERPAGE_SIZE, SUPERPAGE_SIZE, PAGE_SIZE]
    );
    assert_mapped(&pool, root, 2 * MIB - 0x1000, 0x801f_f000, 514);
    assert_eq!(pool.free_count(), 8 - 4, "root, level 1, two level 0");
    // Part of the superpage with the page before it: refused, unchanged.
    let stores = pool.entry_stores();
    assert_eq!(
        unmap(&pool, root, 2 * MIB - 0x1000, 0x2000),
        Err(ErrorCode::INVAL)
    );
    assert_eq!(pool.entry_stores(), stores);
    assert_eq!(
        unmap(&pool, root, 2 * MIB - 0x1000, 2 * MIB + 0x2000),
        Ok(3)
    );
}

#[test]
fn ranges_across_a_1_gib_boundary() {
    let pool = pool(16);
    let root = pool.allocate().unwrap();
    // Two pages each side of 1 GiB: two level-1 and two level-0 tables.
    map(
        &pool,
        root,
        GIB - 0x2000,
        0x8000_0000,
        0x4000,
        Permissions::READ,
    )
    .unwrap();
    assert_mapped(&pool, root, GIB - 0x2000, 0x8000_0000, 4);
    assert_eq!(pool.free_count(), 16 - 5);
    // Superpages each side of 2 GiB: level-1 tables only.
    map(
        &pool,
        root,
        2 * GIB - 2 * MIB,
        0x4000_0000,
        4 * MIB,
        Permissions::READ_WRITE,
    )
    .unwrap();
    for iova in [2 * GIB - 2 * MIB, 2 * GIB] {
        let found = translate(&pool, root, iova).unwrap().unwrap();
        assert_eq!(found.page_size, SUPERPAGE_SIZE);
        assert_eq!(found.phys, 0x4000_0000 + (iova - (2 * GIB - 2 * MIB)));
    }
    assert_eq!(pool.free_count(), 16 - 6, "a level-1 table for 2..3 GiB");
    // A range over both, with 1 GiB of holes between: refused as a whole
    // when any page of it is mapped, then unmapped in one call.
    let stores = pool.entry_stores();
    assert_eq!(
        map(&pool, root, GIB + 0x2000, 0, GIB, Permissions::READ),
        Err(ErrorCode::ALREADY)
    );
    assert_eq!(pool.entry_stores(), stores);
    assert_eq!(
        unmap(&pool, root, GIB - 0x2000, GIB + 2 * MIB + 0x2000),
        Ok(4 + 2)
    );
    assert_eq!(translate(&pool, root, GIB).unwrap(), None);
    assert_eq!(translate(&pool, root, 2 * GIB).unwrap(), None);
    // The top of the IOVA space is mappable; one page beyond is not.
    let top = (1 << IOVA_BITS) - 0x2000;
    map(&pool, root, top, 0x5000, 0x2000, Permissions::READ).unwrap();
    assert_mapped(&pool, root, top, 0x5000, 2);
    assert_eq!(
        map(&pool, root, top, 0x5000, 0x3000, Permissions::READ),
        Err(ErrorCode::INVAL)
    );
    assert_eq!(unmap(&pool, root, top, 0x2000), Ok(2));
}

#[test]
fn pool_exhaustion_in_the_middle_of_a_multi_table_map() {
    // Four 2 MiB spans of 4 KiB pages from 1 MiB: one level-1 table and
    // five level-0 tables, of which the first already exists.
    let len = 8 * MIB;
    let iova = MIB;
    let pool = pool(1 + 1 + 1 + 3);
    let root = pool.allocate().unwrap();
    map(&pool, root, 0, 0x9000_0000, 0x1000, Permissions::READ).unwrap();
    assert_eq!(pool.free_count(), 3, "four more tables needed, three left");
    let stores = pool.entry_stores();
    assert_eq!(
        map(&pool, root, iova, 0x8000_1000, len, Permissions::READ),
        Err(ErrorCode::NOMEM)
    );
    assert_eq!(pool.free_count(), 3, "no table taken");
    assert_eq!(pool.entry_stores(), stores, "nothing written");
    for page in (0..len / PAGE_SIZE).step_by(97) {
        assert_eq!(
            translate(&pool, root, iova + page * PAGE_SIZE).unwrap(),
            None
        );
    }
    // One span less fits exactly.
    map(
        &pool,
        root,
        iova,
        0x8000_1000,
        len - 2 * MIB,
        Permissions::READ,
    )
    .unwrap();
    assert_mapped(&pool, root, iova, 0x8000_1000, (len - 2 * MIB) / PAGE_SIZE);
    assert_eq!(pool.free_count(), 0);
    // Nothing left: even one page in a fresh 2 MiB region is refused.
    assert_eq!(
        map(&pool, root, 20 * MIB, 0, 0x1000, Permissions::READ),
        Err(ErrorCode::NOMEM)
    );
}

#[test]
fn a_multi_span_map_that_fits_exactly() {
    // Root, one level-1 table for the 1 GiB, three level-0 tables.
    let pool = pool(5);
    let root = pool.allocate().unwrap();
    map(
        &pool,
        root,
        2 * MIB - 0x1000,
        0x8000_0000,
        2 * MIB + 0x2000,
        Permissions::READ,
    )
    .unwrap();
    assert_eq!(pool.free_count(), 0);
    assert_mapped(&pool, root, 2 * MIB - 0x1000, 0x8000_0000, 512 + 2);
}

#[test]
fn map_into_existing_and_new_tables() {
    let pool = pool(8);
    let root = pool.allocate().unwrap();
    // Leave a level-0 table at 2..4 MiB behind, then map a range whose
    // first span needs a new table and whose last span uses that one.
    map(&pool, root, 3 * MIB, 0x1000, 0x1000, Permissions::READ).unwrap();
    assert_eq!(unmap(&pool, root, 3 * MIB, 0x1000), Ok(1));
    let free = pool.free_count();
    map(
        &pool,
        root,
        MIB,
        0x8000_0000,
        2 * MIB + 0x4000,
        Permissions::READ,
    )
    .unwrap();
    assert_eq!(pool.free_count(), free - 1);
    assert_mapped(&pool, root, MIB, 0x8000_0000, 512 + 4);
    // A 2 MiB-aligned map where the level-0 table exists uses 4 KiB pages.
    assert_eq!(unmap(&pool, root, MIB, 2 * MIB + 0x4000), Ok(516));
    map(
        &pool,
        root,
        2 * MIB,
        0x8020_0000,
        2 * MIB,
        Permissions::READ,
    )
    .unwrap();
    assert_eq!(
        translate(&pool, root, 2 * MIB).unwrap().unwrap().page_size,
        PAGE_SIZE
    );
    assert_mapped(&pool, root, 2 * MIB, 0x8020_0000, 512);
}

#[test]
fn a_level_0_pointer_is_refused_and_nothing_changes() {
    let pool = pool(8);
    let root = pool.allocate().unwrap();
    map(&pool, root, 0, 0x8000_0000, 0x4000, Permissions::READ).unwrap();
    // Corrupt entry 5 of the level-0 table into a pointer (V, no R/W/X).
    let level1 = next_table(&pool, pool.read(root, 0)).unwrap().unwrap();
    let level0 = next_table(&pool, pool.read(level1, 0)).unwrap().unwrap();
    pool.install(level0, 5, pointer_pte(level1));
    let stores = pool.entry_stores();
    assert_eq!(unmap(&pool, root, 0, 0x8000), Err(ErrorCode::FAIL));
    assert_eq!(pool.entry_stores(), stores, "checked before clearing");
    assert_mapped(&pool, root, 0, 0x8000_0000, 4);
    assert_eq!(
        map(&pool, root, 0x5000, 0, 0x1000, Permissions::READ),
        Err(ErrorCode::ALREADY)
    );
    // Around it is fine.
    assert_eq!(unmap(&pool, root, 0, 0x4000), Ok(4));
}

/// Physical pages across 16 GiB, where a PTE's high word changes in the
/// middle of a level-0 table. Only a 64-bit `usize` holds such addresses.
#[cfg(target_pointer_width = "64")]
#[test]
fn leaves_across_a_high_word_boundary() {
    let pool = pool(8);
    let root = pool.allocate().unwrap();
    let phys = (1 << 34) - 0x2000;
    map(&pool, root, 0x10_0000, phys, 0x4000, Permissions::READ).unwrap();
    assert_mapped(&pool, root, 0x10_0000, phys, 4);
    let high_words: Vec<u64> = (0..4)
        .map(|page| leaf(&pool, root, 0x10_0000 + page * PAGE_SIZE) >> 32)
        .collect();
    assert_eq!(high_words, [0, 0, 1, 1]);
    assert_eq!(pool.entry_stores(), 2 * (4 + 2));
}

/// A small deterministic generator (xorshift64*), so failures replay.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// Random maps and unmaps over 1 GiB of IOVA, checked page by page against
/// a reference map.
///
/// Every failure must leave the table unchanged. Small ranges mostly fall
/// in the low 64 MiB (so the pool runs out of level-0 tables), superpages
/// in the rest.
#[test]
fn random_operations_match_a_reference() {
    use std::collections::BTreeMap;
    const WINDOW_PAGES: u64 = 512 * 512; // 1 GiB
    const LOW_PAGES: u64 = 32 * 512; // 64 MiB
    const PAGES_PER_SUPERPAGE: u64 = 512;
    let pool = pool(24);
    let root = pool.allocate().unwrap();
    // Reference: IOVA page -> (physical page, writable, superpage base).
    let mut reference: BTreeMap<u64, (u64, bool, Option<u64>)> = BTreeMap::new();
    let mut random = Random(0x1234_5678_9abc_def1);
    // Outcomes seen: mapped, superpage, already, nomem, unmapped, inval.
    let mut seen = [0usize; 6];
    for step in 0..4000 {
        let superpage = random.below(4) == 0;
        let (first, count) = if superpage {
            let slots = (WINDOW_PAGES - LOW_PAGES) / PAGES_PER_SUPERPAGE;
            let base = LOW_PAGES + random.below(slots) * PAGES_PER_SUPERPAGE;
            (base, PAGES_PER_SUPERPAGE)
        } else if random.below(4) == 0 {
            (
                LOW_PAGES + random.below(WINDOW_PAGES - LOW_PAGES),
                1 + random.below(8),
            )
        } else {
            (random.below(LOW_PAGES), 1 + random.below(24))
        };
        let count = count.min(WINDOW_PAGES - first);
        let iova = (first * 4096) as usize;
        let len = (count * 4096) as usize;
        let before = pool.free_count();
        if random.below(3) == 0 {
            let covers_part_of_superpage = reference
                .range(first..first + count)
                .chain(reference.range(first.saturating_sub(PAGES_PER_SUPERPAGE)..first))
                .any(|(&page, &(_, _, base))| {
                    base.is_some_and(|b| {
                        (b < first || b + PAGES_PER_SUPERPAGE > first + count)
                            && page >= b
                            && page < b + PAGES_PER_SUPERPAGE
                            && b < first + count
                            && b + PAGES_PER_SUPERPAGE > first
                    })
                });
            match unmap(&pool, root, iova, len) {
                Ok(_) => {
                    seen[4] += 1;
                    assert!(!covers_part_of_superpage, "step {step}");
                    let pages: Vec<u64> = reference
                        .range(first..first + count)
                        .map(|(&p, _)| p)
                        .collect();
                    for page in pages {
                        reference.remove(&page);
                    }
                }
                Err(error) => {
                    seen[5] += 1;
                    assert_eq!(error, ErrorCode::INVAL, "step {step}");
                    assert!(covers_part_of_superpage, "step {step}");
                }
            }
        } else {
            let phys_page = if superpage {
                random.below(64) * PAGES_PER_SUPERPAGE
            } else {
                random.below(1 << 20)
            };
            let writable = random.below(2) == 0;
            let permissions = if writable {
                Permissions::READ_WRITE
            } else {
                Permissions::READ
            };
            let overlaps = reference.range(first..first + count).next().is_some();
            match map(
                &pool,
                root,
                iova,
                (phys_page * 4096) as usize,
                len,
                permissions,
            ) {
                Ok(()) => {
                    assert!(!overlaps, "step {step}");
                    // A superpage is used only where no level-0 table is
                    // left from earlier maps: ask the table what it did.
                    let size = translate(&pool, root, iova).unwrap().unwrap().page_size;
                    let base = (size == SUPERPAGE_SIZE).then_some(first);
                    assert!(base.is_none() || superpage, "step {step}");
                    seen[0] += 1;
                    seen[1] += usize::from(base.is_some());
                    for i in 0..count {
                        reference.insert(first + i, (phys_page + i, writable, base));
                    }
                }
                Err(ErrorCode::ALREADY) => {
                    seen[2] += 1;
                    assert!(overlaps, "step {step}");
                }
                Err(ErrorCode::NOMEM) => {
                    seen[3] += 1;
                    assert!(!overlaps, "step {step}");
                    assert_eq!(pool.free_count(), before, "step {step}");
                }
                Err(error) => panic!("step {step}: {error:?}"),
            }
        }
        // Check a sample of pages, and every page now and then.
        let checks: Vec<u64> = if step % 500 == 0 {
            (0..WINDOW_PAGES).collect()
        } else {
            (0..16).map(|_| random.below(WINDOW_PAGES)).collect()
        };
        for page in checks {
            let found = translate(&pool, root, (page * 4096) as usize).unwrap();
            match reference.get(&page) {
                None => assert_eq!(found, None, "step {step} page {page}"),
                Some(&(phys, writable, _)) => {
                    let found = found.unwrap();
                    assert_eq!(found.phys as u64, phys * 4096, "step {step} page {page}");
                    assert_eq!(found.permissions.write, writable);
                }
            }
        }
    }
    assert!(
        seen.iter().all(|&n| n > 0),
        "every outcome exercised: {seen:?}"
    );
    destroy(&pool, root);
    assert_eq!(pool.free_count(), 24, "every table returned");
}
