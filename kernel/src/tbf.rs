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
#[path = "tbf_tests.rs"]
pub(crate) mod tests;
