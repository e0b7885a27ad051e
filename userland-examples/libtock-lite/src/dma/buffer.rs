// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Page-aligned memory a device may read and write behind the program's
//! back.
//!
//! Once a buffer is mapped into a domain, the device writes it whenever a
//! copy lands there, and the mapping outlives the allow it was made from
//! (`doc/syscalls/10003_iommu.md`, "Mappings and allows"). So the program
//! must never hold a Rust reference to those bytes: [`DmaBuffer`] keeps
//! them in an `UnsafeCell` and reads and writes them only with volatile
//! accesses through raw pointers, as one treats device registers. Buffers
//! are meant to be `static`s, so they outlive every mapping and allow (the
//! kernel takes all mappings back when the process ends).

use core::cell::UnsafeCell;
use core::ptr;

/// Alignment of every [`DmaBuffer`]: the RISC-V IOMMU's page size, so a
/// buffer of `N` bytes holds `N / 4096` whole pages from its first byte.
pub const PAGE_ALIGN: usize = 4096;

/// `N` bytes of DMA-visible memory, aligned to [`PAGE_ALIGN`].
#[repr(C, align(4096))]
pub struct DmaBuffer<const N: usize> {
    bytes: UnsafeCell<[u8; N]>,
}

// SAFETY: a Tock process has one thread of execution, and upcalls run on it
// only inside yield, so the program's own accesses never race. The kernel
// and devices are outside the program; their writes are observed only
// through the volatile reads below, never through references.
unsafe impl<const N: usize> Sync for DmaBuffer<N> {}

/// Where a buffer's contents first differ from what was expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Difference {
    pub index: usize,
    pub found: u8,
    pub expected: u8,
}

impl<const N: usize> DmaBuffer<N> {
    /// A zeroed buffer.
    pub const fn new() -> DmaBuffer<N> {
        DmaBuffer {
            bytes: UnsafeCell::new([0; N]),
        }
    }

    /// Its length in bytes.
    pub const fn len(&self) -> usize {
        N
    }

    /// Whether it has no bytes.
    pub const fn is_empty(&self) -> bool {
        N == 0
    }

    /// The address of its first byte, for system calls.
    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.bytes.get().cast()
    }

    /// Reads byte `index`. Panics if it is out of range.
    pub fn read(&self, index: usize) -> u8 {
        assert!(index < N, "DmaBuffer index out of range");
        // SAFETY: in bounds (checked above) of memory this buffer owns; a
        // volatile read through the raw pointer creates no reference.
        unsafe { ptr::read_volatile(self.as_mut_ptr().add(index)) }
    }

    /// Writes byte `index`. Panics if it is out of range.
    pub fn write(&self, index: usize, value: u8) {
        assert!(index < N, "DmaBuffer index out of range");
        // SAFETY: as in `read`; the buffer is never borrowed as a
        // reference, so the write invalidates none.
        unsafe { ptr::write_volatile(self.as_mut_ptr().add(index), value) }
    }

    /// Sets every byte `i` to `pattern(i)`.
    pub fn fill(&self, mut pattern: impl FnMut(usize) -> u8) {
        for index in 0..N {
            self.write(index, pattern(index));
        }
    }

    /// The first byte `i` in `range` that is not `pattern(i)`, if any.
    pub fn first_difference(
        &self,
        range: core::ops::Range<usize>,
        mut pattern: impl FnMut(usize) -> u8,
    ) -> Option<Difference> {
        range.take_while(|&index| index < N).find_map(|index| {
            let (found, expected) = (self.read(index), pattern(index));
            (found != expected).then_some(Difference {
                index,
                found,
                expected,
            })
        })
    }
}

impl<const N: usize> Default for DmaBuffer<N> {
    fn default() -> Self {
        DmaBuffer::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_zeroed_and_volatile_round_trip() {
        let buffer = DmaBuffer::<8192>::new();
        assert_eq!(buffer.as_mut_ptr() as usize % PAGE_ALIGN, 0);
        assert_eq!(buffer.first_difference(0..8192, |_| 0), None);
        buffer.fill(|i| i as u8);
        assert_eq!(buffer.read(300), 44);
        buffer.write(5, 0xaa);
        assert_eq!(
            buffer.first_difference(0..16, |i| i as u8),
            Some(Difference {
                index: 5,
                found: 0xaa,
                expected: 5
            })
        );
        // A range past the end is cut at the end rather than panicking.
        assert_eq!(buffer.first_difference(8000..9000, |i| i as u8), None);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn out_of_range_panics() {
        DmaBuffer::<16>::new().read(16);
    }
}
