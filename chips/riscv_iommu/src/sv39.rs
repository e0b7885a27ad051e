// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Sv39 page tables on pool pages: map, unmap, translate, destroy.
//!
//! The first-stage format of a RISC-V IOMMU device context with
//! `fsc.MODE` = Sv39 (IOMMU spec 1.0 section 2.1.3 and 2.3; PTE layout in
//! the privileged spec section 10.3.2 and 10.4): three levels of 512
//! 8-byte entries, 4 KiB pages and 2 MiB superpages. No MMIO: everything
//! here works on tables from a [`PagePool`], so it is tested on the host.
//!
//! Invariants kept here:
//! - entries are installed high word first and cleared low word first
//!   (done by the pool);
//! - leaf entries have U (device requests without a process id are
//!   unprivileged, spec 2.3), A, and D when writable, set: the IOMMU is not
//!   required to update them (no `capabilities.AMO_HWAD` use);
//! - a map changes nothing unless the whole range can be mapped: it checks
//!   the range and counts the tables it needs before writing anything, so
//!   the device never sees part of a failed map;
//! - walks follow at most three levels and only pointers into the pool;
//!   a map or unmap walks from the root once per 2 MiB span of its range
//!   and then runs over that span's level-0 entries (at most 512), so the
//!   cost per 4 KiB page is a load per check pass plus the two stores;
//! - tables are freed only by [`destroy`], when no context uses the domain,
//!   because the IOMMU may cache non-leaf entries.

use crate::pool::{ENTRIES, PAGE_SIZE, PagePool, Table};
use core::ops::Range;
use kernel::ErrorCode;
use kernel::hil::iommu::{Permissions, Translation};
use kernel::platform::dma_fence::DmaFence;

/// Size of a 2 MiB superpage (a level-1 leaf).
pub const SUPERPAGE_SIZE: usize = PAGE_SIZE * ENTRIES;

/// IOVAs are kept in the lower half of the Sv39 space, so bits 63:39 (which
/// must equal bit 38) are zero.
pub const IOVA_BITS: u32 = 38;

/// Bits of the page number each level resolves (512 entries a table).
const ENTRY_BITS: usize = 9;

/// 4 KiB pages covered by one entry of each level.
const LEVEL_PAGES: [usize; 3] = [1, ENTRIES, ENTRIES * ENTRIES];

const PTE_V: u64 = 1 << 0;
const PTE_R: u64 = 1 << 1;
const PTE_W: u64 = 1 << 2;
const PTE_X: u64 = 1 << 3;
const PTE_U: u64 = 1 << 4;
const PTE_A: u64 = 1 << 6;
const PTE_D: u64 = 1 << 7;
const PTE_PPN_SHIFT: u32 = 10;
const PTE_PPN_MASK: u64 = (1 << 44) - 1;
/// Physical pages per value of a PTE's high word (PPN bits 22 and up).
const PPN_HIGH_WORD: usize = 1 << (32 - PTE_PPN_SHIFT);

/// Index, in its level-`level` table, of the entry for IOVA page `page`.
///
/// Page numbers (IOVA / 4 KiB) are below 2^26, so they are `usize`s even on
/// rv32, where 64-bit arithmetic costs several instructions per operation.
fn index(page: usize, level: usize) -> usize {
    (page >> (ENTRY_BITS * level)) % ENTRIES
}

fn is_leaf(pte: u64) -> bool {
    pte & (PTE_R | PTE_W | PTE_X) != 0
}

fn pte_phys(pte: u64) -> u64 {
    ((pte >> PTE_PPN_SHIFT) & PTE_PPN_MASK) << 12
}

fn pointer_pte(table: Table) -> u64 {
    ((table.phys() as u64 >> 12) << PTE_PPN_SHIFT) | PTE_V
}

fn permissions_of(pte: u64) -> Permissions {
    Permissions {
        read: pte & PTE_R != 0,
        write: pte & PTE_W != 0,
        execute: pte & PTE_X != 0,
    }
}

/// The table an entry points to: it must be a valid non-leaf entry whose
/// target is a page of the pool.
fn next_table(pool: &PagePool<'_, impl DmaFence>, pte: u64) -> Result<Option<Table>, ErrorCode> {
    if pte & PTE_V == 0 {
        return Ok(None);
    }
    if is_leaf(pte) {
        return Err(ErrorCode::ALREADY);
    }
    let phys = usize::try_from(pte_phys(pte)).map_err(|_| ErrorCode::FAIL)?;
    pool.table_at(phys).map(Some).ok_or(ErrorCode::FAIL)
}

