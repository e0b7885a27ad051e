// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Tock Binary Format (TBF) header parsing: pure functions over flash bytes.
//!
//! Implements the version 2 header of Tock's TBF specification
//! (`doc/TockBinaryFormat.md` upstream; digest in `hw/tock-abi.md`): the
//! 16-byte base header (version, header size, total size, flags, checksum)
//! followed by type-length-value entries, each padded to 4 bytes. All fields
//! are little-endian. Nothing here touches memory other than the slice it is
//! given, so every rule is host-tested.
//!
//! Parsing is two-staged, as the loader needs it:
//!
//! 1. [`parse_lengths`] reads the first 8 bytes. If they are not a version 2
//!    header with a usable `total_size`, the walk over app flash must stop:
//!    without a trustworthy `total_size` there is no way to find the next
//!    object.
//! 2. [`parse_header`] parses and checks the whole header of one TBF object.
//!    Any error here still leaves `total_size` known, so the caller may skip
//!    the object and go on (which is what Tock's sequential loader does).
//!
//! Offsets follow Tock (`libraries/tock-tbf`): `init_fn_offset` is relative
//! to the *end of the TBF header*, so the entry point is
//! `flash_start + header_size + init_fn_offset`; the protected region is
//! `header_size + protected_trailer_size` bytes from the start of the object
//! and the application binary begins right after it.

use core::num::NonZeroU32;

/// The only TBF header version this parser accepts.
pub const TBF_VERSION: u16 = 2;

/// Size of the version 2 base header in bytes.
pub const BASE_HEADER_SIZE: usize = 16;

/// Index of the checksum word within the base header (skipped when summing).
const CHECKSUM_WORD: usize = 3;

/// TLV type numbers (TBF specification, "TLV Types").
pub mod tlv {
    /// Main: init function offset, protected trailer size, minimum RAM size.
    pub const MAIN: u16 = 1;
    /// Writeable flash regions (skipped).
    pub const WRITEABLE_FLASH_REGIONS: u16 = 2;
    /// Package name (UTF-8, not NUL-terminated).
    pub const PACKAGE_NAME: u16 = 3;
    /// Fixed addresses: start of process RAM, start of process flash.
    pub const FIXED_ADDRESSES: u16 = 5;
    /// Permissions (skipped).
    pub const PERMISSIONS: u16 = 6;
    /// Storage permissions (skipped).
    pub const STORAGE_PERMISSIONS: u16 = 7;
    /// Kernel version the app needs: major, minor.
    pub const KERNEL_VERSION: u16 = 8;
    /// Program: Main's fields plus binary end offset and app version.
    pub const PROGRAM: u16 = 9;
    /// ShortId: a fixed 32-bit application identifier.
    pub const SHORT_ID: u16 = 10;
}

/// Bits of the base header's `flags` word.
pub mod flags {
    /// The kernel should start this app.
    pub const ENABLED: u32 = 1 << 0;
    /// Tools should not remove this app without force.
    pub const STICKY: u32 = 1 << 1;
}

/// Payload lengths of the TLVs whose length is fixed.
mod tlv_len {
    pub const MAIN: usize = 12;
    pub const PROGRAM: usize = 20;
    pub const FIXED_ADDRESSES: usize = 8;
    pub const KERNEL_VERSION: usize = 4;
    pub const SHORT_ID: usize = 4;
}

/// A fixed-address field value meaning "not fixed".
const ADDRESS_NOT_FIXED: u32 = 0xFFFF_FFFF;

/// Why a TBF header was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TbfParseError {
    /// Fewer bytes are left than the header or object claims.
    NotEnoughFlash,
    /// The version field is not 2: not a TBF object (or the end of the list).
    UnsupportedVersion(u16),
    /// `total_size` is smaller than a base header or runs past the flash.
    BadTotalSize(u32),
    /// `header_size` is smaller than the base header or larger than the object.
    BadHeaderSize { header_size: u16, total_size: u32 },
    /// The stored checksum differs from the XOR of the header words.
    ChecksumMismatch { stored: u32, computed: u32 },
    /// A TLV's header or payload (with padding) runs past `header_size`.
    TruncatedTlv { offset: usize },
    /// A fixed-size TLV has the wrong length.
    BadTlvLength { tlv_type: u16, length: u16 },
    /// The package name is not valid UTF-8.
    BadPackageName,
    /// The protected region is larger than the object.
    ProtectedSizeTooLarge {
        protected_size: u32,
        total_size: u32,
    },
    /// The init function lies outside the object's application binary.
    InitFnOutOfBounds { init_offset: u32, total_size: u32 },
}

