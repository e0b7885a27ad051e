// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Writes the memory description of the slot an app is linked for.
//!
//! Tock apps built this way are statically linked: each ELF runs only at the
//! flash and RAM addresses it was linked for (one "fixed-address slot").
//! `USERLAND_FLASH` is where the TBF header starts in flash and
//! `USERLAND_RAM` where process RAM starts; both default to the first
//! `qemu_rv32_virt` slot (0x80100000 / 0x80300000), the one libtock-rs uses.
//! The script `libtock_lite.ld` in this crate includes the file written here.

use std::env;
use std::fs;
use std::path::PathBuf;

/// Flash address of the TBF header of the first `qemu_rv32_virt` slot.
const DEFAULT_FLASH: &str = "0x80100000";
/// Process RAM address of the first `qemu_rv32_virt` slot.
const DEFAULT_RAM: &str = "0x80300000";
/// Room for the TBF header and protected trailer ahead of the binary. elf2tab
/// reads it from the `tbf_protected_region_size` symbol.
const DEFAULT_TBF_HEADER_SIZE: &str = "0x80";
/// Smallest distance between two slots; an app must fit in it.
const DEFAULT_FLASH_LENGTH: &str = "0x10000";
const DEFAULT_RAM_LENGTH: &str = "0x10000";
/// Stack reserved at the start of process RAM.
const DEFAULT_STACK_SIZE: &str = "0x800";

/// Reads an address or size setting, accepting decimal or `0x` hex.
fn setting(name: &str, default: &str) -> u32 {
    println!("cargo:rerun-if-env-changed={name}");
    let text = env::var(name).unwrap_or_else(|_| default.to_string());
    let text = text.trim();
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.unwrap_or_else(|_| panic!("{name}={text:?} is not a number"))
}

fn main() {
    let flash = setting("USERLAND_FLASH", DEFAULT_FLASH);
    let ram = setting("USERLAND_RAM", DEFAULT_RAM);
    let header = setting("USERLAND_TBF_HEADER_SIZE", DEFAULT_TBF_HEADER_SIZE);
    let flash_length = setting("USERLAND_FLASH_LENGTH", DEFAULT_FLASH_LENGTH);
    let ram_length = setting("USERLAND_RAM_LENGTH", DEFAULT_RAM_LENGTH);
    let stack = setting("USERLAND_STACK_SIZE", DEFAULT_STACK_SIZE);

    // lld emits broken segments for RAM that is not 4 KiB aligned, and the
    // slot must start on the page size passed with -zmax-page-size.
    assert!(
        ram.is_multiple_of(0x1000),
        "USERLAND_RAM must be 4 KiB aligned"
    );
    assert!(
        flash.is_multiple_of(0x1000),
        "USERLAND_FLASH must be 4 KiB aligned"
    );
    assert!(
        header.is_multiple_of(4) && header < flash_length,
        "bad TBF header size"
    );
    assert!(
        stack.is_multiple_of(16),
        "USERLAND_STACK_SIZE must be a multiple of 16"
    );

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let memory = format!(
        "/* Written by libtock-lite/build.rs: the slot this app is linked for. */\n\
         TBF_HEADER_SIZE = {header:#x};\n\
         FLASH_START = {flash:#010x};\n\
         FLASH_LENGTH = {flash_length:#x};\n\
         RAM_START = {ram:#010x};\n\
         RAM_LENGTH = {ram_length:#x};\n\
         STACK_SIZE = {stack:#x};\n"
    );
    fs::write(out.join("libtock_lite_memory.ld"), memory).expect("write memory script");

    let manifest = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=libtock_lite.ld");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-search={manifest}");
}