/// Checks a range given to map or unmap; returns its IOVA page numbers.
fn check_range(iova: usize, len: usize) -> Result<Range<usize>, ErrorCode> {
    let end = (iova as u64)
        .checked_add(len as u64)
        .ok_or(ErrorCode::INVAL)?;
    if !(iova | len).is_multiple_of(PAGE_SIZE) || len == 0 || end > 1 << IOVA_BITS {
        return Err(ErrorCode::INVAL);
    }
    // Both below 2^26, so no overflow.
    Ok(iova / PAGE_SIZE..iova / PAGE_SIZE + len / PAGE_SIZE)
}

/// The pieces of `pages` that each lie in one 2 MiB region, in order: each
/// is a run of entries in one level-0 table (or one superpage).
fn spans(pages: Range<usize>) -> impl Iterator<Item = Range<usize>> {
    let mut at = pages.start;
    core::iter::from_fn(move || {
        if at >= pages.end {
            return None;
        }
        let start = at;
        at = pages.end.min((at | (ENTRIES - 1)) + 1);
        Some(start..at)
    })
}

/// The leaves of one map: IOVA page `first` to physical page `ppn`, the
/// pages after it to the physical pages after that.
#[derive(Clone, Copy)]
struct Leaves {
    first: usize,
    ppn: usize,
    flags: u64,
}

impl Leaves {
    fn new(first: usize, phys: usize, permissions: Permissions) -> Leaves {
        let mut flags = PTE_V | PTE_U | PTE_A | PTE_R;
        if permissions.write {
            flags |= PTE_W | PTE_D;
        }
        if permissions.execute {
            flags |= PTE_X;
        }
        Leaves {
            first,
            ppn: phys / PAGE_SIZE,
            flags,
        }
    }

    /// The physical page for IOVA page `page`.
    fn ppn(&self, page: usize) -> usize {
        self.ppn + (page - self.first)
    }

    /// The leaf entry for IOVA page `page` (4 KiB or 2 MiB: same format).
    fn pte(&self, page: usize) -> u64 {
        ((self.ppn(page) as u64) << PTE_PPN_SHIFT) | self.flags
    }

    /// Whether `span` is one superpage: a whole 2 MiB region (spans never
    /// cross one) going to a 2 MiB-aligned physical address. It is used
    /// only where the level-1 slot is empty.
    fn superpage(&self, span: &Range<usize>) -> bool {
        span.len() == ENTRIES && self.ppn(span.start).is_multiple_of(ENTRIES)
    }
}

/// Maps `[iova, iova + len)` to `[phys, phys + len)` in the table rooted at
/// `root`, with superpages where possible. All or nothing: on error the
/// table is as it was.
///
/// Errors: `INVAL` (alignment, empty, overflow, beyond `IOVA_BITS`, or
/// permissions without read), `ALREADY` (part of the range is mapped),
/// `NOMEM` (the pool cannot hold the tables needed), `FAIL` (a table
/// points outside the pool: memory corruption).
pub fn map(
    pool: &PagePool<'_, impl DmaFence>,
    root: Table,
    iova: usize,
    phys: usize,
    len: usize,
    permissions: Permissions,
) -> Result<(), ErrorCode> {
    let pages = check_range(iova, len)?;
    // The PPN field holds 44 bits: physical addresses below 2^56.
    let phys_end = (phys as u64)
        .checked_add(len as u64)
        .ok_or(ErrorCode::INVAL)?;
    if !permissions.read || !phys.is_multiple_of(PAGE_SIZE) || phys_end > 1 << 56 {
        return Err(ErrorCode::INVAL);
    }
    let leaves = Leaves::new(pages.start, phys, permissions);
    let checked = check_map(pool, root, pages.clone(), leaves)?;
    if checked.tables_needed > pool.free_count() {
        return Err(ErrorCode::NOMEM);
    }
    for span in spans(pages.clone()) {
        let end = span.end;
        // Installing creates tables only where entries are invalid, so a
        // level-0 table found by the check is still the one to use.
        let level0 = checked.last_level0.filter(|_| span.end == pages.end);
        if let Err(error) = install_span(pool, root, span, leaves, level0) {
            // Only reachable if the count above was wrong: undo what was
            // installed so the map stays all-or-nothing. Every entry up to
            // the end of this span was invalid before, so clearing them all
            // restores the table.
            let _ = unmap_pages(pool, root, pages.start..end, true);
            return Err(error);
        }
    }
    Ok(())
}

