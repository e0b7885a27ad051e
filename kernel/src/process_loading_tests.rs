// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Unit tests of `process_loading`.

use super::*;
use crate::create_capability;
use crate::process::{ProcessStandard, State};
use crate::tbf::tests::TbfBuilder;
use crate::tbf::tlv;
extern crate std;
use std::boxed::Box;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

const RAM_START: usize = 0x8030_0000;
const RAM_LEN: usize = 0x10_0000;
/// Where the tests pretend app flash is (TBF addresses are 32-bit).
const FLASH_BASE: usize = 0x8010_0000;

fn config() -> LoaderConfig {
    LoaderConfig {
        app_ram_start: RAM_START,
        app_ram_len: RAM_LEN,
        ram_alignment: 0x100,
        access_granule: crate::process::PMP_GRANULE,
        require_kernel_version: true,
    }
}

fn kernel(slots: usize) -> &'static Kernel {
    let processes: &'static [ProcessStandard] =
        Vec::leak((0..slots).map(|_| ProcessStandard::new()).collect());
    Box::leak(Box::new(Kernel::new(processes)))
}

/// App flash holding `objects` back to back (each built once the flash
/// address is known), then `tail` bytes of 0xff.
fn flash(objects: &[&dyn Fn(usize) -> Vec<u8>], tail: usize) -> &'static [u8] {
    let total: usize = 0x4000 * objects.len() + tail;
    let buffer: &'static mut [u8] = Vec::leak(vec![0xffu8; total]);
    let mut at = 0;
    for build in objects {
        let bytes = build(FLASH_BASE + at);
        buffer[at..at + bytes.len()].copy_from_slice(&bytes);
        at += bytes.len();
    }
    buffer
}

fn run(
    kernel: &'static Kernel,
    flash: &'static [u8],
    config: &LoaderConfig,
) -> (LoadSummary, Vec<String>, Vec<LoadEvent>) {
    let cap = create_capability!(ProcessManagementCapability);
    let mut lines = Vec::new();
    let mut events = Vec::new();
    let summary = load_processes_at(kernel, FLASH_BASE, flash, config, &cap, &mut |e| {
        lines.push(e.to_string());
        events.push(*e);
    });
    (summary, lines, events)
}

fn layouts(events: &[LoadEvent]) -> Vec<ProcessLayout> {
    events
        .iter()
        .filter_map(|e| match e {
            LoadEvent::Loaded { layout, .. } => Some(*layout),
            _ => None,
        })
        .collect()
}

/// A fixed-address app like libtock-rs builds: header + protected
/// region of 0x80 bytes, binary at `flash + 0x80`.
fn fixed_app(name: &'static str, ram: u32, min_ram: u32) -> impl Fn(usize) -> Vec<u8> {
    move |at| {
        let mut b = TbfBuilder::new();
        b.total_size = 0x1000;
        let b = b
            .tlv(tlv::PACKAGE_NAME, name.as_bytes())
            .tlv(tlv::KERNEL_VERSION, &[2, 0, 0, 0]);
        // Fill in the Program TLV once the header size is known.
        let header_len = b.header_len() + 4 + 20 + 4 + 8;
        let trailer = 0x80 - header_len as u32;
        b.program(trailer + 32, trailer, min_ram)
            .fixed(ram, at as u32 + 0x80)
            .build()
    }
}