impl core::fmt::Display for TbfParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match *self {
            TbfParseError::NotEnoughFlash => write!(f, "not enough flash"),
            TbfParseError::UnsupportedVersion(v) => write!(f, "unsupported version {v}"),
            TbfParseError::BadTotalSize(t) => write!(f, "bad total size {t:#x}"),
            TbfParseError::BadHeaderSize {
                header_size,
                total_size,
            } => write!(
                f,
                "bad header size {header_size:#x} (total size {total_size:#x})"
            ),
            TbfParseError::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            TbfParseError::TruncatedTlv { offset } => {
                write!(f, "TLV at header offset {offset:#x} runs past the header")
            }
            TbfParseError::BadTlvLength { tlv_type, length } => {
                write!(f, "TLV type {tlv_type} has bad length {length}")
            }
            TbfParseError::BadPackageName => write!(f, "package name is not UTF-8"),
            TbfParseError::ProtectedSizeTooLarge {
                protected_size,
                total_size,
            } => write!(
                f,
                "protected size {protected_size:#x} exceeds total size {total_size:#x}"
            ),
            TbfParseError::InitFnOutOfBounds {
                init_offset,
                total_size,
            } => write!(
                f,
                "init function at offset {init_offset:#x} outside the binary (total size {total_size:#x})"
            ),
        }
    }
}

/// The Main TLV (type 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MainTlv {
    /// Offset of the init function from the end of the TBF header.
    pub init_fn_offset: u32,
    /// Bytes after the header that are still protected (kernel-only).
    pub protected_trailer_size: u32,
    /// RAM the process needs (stack, data, heaps).
    pub minimum_ram_size: u32,
}

/// The Program TLV (type 9): Main's fields plus where the binary ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramTlv {
    pub init_fn_offset: u32,
    pub protected_trailer_size: u32,
    pub minimum_ram_size: u32,
    /// Offset of the end of the application binary (start of footers).
    pub binary_end_offset: u32,
    /// The application's own version number.
    pub version: u32,
}

/// The Fixed Addresses TLV (type 5), `None` where the field is 0xFFFFFFFF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedAddresses {
    /// Where process RAM must start.
    pub start_process_ram: Option<u32>,
    /// Where the application binary (after the protected region) must start.
    pub start_process_flash: Option<u32>,
}

/// The length fields of a base header, from [`parse_lengths`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TbfLengths {
    pub header_size: u16,
    pub total_size: u32,
}

/// A parsed, checksum-verified version 2 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TbfHeader<'a> {
    pub header_size: u16,
    pub total_size: u32,
    pub flags: u32,
    pub main: Option<MainTlv>,
    pub program: Option<ProgramTlv>,
    /// The package name, if the header has one.
    pub package_name: Option<&'a str>,
    pub fixed_addresses: Option<FixedAddresses>,
    /// (major, minor) of the kernel the app was built for.
    pub kernel_version: Option<(u16, u16)>,
    /// The ShortId; a stored 0 means "none" (locally unique).
    pub short_id: Option<NonZeroU32>,
}

fn u16_at(bytes: &[u8], offset: usize) -> Option<u16> {
    let b = bytes.get(offset..offset.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    let b = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The XOR of the 32-bit words of `header`, skipping the checksum word.
/// Trailing bytes that do not form a whole word are not summed (as in Tock).
pub fn checksum(header: &[u8]) -> u32 {
    header
        .chunks_exact(4)
        .enumerate()
        .filter(|&(i, _)| i != CHECKSUM_WORD)
        .fold(0, |acc, (_, w)| {
            acc ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]])
        })
}

