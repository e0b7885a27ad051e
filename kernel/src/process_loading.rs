// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Process loading: walks the TBF objects in app flash and loads each app.
//!
//! The objects lie back to back; for each app the loader places its RAM and
//! hands the layout to `Kernel::load_process`.
//!
//! This follows Tock's sequential process loader (`kernel/src/
//! process_loading.rs`, `process_binary.rs` upstream) and the TBF rules in
//! `tbf` and `hw/tock-abi.md`:
//!
//! - Objects are walked by `total_size`. The walk **stops** when the next
//!   header has no usable `total_size`: fewer than 16 bytes left, a version
//!   other than 2 (erased or zeroed flash marks the normal end of the list),
//!   or a `total_size` below 16 bytes or past the end of app flash.
//! - When `total_size` is plausible but the rest of the header is malformed
//!   (bad header size, checksum mismatch, bad TLV), the object is
//!   **reported and skipped by `total_size`** and the walk goes on. This is
//!   what upstream Tock does too: its loader reports the `ProcessBinaryError`
//!   and continues after the object. A corrupted `total_size` that still
//!   looks plausible can make the walk land inside the next app's binary;
//!   whatever it finds there must then pass the version check, the length
//!   checks and the checksum, so a false app is very unlikely, and the
//!   report names the address where things went wrong.
//! - Padding (a header without a Main or Program TLV) and disabled apps are
//!   skipped; apps built for an incompatible kernel version, apps not at
//!   their fixed flash address, and apps whose RAM does not fit are
//!   reported and skipped.
//! - RAM is handed out linearly from the board's app RAM region, as in
//!   Tock: an app with a fixed RAM address gets exactly that address, which
//!   must lie at or above the end of the previous process's RAM and inside
//!   the region; other apps go right after the previous one. Each block is
//!   `minimum_ram_size` rounded up to the board's alignment (the
//!   process-accessible part, up to the initial break), then the board's
//!   grant reserve from the next `process::ACCESS_GRANULE` boundary on.

use core::fmt;

use crate::capabilities::ProcessManagementCapability;
use crate::kernel::Kernel;
use crate::process::{ACCESS_GRANULE, ProcessId, ProcessLayout};
use crate::tbf::{self, TbfHeader, TbfParseError};

/// Kernel major version an app's Kernel Version TLV must name.
pub const KERNEL_MAJOR_VERSION: u16 = 2;
/// Highest kernel minor version an app may ask for (this kernel offers the
/// system call ABI of Tock 2.x that apps built with elf2tab declare).
pub const KERNEL_MINOR_VERSION: u16 = 2;

/// What the board decides about process memory.
#[derive(Clone, Copy, Debug)]
pub struct LoaderConfig {
    /// First byte of the RAM region processes may use.
    pub app_ram_start: usize,
    /// Length of that region.
    pub app_ram_len: usize,
    /// Bytes above each process's accessible RAM kept for its grants.
    pub grant_reserve: usize,
    /// Alignment (a power of two, at least 4) of process RAM blocks and of
    /// the accessible size.
    pub ram_alignment: usize,
    /// Refuse apps without a Kernel Version TLV (Tock does).
    pub require_kernel_version: bool,
}

/// Why an app in flash was not loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// Its header is malformed (see `TbfParseError`).
    Malformed(TbfParseError),
    /// Its enabled flag is clear.
    Disabled,
    /// It was built for another kernel version (or names none).
    IncompatibleKernelVersion(Option<(u16, u16)>),
    /// It was linked for another flash address.
    IncorrectFlashAddress { expected: u32, actual: usize },
    /// Its RAM block `start..start+len` is not free inside app RAM (or its
    /// size overflows).
    RamNotAvailable { start: usize, len: usize },
    /// The board's alignment is not a power of two of at least 4.
    BadAlignment(usize),
    /// Every process slot is taken; the walk stops here.
    NoProcessSlot,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            LoadError::Malformed(e) => write!(f, "{e}"),
            LoadError::Disabled => write!(f, "disabled"),
            LoadError::IncompatibleKernelVersion(Some((major, minor))) => write!(
                f,
                "needs kernel {major}.{minor}, this is {KERNEL_MAJOR_VERSION}.{KERNEL_MINOR_VERSION}"
            ),
            LoadError::IncompatibleKernelVersion(None) => write!(f, "no kernel version header"),
            LoadError::IncorrectFlashAddress { expected, actual } => write!(
                f,
                "linked for flash {expected:#010x} but its binary is at {actual:#010x}"
            ),
            LoadError::RamNotAvailable { start, len } => write!(
                f,
                "RAM {start:#010x}..{:#010x} not available",
                start.saturating_add(len)
            ),
            LoadError::BadAlignment(a) => write!(f, "bad RAM alignment {a:#x}"),
            LoadError::NoProcessSlot => write!(f, "no free process slot"),
        }
    }
}

