// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! A pool of 4 KiB pages for IOMMU tables, given by the board.
//!
//! Page tables (RISC-V IOMMU spec 1.0, section 2.3 "Process to translate an
//! IOVA", Sv39 as in the privileged spec section 10.3.2) and device directory
//! pages live in memory the IOMMU reads with implicit loads, so they are
//! never Rust references: the pool turns the board's `&mut [Page]` into a
//! raw region, hands out [`Table`] handles for pages inside it, and does
//! every access to table memory itself, as volatile 32-bit accesses (rv32
//! cannot do 64-bit stores; the IOMMU reads at least 32 bits atomically,
//! spec section 2.9 "Updating in-memory data structure entries").
//!
//! Free pages form a list threaded through their first word. The pool is
//! single-threaded (`Cell`s), as the kernel is.

use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr::NonNull;

/// Bytes in a page and in a table.
pub const PAGE_SIZE: usize = 4096;

/// 8-byte entries per table.
pub const ENTRIES: usize = 512;

/// One 4 KiB page, aligned as the IOMMU requires for every table.
#[repr(C, align(4096))]
pub struct Page(pub [u64; ENTRIES]);

impl Page {
    /// A zeroed page, for `static` pools.
    pub const ZERO: Page = Page([0; ENTRIES]);
}

const NO_PAGE: usize = usize::MAX;

/// A page of the pool, in use as a table. Only the pool creates these, so a
/// `Table` always names a page inside the pool's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table {
    index: usize,
    phys: usize,
}

impl Table {
    /// The physical address of the page (the kernel runs with physical
    /// addresses, so this is also its address in the kernel).
    pub fn phys(&self) -> usize {
        self.phys
    }
}

/// Pages for IOMMU tables, handed out one at a time.
pub struct PagePool<'a> {
    base: NonNull<Page>,
    count: usize,
    free_head: Cell<usize>,
    free_count: Cell<usize>,
    stores: Cell<usize>,
    _pages: PhantomData<&'a mut [Page]>,
}

