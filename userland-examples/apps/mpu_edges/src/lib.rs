// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Shared part of `read_past_flash` and `read_past_break`: reads the last
//! byte a process may read, then the first byte past it.
//!
//! On Tock, a process's PMP regions end at its flash end and at its break,
//! each rounded up to the PMP's 4-byte granule; nothing beyond is readable.
//! These apps check that edge exactly: the last byte below it must read
//! without a fault, the first byte at it must fault. The line
//! `<app>: FAIL read ...` means the process could read past its memory.

#![no_std]

use libtock_lite::{ErrorCode, println};

/// Reads the byte before `end` (which must not fault), then the byte at
/// `end` rounded up to 4 (which must fault, ending the process).
pub fn read_edge(app: &str, what: &str, end: usize) -> Result<(), ErrorCode> {
    let edge = end.next_multiple_of(4);
    println!(
        "{app}: {what} ends at {end:#010x}, reading {:#010x}",
        end - 1
    );
    // SAFETY: `end - 1` is the last byte of this process's own flash or RAM
    // (the kernel said so through memop); a volatile byte read there aliases
    // nothing Rust has a reference to.
    let last = unsafe { core::ptr::with_exposed_provenance::<u8>(end - 1).read_volatile() };
    println!("{app}: read {last:#04x}; now reading {edge:#010x}");
    // SAFETY: `edge` lies past this process's memory, outside every Rust
    // allocation; its intended effect is the access fault that ends the
    // process.
    let past = unsafe { core::ptr::with_exposed_provenance::<u8>(edge).read_volatile() };
    println!("{app}: FAIL read {past:#04x} at {edge:#010x} without a fault");
    Err(ErrorCode::Fail)
}
