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
//!   the TBF's `minimum_ram_size` rounded up to the board's alignment; the
//!   initial break is the block's start (Tock's RISC-V processes start with
//!   no accessible RAM and brk to what they need), and grants take what the
//!   process leaves above its break (see `process` for the memory model).

use core::fmt;

use crate::capabilities::ProcessManagementCapability;
use crate::kernel::Kernel;
use crate::process::{ProcessId, ProcessLayout};
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
    /// Alignment (a power of two, at least 4) of process RAM blocks and of
    /// their size. Tock's RISC-V PMP needs 4.
    pub ram_alignment: usize,
    /// What each process's flash and RAM access ends are rounded up to (a
    /// power of two, at least `process::PMP_GRANULE`). `PMP_GRANULE` gives
    /// Tock's exact ends; with a wider granule (e.g. 4096, which QEMU's PMP
    /// emulates faster) each block ends on the granule and gets one granule
    /// more, so a process reaches up to that many bytes more of its own
    /// block and its grants keep at least the room its TBF asked for.
    pub access_granule: usize,
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
    /// The board's RAM alignment or access granule is not a power of two
    /// of at least 4.
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
    /// `LoaderConfig::access_granule`: with a granule wider than the PMP's,
    /// a block ends on it and gets one granule more, so that the grants
    /// still find, above the break's rounded access end, at least the room
    /// the TBF asked for.
    access_granule: usize,
}

impl RamCursor {
    /// Places a block for `header`: `(memory_start, length)`.
    fn place(&self, header: &TbfHeader) -> Result<(usize, usize), LoadError> {
        let round = |n: usize| n.checked_next_multiple_of(self.alignment);
        let not_available = |start: usize, len: usize| LoadError::RamNotAvailable { start, len };
        let minimum = header.minimum_ram_size() as usize;
        let len = round(minimum).ok_or(not_available(self.next, minimum))?;
        let start = match header.fixed_ram_address() {
            Some(fixed) => fixed as usize,
            None => round(self.next).ok_or(not_available(self.next, len))?,
        };
        let widened = self.access_granule > crate::process::PMP_GRANULE;
        let end = start
            .checked_add(len)
            .and_then(|end| {
                if widened {
                    end.checked_next_multiple_of(self.access_granule)?
                        .checked_add(self.access_granule)
                } else {
                    Some(end)
                }
            })
            .ok_or(not_available(start, len))?;
        if start >= self.next && start % 4 == 0 && end <= self.end {
            Ok((start, end - start))
        } else {
            Err(not_available(start, end - start))
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
    let bad_alignment = [config.ram_alignment, config.access_granule]
        .into_iter()
        .find(|&a| !a.is_power_of_two() || a < crate::process::PMP_GRANULE);
    if let Some(alignment) = bad_alignment {
        report(&LoadEvent::Skipped {
            address: base,
            name: "",
            error: LoadError::BadAlignment(alignment),
        });
        summary.skipped += 1;
        return summary;
    }
    let mut ram = RamCursor {
        next: config.app_ram_start,
        end: config.app_ram_start.saturating_add(config.app_ram_len),
        alignment: config.ram_alignment,
        access_granule: config.access_granule,
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
    let (memory_start, memory_len) = ram.place(header)?;
    Ok(ProcessLayout {
        name: header.name(),
        short_id: header.short_id,
        flash_start,
        flash_len: header.total_size as usize,
        entry: flash_start + header.init_fn_offset() as usize,
        app_start,
        memory_start,
        memory_len,
        initial_break: memory_start,
        access_granule: config.access_granule,
    })
}

#[cfg(test)]
#[path = "process_loading_tests.rs"]
mod tests;
