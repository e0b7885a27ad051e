// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Decoding of packed command arguments.
//!
//! A process's registers are an allegation (as Hubris calls a task's
//! slice): they are decoded here exactly once into types with a single
//! constructor, and everything past this module works on those types. Any
//! reserved bit set, or a field out of range, makes the whole argument
//! invalid (`None`, which the driver returns as `INVAL`).
//!
//! Layouts (bit ranges inclusive; see `doc/syscalls/10003_iommu.md`):
//!
//! ```text
//! map r2:    [15:0] domain handle  [23:16] page offset  [26:24] allow slot
//!            [27] 0 = read-write allow, 1 = read-only allow   [31:28] 0
//! range r3:  [19:0] first IOVA page number  [31:20] page count (1..4095)
//! ```
//!
//! Pages are of the instance's smallest page size (command `INFO_INSTANCE`).

use crate::handles::Handle;

/// Which kind of allow a mapping takes its memory from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllowKind {
    /// A read-write allow: the device may read and write.
    ReadWrite,
    /// A read-only allow: the device may only read.
    ReadOnly,
}

/// The r2 argument of `MAP`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapSource {
    /// The domain to map into (not yet checked against the table).
    pub domain: Handle,
    /// Whole pages to skip from the first page boundary inside the buffer.
    pub page_offset: usize,
    /// The allow slot number.
    pub slot: usize,
    /// Read-write or read-only allow.
    pub kind: AllowKind,
}

impl MapSource {
    /// Decodes r2 of `MAP`.
    pub fn from_register(r2: usize) -> Option<MapSource> {
        if r2 >> 28 != 0 {
            return None;
        }
        Some(MapSource {
            domain: Handle::from_register(r2 & 0xffff)?,
            page_offset: (r2 >> 16) & 0xff,
            slot: (r2 >> 24) & 0x7,
            kind: if r2 & (1 << 27) == 0 {
                AllowKind::ReadWrite
            } else {
                AllowKind::ReadOnly
            },
        })
    }
}

/// The r3 argument of `MAP` and `UNMAP`: a range of IOVA pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRange {
    first_page: usize,
    pages: usize,
}

impl PageRange {
    /// Decodes r3. `None` if bits above 31 are set or the count is 0.
    pub fn from_register(r3: usize) -> Option<PageRange> {
        if r3 > u32::MAX as usize {
            return None;
        }
        let range = PageRange {
            first_page: r3 & 0xf_ffff,
            pages: r3 >> 20,
        };
        (range.pages != 0).then_some(range)
    }

    /// The range in bytes `(iova, len)` for pages of `1 << page_shift`
    /// bytes, if it lies below `2^iova_bits`.
    pub fn in_bytes(self, page_shift: u32, iova_bits: u32) -> Option<(usize, usize)> {
        let iova = self.first_page.checked_shl(page_shift)?;
        let len = self.pages.checked_shl(page_shift)?;
        let end = iova.checked_add(len)?;
        if iova >> page_shift != self.first_page || len >> page_shift != self.pages {
            return None; // shifted out of usize
        }
        let limit_ok = iova_bits >= usize::BITS || end <= 1usize << iova_bits;
        limit_ok.then_some((iova, len))
    }

    /// Number of pages.
    pub fn pages(self) -> usize {
        self.pages
    }
}

/// The physical range `(phys, len)` to map from an allowed buffer.
///
/// The buffer is `[buffer, buffer + buffer_len)`; the range is `pages`
/// whole pages starting `page_offset` pages after the first page boundary
/// inside the buffer. `None` unless the whole range lies inside the buffer.
pub fn pages_in_buffer(
    buffer: usize,
    buffer_len: usize,
    page_shift: u32,
    page_offset: usize,
    pages: usize,
) -> Option<(usize, usize)> {
    let page = 1usize.checked_shl(page_shift)?;
    let buffer_end = buffer.checked_add(buffer_len)?;
    let first_boundary = buffer.checked_next_multiple_of(page)?;
    let phys = first_boundary.checked_add(page_offset.checked_mul(page)?)?;
    let len = pages.checked_mul(page)?;
    let end = phys.checked_add(len)?;
    (buffer_len != 0 && end <= buffer_end).then_some((phys, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_source_fields() {
        let r2 = 0x0102 | 3 << 16 | 1 << 24 | 1 << 27;
        assert_eq!(
            MapSource::from_register(r2),
            Some(MapSource {
                domain: Handle::from_register(0x0102).unwrap(),
                page_offset: 3,
                slot: 1,
                kind: AllowKind::ReadOnly,
            })
        );
        assert_eq!(MapSource::from_register(r2 | 1 << 28), None);
        assert_eq!(MapSource::from_register(0x0002), None); // generation 0
    }

    #[test]
    fn page_range_bounds() {
        let r = PageRange::from_register(0x10 | 2 << 20).unwrap();
        assert_eq!(r.in_bytes(12, 32), Some((0x10000, 0x2000)));
        assert_eq!(PageRange::from_register(0x10), None);
        assert_eq!(PageRange::from_register(1 << 32 | 1 << 20), None);
        // Last page below 2^20 pages of 4 KiB = 4 GiB: beyond 28 bits.
        let top = PageRange::from_register(0xf_ffff | 1 << 20).unwrap();
        assert_eq!(top.in_bytes(12, 28), None);
        assert_eq!(top.in_bytes(12, 39).map(|r| r.1), Some(0x1000));
    }

    #[test]
    fn buffer_pages() {
        // Unaligned buffer: pages count from its first boundary.
        assert_eq!(
            pages_in_buffer(0x1010, 0x3000, 12, 0, 1),
            Some((0x2000, 0x1000))
        );
        assert_eq!(
            pages_in_buffer(0x1010, 0x3000, 12, 1, 1),
            Some((0x3000, 0x1000))
        );
        assert_eq!(pages_in_buffer(0x1010, 0x3000, 12, 2, 1), None);
        assert_eq!(pages_in_buffer(0x1000, 0x1000, 12, 0, 2), None);
        assert_eq!(pages_in_buffer(0x1000, 0, 12, 0, 1), None);
        assert_eq!(pages_in_buffer(usize::MAX - 10, 10, 12, 0, 1), None);
    }
}
