// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The device directory table and device contexts.
//!
//! RISC-V IOMMU spec 1.0 section 2.1 ("Device-directory-table (DDT)") and
//! 2.1.3 ("Device-context (DC)"): a radix tree of 1 to 3 levels indexed by
//! `device_id`, whose leaves are device contexts of 32 bytes (base format)
//! or 64 bytes (extended format, used when `capabilities.MSI_FLAT` = 1).
//! This module builds the tree on pool pages and writes device contexts in
//! the order that keeps a half-written context invalid. No MMIO.

use crate::pool::{PagePool, Table};
use crate::registers::ddtp;
use kernel::ErrorCode;
use kernel::platform::dma_fence::DmaFence;

const DDT_ENTRY_V: u64 = 1;
const PPN_SHIFT: u32 = 10;

/// `tc.V` (2.1.3.1).
const TC_V: u64 = 1;
/// `fsc.MODE` = Sv39 when `tc.PDTV` = 0 (2.1.3.4, table 4).
const FSC_MODE_SV39: u64 = 8 << 60;
/// `ta.PSCID` position (2.1.3.3).
const TA_PSCID_SHIFT: u32 = 12;

/// Doubleword offsets of the fields of a device context.
const FIELD_TC: usize = 0;
const FIELD_IOHGATP: usize = 1;
const FIELD_TA: usize = 2;
const FIELD_FSC: usize = 3;
const FIELD_MSIPTP: usize = 4;

/// Shape of the device directory: format and number of levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Directory {
    /// Device contexts are the 64-byte extended format.
    pub extended: bool,
    /// 1, 2 or 3.
    pub levels: u32,
}

impl Directory {
    /// The smallest directory that covers device ids up to `max_device_id`
    /// (2.1, "DDI" fields: 7/9/8 bits for the base format, 6/9/9 for the
    /// extended one).
    pub fn for_device_ids(max_device_id: u32, extended: bool) -> Result<Directory, ErrorCode> {
        let leaf_bits = if extended { 6 } else { 7 };
        let levels = if max_device_id < 1 << leaf_bits {
            1
        } else if max_device_id < 1 << (leaf_bits + 9) {
            2
        } else if max_device_id < 1 << 24 {
            3
        } else {
            return Err(ErrorCode::INVAL);
        };
        Ok(Directory { extended, levels })
    }

    /// `ddtp.iommu_mode` for this directory.
    pub fn mode(&self) -> u32 {
        match self.levels {
            1 => ddtp::iommu_mode::OneLevel.value,
            2 => ddtp::iommu_mode::TwoLevel.value,
            _ => ddtp::iommu_mode::ThreeLevel.value,
        }
    }

    fn leaf_bits(&self) -> u32 {
        if self.extended { 6 } else { 7 }
    }

    /// Doublewords per device context.
    fn context_words(&self) -> usize {
        if self.extended { 8 } else { 4 }
    }

    /// The index into the table at `level` (0 = leaf) for `device_id`.
    fn index(&self, device_id: u32, level: u32) -> usize {
        let (shift, bits) = match level {
            0 => (0, self.leaf_bits()),
            1 => (self.leaf_bits(), 9),
            _ => (self.leaf_bits() + 9, 9),
        };
        ((device_id >> shift) & ((1 << bits) - 1)) as usize
    }

    /// Creates the path from `root` to the leaf page holding `device_id`'s
    /// context, and returns where the context is.
    pub fn locate(
        &self,
        pool: &PagePool<'_, impl DmaFence>,
        root: Table,
        device_id: u32,
    ) -> Result<ContextSlot, ErrorCode> {
        let mut table = root;
        for level in (1..self.levels).rev() {
            let entry = self.index(device_id, level);
            let pte = pool.read(table, entry);
            table = if pte & DDT_ENTRY_V != 0 {
                let phys =
                    usize::try_from((pte >> PPN_SHIFT) << 12).map_err(|_| ErrorCode::FAIL)?;
                pool.table_at(phys).ok_or(ErrorCode::FAIL)?
            } else {
                let next = pool.allocate().ok_or(ErrorCode::NOMEM)?;
                pool.install(
                    table,
                    entry,
                    ((next.phys() as u64 >> 12) << PPN_SHIFT) | DDT_ENTRY_V,
                );
                next
            };
        }
        Ok(ContextSlot {
            table,
            first_word: self.index(device_id, 0) * self.context_words(),
        })
    }
}

/// Where one device context lives: a leaf page and its first doubleword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextSlot {
    table: Table,
    first_word: usize,
}

