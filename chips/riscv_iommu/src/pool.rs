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
//! The IOMMU reads these pages by DMA, so the pool holds the board's
//! `DmaFence` and releases pages to the IOMMU: a page as soon as it is
//! zeroed ([`PagePool::allocate`]), and any page after entries are written
//! ([`PagePool::publish`], [`PagePool::publish_all`]), before the write
//! that makes the IOMMU walk them. The IOMMU never writes these pages (the
//! driver leaves hardware A/D updates off), so nothing is acquired.
//!
//! No sequence of safe calls corrupts the pool. [`Table`] is a copyable
//! name for a page, not an owner: the walks copy it into their results,
//! the driver keeps a domain's root in a `Cell`, and the tables below a
//! root are found again from the entries that point at them, so an owned
//! handle would have to be rebuilt from an entry, which brings back the
//! question of whether that page was already released. Instead the pool
//! keeps one bit per page, set while the page is handed out, and
//! [`PagePool::release`] checks the handle against it: a page of another
//! pool is refused by address arithmetic before any pointer to it is
//! formed, and a page that is already free is refused too, so a page is
//! never handed out twice. The bits are the free list: nothing is kept in
//! the free pages themselves, so a write through a stale handle cannot
//! reach the pool's state (allocation zeroes the page anyway). The cost:
//! the bits take two words where the free list's head took one (4 bytes
//! more per pool), the checks about 140 bytes of rv32 code, and a pool
//! holds at most [`MAX_PAGES`] pages.
//!
//! The pool is single-threaded (`Cell`s), as the kernel is.

use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::ErrorCode;
use kernel::platform::dma_fence::DmaFence;

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

/// The most pages a pool holds: one bit of [`PagePool`] state each. With
/// 64 pages one domain maps over 120 MiB in 4 KiB pages (a level-0 table
/// covers 2 MiB).
pub const MAX_PAGES: usize = 64;

/// Pages whose state one word of [`PagePool`] holds: 32-bit words, since
/// a `u64` costs rv32 more code for every bit it tests.
const PAGES_PER_WORD: usize = u32::BITS as usize;

/// A page of the pool, in use as a table. Only the pool creates these, so a
/// `Table` always names a page inside the pool's memory. One word, so that
/// `Option<Table>` and walk results travel in registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table {
    page: NonNull<Page>,
}

impl Table {
    /// The physical address of the page (the kernel runs with physical
    /// addresses, so this is also its address in the kernel).
    pub fn phys(&self) -> usize {
        self.page.as_ptr() as usize
    }
}

/// Pages for IOMMU tables, handed out one at a time, released to the
/// IOMMU with the fence `F`.
pub struct PagePool<'a, F: DmaFence> {
    base: NonNull<Page>,
    count: usize,
    /// Bit `i % 32` of word `i / 32` is set while page `i` is handed out.
    in_use: [Cell<u32>; MAX_PAGES / PAGES_PER_WORD],
    stores: Cell<usize>,
    free: Cell<usize>,
    fence: F,
    _pages: PhantomData<&'a mut [Page]>,
}

