// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The fuzzer's random numbers and its seed.
//!
//! SplitMix64 (Steele, Lea and Flood, "Fast Splittable Pseudorandom Number
//! Generators", OOPSLA 2014): every seed, 0 included, gives a full-period
//! sequence, so a seed is just a number. The seed is the number at the end
//! of the app's package name in its own TBF header (Tock Binary Format,
//! package name TLV), so that one binary packed under the names `fuzz_1`,
//! `fuzz_2`, ... runs a different sequence under each.

/// A SplitMix64 generator.
pub struct Rng {
    state: u64,
}

impl Rng {
    pub const fn new(seed: u32) -> Rng {
        Rng { state: seed as u64 }
    }

    pub fn next_u32(&mut self) -> u32 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u32
    }

    /// A number in `0..bound`; `bound` must not be 0.
    pub fn below(&mut self, bound: u32) -> u32 {
        ((u64::from(self.next_u32()) * u64::from(bound)) >> 32) as u32
    }

    /// A number in `0..bound` as an address offset.
    pub fn offset(&mut self, bound: usize) -> usize {
        self.below(bound.max(1) as u32) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent
    }

    /// One of `items` (not empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u32) as usize]
    }
}

/// TBF header: version (2 bytes), header size (2), total size (4), flags
/// (4), checksum (4), then TLVs of type (2), length (2) and a value padded
/// to 4 bytes.
const TBF_BASE_HEADER: usize = 16;
/// The package name TLV.
const TBF_TLV_PACKAGE_NAME: u16 = 3;
/// Seed of an app whose name ends in no number (`fuzzer` itself).
const DEFAULT_SEED: u32 = 1;
/// Longest package name the app reads.
pub const NAME_LIMIT: usize = 32;

/// The package name in the TBF header at `header` (the process's own
/// flash start), copied into `name`; returns its length.
pub fn package_name(header: usize, name: &mut [u8; NAME_LIMIT]) -> usize {
    let byte = |offset: usize| {
        let address = core::ptr::with_exposed_provenance::<u8>(header + offset);
        // SAFETY: the caller passes its own flash start (memop 4); the
        // header lies in the process's flash, readable and never written
        // while it runs, and a volatile read of a byte aliases nothing.
        unsafe { address.read_volatile() }
    };
    let half = |offset: usize| u16::from(byte(offset)) | (u16::from(byte(offset + 1)) << 8);
    let header_size = usize::from(half(2));
    let mut at = TBF_BASE_HEADER;
    while at + 4 <= header_size {
        let (kind, length) = (half(at), usize::from(half(at + 2)));
        if at + 4 + length > header_size {
            break;
        }
        if kind == TBF_TLV_PACKAGE_NAME {
            let length = length.min(NAME_LIMIT);
            for (index, slot) in name.iter_mut().take(length).enumerate() {
                *slot = byte(at + 4 + index);
            }
            return length;
        }
        at += 4 + length.next_multiple_of(4);
    }
    0
}

/// The seed a package name gives: its trailing decimal digits.
pub fn seed_of(name: &[u8]) -> u32 {
    let digits = name.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return DEFAULT_SEED;
    }
    name[name.len() - digits..]
        .iter()
        .fold(0u32, |seed, digit| {
            seed.wrapping_mul(10).wrapping_add(u32::from(digit - b'0'))
        })
}