/// Reads version, header size and total size from the start of `flash`.
///
/// Errors that make the rest of the flash unwalkable: `NotEnoughFlash` (fewer
/// than 16 bytes), `UnsupportedVersion`, `BadTotalSize` (below 16 bytes or
/// past the end of `flash`). `BadHeaderSize` is returned only after the
/// total size was found plausible, so the caller can skip the object.
pub fn parse_lengths(flash: &[u8]) -> Result<TbfLengths, TbfParseError> {
    if flash.len() < BASE_HEADER_SIZE {
        return Err(TbfParseError::NotEnoughFlash);
    }
    let version = u16_at(flash, 0).ok_or(TbfParseError::NotEnoughFlash)?;
    if version != TBF_VERSION {
        return Err(TbfParseError::UnsupportedVersion(version));
    }
    let header_size = u16_at(flash, 2).ok_or(TbfParseError::NotEnoughFlash)?;
    let total_size = u32_at(flash, 4).ok_or(TbfParseError::NotEnoughFlash)?;
    let fits = usize::try_from(total_size).is_ok_and(|t| t <= flash.len());
    if (total_size as usize) < BASE_HEADER_SIZE || !fits {
        return Err(TbfParseError::BadTotalSize(total_size));
    }
    if usize::from(header_size) < BASE_HEADER_SIZE || u32::from(header_size) > total_size {
        return Err(TbfParseError::BadHeaderSize {
            header_size,
            total_size,
        });
    }
    Ok(TbfLengths {
        header_size,
        total_size,
    })
}

/// Parses the TBF object `tbf` (exactly `total_size` bytes, or more): checks
/// the lengths and checksum, then reads every TLV. Unknown TLV types are
/// skipped; for a known type the first occurrence wins.
pub fn parse_header(tbf: &[u8]) -> Result<TbfHeader<'_>, TbfParseError> {
    let lengths = parse_lengths(tbf)?;
    let header = tbf
        .get(..usize::from(lengths.header_size))
        .ok_or(TbfParseError::NotEnoughFlash)?;
    let stored = u32_at(header, 4 * CHECKSUM_WORD).ok_or(TbfParseError::NotEnoughFlash)?;
    let computed = checksum(header);
    if stored != computed {
        return Err(TbfParseError::ChecksumMismatch { stored, computed });
    }
    let mut parsed = TbfHeader {
        header_size: lengths.header_size,
        total_size: lengths.total_size,
        flags: u32_at(header, 8).ok_or(TbfParseError::NotEnoughFlash)?,
        main: None,
        program: None,
        package_name: None,
        fixed_addresses: None,
        kernel_version: None,
        short_id: None,
    };
    let mut offset = BASE_HEADER_SIZE;
    while offset < header.len() {
        let truncated = TbfParseError::TruncatedTlv { offset };
        let tlv_type = u16_at(header, offset).ok_or(truncated)?;
        let length = u16_at(header, offset + 2).ok_or(truncated)?;
        let start = offset + 4;
        let padded_end = start + usize::from(length).next_multiple_of(4);
        if padded_end > header.len() {
            return Err(truncated);
        }
        let value = &header[start..start + usize::from(length)];
        parse_tlv(&mut parsed, tlv_type, value)?;
        offset = padded_end;
    }
    parsed.check()?;
    Ok(parsed)
}

/// Fails unless `value` has exactly `expected` bytes.
fn expect_len(tlv_type: u16, value: &[u8], expected: usize) -> Result<(), TbfParseError> {
    if value.len() == expected {
        Ok(())
    } else {
        Err(TbfParseError::BadTlvLength {
            tlv_type,
            // `value` came from a u16 length field.
            length: value.len() as u16,
        })
    }
}

/// Word `i` of a TLV payload whose length was already checked.
fn word(value: &[u8], i: usize) -> u32 {
    u32_at(value, 4 * i).unwrap_or(0)
}