impl<'a, F: DmaFence> PagePool<'a, F> {
    /// Takes `pages` for the life of the pool; all of them start free.
    /// `fence` is the platform's DMA fence for the IOMMU's table walks.
    ///
    /// # Panics
    ///
    /// If `pages` holds more than [`MAX_PAGES`] pages: the board's pool
    /// sizes are constants, so this is a board bug found at boot.
    pub fn new(pages: &'a mut [Page], fence: F) -> PagePool<'a, F> {
        assert!(pages.len() <= MAX_PAGES, "IOMMU page pool too large");
        let count = pages.len();
        // `as_mut_ptr` of a slice is never null (dangling but aligned if the
        // slice is empty, in which case it is never dereferenced).
        let base = NonNull::from(pages).cast::<Page>();
        PagePool {
            base,
            count,
            in_use: [const { Cell::new(0) }; MAX_PAGES / PAGES_PER_WORD],
            stores: Cell::new(0),
            free: Cell::new(count),
            fence,
            _pages: PhantomData,
        }
    }

    /// Number of free pages.
    pub fn free_count(&self) -> usize {
        self.free.get()
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
        // The lowest free page: bits at and above `count` are never set,
        // so this is `count` when every page is in use.
        let index = self.in_use.iter().enumerate().find_map(|(word, bits)| {
            let bit = bits.get().trailing_ones() as usize;
            (bit < PAGES_PER_WORD).then_some(word * PAGES_PER_WORD + bit)
        })?;
        if index >= self.count {
            return None;
        }
        self.set_in_use(index, true);
        self.free.set(self.free.get() - 1);
        let table = self.table(index);
        let words = self.low_word(index, 0);
        for word in 0..2 * ENTRIES {
            // SAFETY: `word` < 1024, so this stays inside the page `table`
            // (see `low_word`); no reference to it exists.
            unsafe { words.add(word).write_volatile(0) };
        }
        // The page may still hold entries from its previous use (`destroy`
        // does not clear them): the zeroes must be visible to the IOMMU
        // before any pointer to the page is installed, since a device may
        // be walking the domain while it grows.
        self.publish(table);
        Some(table)
    }

    /// Releases `table`'s page to the IOMMU: the entries written to it so
    /// far are what any walk started after this sees.
    pub fn publish(&self, table: Table) {
        // The fence does not access the page; the pointer only names it.
        self.fence
            .release(core::ptr::slice_from_raw_parts_mut(table.page.as_ptr(), 1));
    }

    /// Releases every page of the pool to the IOMMU (after a change that
    /// wrote entries in several tables).
    pub fn publish_all(&self) {
        self.fence.release(core::ptr::slice_from_raw_parts_mut(
            self.base.as_ptr(),
            self.count,
        ));
    }

    /// Returns `table` to the pool. The caller must make sure the hardware
    /// can no longer reach it through any cached or in-memory pointer.
    ///
    /// Errors, with the pool unchanged: `INVAL` (`table` is a page of
    /// another pool), `ALREADY` (the page is free: released before and not
    /// allocated since).
    pub fn release(&self, table: Table) -> Result<(), ErrorCode> {
        let index = self.index(table);
        if index >= self.count {
            return Err(ErrorCode::INVAL);
        }
        if !self.is_in_use(index) {
            return Err(ErrorCode::ALREADY);
        }
        self.set_in_use(index, false);
        self.free.set(self.free.get() + 1);
        Ok(())
    }

    /// The table at physical address `phys`, if `phys` is a page of this
    /// pool. Used to follow pointers read from tables without trusting
    /// them.
    #[inline]
    pub fn table_at(&self, phys: usize) -> Option<Table> {
        let offset = phys.wrapping_sub(self.base.as_ptr() as usize);
        let index = offset / PAGE_SIZE;
        (offset.is_multiple_of(PAGE_SIZE) && index < self.count).then(|| self.table(index))
    }

    /// Reads entry `entry` (< 512) of `table`: low word, then high word.
    #[inline]
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

    /// Entries `first..first + count` of `table`, checked once for the
    /// per-page loops of a map or unmap, or `None` if they are not all
    /// inside the table (or `table` is not of this pool).
    pub fn entries(&self, table: Table, first: usize, count: usize) -> Option<Entries<'_>> {
        let index = self.index(table);
        if index >= self.count || first > ENTRIES || count > ENTRIES - first {
            return None;
        }
        Some(Entries {
            words: self.low_word(index, first),
            count,
            stores: &self.stores,
        })
    }

    /// The table of page `index` (< `count`).
    fn table(&self, index: usize) -> Table {
        // SAFETY: `index < count`, so the result stays inside the slice the
        // pool was built from, and is not null.
        Table {
            page: unsafe { self.base.add(index) },
        }
    }

    /// Whether page `index` (< `count`) is handed out.
    #[inline]
    fn is_in_use(&self, index: usize) -> bool {
        self.in_use[index / PAGES_PER_WORD].get() >> (index % PAGES_PER_WORD) & 1 != 0
    }

    fn set_in_use(&self, index: usize, in_use: bool) {
        let word = &self.in_use[index / PAGES_PER_WORD];
        let bit = 1 << (index % PAGES_PER_WORD);
        word.set(if in_use {
            word.get() | bit
        } else {
            word.get() & !bit
        });
    }

    /// The index of `table`'s page in this pool; `count` or more if
    /// `table` is of another pool. The pointer used to reach the page is
    /// then made from `base` (see `low_word`), never from `table`.
    fn index(&self, table: Table) -> usize {
        table.phys().wrapping_sub(self.base.as_ptr() as usize) / PAGE_SIZE
    }

    /// Pointer to the low 32-bit word of entry `entry` of `table`.
    #[inline]
    fn word(&self, table: Table, entry: usize) -> *mut u32 {
        let index = self.index(table);
        assert!(entry < ENTRIES && index < self.count);
        self.low_word(index, entry)
    }