#[test]
fn loads_fixed_address_apps_at_their_addresses() {
    let k = kernel(4);
    let f = flash(
        &[
            &fixed_app("hello", 0x8030_0000, 0x1800),
            &fixed_app("timer", 0x8031_0000, 0x2000),
        ],
        0x100,
    );
    let (summary, lines, events) = run(k, f, &config());
    assert_eq!(summary.loaded, 2, "{lines:?}");
    assert_eq!(summary.skipped, 0);
    let l = layouts(&events);
    let base = FLASH_BASE;
    assert_eq!(l[0].name, "hello");
    assert_eq!(l[0].flash_start, base);
    assert_eq!(l[0].flash_len, 0x1000);
    assert_eq!(l[0].app_start, base + 0x80);
    assert_eq!(l[0].entry, base + 0x80 + 32);
    assert_eq!(l[0].memory_start, 0x8030_0000);
    // As Tock on RISC-V: the break starts at the memory start, and the
    // block is exactly the TBF's minimum RAM size (grants included).
    assert_eq!(l[0].initial_break, 0x8030_0000);
    assert_eq!(l[0].memory_len, 0x1800);
    assert_eq!(l[0].access_granule, 4);
    assert_eq!(l[1].flash_start, base + 0x1000);
    assert_eq!(l[1].memory_start, 0x8031_0000);
    assert_eq!(summary.ram_end, 0x8031_0000 + 0x2000);
    assert_eq!(
        lines[0],
        std::format!("Loading process 'hello' at {base:#010x}, RAM 0x80300000..0x80301800")
    );
    // The kernel really has them, runnable.
    assert_eq!(k.process_at(0).unwrap().state(), State::Running);
    assert_eq!(k.process_at(1).unwrap().name(), "timer");
}

#[test]
fn loads_a_real_elf2tab_app_where_libtock_rs_expects_it() {
    let k = kernel(2);
    let hello = |at: usize| {
        assert_eq!(at, 0x8010_0000);
        let mut tbf = tbf::tests::ELF2TAB_HELLO_HEADER.to_vec();
        tbf.resize(0x1524, 0);
        tbf
    };
    let f = flash(&[&hello], 0x100);
    let (summary, lines, events) = run(k, f, &config());
    assert_eq!(summary.loaded, 1, "{lines:?}");
    let l = layouts(&events)[0];
    assert_eq!(l.entry, 0x8010_00a0);
    assert_eq!(l.app_start, 0x8010_0080);
    assert_eq!(l.memory_start, 0x8030_0000);
    // 0x100c rounded up to the 0x100 alignment.
    assert_eq!(l.memory_len, 0x1100);
    assert_eq!(l.initial_break, 0x8030_0000);
    assert_eq!(l.flash_len, 0x1524);
    assert_eq!(
        lines[0],
        "Loading process 'hello' at 0x80100000, RAM 0x80300000..0x80301100"
    );
}

#[test]
fn position_independent_apps_are_packed_after_each_other() {
    let k = kernel(4);
    let app = |name: &'static str, ram: u32| move |_| TbfBuilder::app(name, ram).build();
    let f = flash(&[&app("a", 0x1234), &app("b", 0x100)], 0);
    let (summary, lines, events) = run(k, f, &config());
    assert_eq!(summary.loaded, 2, "{lines:?}");
    let l = layouts(&events);
    // 0x1234 rounds up to 0x1300.
    assert_eq!(l[0].memory_start, RAM_START);
    assert_eq!(l[0].memory_len, 0x1300);
    assert_eq!(l[1].memory_start, RAM_START + 0x1300);
    // Entry: flash + header + init_fn_offset; app start after the trailer.
    let h = tbf::parse_header(&f[..0x400]).unwrap();
    assert_eq!(
        l[0].entry,
        l[0].flash_start + usize::from(h.header_size) + 0x40 + 32
    );
    assert_eq!(
        l[0].app_start,
        l[0].flash_start + usize::from(h.header_size) + 0x40
    );
}

#[test]
fn checksum_error_is_reported_and_skipped_the_rest_still_load() {
    let k = kernel(4);
    let bad = |at: usize| {
        let mut b = TbfBuilder::app("bad", 0x100);
        b.corrupt_checksum = 1;
        let _ = at;
        b.build()
    };
    let f = flash(
        &[
            &fixed_app("first", 0x8030_0000, 0x1000),
            &bad,
            &fixed_app("third", 0x8031_0000, 0x1000),
        ],
        0x100,
    );
    let (summary, lines, _) = run(k, f, &config());
    assert_eq!(summary.loaded, 2, "{lines:?}");
    assert_eq!(summary.skipped, 1);
    let bad_at = FLASH_BASE + 0x1000;
    assert!(
        lines[1].starts_with(&std::format!(
            "tbf: malformed header at {bad_at:#010x}: checksum mismatch"
        )),
        "{lines:?}"
    );
    assert!(lines[1].ends_with(", skipped"));
    assert!(lines[2].contains("'third'"));
}

