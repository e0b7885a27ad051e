// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The RAM pages the `edu`s reach through the IOMMU, filled with and
//! checked against test patterns by volatile accesses (the devices write
//! them behind the compiler's back).
//!
//! These pages are the `edu` drivers' DMA memory ([`dma_memory`]): the
//! drivers release them to the device before each transfer and acquire
//! them when it has finished, so this module needs no fence of its own.

use crate::rig::PAGE;

/// DMA buffer pages in RAM.
pub const BUFFERS: usize = 8;
/// 32-bit words in a page.
const WORDS: usize = PAGE / 4;

/// RAM the `edu`s reach through the IOMMU: page-aligned pages, each mapped
/// on its own.
#[repr(C, align(4096))]
struct DmaPages([[u32; WORDS]; BUFFERS]);

/// Accessed only through `Buffer`, with volatile accesses, because the
/// devices write it behind the compiler's back; no reference to it is
/// ever made.
static mut DMA_PAGES: DmaPages = DmaPages([[0; WORDS]; BUFFERS]);

/// One page of `DMA_PAGES`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer(pub usize);

/// Word `index` of the test pattern `seed`: distinct per seed and word, so
/// a shifted or partial copy is caught.
fn pattern(seed: u32, index: usize) -> u32 {
    seed.wrapping_mul(0x9e37_79b9) ^ (index as u32).wrapping_mul(0x0100_0193) ^ 0x5a5a_0000
}

impl Buffer {
    fn word(&self, index: usize) -> *mut u32 {
        assert!(self.0 < BUFFERS && index < WORDS);
        // SAFETY: both indices are in bounds (checked above), so the
        // pointer stays inside `DMA_PAGES`; only its address is taken.
        unsafe {
            (&raw mut DMA_PAGES)
                .cast::<u32>()
                .add(self.0 * WORDS + index)
        }
    }

    fn read(&self, index: usize) -> u32 {
        // SAFETY: `word` is in bounds and aligned; the page is plain RAM
        // that only this module and the devices access, and no reference
        // to it exists (see `DMA_PAGES`).
        unsafe { self.word(index).read_volatile() }
    }

    fn write(&self, index: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { self.word(index).write_volatile(value) }
    }

    /// The page's physical address (the kernel runs on physical addresses).
    pub fn phys(&self) -> usize {
        self.word(0) as usize
    }

    /// Fills the whole page with pattern `seed`.
    pub fn fill(&self, seed: u32) {
        for index in 0..WORDS {
            self.write(index, pattern(seed, index));
        }
    }

    /// Zeroes the whole page.
    pub fn zero(&self) {
        for index in 0..WORDS {
            self.write(index, 0);
        }
    }

    /// Whether the first `len` bytes hold pattern `seed` (word for word,
    /// from the start of the page).
    pub fn holds(&self, seed: u32, len: usize) -> bool {
        (0..len / 4).all(|index| self.read(index) == pattern(seed, index))
    }

    /// Whether the first `len` bytes are zero.
    pub fn is_zero(&self, len: usize) -> bool {
        (0..len / 4).all(|index| self.read(index) == 0)
    }
}

/// All DMA pages, as the `edu` drivers' DMA memory (the only RAM this
/// image maps for the devices).
pub fn dma_memory() -> *mut [u8] {
    core::ptr::slice_from_raw_parts_mut((&raw mut DMA_PAGES).cast::<u8>(), BUFFERS * PAGE)
}

/// A checksum (FNV-1a over words) of every DMA page: equal before and after
/// a faulting DMA means no page changed.
pub fn checksum_all() -> u32 {
    let mut hash = 0x811c_9dc5u32;
    for buffer in 0..BUFFERS {
        for index in 0..WORDS {
            hash = (hash ^ Buffer(buffer).read(index)).wrapping_mul(0x0100_0193);
        }
    }
    hash
}