    /// Pointer to the low 32-bit word of entry `entry` (<= 512: one past
    /// the last entry is allowed, as the end of a run) of page `index`
    /// (< `count`). Computing it is safe; using it is what needs the
    /// bounds, which every caller checks.
    #[inline]
    fn low_word(&self, index: usize, entry: usize) -> *mut u32 {
        self.base
            .as_ptr()
            .wrapping_add(index)
            .cast::<u64>()
            .wrapping_add(entry)
            .cast::<u32>()
    }

    #[inline]
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

/// Consecutive entries of one table, bounds-checked once by
/// [`PagePool::entries`].
///
/// Same store order as [`PagePool::install`] and [`PagePool::clear`]; only
/// the low words are read, since they hold an entry's flags (V and the
/// leaf bits) in every format the driver uses.
pub struct Entries<'p> {
    /// The low word of the first entry.
    words: *mut u32,
    count: usize,
    stores: &'p Cell<usize>,
}

impl Entries<'_> {
    /// The low word of the first entry, and one past the last entry.
    fn bounds(&self) -> (*mut u32, *mut u32) {
        // SAFETY: `PagePool::entries` checked that the run lies inside a
        // page of the pool, so its end is inside it or one past it.
        (self.words, unsafe { self.words.add(2 * self.count) })
    }

    /// The bitwise OR of the entries' low words: which flags are set in
    /// any of them.
    pub fn low_union(&self) -> u32 {
        let (mut word, end) = self.bounds();
        let mut union = 0;
        // Two entries a step, after the first if the count is odd: this is
        // the check pass of every map, and the loop's own bookkeeping would
        // otherwise cost more than the load.
        if !self.count.is_multiple_of(2) {
            // SAFETY: `word` is the low word of the run's first entry, which
            // is inside a page of the pool; no reference to the page exists.
            unsafe {
                union = word.read_volatile();
                word = word.add(2);
            }
        }
        while word != end {
            // SAFETY: as above for this entry and the next: an even number
            // of entries is left, so both are in the run.
            unsafe {
                union |= word.read_volatile() | word.add(2).read_volatile();
                word = word.add(4);
            }
        }
        union
    }

    /// Whether the low word of any entry passes `test`.
    pub fn any_low(&self, test: impl Fn(u32) -> bool) -> bool {
        let (mut word, end) = self.bounds();
        while word != end {
            // SAFETY: `word` is the low word of an entry of the run (it is
            // not `end`), which is inside a page of the pool; no reference
            // to the page exists.
            unsafe {
                if test(word.read_volatile()) {
                    break;
                }
                word = word.add(2);
            }
        }
        word != end
    }

    /// Installs in entry `i` of the run the high word `high` and the low
    /// word `low + i * step` (wrapping: a caller whose low words would
    /// carry into the high word splits the run there), high word first
    /// (see [`PagePool::install`]).
    pub fn install_sequence(&self, high: u32, low: u32, step: u32) {
        self.stores.set(self.stores.get() + 2 * self.count);
        let (mut word, end) = self.bounds();
        let mut low = low;
        while word != end {
            // SAFETY: as in `any_low`; the high word follows the low one.
            unsafe {
                word.add(1).write_volatile(high);
                word.write_volatile(low);
                word = word.add(2);
            }
            low = low.wrapping_add(step);
        }
    }

    /// Clears every entry whose low word passes `test`, each low word
    /// first (see [`PagePool::clear`]); returns how many it cleared.
    pub fn clear_where(&self, test: impl Fn(u32) -> bool) -> usize {
        let (mut word, end) = self.bounds();
        let mut cleared = 0;
        while word != end {
            // SAFETY: as in `any_low`; the high word follows the low one.
            unsafe {
                if test(word.read_volatile()) {
                    word.write_volatile(0);
                    word.add(1).write_volatile(0);
                    cleared += 1;
                }
                word = word.add(2);
            }
        }
        self.stores.set(self.stores.get() + 2 * cleared);
        cleared
    }
}

/// Pools for the crate's host tests.
#[cfg(test)]
pub(crate) mod test_pool {
    extern crate std;
    use super::{Page, PagePool};
    use rv32::dma_fence::RiscvCoherentDmaFence;
    use std::boxed::Box;
    use std::vec::Vec;

