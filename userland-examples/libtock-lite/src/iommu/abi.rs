// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The IOMMU driver's (0x10003) argument and return encodings, as plain
//! types: handles, range words, map words, information triples, translate
//! flags and fault records.
//!
//! Pure, so the host tests check every encoding against
//! `doc/syscalls/10003_iommu.md`. The system calls that use them are in
//! `calls.rs`.

use crate::error::ErrorCode;

/// Command numbers (`doc/syscalls/10003_iommu.md`, "Command").
pub mod command {
    pub const EXISTS: u32 = 0;
    pub const INFO: u32 = 1;
    pub const INFO_INSTANCE: u32 = 2;
    pub const INFO_PAGES: u32 = 3;
    pub const ACQUIRE: u32 = 4;
    pub const RELEASE: u32 = 5;
    pub const CREATE_DOMAIN: u32 = 6;
    pub const DESTROY_DOMAIN: u32 = 7;
    pub const MAP: u32 = 8;
    pub const UNMAP: u32 = 9;
    pub const TRANSLATE: u32 = 10;
    pub const ATTACH: u32 = 11;
    pub const DETACH: u32 = 12;
    pub const FAULT_ACK: u32 = 13;
}

/// Upcall (subscribe) numbers.
pub mod upcall {
    /// A device access through an owned context was refused; values:
    /// (context handle | cause << 16 | access << 24, IOVA, hardware cause).
    pub const FAULT: u32 = 0;
    /// `MAP`, `UNMAP`, `ATTACH` or `DETACH` finished; values: (status,
    /// command number, domain or context handle).
    pub const DONE: u32 = 1;
}

/// A context handle from `ACQUIRE`: `slot | generation << 8`.
///
/// Only the kernel hands out valid ones; [`ContextHandle::from_raw`]
/// builds any value, which the kernel checks against the caller on every
/// use (another process's handle, a stale one and garbage are all `INVAL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextHandle(u32);

/// A domain handle from `CREATE_DOMAIN`, encoded like [`ContextHandle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainHandle(u32);

macro_rules! handle_methods {
    ($name:ident) => {
        impl $name {
            /// Any register value; the kernel decides whether it names
            /// one of the caller's objects.
            pub const fn from_raw(raw: u32) -> $name {
                $name(raw)
            }

            /// The register value.
            pub const fn raw(self) -> u32 {
                self.0
            }

            /// The table slot the handle names (bits 0..7).
            pub const fn slot(self) -> u8 {
                self.0 as u8
            }

            /// The generation of the slot it was issued at (bits 8..15,
            /// never 0 in a handle the kernel issued).
            pub const fn generation(self) -> u8 {
                (self.0 >> 8) as u8
            }
        }
    };
}
handle_methods!(ContextHandle);
handle_methods!(DomainHandle);

/// `INFO`: instances and the caller's use of its quotas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    pub instances: u32,
    pub contexts_held: u16,
    pub context_quota: u16,
    pub domains: u16,
    pub domain_quota: u16,
}

impl Info {
    /// Decodes the three values of `INFO`.
    pub const fn decode(instances: u32, contexts: u32, domains: u32) -> Info {
        Info {
            instances,
            contexts_held: contexts as u16,
            context_quota: (contexts >> 16) as u16,
            domains: domains as u16,
            domain_quota: (domains >> 16) as u16,
        }
    }
}

/// `INFO_INSTANCE`: what one instance offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstanceInfo {
    /// Number of contexts of the instance.
    pub contexts: u32,
    /// Bit `c` set if the caller may acquire context `c` (`c` < 32).
    pub usable: u32,
    /// Page size and IOVA width.
    pub geometry: Geometry,
    /// Free page-table pages in the instance's pool (clamped to 0xffff).
    pub free_pages: u16,
}

impl InstanceInfo {
    /// Decodes the three values of `INFO_INSTANCE`.
    pub const fn decode(contexts: u32, usable: u32, geometry: u32) -> InstanceInfo {
        InstanceInfo {
            contexts,
            usable,
            geometry: Geometry {
                page_shift: geometry as u8,
                iova_bits: (geometry >> 8) as u8,
            },
            free_pages: (geometry >> 16) as u16,
        }
    }

