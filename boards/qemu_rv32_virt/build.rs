// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Passes the board's linker script (which includes
//! `arch/rv32/kernel_layout.ld`) to the linker.

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