impl ContextSlot {
    /// Points the context at the Sv39 table `root` with tag `pscid`. The
    /// context is made invalid first (`tc` cleared, low word first), its
    /// fields written and released to the IOMMU, and `tc.V` set last, so
    /// the IOMMU reads either an invalid context (it faults: blocked) or
    /// the whole new one. The page is released again after `tc.V`, so the
    /// caller's next MMIO write (the `IODIR.INVAL_DDT` it queues) finds
    /// the context valid. Second stage Bare (`iohgatp` 0), no MSI translation
    /// (`msiptp` 0, extended format only).
    pub fn write_translating(
        &self,
        pool: &PagePool<'_, impl DmaFence>,
        directory: &Directory,
        root: Table,
        pscid: u32,
    ) {
        self.write_blocking(pool);
        pool.install(self.table, self.first_word + FIELD_IOHGATP, 0);
        pool.install(
            self.table,
            self.first_word + FIELD_TA,
            u64::from(pscid) << TA_PSCID_SHIFT,
        );
        pool.install(
            self.table,
            self.first_word + FIELD_FSC,
            FSC_MODE_SV39 | (root.phys() as u64 >> 12),
        );
        if directory.extended {
            pool.install(self.table, self.first_word + FIELD_MSIPTP, 0);
        }
        pool.publish(self.table);
        // tc: V only; SXL = 0 (Sv39 is valid whatever fctl.GXL is).
        pool.install(self.table, self.first_word + FIELD_TC, TC_V);
        pool.publish(self.table);
    }

    /// Makes the context invalid, and releases the page to the IOMMU: it
    /// faults every access with cause 258 ("DDT entry not valid") once it
    /// reads the context again; there is no bypass.
    pub fn write_blocking(&self, pool: &PagePool<'_, impl DmaFence>) {
        pool.clear(self.table, self.first_word + FIELD_TC);
        pool.publish(self.table);
    }

    /// The context's `tc` doubleword.
    #[cfg(test)]
    fn tc(&self, pool: &PagePool<'_, impl DmaFence>) -> u64 {
        pool.read(self.table, self.first_word + FIELD_TC)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::pool::test_pool::pool;

    #[test]
    fn levels_for_device_ids() {
        assert_eq!(Directory::for_device_ids(63, true).unwrap().levels, 1);
        assert_eq!(Directory::for_device_ids(64, true).unwrap().levels, 2);
        assert_eq!(Directory::for_device_ids(127, false).unwrap().levels, 1);
        assert_eq!(
            Directory::for_device_ids((1 << 15) - 1, true)
                .unwrap()
                .levels,
            2
        );
        assert_eq!(Directory::for_device_ids(1 << 15, true).unwrap().levels, 3);
        assert_eq!(
            Directory::for_device_ids(1 << 24, true),
            Err(ErrorCode::INVAL)
        );
    }

    #[test]
    fn one_level_context_offsets() {
        let pool = pool(2);
        let root = pool.allocate().unwrap();
        let directory = Directory::for_device_ids(8, true).unwrap();
        let slot = directory.locate(&pool, root, 8).unwrap();
        assert_eq!(slot.table, root);
        assert_eq!(slot.first_word, 8 * 8, "64-byte contexts");
        assert_eq!(pool.free_count(), 1, "no extra page for one level");
    }

    #[test]
    fn two_level_shares_leaf_pages() {
        let pool = pool(4);
        let root = pool.allocate().unwrap();
        let directory = Directory::for_device_ids(0x100, true).unwrap();
        let a = directory.locate(&pool, root, 0x100).unwrap();
        let b = directory.locate(&pool, root, 0x101).unwrap();
        assert_eq!(a.table, b.table);
        assert_ne!(a.table, root);
        assert_eq!(pool.free_count(), 2);
        assert_eq!(pool.read(root, 4) & 1, 1, "non-leaf entry valid");
    }

    #[test]
    fn locating_again_reuses_the_path() {
        let pool = pool(4);
        let root = pool.allocate().unwrap();
        let directory = Directory::for_device_ids(0x100, true).unwrap();
        let first = directory.locate(&pool, root, 0x100).unwrap();
        assert_eq!(pool.free_count(), 2, "one leaf page allocated");
        assert_eq!(directory.locate(&pool, root, 0x100), Ok(first));
        // A neighbour on the same leaf page shares it.
        assert!(directory.locate(&pool, root, 0x101).is_ok());
        assert_eq!(pool.free_count(), 2);
    }

    #[test]
    fn context_fields() {
        let pool = pool(3);
        let root = pool.allocate().unwrap();
        let tables = pool.allocate().unwrap();
        let directory = Directory::for_device_ids(8, true).unwrap();
        let slot = directory.locate(&pool, root, 3).unwrap();
        slot.write_translating(&pool, &directory, tables, 7);
        let base = slot.first_word;
        assert_eq!(pool.read(root, base), 1);
        assert_eq!(pool.read(root, base + 2), 7 << 12);
        assert_eq!(
            pool.read(root, base + 3),
            (8 << 60) | (tables.phys() as u64 >> 12)
        );
        slot.write_blocking(&pool);
        assert_eq!(slot.tc(&pool) & 1, 0);
    }
}