    /// A pool of `count` fresh pages. On the host, `RiscvCoherentDmaFence`
    /// is a compiler fence: nothing but the test reads the tables.
    pub(crate) fn pool(count: usize) -> PagePool<'static, RiscvCoherentDmaFence> {
        pool_over(leak(count))
    }

    /// `count` fresh pages that live until the test process ends.
    pub(crate) fn leak(count: usize) -> &'static mut [Page] {
        let pages: Vec<Page> = (0..count).map(|_| Page::ZERO).collect();
        Box::leak(pages.into_boxed_slice())
    }

    /// A pool of `pages`.
    pub(crate) fn pool_over(
        pages: &'static mut [Page],
    ) -> PagePool<'static, RiscvCoherentDmaFence> {
        // SAFETY: no device reads these pages (host test).
        let fence = unsafe { RiscvCoherentDmaFence::new() };
        PagePool::new(pages, fence)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::test_pool::pool;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn allocate_all_then_none_then_reuse() {
        let pool = pool(3);
        assert_eq!(pool.free_count(), 3);
        let tables: Vec<Table> = (0..3).map(|_| pool.allocate().unwrap()).collect();
        assert!(pool.allocate().is_none());
        assert_eq!(pool.free_count(), 0);
        for table in &tables {
            assert_eq!(table.phys() % PAGE_SIZE, 0);
            assert_eq!(pool.table_at(table.phys()), Some(*table));
        }
        pool.install(tables[1], 7, 0xdead_beef_0000_0001);
        assert_eq!(pool.release(tables[1]), Ok(()));
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
        let pool = pool(2);
        let table = pool.allocate().unwrap();
        assert!(pool.table_at(table.phys() + 8).is_none());
        assert!(pool.table_at(table.phys() + 2 * PAGE_SIZE).is_none());
        assert!(pool.table_at(0).is_none());
    }

    #[test]
    fn entries_are_checked_once() {
        let pool = pool(2);
        let table = pool.allocate().unwrap();
        assert!(pool.entries(table, 0, ENTRIES).is_some());
        assert!(pool.entries(table, ENTRIES, 0).is_some());
        assert!(pool.entries(table, 1, ENTRIES).is_none());
        assert!(pool.entries(table, ENTRIES + 1, 0).is_none());
        assert!(pool.entries(table, 3, usize::MAX).is_none());
        let other = super::test_pool::pool(1);
        let foreign = other.allocate().unwrap();
        assert!(pool.entries(foreign, 0, 1).is_none());
    }

    #[test]
    fn runs_install_check_and_clear() {
        let pool = pool(1);
        let table = pool.allocate().unwrap();
        let run = pool.entries(table, 10, 5).unwrap();
        assert_eq!(run.low_union(), 0);
        run.install_sequence(7, 0x401, 0x400);
        assert_eq!(pool.entry_stores(), 10);
        for entry in 0..5 {
            assert_eq!(
                pool.read(table, 10 + entry),
                (7 << 32) | (0x401 + 0x400 * entry as u64)
            );
        }
        assert_eq!(pool.read(table, 9), 0, "outside the run");
        assert_eq!(pool.read(table, 15), 0, "outside the run");
        // Odd and even counts.
        assert_eq!(pool.entries(table, 9, 2).unwrap().low_union(), 0x401);
        assert_eq!(run.low_union(), 0x1c01 | 0x401 | 0x801 | 0xc01 | 0x1001);
        assert!(run.any_low(|low| low == 0xc01));
        assert!(!run.any_low(|low| low == 0));
        assert_eq!(run.clear_where(|low| low & 0x400 != 0), 3);
        assert_eq!(pool.entry_stores(), 16);
        assert_eq!(pool.read(table, 10), 0);
        assert_eq!(pool.read(table, 11), (7 << 32) | 0x801);
        assert_eq!(pool.read(table, 12), 0);
        assert_eq!(
            pool.entries(table, 0, ENTRIES).unwrap().low_union(),
            0x801 | 0x1001
        );
    }

    #[test]
    fn install_and_clear_write_both_halves() {
        let pool = pool(1);
        let table = pool.allocate().unwrap();
        pool.install(table, 511, 0x1234_5678_9abc_def1);
        assert_eq!(pool.read(table, 511), 0x1234_5678_9abc_def1);
        pool.clear(table, 511);
        assert_eq!(pool.read(table, 511), 0);
        assert_eq!(pool.entry_stores(), 4);
    }

    #[test]
    fn double_release_is_refused_and_each_page_is_handed_out_once() {
        let pool = pool(3);
        let tables: Vec<Table> = (0..3).map(|_| pool.allocate().unwrap()).collect();
        assert_eq!(pool.release(tables[0]), Ok(()));
        assert_eq!(pool.release(tables[2]), Ok(()));
        assert_eq!(pool.release(tables[0]), Err(ErrorCode::ALREADY));
        assert_eq!(pool.release(tables[2]), Err(ErrorCode::ALREADY));
        assert_eq!(pool.free_count(), 2);
        let first = pool.allocate().unwrap();
        let second = pool.allocate().unwrap();
        assert_ne!(first, second);
        assert!(pool.allocate().is_none(), "only two pages were free");
        assert_eq!(pool.free_count(), 0);
        // A page never allocated is free too: releasing it is refused.
        let fresh = super::test_pool::pool(2);
        let table = fresh.allocate().unwrap();
        assert_eq!(fresh.release(table), Ok(()));
        assert_eq!(fresh.release(table), Err(ErrorCode::ALREADY));
        assert_eq!(fresh.free_count(), 2);
    }

    #[test]
    fn release_of_a_page_of_another_pool_is_refused() {
        // Two pools side by side in one allocation, so that each has a
        // foreign page just below or just above its own, and a third
        // pool elsewhere.
        let (low, high) = super::test_pool::leak(5).split_at_mut(2);
        let low = super::test_pool::pool_over(low);
        let high = super::test_pool::pool_over(high);
        let elsewhere = super::test_pool::pool(1);
        let in_low = low.allocate().unwrap();
        let in_high = high.allocate().unwrap();
        let in_elsewhere = elsewhere.allocate().unwrap();
        for foreign in [in_high, in_elsewhere] {
            assert_eq!(low.release(foreign), Err(ErrorCode::INVAL));
        }
        for foreign in [in_low, in_elsewhere] {
            assert_eq!(high.release(foreign), Err(ErrorCode::INVAL));
        }
        assert_eq!((low.free_count(), high.free_count()), (1, 2));
        // Each pool still has exactly its own pages.
        assert_eq!(low.release(in_low), Ok(()));
        assert_eq!(high.release(in_high), Ok(()));
        assert_eq!(elsewhere.release(in_elsewhere), Ok(()));
        assert_eq!(low.allocate(), Some(in_low));
        assert_eq!(high.allocate(), Some(in_high));
        assert_eq!(elsewhere.allocate(), Some(in_elsewhere));
    }

    #[test]
    fn stale_writes_to_a_free_page_do_not_reach_the_pool() {
        let pool = pool(2);
        let stale = pool.allocate().unwrap();
        assert_eq!(pool.release(stale), Ok(()));
        // What a threaded free list would take for a link.
        for entry in [0, 1, ENTRIES - 1] {
            pool.install(stale, entry, u64::MAX);
        }
        let first = pool.allocate().unwrap();
        let second = pool.allocate().unwrap();
        assert_ne!(first, second);
        assert!(pool.allocate().is_none());
        assert_eq!(pool.read(stale, 0), 0, "allocation zeroed it again");
    }

    #[test]
    fn random_releases_never_hand_a_page_out_twice() {
        let pool = pool(5);
        let mut held: Vec<Table> = Vec::new();
        let mut seen: Vec<Table> = Vec::new();
        let mut state = 0x2545_f491_u32;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            match state % 3 {
                0 => match pool.allocate() {
                    Some(table) => {
                        assert!(!held.contains(&table), "handed out twice");
                        held.push(table);
                        if !seen.contains(&table) {
                            seen.push(table);
                        }
                    }
                    None => assert_eq!(held.len(), 5),
                },
                1 if !held.is_empty() => {
                    let table = held.swap_remove(state as usize / 3 % held.len());
                    assert_eq!(pool.release(table), Ok(()));
                }
                _ => {
                    // A stale handle: one seen before that is not held now.
                    if let Some(&table) = seen.iter().find(|t| !held.contains(t)) {
                        assert_eq!(pool.release(table), Err(ErrorCode::ALREADY));
                    }
                }
            }
            assert_eq!(pool.free_count(), 5 - held.len());
        }
    }

    #[test]
    #[should_panic(expected = "IOMMU page pool too large")]
    fn a_pool_larger_than_the_state_is_a_board_bug() {
        let _ = super::test_pool::pool(MAX_PAGES + 1);
    }

    #[test]
    fn a_pool_of_max_pages_hands_out_every_page() {
        let pool = pool(MAX_PAGES);
        let mut tables: Vec<Table> = (0..MAX_PAGES).map(|_| pool.allocate().unwrap()).collect();
        assert!(pool.allocate().is_none());
        tables.sort_by_key(Table::phys);
        tables.dedup();
        assert_eq!(tables.len(), MAX_PAGES);
        let last = tables[MAX_PAGES - 1];
        assert_eq!(pool.release(last), Ok(()));
        assert_eq!(pool.allocate(), Some(last));
    }
}
