// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Unit tests of `tbf`.

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
    0x02, 0x00, 0x58, 0x00, 0x24, 0x15, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x80, 0x65, 0x05, 0x6c,
    0x01, 0x00, 0x0c, 0x00, 0x48, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x0c, 0x10, 0x00, 0x00,
    0x09, 0x00, 0x14, 0x00, 0x48, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x0c, 0x10, 0x00, 0x00,
    0x24, 0x15, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x05, 0x00, 0x68, 0x65, 0x6c, 0x6c,
    0x6f, 0x00, 0x00, 0x00, 0x05, 0x00, 0x08, 0x00, 0x00, 0x00, 0x30, 0x80, 0x80, 0x00, 0x10, 0x80,
    0x08, 0x00, 0x04, 0x00, 0x02, 0x00, 0x00, 0x00,
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