/// One step of the walk, for the board to print.
#[derive(Clone, Copy, Debug)]
pub enum LoadEvent {
    /// A process was loaded.
    Loaded {
        process_id: ProcessId,
        layout: ProcessLayout,
    },
    /// A padding object (no Main or Program TLV) of `len` bytes.
    Padding { address: usize, len: usize },
    /// The object at `address` was not loaded; the walk goes on after it
    /// (unless the error is `NoProcessSlot`).
    Skipped {
        address: usize,
        name: &'static str,
        error: LoadError,
    },
    /// The walk stopped at `address`: the bytes there are not a TBF header
    /// with a usable total size.
    Stopped {
        address: usize,
        error: TbfParseError,
    },
}

impl fmt::Display for LoadEvent {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            LoadEvent::Loaded { layout, .. } => write!(
                f,
                "Loading process '{}' at {:#010x}, RAM {:#010x}..{:#010x}",
                layout.name,
                layout.flash_start,
                layout.memory_start,
                layout.memory_start + layout.memory_len
            ),
            LoadEvent::Padding { address, len } => {
                write!(f, "tbf: padding at {address:#010x} ({len:#x} bytes)")
            }
            LoadEvent::Skipped {
                address,
                error: LoadError::Malformed(e),
                ..
            } => write!(f, "tbf: malformed header at {address:#010x}: {e}, skipped"),
            LoadEvent::Skipped {
                address,
                name,
                error,
            } => write!(
                f,
                "tbf: process '{name}' at {address:#010x} not loaded: {error}, skipped"
            ),
            LoadEvent::Stopped { address, error } => write!(
                f,
                "tbf: malformed header at {address:#010x}: {error}, stopping"
            ),
        }
    }
}

/// Totals of one walk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadSummary {
    /// Processes loaded.
    pub loaded: usize,
    /// Objects reported as skipped (padding not counted).
    pub skipped: usize,
    /// End of the last process RAM block handed out (or the region start).
    pub ram_end: usize,
}

/// Where to look next, after one object.
enum Step {
    /// Go on at this offset.
    Next(usize),
    /// The walk is over.
    Stop,
}

/// Hands out process RAM linearly from the app RAM region.
struct RamCursor {
    next: usize,
    end: usize,
    alignment: usize,
}

impl RamCursor {
    /// Places a block for `header`: `(memory_start, accessible, total)`.
    ///
    /// The grant reserve starts at the first `ACCESS_GRANULE` boundary at
    /// or above the initial break: the kernel never carves grants below it
    /// (the architecture may give the process the rest of that page), so
    /// the whole reserve stays usable for grants.
    fn place(
        &self,
        header: &TbfHeader,
        grant_reserve: usize,
    ) -> Result<(usize, usize, usize), LoadError> {
        let round = |n: usize| n.checked_next_multiple_of(self.alignment);
        let not_available = |start: usize, len: usize| LoadError::RamNotAvailable { start, len };
        let minimum = header.minimum_ram_size() as usize;
        let accessible = round(minimum).ok_or(not_available(self.next, minimum))?;
        let start = match header.fixed_ram_address() {
            Some(fixed) => fixed as usize,
            None => round(self.next).ok_or(not_available(self.next, accessible))?,
        };
        let end = start
            .checked_add(accessible)
            .and_then(|brk| brk.checked_next_multiple_of(ACCESS_GRANULE))
            .and_then(|grants| grants.checked_add(round(grant_reserve)?))
            .ok_or(not_available(start, accessible))?;
        let total = end - start;
        if start >= self.next && start % 4 == 0 && end <= self.end {
            Ok((start, accessible, total))
        } else {
            Err(not_available(start, total))
        }
    }
}