fn parse_tlv<'a>(
    parsed: &mut TbfHeader<'a>,
    tlv_type: u16,
    value: &'a [u8],
) -> Result<(), TbfParseError> {
    match tlv_type {
        tlv::MAIN => {
            expect_len(tlv_type, value, tlv_len::MAIN)?;
            parsed.main.get_or_insert(MainTlv {
                init_fn_offset: word(value, 0),
                protected_trailer_size: word(value, 1),
                minimum_ram_size: word(value, 2),
            });
        }
        tlv::PROGRAM => {
            expect_len(tlv_type, value, tlv_len::PROGRAM)?;
            parsed.program.get_or_insert(ProgramTlv {
                init_fn_offset: word(value, 0),
                protected_trailer_size: word(value, 1),
                minimum_ram_size: word(value, 2),
                binary_end_offset: word(value, 3),
                version: word(value, 4),
            });
        }
        tlv::PACKAGE_NAME => {
            let name = core::str::from_utf8(value).map_err(|_| TbfParseError::BadPackageName)?;
            parsed.package_name.get_or_insert(name);
        }
        tlv::FIXED_ADDRESSES => {
            expect_len(tlv_type, value, tlv_len::FIXED_ADDRESSES)?;
            let fixed = |w: u32| (w != ADDRESS_NOT_FIXED).then_some(w);
            parsed.fixed_addresses.get_or_insert(FixedAddresses {
                start_process_ram: fixed(word(value, 0)),
                start_process_flash: fixed(word(value, 1)),
            });
        }
        tlv::KERNEL_VERSION => {
            expect_len(tlv_type, value, tlv_len::KERNEL_VERSION)?;
            let major = u16_at(value, 0).unwrap_or(0);
            let minor = u16_at(value, 2).unwrap_or(0);
            parsed.kernel_version.get_or_insert((major, minor));
        }
        tlv::SHORT_ID => {
            expect_len(tlv_type, value, tlv_len::SHORT_ID)?;
            if parsed.short_id.is_none() {
                parsed.short_id = NonZeroU32::new(word(value, 0));
            }
        }
        // Writeable flash regions, permissions, storage permissions, and
        // any type this kernel does not know: skipped.
        _ => {}
    }
    Ok(())
}

impl<'a> TbfHeader<'a> {
    /// Consistency checks that need the whole header.
    fn check(&self) -> Result<(), TbfParseError> {
        if !self.is_app() {
            return Ok(());
        }
        let protected_size = self.protected_size();
        if protected_size > self.total_size {
            return Err(TbfParseError::ProtectedSizeTooLarge {
                protected_size,
                total_size: self.total_size,
            });
        }
        let init_offset = self.init_fn_offset();
        if init_offset < protected_size || init_offset >= self.total_size {
            return Err(TbfParseError::InitFnOutOfBounds {
                init_offset,
                total_size: self.total_size,
            });
        }
        Ok(())
    }

    /// The Program TLV's fields where present, else Main's:
    /// (init_fn_offset, protected_trailer_size, minimum_ram_size).
    fn entry_fields(&self) -> Option<(u32, u32, u32)> {
        self.program
            .map(|p| {
                (
                    p.init_fn_offset,
                    p.protected_trailer_size,
                    p.minimum_ram_size,
                )
            })
            .or_else(|| {
                self.main.map(|m| {
                    (
                        m.init_fn_offset,
                        m.protected_trailer_size,
                        m.minimum_ram_size,
                    )
                })
            })
    }

    /// True if this object is an application: it has a Main or Program TLV.
    /// Anything else (e.g. a bare base header) is padding between apps.
    pub fn is_app(&self) -> bool {
        self.entry_fields().is_some()
    }

    /// True if the enabled flag is set.
    pub fn enabled(&self) -> bool {
        self.flags & flags::ENABLED != 0
    }

    /// True if the sticky flag is set.
    pub fn sticky(&self) -> bool {
        self.flags & flags::STICKY != 0
    }

    /// Bytes from the start of the object that the process may not write:
    /// the header plus the protected trailer. 0 for padding.
    pub fn protected_size(&self) -> u32 {
        self.entry_fields().map_or(0, |(_, trailer, _)| {
            u32::from(self.header_size).saturating_add(trailer)
        })
    }

    /// Offset of the init function from the start of the object:
    /// `header_size + init_fn_offset`. 0 for padding.
    pub fn init_fn_offset(&self) -> u32 {
        self.entry_fields().map_or(0, |(init, _, _)| {
            u32::from(self.header_size).saturating_add(init)
        })
    }

    /// The RAM the process asks for. 0 for padding.
    pub fn minimum_ram_size(&self) -> u32 {
        self.entry_fields().map_or(0, |(_, _, ram)| ram)
    }

