// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Host tests of the Sv39 page-table code.
//!
//! They check the mapping results, the entry encoding (U, A, D bits), the
//! all-or-nothing rule and the pool accounting.

extern crate std;
use super::*;
use crate::pool::Page;
use std::boxed::Box;
use std::vec::Vec;

const MIB: usize = 1 << 20;

fn pool(count: usize) -> PagePool<'static> {
    let pages: Vec<Page> = (0..count).map(|_| Page::ZERO).collect();
    PagePool::new(Box::leak(pages.into_boxed_slice()))
}

fn leaf(pool: &PagePool, root: Table, iova: usize) -> u64 {
    let mut table = root;
    for level in (0..3).rev() {
        let pte = pool.read(table, index(iova as u64, level));
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
/// a reference map; every failure must leave the table unchanged. Small
/// ranges mostly fall in the low 64 MiB (so the pool runs out of level-0
/// tables), superpages in the rest.
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
