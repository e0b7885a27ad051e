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
//! - tables are freed only by [`destroy`], when no context uses the domain,
//!   because the IOMMU may cache non-leaf entries.

use crate::pool::{ENTRIES, PAGE_SIZE, PagePool, Table};
use kernel::ErrorCode;
use kernel::hil::iommu::{Permissions, Translation};

/// Size of a 2 MiB superpage (a level-1 leaf).
pub const SUPERPAGE_SIZE: usize = PAGE_SIZE * ENTRIES;

/// IOVAs are kept in the lower half of the Sv39 space, so bits 63:39 (which
/// must equal bit 38) are zero.
pub const IOVA_BITS: u32 = 38;

const LEVEL_SPAN: [u64; 3] = [1 << 12, 1 << 21, 1 << 30];

const PTE_V: u64 = 1 << 0;
const PTE_R: u64 = 1 << 1;
const PTE_W: u64 = 1 << 2;
const PTE_X: u64 = 1 << 3;
const PTE_U: u64 = 1 << 4;
const PTE_A: u64 = 1 << 6;
const PTE_D: u64 = 1 << 7;
const PTE_PPN_SHIFT: u32 = 10;
const PTE_PPN_MASK: u64 = (1 << 44) - 1;

fn index(iova: u64, level: usize) -> usize {
    ((iova >> (12 + 9 * level)) & (ENTRIES as u64 - 1)) as usize
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

fn leaf_pte(phys: u64, permissions: Permissions) -> u64 {
    let mut pte = ((phys >> 12) << PTE_PPN_SHIFT) | PTE_V | PTE_U | PTE_A | PTE_R;
    if permissions.write {
        pte |= PTE_W | PTE_D;
    }
    if permissions.execute {
        pte |= PTE_X;
    }
    pte
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
fn next_table(pool: &PagePool, pte: u64) -> Result<Option<Table>, ErrorCode> {
    if pte & PTE_V == 0 {
        return Ok(None);
    }
    if is_leaf(pte) {
        return Err(ErrorCode::ALREADY);
    }
    let phys = usize::try_from(pte_phys(pte)).map_err(|_| ErrorCode::FAIL)?;
    pool.table_at(phys).map(Some).ok_or(ErrorCode::FAIL)
}

/// Checks a range given to map or unmap; returns it as `u64`s.
fn check_range(iova: usize, len: usize) -> Result<(u64, u64), ErrorCode> {
    let (iova, len) = (iova as u64, len as u64);
    let end = iova.checked_add(len).ok_or(ErrorCode::INVAL)?;
    let aligned = (iova | len) % PAGE_SIZE as u64 == 0;
    if !aligned || len == 0 || end > 1 << IOVA_BITS {
        return Err(ErrorCode::INVAL);
    }
    Ok((iova, end))
}

/// Whether the chunk at `iova` is a superpage: both addresses aligned,
/// enough length left, and the level-1 slot empty (`slot` is `None` when its
/// level-1 table does not exist yet).
fn use_superpage(iova: u64, phys: u64, end: u64, slot: Option<u64>) -> bool {
    let span = LEVEL_SPAN[1];
    (iova | phys).is_multiple_of(span)
        && end - iova >= span
        && slot.is_none_or(|pte| pte & PTE_V == 0)
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
    pool: &PagePool,
    root: Table,
    iova: usize,
    phys: usize,
    len: usize,
    permissions: Permissions,
) -> Result<(), ErrorCode> {
    let (start, end) = check_range(iova, len)?;
    let phys_start = phys as u64;
    if !permissions.read || !phys_start.is_multiple_of(PAGE_SIZE as u64) {
        return Err(ErrorCode::INVAL);
    }
    // The PPN field holds 44 bits: physical addresses below 2^56.
    let phys_end = phys_start.checked_add(len as u64).ok_or(ErrorCode::INVAL)?;
    if phys_end > 1 << 56 {
        return Err(ErrorCode::INVAL);
    }
    let needed = tables_needed(pool, root, start, phys_start, end)?;
    if needed > pool.free_count() {
        return Err(ErrorCode::NOMEM);
    }
    let mut at = start;
    while at < end {
        let target = phys_start + (at - start);
        match install_chunk(pool, root, at, target, end, permissions) {
            Ok(next) => at = next,
            Err(error) => {
                // Only reachable if the count above was wrong: undo what
                // was installed so the map stays all-or-nothing.
                if at > start {
                    let _ = unmap(pool, root, iova, (at - start) as usize);
                }
                return Err(error);
            }
        }
    }
    Ok(())
}

/// First pass of `map`: checks that nothing in the range is mapped and
/// counts the tables to allocate, without writing.
fn tables_needed(
    pool: &PagePool,
    root: Table,
    start: u64,
    phys: u64,
    end: u64,
) -> Result<usize, ErrorCode> {
    let mut needed = 0;
    let mut new_level1: Option<usize> = None;
    let mut new_level0: Option<(usize, usize)> = None;
    let mut at = start;
    while at < end {
        let target = phys + (at - start);
        let (i2, i1, i0) = (index(at, 2), index(at, 1), index(at, 0));
        let level1 = next_table(pool, pool.read(root, i2))?;
        if level1.is_none() && new_level1 != Some(i2) {
            new_level1 = Some(i2);
            needed += 1;
        }
        let slot = level1.map(|table| pool.read(table, i1));
        if use_superpage(at, target, end, slot) {
            at += LEVEL_SPAN[1];
            continue;
        }
        let level0 = match slot {
            Some(pte) => next_table(pool, pte)?,
            None => None,
        };
        match level0 {
            Some(table) if pool.read(table, i0) & PTE_V != 0 => return Err(ErrorCode::ALREADY),
            Some(_) => {}
            None if new_level0 != Some((i2, i1)) => {
                new_level0 = Some((i2, i1));
                needed += 1;
            }
            None => {}
        }
        at += LEVEL_SPAN[0];
    }
    Ok(needed)
}

/// Returns the table `table[entry]` points to, creating it if absent.
fn table_or_new(pool: &PagePool, table: Table, entry: usize) -> Result<Table, ErrorCode> {
    if let Some(next) = next_table(pool, pool.read(table, entry))? {
        return Ok(next);
    }
    let next = pool.allocate().ok_or(ErrorCode::NOMEM)?;
    pool.install(table, entry, pointer_pte(next));
    Ok(next)
}

/// Second pass of `map`: installs one page or superpage; returns the next
/// IOVA.
fn install_chunk(
    pool: &PagePool,
    root: Table,
    at: u64,
    target: u64,
    end: u64,
    permissions: Permissions,
) -> Result<u64, ErrorCode> {
    let level1 = table_or_new(pool, root, index(at, 2))?;
    let slot = pool.read(level1, index(at, 1));
    if use_superpage(at, target, end, Some(slot)) {
        pool.install(level1, index(at, 1), leaf_pte(target, permissions));
        return Ok(at + LEVEL_SPAN[1]);
    }
    let level0 = table_or_new(pool, level1, index(at, 1))?;
    if pool.read(level0, index(at, 0)) & PTE_V != 0 {
        return Err(ErrorCode::ALREADY);
    }
    pool.install(level0, index(at, 0), leaf_pte(target, permissions));
    Ok(at + LEVEL_SPAN[0])
}

/// Unmaps every page in `[iova, iova + len)`; absent pages are skipped.
/// Returns the number of leaf entries cleared. Checks first, so on error
/// nothing was changed.
///
/// Errors: `INVAL` (alignment, empty, overflow, beyond `IOVA_BITS`, or
/// part of a superpage), `FAIL` (a table points outside the pool).
pub fn unmap(pool: &PagePool, root: Table, iova: usize, len: usize) -> Result<usize, ErrorCode> {
    let (start, end) = check_range(iova, len)?;
    walk_range(pool, root, start, end, false)?;
    walk_range(pool, root, start, end, true)
}

/// Visits the leaves of `[start, end)`, skipping absent subtrees; clears
/// them if `clear`, else only checks that no superpage is cut.
fn walk_range(
    pool: &PagePool,
    root: Table,
    start: u64,
    end: u64,
    clear: bool,
) -> Result<usize, ErrorCode> {
    let mut cleared = 0;
    let mut at = start;
    while at < end {
        let mut table = root;
        let mut level = 2;
        loop {
            let pte = pool.read(table, index(at, level));
            let span = LEVEL_SPAN[level];
            let next_boundary = (at & !(span - 1)) + span;
            if pte & PTE_V == 0 {
                at = next_boundary;
                break;
            }
            if is_leaf(pte) {
                // Spans are powers of two: a mask, not a 64-bit division
                // (which rv32 does in software).
                if at & (span - 1) != 0 || next_boundary > end {
                    return Err(ErrorCode::INVAL);
                }
                if clear {
                    pool.clear(table, index(at, level));
                    cleared += 1;
                }
                at = next_boundary;
                break;
            }
            if level == 0 {
                // A pointer at level 0 is malformed; only corruption makes it.
                return Err(ErrorCode::FAIL);
            }
            table = next_table(pool, pte)?.ok_or(ErrorCode::FAIL)?;
            level -= 1;
        }
    }
    Ok(cleared)
}

/// Walks the table for `iova`. `Ok(None)` if it is not mapped.
pub fn translate(
    pool: &PagePool,
    root: Table,
    iova: usize,
) -> Result<Option<Translation>, ErrorCode> {
    let iova = iova as u64;
    if iova >= 1 << IOVA_BITS {
        return Err(ErrorCode::INVAL);
    }
    let mut table = root;
    for level in (0..3).rev() {
        let pte = pool.read(table, index(iova, level));
        if pte & PTE_V == 0 {
            return Ok(None);
        }
        if is_leaf(pte) {
            let span = LEVEL_SPAN[level];
            let phys = pte_phys(pte) + (iova & (span - 1));
            return Ok(Some(Translation {
                phys: usize::try_from(phys).map_err(|_| ErrorCode::FAIL)?,
                permissions: permissions_of(pte),
                page_size: span as usize,
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
pub fn destroy(pool: &PagePool, root: Table) {
    for i2 in 0..ENTRIES {
        let Ok(Some(level1)) = next_table(pool, pool.read(root, i2)) else {
            continue;
        };
        for i1 in 0..ENTRIES {
            if let Ok(Some(level0)) = next_table(pool, pool.read(level1, i1)) {
                pool.release(level0);
            }
        }
        pool.release(level1);
    }
    pool.release(root);
}

#[cfg(test)]
#[path = "sv39_tests.rs"]
mod tests;