    /// Whether the board lets the caller acquire `context`.
    pub const fn may_use(&self, context: u32) -> bool {
        context < 32 && self.usable & (1 << context) != 0
    }
}

/// The page size and IOVA width of an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// log2 of the smallest page size (12 on the RISC-V IOMMU).
    pub page_shift: u8,
    /// IOVAs must lie below `2^iova_bits`.
    pub iova_bits: u8,
}

impl Geometry {
    /// The page size in bytes.
    pub const fn page_size(&self) -> usize {
        1 << self.page_shift
    }
}

/// `INFO_PAGES`: page-table pages charged to the caller, and its quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageUsage {
    pub charged: u32,
    pub quota: u32,
}

/// A range of IOVA pages: the *range word* of `MAP` and `UNMAP`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRange {
    first_page: u32,
    pages: u32,
}

impl PageRange {
    /// Largest page count a range word holds.
    pub const MAX_PAGES: u32 = 0xfff;
    /// First page numbers must be below this (20 bits).
    pub const PAGE_NUMBER_LIMIT: u32 = 1 << 20;

    /// `pages` pages from page number `first_page`. `INVAL` if the count is
    /// 0 or above [`Self::MAX_PAGES`], or the page number does not fit.
    pub const fn new(first_page: u32, pages: u32) -> Result<PageRange, ErrorCode> {
        if pages == 0 || pages > Self::MAX_PAGES || first_page >= Self::PAGE_NUMBER_LIMIT {
            return Err(ErrorCode::Invalid);
        }
        Ok(PageRange { first_page, pages })
    }

    /// The pages covering `[iova, iova + len)` exactly, for pages of
    /// `geometry`. `INVAL` unless `iova` and `len` are whole pages.
    pub fn from_bytes(iova: usize, len: usize, geometry: Geometry) -> Result<PageRange, ErrorCode> {
        let mask = geometry.page_size() - 1;
        if iova & mask != 0 || len & mask != 0 {
            return Err(ErrorCode::Invalid);
        }
        let shift = u32::from(geometry.page_shift);
        let first = u32::try_from(iova >> shift).map_err(|_| ErrorCode::Invalid)?;
        let pages = u32::try_from(len >> shift).map_err(|_| ErrorCode::Invalid)?;
        PageRange::new(first, pages)
    }

    /// The range word.
    pub const fn raw(self) -> u32 {
        self.first_page | self.pages << 20
    }

    /// The first page number.
    pub const fn first_page(self) -> u32 {
        self.first_page
    }

    /// The number of pages.
    pub const fn pages(self) -> u32 {
        self.pages
    }

    /// The first IOVA, for pages of `geometry`.
    pub const fn iova(self, geometry: Geometry) -> usize {
        (self.first_page as usize) << geometry.page_shift
    }
}

/// A slot of the driver's allows (0 and 1 exist; the map word has room
/// for 0 to 7, the others are refused by the kernel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(u8);

impl Slot {
    pub const BUFFER_0: Slot = Slot(0);
    pub const BUFFER_1: Slot = Slot(1);

    /// Slot `number`, if it fits the map word's three bits.
    pub const fn new(number: u8) -> Option<Slot> {
        if number < 8 { Some(Slot(number)) } else { None }
    }

    /// The slot number.
    pub const fn number(self) -> u8 {
        self.0
    }
}

/// Which allow a mapping takes its pages from, which decides what the
/// device may do: a read-write allow gives device read/write, a read-only
/// allow device read only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllowSlot {
    ReadWrite(Slot),
    ReadOnly(Slot),
}

/// The first argument of `MAP`: which domain, which allowed buffer, and
/// how many whole pages to skip from the first page boundary inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapSource {
    pub domain: DomainHandle,
    pub allow: AllowSlot,
    pub page_offset: u8,
}

impl MapSource {
    /// The map word. `INVAL` if the domain handle does not fit its 16 bits
    /// (the kernel could not tell it apart from the other fields).
    pub const fn raw(self) -> Result<u32, ErrorCode> {
        if self.domain.raw() > 0xffff {
            return Err(ErrorCode::Invalid);
        }
        let (slot, read_only) = match self.allow {
            AllowSlot::ReadWrite(slot) => (slot, 0),
            AllowSlot::ReadOnly(slot) => (slot, 1),
        };
        Ok(self.domain.raw()
            | (self.page_offset as u32) << 16
            | (slot.number() as u32) << 24
            | read_only << 27)
    }
}