/// Walks `app_flash`, loading every enabled app into `kernel`, and reports
/// each step through `report`. Returns the totals.
pub fn load_processes(
    kernel: &'static Kernel,
    app_flash: &'static [u8],
    config: &LoaderConfig,
    capability: &dyn ProcessManagementCapability,
    report: &mut dyn FnMut(&LoadEvent),
) -> LoadSummary {
    let base = app_flash.as_ptr() as usize;
    load_processes_at(kernel, base, app_flash, config, capability, report)
}

/// `load_processes` with the address processes see `app_flash` at given
/// explicitly (host tests use 32-bit addresses over a host buffer).
fn load_processes_at(
    kernel: &'static Kernel,
    base: usize,
    app_flash: &'static [u8],
    config: &LoaderConfig,
    capability: &dyn ProcessManagementCapability,
    report: &mut dyn FnMut(&LoadEvent),
) -> LoadSummary {
    let mut summary = LoadSummary {
        ram_end: config.app_ram_start,
        ..LoadSummary::default()
    };
    if !config.ram_alignment.is_power_of_two() || config.ram_alignment < 4 {
        report(&LoadEvent::Skipped {
            address: base,
            name: "",
            error: LoadError::BadAlignment(config.ram_alignment),
        });
        summary.skipped += 1;
        return summary;
    }
    let mut ram = RamCursor {
        next: config.app_ram_start,
        end: config.app_ram_start.saturating_add(config.app_ram_len),
        alignment: config.ram_alignment,
    };
    let mut offset = 0;
    while let Step::Next(next) = load_one(
        kernel,
        base,
        app_flash,
        offset,
        config,
        &mut ram,
        &mut summary,
        capability,
        report,
    ) {
        offset = next;
    }
    summary.ram_end = ram.next;
    summary
}

/// True for the first bytes of erased (all ones) or blank (all zeros)
/// flash, the normal end of the app list.
fn is_blank(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(tbf::BASE_HEADER_SIZE)];
    head.iter().all(|&b| b == 0) || head.iter().all(|&b| b == 0xff)
}

/// Handles the object at `offset` of `app_flash`.
#[allow(clippy::too_many_arguments)] // the walk's state, passed explicitly
fn load_one(
    kernel: &'static Kernel,
    base: usize,
    app_flash: &'static [u8],
    offset: usize,
    config: &LoaderConfig,
    ram: &mut RamCursor,
    summary: &mut LoadSummary,
    capability: &dyn ProcessManagementCapability,
    report: &mut dyn FnMut(&LoadEvent),
) -> Step {
    let rest = app_flash.get(offset..).unwrap_or(&[]);
    let address = base + offset;
    let total_size = match tbf::parse_lengths(rest) {
        Ok(lengths) => lengths.total_size as usize,
        // The object's extent is known: report it below and skip it.
        Err(TbfParseError::BadHeaderSize { total_size, .. }) => total_size as usize,
        Err(TbfParseError::NotEnoughFlash) => return Step::Stop,
        Err(error) => {
            if !is_blank(rest) {
                report(&LoadEvent::Stopped { address, error });
            }
            return Step::Stop;
        }
    };
    let next = Step::Next(offset + total_size);
    let object = &rest[..total_size];
    let mut skip = |name: &'static str, error: LoadError| {
        summary.skipped += 1;
        report(&LoadEvent::Skipped {
            address,
            name,
            error,
        });
    };
    let header = match tbf::parse_header(object) {
        Ok(header) => header,
        Err(e) => {
            skip("", LoadError::Malformed(e));
            return next;
        }
    };
    if !header.is_app() {
        report(&LoadEvent::Padding {
            address,
            len: total_size,
        });
        return next;
    }
    let name = header.name();
    match layout_for(&header, address, config, ram) {
        Ok(layout) => match kernel.load_process(layout, capability) {
            Ok(process_id) => {
                ram.next = layout.memory_start + layout.memory_len;
                summary.loaded += 1;
                report(&LoadEvent::Loaded { process_id, layout });
                next
            }
            Err(_) => {
                skip(name, LoadError::NoProcessSlot);
                Step::Stop
            }
        },
        Err(error) => {
            skip(name, error);
            next
        }
    }
}