impl<'a> PagePool<'a> {
    /// Takes `pages` for the life of the pool; all of them start free.
    pub fn new(pages: &'a mut [Page]) -> PagePool<'a> {
        let count = pages.len();
        // `as_mut_ptr` of a slice is never null (dangling but aligned if the
        // slice is empty, in which case it is never dereferenced).
        let base = NonNull::from(pages).cast::<Page>();
        let pool = PagePool {
            base,
            count,
            free_head: Cell::new(NO_PAGE),
            free_count: Cell::new(0),
            stores: Cell::new(0),
            _pages: PhantomData,
        };
        for index in (0..count).rev() {
            pool.push_free(index);
        }
        pool
    }

    /// Number of free pages.
    pub fn free_count(&self) -> usize {
        self.free_count.get()
    }

    /// Number of pages, free or not.
    pub fn capacity(&self) -> usize {
        self.count
    }

    /// Number of 32-bit stores made to table entries so far (zeroing a new
    /// page is not counted); for benchmarks.
    pub fn entry_stores(&self) -> usize {
        self.stores.get()
    }

    /// Takes a free page, zeroed, or `None` if the pool is empty.
    pub fn allocate(&self) -> Option<Table> {
        let index = self.free_head.get();
        if index == NO_PAGE {
            return None;
        }
        let table = self.table(index);
        let next = self.read_raw(table, 0);
        self.free_head.set(if next == 0 {
            NO_PAGE
        } else {
            next as usize - 1
        });
        self.free_count.set(self.free_count.get() - 1);
        for entry in 0..ENTRIES {
            self.write_raw(table, entry, 0);
        }
        Some(table)
    }

    /// Returns `table` to the pool. The caller must make sure the hardware
    /// can no longer reach it through any cached or in-memory pointer.
    pub fn release(&self, table: Table) {
        self.push_free(table.index);
    }

    /// The table at physical address `phys`, if `phys` is a page of this
    /// pool. Used to follow pointers read from tables without trusting them.
    pub fn table_at(&self, phys: usize) -> Option<Table> {
        let offset = phys.checked_sub(self.base.as_ptr() as usize)?;
        let index = offset / PAGE_SIZE;
        (offset % PAGE_SIZE == 0 && index < self.count).then(|| self.table(index))
    }

    /// Reads entry `entry` (< 512) of `table`: low word, then high word.
    pub fn read(&self, table: Table, entry: usize) -> u64 {
        self.read_raw(table, entry)
    }

    /// Installs `value` in entry `entry` of `table`: the high word first,
    /// then the low word that holds V, so the IOMMU never sees a valid entry
    /// with a stale high half.
    pub fn install(&self, table: Table, entry: usize, value: u64) {
        self.stores.set(self.stores.get() + 2);
        self.write_raw(table, entry, value);
    }

    /// Clears entry `entry` of `table`: the low word (V) first, so the IOMMU
    /// never sees a valid entry with a cleared high half.
    pub fn clear(&self, table: Table, entry: usize) {
        self.stores.set(self.stores.get() + 2);
        let word = self.word(table, entry);
        // SAFETY: `word` points into a page of the pool (see `word`), which
        // the pool owns for `'a`, and no Rust reference to it exists.
        unsafe {
            word.write_volatile(0);
            word.add(1).write_volatile(0);
        }
    }

    fn table(&self, index: usize) -> Table {
        Table {
            index,
            // SAFETY: `index < count`, so the result stays inside the slice
            // the pool was built from.
            phys: unsafe { self.base.as_ptr().add(index) } as usize,
        }
    }

    fn push_free(&self, index: usize) {
        let table = self.table(index);
        let next = self.free_head.get();
        self.write_raw(table, 0, if next == NO_PAGE { 0 } else { next as u64 + 1 });
        self.free_head.set(index);
        self.free_count.set(self.free_count.get() + 1);
    }

    /// Pointer to the low 32-bit word of entry `entry` of `table`.
    fn word(&self, table: Table, entry: usize) -> *mut u32 {
        assert!(entry < ENTRIES && table.index < self.count);
        // SAFETY: `table.index < count` and `entry < 512`, so the offset
        // stays inside the pool's slice.
        unsafe {
            self.base
                .as_ptr()
                .add(table.index)
                .cast::<u64>()
                .add(entry)
                .cast::<u32>()
        }
    }

    fn read_raw(&self, table: Table, entry: usize) -> u64 {
        let word = self.word(table, entry);
        // SAFETY: `word` points into a page of the pool, aligned to 8 bytes;
        // the hardware only reads these pages, software writes them only
        // through this pool.
        let (low, high) = unsafe { (word.read_volatile(), word.add(1).read_volatile()) };
        u64::from(low) | (u64::from(high) << 32)
    }

    fn write_raw(&self, table: Table, entry: usize, value: u64) {
        let word = self.word(table, entry);
        // SAFETY: as in `read_raw`; high word first (see `install`).
        unsafe {
            word.add(1).write_volatile((value >> 32) as u32);
            word.write_volatile(value as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::boxed::Box;
    use std::vec::Vec;

    pub(crate) fn pages(count: usize) -> &'static mut [Page] {
        let pages: Vec<Page> = (0..count).map(|_| Page::ZERO).collect();
        Box::leak(pages.into_boxed_slice())
    }

    #[test]
    fn allocate_all_then_none_then_reuse() {
        let pool = PagePool::new(pages(3));
        assert_eq!(pool.free_count(), 3);
        let tables: Vec<Table> = (0..3).map(|_| pool.allocate().unwrap()).collect();
        assert!(pool.allocate().is_none());
        assert_eq!(pool.free_count(), 0);
        for table in &tables {
            assert_eq!(table.phys() % PAGE_SIZE, 0);
            assert_eq!(pool.table_at(table.phys()), Some(*table));
        }
        pool.install(tables[1], 7, 0xdead_beef_0000_0001);
        pool.release(tables[1]);
        let again = pool.allocate().unwrap();
        assert_eq!(again, tables[1]);
        assert_eq!(
            pool.read(again, 0),
            0,
            "allocation zeroes the free-list link"
        );
        assert_eq!(pool.read(again, 7), 0, "allocation zeroes the page");
    }

    #[test]
    fn table_at_rejects_foreign_and_unaligned() {
        let pool = PagePool::new(pages(2));
        let table = pool.allocate().unwrap();
        assert!(pool.table_at(table.phys() + 8).is_none());
        assert!(pool.table_at(table.phys() + 2 * PAGE_SIZE).is_none());
        assert!(pool.table_at(0).is_none());
    }

    #[test]
    fn install_and_clear_write_both_halves() {
        let pool = PagePool::new(pages(1));
        let table = pool.allocate().unwrap();
        pool.install(table, 511, 0x1234_5678_9abc_def1);
        assert_eq!(pool.read(table, 511), 0x1234_5678_9abc_def1);
        pool.clear(table, 511);
        assert_eq!(pool.read(table, 511), 0);
        assert_eq!(pool.entry_stores(), 4);
    }
}