#[test]
fn unparseable_total_size_stops_the_walk_and_is_reported() {
    let k = kernel(4);
    let garbage = |_| {
        let mut v = vec![0u8; 32];
        v[0] = 2; // version 2
        v[4..8].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
        v[8] = 1;
        v
    };
    let f = flash(
        &[
            &fixed_app("first", 0x8030_0000, 0x1000),
            &garbage,
            &fixed_app("never", 0x8031_0000, 0x1000),
        ],
        0,
    );
    let (summary, lines, events) = run(k, f, &config());
    assert_eq!(summary.loaded, 1);
    assert!(matches!(
        events.last(),
        Some(LoadEvent::Stopped {
            error: TbfParseError::BadTotalSize(0x7fff_0000),
            ..
        })
    ));
    assert!(lines.last().unwrap().ends_with(", stopping"));
    // A foreign version stops too, and is reported; blank flash is not.
    let f = flash(
        &[&|_| vec![7, 0, 16, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]],
        0,
    );
    let (_, lines, _) = run(kernel(1), f, &config());
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("unsupported version 7"), "{lines:?}");
    let (summary, lines, _) = run(kernel(1), Vec::leak(vec![0u8; 64]), &config());
    assert_eq!((summary.loaded, lines.len()), (0, 0));
}

#[test]
fn bad_header_size_is_skipped_by_total_size() {
    let k = kernel(2);
    let bad = |_| {
        let mut v = TbfBuilder::app("x", 0).build();
        v[2..4].copy_from_slice(&8u16.to_le_bytes());
        v
    };
    let f = flash(&[&bad, &|_| TbfBuilder::app("ok", 0x100).build()], 0);
    let (summary, lines, _) = run(k, f, &config());
    assert_eq!((summary.loaded, summary.skipped), (1, 1), "{lines:?}");
    assert!(lines[0].contains("bad header size"));
}

#[test]
fn padding_and_disabled_apps_are_skipped() {
    let k = kernel(2);
    let padding = |_| {
        let mut b = TbfBuilder::new();
        b.flags = 0;
        b.total_size = 0x200;
        b.build()
    };
    let disabled = |_| {
        let mut b = TbfBuilder::app("off", 0x100);
        b.flags = 0;
        b.build()
    };
    let f = flash(
        &[&padding, &disabled, &|_| {
            TbfBuilder::app("on", 0x100).build()
        }],
        0,
    );
    let (summary, lines, events) = run(k, f, &config());
    assert_eq!((summary.loaded, summary.skipped), (1, 1), "{lines:?}");
    assert!(matches!(events[0], LoadEvent::Padding { len: 0x200, .. }));
    assert!(lines[1].contains("'off'") && lines[1].contains("disabled"));
    assert_eq!(layouts(&events)[0].flash_start, FLASH_BASE + 0x600);
}

#[test]
fn ram_outside_the_region_or_overlapping_is_refused() {
    let k = kernel(4);
    let f = flash(
        &[
            &fixed_app("a", 0x8031_0000, 0x1000),
            // Below the end of "a": overlap.
            &fixed_app("overlap", 0x8030_0000, 0x1000),
            // Past the end of app RAM.
            &fixed_app("outside", 0x8040_0000, 0x1000),
            // Straddles the end of app RAM.
            &fixed_app("straddle", 0x803f_f000, 0x2000),
            &fixed_app("b", 0x8032_0000, 0x1000),
        ],
        0,
    );
    let (summary, lines, events) = run(k, f, &config());
    assert_eq!((summary.loaded, summary.skipped), (2, 3), "{lines:?}");
    for (line, name) in lines[1..4].iter().zip(["overlap", "outside", "straddle"]) {
        assert!(
            line.contains(name) && line.contains("not available"),
            "{line}"
        );
    }
    assert_eq!(layouts(&events)[1].name, "b");
}