/// An upper bound on the tables a `map` of `[iova, iova + len)` would take.
///
/// Exactly the tables it would create now if no part of the range became a
/// superpage. Errors as `map` (`INVAL`, `ALREADY`, `FAIL`).
pub fn tables_for_map(
    pool: &PagePool<'_, impl DmaFence>,
    root: Table,
    iova: usize,
    len: usize,
) -> Result<usize, ErrorCode> {
    let pages = check_range(iova, len)?;
    // Leaves whose physical page is never 2 MiB-aligned where a span
    // starts (IOVA page p goes to physical page p + 1), so the count
    // assumes a level-0 table for every span: the most a map can need.
    let leaves = Leaves::new(
        pages.start,
        (pages.start + 1) * PAGE_SIZE,
        Permissions::READ,
    );
    Ok(check_map(pool, root, pages, leaves)?.tables_needed)
}

/// What the first pass of `map` found.
struct MapCheck {
    /// Tables to allocate.
    tables_needed: usize,
    /// The level-0 table of the range's last span, if it exists: a map
    /// within one 2 MiB region (the common case) then walks only once.
    last_level0: Option<Table>,
}

/// First pass of `map`: checks that nothing in the range is mapped and
/// counts the tables to allocate, without writing. One walk from the root
/// per 2 MiB span, then one load per 4 KiB page.
fn check_map(
    pool: &PagePool<'_, impl DmaFence>,
    root: Table,
    pages: Range<usize>,
    leaves: Leaves,
) -> Result<MapCheck, ErrorCode> {
    let mut check = MapCheck {
        tables_needed: 0,
        last_level0: None,
    };
    // The root entry of the last level-1 table counted as new.
    let mut new_level1 = None;
    for span in spans(pages) {
        let (i2, i1, i0) = (
            index(span.start, 2),
            index(span.start, 1),
            index(span.start, 0),
        );
        check.last_level0 = None;
        let level1 = next_table(pool, pool.read(root, i2))?;
        if level1.is_none() && new_level1 != Some(i2) {
            new_level1 = Some(i2);
            check.tables_needed += 1;
        }
        let slot = level1.map_or(0, |table| pool.read(table, i1));
        if slot & PTE_V == 0 && leaves.superpage(&span) {
            continue;
        }
        match next_table(pool, slot)? {
            None => check.tables_needed += 1,
            Some(level0) => {
                let entries = pool
                    .entries(level0, i0, span.len())
                    .ok_or(ErrorCode::FAIL)?;
                if u64::from(entries.low_union()) & PTE_V != 0 {
                    return Err(ErrorCode::ALREADY);
                }
                check.last_level0 = Some(level0);
            }
        }
    }
    Ok(check)
}

/// Returns the table `table[entry]` points to, creating it if absent.
fn table_or_new(
    pool: &PagePool<'_, impl DmaFence>,
    table: Table,
    entry: usize,
) -> Result<Table, ErrorCode> {
    if let Some(next) = next_table(pool, pool.read(table, entry))? {
        return Ok(next);
    }
    let next = pool.allocate().ok_or(ErrorCode::NOMEM)?;
    pool.install(table, entry, pointer_pte(next));
    Ok(next)
}

/// Second pass of `map`: installs the leaves of one span (checked by
/// `check_map`), creating the tables on its path unless its level-0 table
/// is given.
fn install_span(
    pool: &PagePool<'_, impl DmaFence>,
    root: Table,
    span: Range<usize>,
    leaves: Leaves,
    level0: Option<Table>,
) -> Result<(), ErrorCode> {
    let level0 = match level0 {
        Some(table) => table,
        None => {
            let i1 = index(span.start, 1);
            let level1 = table_or_new(pool, root, index(span.start, 2))?;
            if pool.read(level1, i1) & PTE_V == 0 && leaves.superpage(&span) {
                pool.install(level1, i1, leaves.pte(span.start));
                return Ok(());
            }
            table_or_new(pool, level1, i1)?
        }
    };
    // Consecutive leaves differ only in the low word, except where the
    // PPN crosses a multiple of 2^22 and the high word changes: one run on
    // each side of it. That is at 16 GiB of physical memory, beyond a
    // 32-bit `usize` (whose PPNs stay below 2^21 even with the page offset
    // added), so rv32 never splits.
    let mut at = span.start;
    while at < span.end {
        let stop = if usize::BITS <= 32 {
            span.end
        } else {
            span.end
                .min(at + (PPN_HIGH_WORD - leaves.ppn(at) % PPN_HIGH_WORD))
        };
        let pte = leaves.pte(at);
        pool.entries(level0, index(at, 0), stop - at)
            .ok_or(ErrorCode::FAIL)?
            .install_sequence((pte >> 32) as u32, pte as u32, 1 << PTE_PPN_SHIFT);
        at = stop;
    }
    Ok(())
}

