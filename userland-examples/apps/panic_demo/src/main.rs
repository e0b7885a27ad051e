// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! panic_demo: panics on purpose to exercise libtock-lite's panic handler.
//!
//! Expected: low-level debug alert code 0x01 (panic), then on the console
//!
//! ```text
//! panic_demo: about to panic
//! panicked at apps/panic_demo/src/main.rs:<line>:<column>:
//! panic_demo: deliberate panic
//! ```
//!
//! and exit-terminate with completion code 1 (FAIL). The line
//! `panic_demo: FAIL` would mean the panic returned.

#![no_std]
#![no_main]

use core::hint::black_box;

use libtock_lite::println;

libtock_lite::main!(main);

fn main() {
    println!("panic_demo: about to panic");
    // black_box: the compiler must not see that this always panics, or it
    // would drop the line after it.
    if black_box(true) {
        panic!("panic_demo: deliberate panic");
    }
    println!("panic_demo: FAIL the panic returned");
}