/// A mapping `TRANSLATE` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The physical address the IOVA reaches.
    pub phys: u64,
    /// The device may read.
    pub read: bool,
    /// The device may write.
    pub write: bool,
    /// The device may execute.
    pub execute: bool,
    /// log2 of the page size of the mapping.
    pub page_shift: u8,
}

impl Translation {
    /// Decodes `TRANSLATE`'s (flags, physical address); `None` for the
    /// (0, 0) of an unmapped IOVA.
    pub const fn decode(flags: u32, phys: u64) -> Option<Translation> {
        if flags == 0 && phys == 0 {
            return None;
        }
        Some(Translation {
            phys,
            read: flags & 1 != 0,
            write: flags & 2 != 0,
            execute: flags & 4 != 0,
            page_shift: (flags >> 8) as u8,
        })
    }
}

/// Why the IOMMU refused a device access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultCause {
    /// The context has no domain attached (or no owner).
    Blocked,
    /// The IOVA is unmapped, or the access not permitted.
    PageFault,
    /// The IOMMU could not read its own tables.
    AccessFault,
    /// The context is misconfigured.
    Misconfigured,
    /// Any other cause.
    Other,
    /// A value this library does not know.
    Unknown(u8),
}

impl FaultCause {
    const fn decode(value: u8) -> FaultCause {
        match value {
            0 => FaultCause::Blocked,
            1 => FaultCause::PageFault,
            2 => FaultCause::AccessFault,
            3 => FaultCause::Misconfigured,
            4 => FaultCause::Other,
            other => FaultCause::Unknown(other),
        }
    }

    /// A short name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            FaultCause::Blocked => "blocked",
            FaultCause::PageFault => "page fault",
            FaultCause::AccessFault => "access fault",
            FaultCause::Misconfigured => "misconfigured",
            FaultCause::Other => "other",
            FaultCause::Unknown(_) => "unknown",
        }
    }
}

/// What the refused access tried to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Execute,
    /// A value this library does not know.
    Unknown(u8),
}

impl Access {
    const fn decode(value: u8) -> Access {
        match value {
            0 => Access::Read,
            1 => Access::Write,
            2 => Access::Execute,
            other => Access::Unknown(other),
        }
    }

    /// A short name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Execute => "execute",
            Access::Unknown(_) => "unknown",
        }
    }
}

/// One `FAULT` upcall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The context that faulted (one of the caller's).
    pub context: ContextHandle,
    pub cause: FaultCause,
    pub access: Access,
    /// The IOVA, truncated to the register width.
    pub iova: usize,
    /// The hardware's cause code, for logs (RISC-V IOMMU: 15 write page
    /// fault, 13 read page fault, 256.. device-context faults).
    pub hardware_cause: usize,
}

impl Fault {
    /// Decodes the three values of a `FAULT` upcall.
    pub const fn decode(first: usize, iova: usize, hardware_cause: usize) -> Fault {
        Fault {
            context: ContextHandle((first & 0xffff) as u32),
            cause: FaultCause::decode((first >> 16) as u8),
            access: Access::decode((first >> 24) as u8),
            iova,
            hardware_cause,
        }
    }
}

/// Checks the values of a `DONE` upcall against the operation the caller
/// started: `Ok` for status 0, the status as an error otherwise, and
/// `BadReturnVariant` if the upcall is for another command or object.
pub fn check_done(
    values: (usize, usize, usize),
    command: u32,
    handle: u32,
) -> Result<(), ErrorCode> {
    let (status, done_command, done_handle) = values;
    if done_command != command as usize || done_handle != handle as usize {
        return Err(ErrorCode::BadReturnVariant);
    }
    status_to_result(status)
}