    /// The package name, or "" if the header has none.
    pub fn name(&self) -> &'a str {
        self.package_name.unwrap_or("")
    }

    /// Where process RAM must start, for a fixed-address app.
    pub fn fixed_ram_address(&self) -> Option<u32> {
        self.fixed_addresses.and_then(|f| f.start_process_ram)
    }

    /// Where the application binary must start, for a fixed-address app.
    pub fn fixed_flash_address(&self) -> Option<u32> {
        self.fixed_addresses.and_then(|f| f.start_process_flash)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    /// Builds TBF objects for tests (also used by the loader's tests).
    #[derive(Clone)]
    pub(crate) struct TbfBuilder {
        pub flags: u32,
        pub tlvs: Vec<(u16, Vec<u8>)>,
        /// Total size; rounded up to hold the header when too small.
        pub total_size: u32,
        /// Bytes appended to the header (to make a header size that is not
        /// a whole number of TLVs).
        pub header_extra: usize,
        /// XORed into the stored checksum (0 keeps it correct).
        pub corrupt_checksum: u32,
        pub version: u16,
    }

    fn words(ws: &[u32]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    impl TbfBuilder {
        pub(crate) fn new() -> Self {
            TbfBuilder {
                flags: flags::ENABLED,
                tlvs: Vec::new(),
                total_size: 0x400,
                header_extra: 0,
                corrupt_checksum: 0,
                version: TBF_VERSION,
            }
        }

        /// A typical elf2tab app: Program, name, kernel version 2.0.
        pub(crate) fn app(name: &str, min_ram: u32) -> Self {
            TbfBuilder::new()
                .program(0x40 + 32, 0x40, min_ram)
                .tlv(tlv::PACKAGE_NAME, name.as_bytes())
                .tlv(tlv::KERNEL_VERSION, &[2, 0, 0, 0])
        }

        pub(crate) fn tlv(mut self, tlv_type: u16, value: &[u8]) -> Self {
            self.tlvs.push((tlv_type, value.to_vec()));
            self
        }

        pub(crate) fn main(self, init: u32, trailer: u32, ram: u32) -> Self {
            self.tlv(tlv::MAIN, &words(&[init, trailer, ram]))
        }

        pub(crate) fn program(self, init: u32, trailer: u32, ram: u32) -> Self {
            let end = self.total_size;
            self.tlv(tlv::PROGRAM, &words(&[init, trailer, ram, end, 1]))
        }

        pub(crate) fn fixed(self, ram: u32, flash: u32) -> Self {
            self.tlv(tlv::FIXED_ADDRESSES, &words(&[ram, flash]))
        }

        pub(crate) fn header_len(&self) -> usize {
            BASE_HEADER_SIZE
                + self
                    .tlvs
                    .iter()
                    .map(|(_, v)| 4 + v.len().next_multiple_of(4))
                    .sum::<usize>()
                + self.header_extra
        }

        /// The whole object: header, then zero bytes up to `total_size`.
        pub(crate) fn build(&self) -> Vec<u8> {
            let header_len = self.header_len();
            let total = (self.total_size as usize).max(header_len);
            let mut out = Vec::with_capacity(total);
            out.extend_from_slice(&self.version.to_le_bytes());
            out.extend_from_slice(&(header_len as u16).to_le_bytes());
            out.extend_from_slice(&(total as u32).to_le_bytes());
            out.extend_from_slice(&self.flags.to_le_bytes());
            out.extend_from_slice(&[0; 4]);
            for (t, v) in &self.tlvs {
                out.extend_from_slice(&t.to_le_bytes());
                out.extend_from_slice(&(v.len() as u16).to_le_bytes());
                out.extend_from_slice(v);
                out.resize(out.len().next_multiple_of(4), 0);
            }
            out.resize(header_len, 0);
            let sum = checksum(&out) ^ self.corrupt_checksum;
            out[12..16].copy_from_slice(&sum.to_le_bytes());
            out.resize(total, 0);
            out
        }
    }

    #[test]
    fn parses_a_typical_elf2tab_header() {
        let tbf = TbfBuilder::app("hello", 0x1800)
            .fixed(0x8030_0000, 0x8010_0080)
            .tlv(tlv::SHORT_ID, &words(&[0x1234]))
            .build();
        let h = parse_header(&tbf).unwrap();
        assert_eq!(h.name(), "hello");
        assert_eq!(h.total_size, 0x400);
        assert!(h.enabled() && !h.sticky() && h.is_app());
        // 16 base + Program 4+20 + name 4+8 + version 4+4 + fixed 4+8 + ShortId 4+4.
        assert_eq!(h.header_size, 80);
        assert_eq!(h.protected_size(), 80 + 0x40);
        assert_eq!(h.init_fn_offset(), h.protected_size() + 32);
        assert_eq!(h.minimum_ram_size(), 0x1800);
        assert_eq!(h.fixed_ram_address(), Some(0x8030_0000));
        assert_eq!(h.fixed_flash_address(), Some(0x8010_0080));
        assert_eq!(h.kernel_version, Some((2, 0)));
        assert_eq!(h.short_id, NonZeroU32::new(0x1234));
        assert_eq!(h.program.unwrap().binary_end_offset, 0x400);
    }

    /// The header elf2tab 0.13 wrote for this project's `hello` example
    /// (slot 0: flash 0x80100000, RAM 0x80300000), as `tools/apps.sh`
    /// packs it: Main and Program, name, fixed addresses, kernel 2.0.
    pub(crate) const ELF2TAB_HELLO_HEADER: [u8; 0x58] = [
        0x02, 0x00, 0x58, 0x00, 0x24, 0x15, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x80, 0x65, 0x05,
        0x6c, 0x01, 0x00, 0x0c, 0x00, 0x48, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x0c, 0x10,
        0x00, 0x00, 0x09, 0x00, 0x14, 0x00, 0x48, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x0c,
        0x10, 0x00, 0x00, 0x24, 0x15, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x05, 0x00,
        0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00, 0x00, 0x00, 0x05, 0x00, 0x08, 0x00, 0x00, 0x00, 0x30,
        0x80, 0x80, 0x00, 0x10, 0x80, 0x08, 0x00, 0x04, 0x00, 0x02, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn parses_a_real_elf2tab_header() {
        let mut tbf = ELF2TAB_HELLO_HEADER.to_vec();
        tbf.resize(0x1524, 0);
        let h = parse_header(&tbf).unwrap();
        assert_eq!(h.name(), "hello");
        assert_eq!((h.header_size, h.total_size), (0x58, 0x1524));
        assert!(h.enabled() && h.is_app());
        // Protected region 0x80: the binary (rt_header) at flash + 0x80,
        // `start` right after the 32-byte rt_header (doc/userland.md).
        assert_eq!(h.protected_size(), 0x80);
        assert_eq!(h.init_fn_offset(), 0x80 + 32);
        assert_eq!(h.minimum_ram_size(), 0x100c);
        assert_eq!(h.fixed_ram_address(), Some(0x8030_0000));
        assert_eq!(h.fixed_flash_address(), Some(0x8010_0080));
        assert_eq!(h.kernel_version, Some((2, 0)));
        assert_eq!(h.short_id, None);
    }

    #[test]
    fn init_fn_offset_is_relative_to_the_end_of_the_header() {
        // Main only; header is 16 + 16 = 32 bytes.
        let tbf = TbfBuilder::new().main(0x40, 0x20, 0x800).build();
        let h = parse_header(&tbf).unwrap();
        assert_eq!(h.header_size, 32);
        assert_eq!(h.init_fn_offset(), 32 + 0x40);
        assert_eq!(h.protected_size(), 32 + 0x20);
        assert_eq!(h.name(), "");
        assert_eq!(h.fixed_ram_address(), None);
    }

    #[test]
    fn program_wins_over_main_and_first_occurrence_wins() {
        let tbf = TbfBuilder::new()
            .main(0x10, 0, 0x100)
            .program(0x20, 0, 0x200)
            .program(0x30, 0, 0x300)
            .tlv(tlv::PACKAGE_NAME, b"first")
            .tlv(tlv::PACKAGE_NAME, b"second")
            .build();
        let h = parse_header(&tbf).unwrap();
        assert_eq!(h.minimum_ram_size(), 0x200);
        assert_eq!(h.init_fn_offset(), u32::from(h.header_size) + 0x20);
        assert_eq!(h.name(), "first");
    }

    #[test]
    fn unknown_tlvs_are_skipped_with_padding() {
        let tbf = TbfBuilder::new()
            .tlv(0x77, &[1, 2, 3]) // 3 bytes, padded to 4
            .tlv(tlv::PERMISSIONS, &[0; 10])
            .tlv(tlv::WRITEABLE_FLASH_REGIONS, &[0; 8])
            .main(0x0, 0, 0x100)
            .tlv(tlv::PACKAGE_NAME, b"abcde")
            .build();
        let h = parse_header(&tbf).unwrap();
        assert_eq!(h.name(), "abcde");
        assert!(h.is_app());
    }

    #[test]
    fn fixed_address_all_ones_means_not_fixed_and_short_id_zero_means_none() {
        let tbf = TbfBuilder::new()
            .main(0, 0, 0)
            .fixed(0xFFFF_FFFF, 0x8010_0080)
            .tlv(tlv::SHORT_ID, &[0; 4])
            .build();
        let h = parse_header(&tbf).unwrap();
        assert_eq!(h.fixed_ram_address(), None);
        assert_eq!(h.fixed_flash_address(), Some(0x8010_0080));
        assert_eq!(h.short_id, None);
    }

    #[test]
    fn bare_base_header_is_padding() {
        let mut b = TbfBuilder::new();
        b.flags = 0;
        let padding = b.build();
        let h = parse_header(&padding).unwrap();
        assert!(!h.is_app() && !h.enabled());
        assert_eq!(h.protected_size(), 0);
        // A header with TLVs but no Main/Program is not an app either.
        let named = TbfBuilder::new().tlv(tlv::PACKAGE_NAME, b"x").build();
        let h = parse_header(&named).unwrap();
        assert!(!h.is_app());
    }

    #[test]
    fn checksum_is_xor_of_words_without_the_checksum_word() {
        let tbf = TbfBuilder::new().main(1, 2, 3).build();
        let mut expected = 0;
        for (i, w) in tbf[..32].chunks(4).enumerate() {
            if i != 3 {
                expected ^= u32::from_le_bytes(w.try_into().unwrap());
            }
        }
        assert_eq!(checksum(&tbf[..32]), expected);
        assert_eq!(u32_at(&tbf, 12), Some(expected));
        let mut bad = TbfBuilder::new().main(1, 2, 3);
        bad.corrupt_checksum = 0x100;
        assert_eq!(
            parse_header(&bad.build()),
            Err(TbfParseError::ChecksumMismatch {
                stored: expected ^ 0x100,
                computed: expected
            })
        );
    }

    #[test]
    fn lengths_errors_say_whether_the_walk_can_go_on() {
        assert_eq!(
            parse_lengths(&[2, 0, 16]),
            Err(TbfParseError::NotEnoughFlash)
        );
        assert_eq!(
            parse_lengths(&[0xff; 32]),
            Err(TbfParseError::UnsupportedVersion(0xffff))
        );
        assert_eq!(
            parse_lengths(&[0; 32]),
            Err(TbfParseError::UnsupportedVersion(0))
        );
        let mut tbf = TbfBuilder::new().main(0, 0, 0).build();
        // Total size past the end of flash.
        assert_eq!(
            parse_lengths(&tbf[..0x100]),
            Err(TbfParseError::BadTotalSize(0x400))
        );
        // Total size below a base header.
        tbf[4..8].copy_from_slice(&8u32.to_le_bytes());
        assert_eq!(parse_lengths(&tbf), Err(TbfParseError::BadTotalSize(8)));
        // Header size below 16 or above the total: skippable.
        tbf[4..8].copy_from_slice(&0x40u32.to_le_bytes());
        tbf[2..4].copy_from_slice(&8u16.to_le_bytes());
        assert_eq!(
            parse_lengths(&tbf),
            Err(TbfParseError::BadHeaderSize {
                header_size: 8,
                total_size: 0x40
            })
        );
        tbf[2..4].copy_from_slice(&0x44u16.to_le_bytes());
        assert!(matches!(
            parse_lengths(&tbf),
            Err(TbfParseError::BadHeaderSize { .. })
        ));
    }

    #[test]
    fn malformed_tlvs_are_precise_errors() {
        // Main with 8 bytes.
        let tbf = TbfBuilder::new().tlv(tlv::MAIN, &[0; 8]).build();
        assert_eq!(
            parse_header(&tbf),
            Err(TbfParseError::BadTlvLength {
                tlv_type: tlv::MAIN,
                length: 8
            })
        );
        for t in [
            tlv::PROGRAM,
            tlv::FIXED_ADDRESSES,
            tlv::KERNEL_VERSION,
            tlv::SHORT_ID,
        ] {
            let tbf = TbfBuilder::new().tlv(t, &[0; 16]).build();
            assert_eq!(
                parse_header(&tbf),
                Err(TbfParseError::BadTlvLength {
                    tlv_type: t,
                    length: 16
                }),
                "type {t}"
            );
        }
        let tbf = TbfBuilder::new()
            .tlv(tlv::PACKAGE_NAME, &[0xff, 0xfe])
            .build();
        assert_eq!(parse_header(&tbf), Err(TbfParseError::BadPackageName));
        // Two stray bytes after the last TLV: a truncated TLV header.
        let mut b = TbfBuilder::new().main(0, 0, 0);
        b.header_extra = 2;
        assert_eq!(
            parse_header(&b.build()),
            Err(TbfParseError::TruncatedTlv { offset: 32 })
        );
        // A TLV whose length runs past the header.
        let mut tbf = TbfBuilder::new().main(0, 0, 0).build();
        tbf[18..20].copy_from_slice(&64u16.to_le_bytes());
        let sum = checksum(&tbf[..32]);
        tbf[12..16].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(
            parse_header(&tbf),
            Err(TbfParseError::TruncatedTlv { offset: 16 })
        );
    }

    #[test]
    fn entry_and_protected_region_must_lie_in_the_object() {
        let tbf = TbfBuilder::new().main(0x400, 0, 0).build();
        assert!(matches!(
            parse_header(&tbf),
            Err(TbfParseError::InitFnOutOfBounds { .. })
        ));
        let tbf = TbfBuilder::new().main(0x10, 0x1000, 0).build();
        assert!(matches!(
            parse_header(&tbf),
            Err(TbfParseError::ProtectedSizeTooLarge { .. })
        ));
        // Entry inside the protected region.
        let tbf = TbfBuilder::new().main(0x10, 0x20, 0).build();
        assert!(matches!(
            parse_header(&tbf),
            Err(TbfParseError::InitFnOutOfBounds { .. })
        ));
        // Huge values do not overflow.
        let tbf = TbfBuilder::new().main(u32::MAX, u32::MAX, u32::MAX).build();
        assert!(parse_header(&tbf).is_err());
    }

    /// A small deterministic generator (xorshift) for mutation tests.
    pub(crate) struct XorShift(pub u64);

    impl XorShift {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn mutated_headers_never_panic_and_pass_only_with_a_matching_checksum() {
        let base = TbfBuilder::app("mutant", 0x800)
            .fixed(0x8030_0000, 0x8010_0080)
            .tlv(tlv::SHORT_ID, &words(&[7]))
            .build();
        let header_len = usize::from(parse_header(&base).unwrap().header_size);
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut tbf = base.clone();
            for _ in 0..1 + rng.next() % 4 {
                let at = (rng.next() as usize) % header_len;
                tbf[at] = rng.next() as u8;
            }
            let cut = (rng.next() as usize) % (tbf.len() + 1);
            let slice = if rng.next().is_multiple_of(4) {
                &tbf[..cut]
            } else {
                &tbf[..]
            };
            let _ = parse_lengths(slice);
            if let Ok(h) = parse_header(slice) {
                accepted += 1;
                let header = &slice[..usize::from(h.header_size)];
                assert_eq!(u32_at(header, 12), Some(checksum(header)));
                assert!(h.protected_size() <= h.total_size);
                assert!(!h.is_app() || h.init_fn_offset() < h.total_size);
            }
        }
        // Flipping bytes of the checksum word itself can keep it valid only
        // by chance; most mutants are refused.
        assert!(accepted < 2_000, "{accepted}");
    }

    #[test]
    fn errors_display_a_reason() {
        extern crate std;
        use std::string::ToString;
        let s = TbfParseError::ChecksumMismatch {
            stored: 1,
            computed: 2,
        }
        .to_string();
        assert!(s.contains("checksum mismatch"), "{s}");
    }
}