/// Checks an app against the board and kernel, and places its RAM.
fn layout_for(
    header: &TbfHeader<'static>,
    flash_start: usize,
    config: &LoaderConfig,
    ram: &RamCursor,
) -> Result<ProcessLayout, LoadError> {
    if !header.enabled() {
        return Err(LoadError::Disabled);
    }
    match header.kernel_version {
        Some((major, minor)) if major != KERNEL_MAJOR_VERSION || minor > KERNEL_MINOR_VERSION => {
            return Err(LoadError::IncompatibleKernelVersion(Some((major, minor))));
        }
        None if config.require_kernel_version => {
            return Err(LoadError::IncompatibleKernelVersion(None));
        }
        _ => {}
    }
    let app_start = flash_start + header.protected_size() as usize;
    if let Some(expected) = header.fixed_flash_address()
        && expected as usize != app_start
    {
        return Err(LoadError::IncorrectFlashAddress {
            expected,
            actual: app_start,
        });
    }
    let (memory_start, accessible, total) = ram.place(header, config.grant_reserve)?;
    Ok(ProcessLayout {
        name: header.name(),
        short_id: header.short_id,
        flash_start,
        flash_len: header.total_size as usize,
        entry: flash_start + header.init_fn_offset() as usize,
        app_start,
        memory_start,
        memory_len: total,
        initial_break: memory_start + accessible,
    })
}

#[cfg(test)]
mod tests {
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
    const GRANTS: usize = 0x1000;
    /// Where the tests pretend app flash is (TBF addresses are 32-bit).
    const FLASH_BASE: usize = 0x8010_0000;

    fn config() -> LoaderConfig {
        LoaderConfig {
            app_ram_start: RAM_START,
            app_ram_len: RAM_LEN,
            grant_reserve: GRANTS,
            ram_alignment: 0x100,
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
        assert_eq!(l[0].initial_break, 0x8030_1800);
        // Grants from the first 4 KiB boundary above the break.
        assert_eq!(l[0].memory_len, 0x2000 + GRANTS);
        assert_eq!(l[1].flash_start, base + 0x1000);
        assert_eq!(l[1].memory_start, 0x8031_0000);
        assert_eq!(summary.ram_end, 0x8031_0000 + 0x2000 + GRANTS);
        assert_eq!(
            lines[0],
            std::format!("Loading process 'hello' at {base:#010x}, RAM 0x80300000..0x80303000")
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
        assert_eq!(l.initial_break, 0x8030_1100);
        assert_eq!(l.flash_len, 0x1524);
        assert_eq!(
            lines[0],
            "Loading process 'hello' at 0x80100000, RAM 0x80300000..0x80303000"
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
        assert_eq!(l[0].initial_break, RAM_START + 0x1300);
        assert_eq!(l[1].memory_start, RAM_START + 0x2000 + GRANTS);
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
                &fixed_app("straddle", 0x803f_f000, 0x1000),
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
                    l.flash_start >= FLASH_BASE
                        && l.flash_start + l.flash_len <= FLASH_BASE + f.len()
                );
                assert!(l.entry >= l.app_start && l.entry < l.flash_start + l.flash_len);
                assert!(
                    l.memory_start >= RAM_START
                        && l.memory_start + l.memory_len <= RAM_START + RAM_LEN
                );
                let grants = l.memory_start + l.memory_len - GRANTS;
                assert!(grants.is_multiple_of(ACCESS_GRANULE) && grants >= l.initial_break);
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
}