/// An upcall status: 0 is success, anything else an `ErrorCode`
/// (`BadReturnVariant` if TRD104 defines no such code).
pub fn status_to_result(status: usize) -> Result<(), ErrorCode> {
    match status {
        0 => Ok(()),
        code => Err(u32::try_from(code)
            .ok()
            .and_then(ErrorCode::from_u32)
            .unwrap_or(ErrorCode::BadReturnVariant)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SV39: Geometry = Geometry {
        page_shift: 12,
        iova_bits: 39,
    };

    #[test]
    fn handles_split_into_slot_and_generation() {
        let handle = DomainHandle::from_raw(0x0307);
        assert_eq!((handle.slot(), handle.generation()), (7, 3));
        assert_eq!(ContextHandle::from_raw(0x0100).raw(), 0x0100);
    }

    #[test]
    fn info_triples_decode_as_documented() {
        let info = Info::decode(1, 1 | 2 << 16, 3 | 4 << 16);
        assert_eq!(
            (
                info.contexts_held,
                info.context_quota,
                info.domains,
                info.domain_quota
            ),
            (1, 2, 3, 4)
        );
        let instance = InstanceInfo::decode(2, 0b10, 12 | 39 << 8 | 500 << 16);
        assert_eq!(instance.geometry, SV39);
        assert_eq!(instance.free_pages, 500);
        assert!(instance.may_use(1) && !instance.may_use(0) && !instance.may_use(40));
    }

    #[test]
    fn range_words() {
        let range = PageRange::from_bytes(0x1_0000, 0x2000, SV39).unwrap();
        assert_eq!(range.raw(), 0x10 | 2 << 20);
        assert_eq!(range.iova(SV39), 0x1_0000);
        assert_eq!(
            PageRange::from_bytes(0x1_0010, 0x1000, SV39),
            Err(ErrorCode::Invalid)
        );
        assert_eq!(
            PageRange::from_bytes(0x1_0000, 0, SV39),
            Err(ErrorCode::Invalid)
        );
        assert_eq!(PageRange::new(1 << 20, 1), Err(ErrorCode::Invalid));
        assert_eq!(PageRange::new(0, 0x1000), Err(ErrorCode::Invalid));
        assert_eq!(
            PageRange::new(0xf_ffff, 0xfff).map(PageRange::raw),
            Ok(u32::MAX)
        );
    }

    #[test]
    fn map_words() {
        let source = MapSource {
            domain: DomainHandle::from_raw(0x0102),
            allow: AllowSlot::ReadOnly(Slot::BUFFER_1),
            page_offset: 3,
        };
        assert_eq!(source.raw(), Ok(0x0102 | 3 << 16 | 1 << 24 | 1 << 27));
        let read_write = MapSource {
            allow: AllowSlot::ReadWrite(Slot::BUFFER_0),
            page_offset: 0,
            ..source
        };
        assert_eq!(read_write.raw(), Ok(0x0102));
        let wide = MapSource {
            domain: DomainHandle::from_raw(0x1_0102),
            ..source
        };
        assert_eq!(wide.raw(), Err(ErrorCode::Invalid));
        assert_eq!(Slot::new(7).map(Slot::number), Some(7));
        assert_eq!(Slot::new(8), None);
    }

    #[test]
    fn translations_and_faults() {
        assert_eq!(Translation::decode(0, 0), None);
        let t = Translation::decode(1 | 12 << 8, 0x8030_4000).unwrap();
        assert!(t.read && !t.write && !t.execute);
        assert_eq!((t.phys, t.page_shift), (0x8030_4000, 12));
        let fault = Fault::decode(0x0101 | 1 << 16 | 1 << 24, 0x1_2000, 15);
        assert_eq!(fault.context, ContextHandle::from_raw(0x0101));
        assert_eq!(
            (fault.cause, fault.access),
            (FaultCause::PageFault, Access::Write)
        );
        assert_eq!((fault.iova, fault.hardware_cause), (0x1_2000, 15));
        let odd = Fault::decode(9 << 16 | 7 << 24, 0, 0);
        assert_eq!(
            (odd.cause, odd.access),
            (FaultCause::Unknown(9), Access::Unknown(7))
        );
    }

    #[test]
    fn done_values_are_checked() {
        assert_eq!(check_done((0, 8, 0x0101), command::MAP, 0x0101), Ok(()));
        assert_eq!(
            check_done((1, 9, 0x0101), command::UNMAP, 0x0101),
            Err(ErrorCode::Fail)
        );
        assert_eq!(
            check_done((0, 11, 0x0101), command::MAP, 0x0101),
            Err(ErrorCode::BadReturnVariant)
        );
        assert_eq!(status_to_result(99), Err(ErrorCode::BadReturnVariant));
    }
}
