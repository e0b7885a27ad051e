// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Passes the linker script to the linker, so no `.cargo/config` is needed.
//!
//! `layout.ld` (this crate) declares the memory regions and includes
//! `arch/rv32/kernel_layout.ld`, found through the link search path.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let arch = manifest.join("../../arch/rv32");
    let layout = manifest.join("layout.ld");
    println!("cargo:rustc-link-search={}", arch.display());
    println!("cargo:rustc-link-arg=-T{}", layout.display());
    println!("cargo:rerun-if-changed={}", layout.display());
    println!(
        "cargo:rerun-if-changed={}",
        arch.join("kernel_layout.ld").display()
    );
}