#[test]
fn wrong_flash_address_and_kernel_version_are_refused() {
    let k = kernel(4);
    let moved = |at: usize| fixed_app("moved", 0x8030_0000, 0x100)(at + 0x1000);
    let future = |_| {
        TbfBuilder::new()
            .main(32, 0, 0x100)
            .tlv(tlv::KERNEL_VERSION, &[3, 0, 0, 0])
            .build()
    };
    let versionless = |_| TbfBuilder::new().main(32, 0, 0x100).build();
    let f = flash(&[&moved, &future, &versionless], 0);
    let (summary, lines, _) = run(k, f, &config());
    assert_eq!((summary.loaded, summary.skipped), (0, 3), "{lines:?}");
    assert!(lines[0].contains("linked for flash"));
    assert!(lines[1].contains("needs kernel 3.0"));
    assert!(lines[2].contains("no kernel version header"));
    // Without the requirement, the versionless app loads.
    let mut relaxed = config();
    relaxed.require_kernel_version = false;
    let f = flash(&[&versionless], 0);
    assert_eq!(run(kernel(1), f, &relaxed).0.loaded, 1);
}

#[test]
fn running_out_of_slots_stops_with_a_report() {
    let k = kernel(1);
    let app = |_| TbfBuilder::app("a", 0x100).build();
    let f = flash(&[&app, &app, &app], 0);
    let (summary, lines, _) = run(k, f, &config());
    assert_eq!((summary.loaded, summary.skipped), (1, 1), "{lines:?}");
    assert!(lines[1].contains("no free process slot"));
}

#[test]
fn bad_board_alignment_loads_nothing() {
    let mut c = config();
    c.ram_alignment = 6;
    let f = flash(&[&|_| TbfBuilder::app("a", 0x100).build()], 0);
    let (summary, lines, _) = run(kernel(1), f, &c);
    assert_eq!(summary.loaded, 0);
    assert!(lines[0].contains("alignment"));
}

#[test]
fn mutated_flash_never_panics_the_loader() {
    let image = flash(
        &[
            &fixed_app("a", 0x8030_0000, 0x1000),
            &|_| TbfBuilder::app("b", 0x300).build(),
            &fixed_app("c", 0x8032_0000, 0x1000),
        ],
        0,
    );
    let mut rng = tbf::tests::XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2_000 {
        let mut bytes = image.to_vec();
        for _ in 0..1 + rng.next() % 8 {
            // Mostly headers: the first 0x100 bytes of each object.
            let object = [0usize, 0x1000, 0x1400][(rng.next() % 3) as usize];
            let at = object + (rng.next() as usize) % 0x100;
            bytes[at] = rng.next() as u8;
        }
        let f: &'static [u8] = Vec::leak(bytes);
        let (summary, lines, events) = run(kernel(3), f, &config());
        assert_eq!(summary.loaded, layouts(&events).len());
        assert!(summary.loaded <= 3, "{lines:?}");
        for l in layouts(&events) {
            assert!(
                l.flash_start >= FLASH_BASE && l.flash_start + l.flash_len <= FLASH_BASE + f.len()
            );
            assert!(l.entry >= l.app_start && l.entry < l.flash_start + l.flash_len);
            assert!(
                l.memory_start >= RAM_START && l.memory_start + l.memory_len <= RAM_START + RAM_LEN
            );
            assert_eq!(l.initial_break, l.memory_start);
            assert!(l.memory_len.is_multiple_of(0x100));
        }
    }
}

#[test]
fn huge_ram_requests_do_not_overflow() {
    let f = flash(&[&|_| TbfBuilder::app("big", u32::MAX).build()], 0);
    let (summary, lines, _) = run(kernel(1), f, &config());
    assert_eq!(summary.skipped, 1);
    assert!(lines[0].contains("not available"));
}

#[test]
fn a_wider_access_granule_rounds_the_block_up_so_the_grant_room_stays() {
    let mut c = config();
    c.access_granule = 0x1000;
    let f = flash(&[&fixed_app("hello", 0x8030_0000, 0x1800)], 0x100);
    let (summary, lines, events) = run(kernel(1), f, &c);
    assert_eq!(summary.loaded, 1, "{lines:?}");
    let l = layouts(&events)[0];
    // 0x1800 asked for; the block ends on the 4 KiB granule, one granule
    // further: a break at the end of what was asked for has its access end
    // at 0x80302000, and the grants still have a granule above it.
    assert_eq!(l.memory_len, 0x3000);
    assert_eq!(l.access_granule, 0x1000);
}