/// Unmaps every page in `[iova, iova + len)`; absent pages are skipped.
/// Returns the number of leaf entries cleared. Checks first, so on error
/// nothing was changed.
///
/// Errors: `INVAL` (alignment, empty, overflow, beyond `IOVA_BITS`, or
/// part of a superpage), `FAIL` (a table points outside the pool, or a
/// level-0 entry is a pointer: memory corruption).
pub fn unmap(
    pool: &PagePool<'_, impl DmaFence>,
    root: Table,
    iova: usize,
    len: usize,
) -> Result<usize, ErrorCode> {
    let pages = check_range(iova, len)?;
    unmap_pages(pool, root, pages.clone(), false)?;
    unmap_pages(pool, root, pages, true)
}

/// Visits the leaves of `pages`, one walk from the root per 2 MiB span;
/// clears them if `clear`, else only checks that no superpage is cut and
/// that the walk meets no malformed entry.
fn unmap_pages(
    pool: &PagePool<'_, impl DmaFence>,
    root: Table,
    pages: Range<usize>,
    clear: bool,
) -> Result<usize, ErrorCode> {
    let mut cleared = 0;
    'spans: for span in spans(pages.clone()) {
        let mut table = root;
        for level in [2, 1] {
            let entry = index(span.start, level);
            let pte = pool.read(table, entry);
            if pte & PTE_V != 0 && is_leaf(pte) {
                // A superpage (or a 1 GiB page, which only another writer
                // makes): refused unless the range covers all of it.
                let base = span.start - span.start % LEVEL_PAGES[level];
                if base < pages.start || pages.end - base < LEVEL_PAGES[level] {
                    return Err(ErrorCode::INVAL);
                }
                if clear {
                    pool.clear(table, entry);
                    cleared += 1;
                }
                continue 'spans;
            }
            match next_table(pool, pte)? {
                Some(next) => table = next,
                None => continue 'spans,
            }
        }
        let entries = pool
            .entries(table, index(span.start, 0), span.len())
            .ok_or(ErrorCode::FAIL)?;
        if clear {
            cleared += entries.clear_where(|low| u64::from(low) & PTE_V != 0);
        } else if entries.any_low(|low| {
            // A valid level-0 entry that is not a leaf.
            u64::from(low) & (PTE_V | PTE_R | PTE_W | PTE_X) == PTE_V
        }) {
            return Err(ErrorCode::FAIL);
        }
    }
    Ok(cleared)
}

/// Walks the table for `iova`. `Ok(None)` if it is not mapped.
pub fn translate(
    pool: &PagePool<'_, impl DmaFence>,
    root: Table,
    iova: usize,
) -> Result<Option<Translation>, ErrorCode> {
    if iova as u64 >= 1 << IOVA_BITS {
        return Err(ErrorCode::INVAL);
    }
    let page = iova / PAGE_SIZE;
    let mut table = root;
    for level in (0..3).rev() {
        let pte = pool.read(table, index(page, level));
        if pte & PTE_V == 0 {
            return Ok(None);
        }
        if is_leaf(pte) {
            let size = LEVEL_PAGES[level] * PAGE_SIZE;
            let phys = pte_phys(pte) + (iova % size) as u64;
            return Ok(Some(Translation {
                phys: usize::try_from(phys).map_err(|_| ErrorCode::FAIL)?,
                permissions: permissions_of(pte),
                page_size: size,
            }));
        }
        match next_table(pool, pte)? {
            Some(next) if level > 0 => table = next,
            _ => return Err(ErrorCode::FAIL),
        }
    }
    Ok(None)
}

/// Returns every table of the tree rooted at `root`, and `root`, to the
/// pool. The caller guarantees no context uses the tree and that the
/// hardware can no longer use cached pointers into it.
///
/// A tree built by `map` names each table once. If memory corruption made
/// two entries name one table, the pool refuses to free it a second time;
/// the refusal is ignored, since the page is then free exactly once.
pub fn destroy(pool: &PagePool<'_, impl DmaFence>, root: Table) {
    for i2 in 0..ENTRIES {
        let Ok(Some(level1)) = next_table(pool, pool.read(root, i2)) else {
            continue;
        };
        for i1 in 0..ENTRIES {
            if let Ok(Some(level0)) = next_table(pool, pool.read(level1, i1)) {
                let _ = pool.release(level0);
            }
        }
        let _ = pool.release(level1);
    }
    let _ = pool.release(root);
}

#[cfg(test)]
#[path = "sv39_tests.rs"]
mod tests;
