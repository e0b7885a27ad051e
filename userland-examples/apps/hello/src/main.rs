// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! hello: prints a greeting on the console and exits with code 0.
//!
//! The smallest end-to-end check of start-up, allow, subscribe, command,
//! yield and exit. It also checks that start-up copied `.data` and zeroed
//! `.bss` (exit code FAIL and a `hello: FAIL` line if not). Expected output:
//!
//! ```text
//! hello: Hello from Tock userland!
//! hello: done
//! ```

#![no_std]
#![no_main]

use core::hint::black_box;
use core::sync::atomic::{AtomicU32, Ordering};

use libtock_lite::{ErrorCode, println};

/// Initial value of a `.data` static.
const DATA_PATTERN: u32 = 0x5eed_1234;
/// Lives in `.data`: start-up must copy its value from flash.
static DATA_CHECK: AtomicU32 = AtomicU32::new(DATA_PATTERN);
/// Lives in `.bss`: start-up must zero it.
static BSS_CHECK: AtomicU32 = AtomicU32::new(0);

libtock_lite::main!(main);

fn main() -> Result<(), ErrorCode> {
    println!("hello: Hello from Tock userland!");
    // black_box: the statics must really be read from RAM.
    let data = black_box(&DATA_CHECK).fetch_add(1, Ordering::Relaxed);
    let bss = black_box(&BSS_CHECK).fetch_add(1, Ordering::Relaxed);
    if data != DATA_PATTERN || bss != 0 {
        println!(
            "hello: FAIL statics not initialised: .data {:#010x}, .bss {:#010x}",
            data, bss
        );
        return Err(ErrorCode::Fail);
    }
    println!("hello: done");
    Ok(())
}
