// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! syscall_bench: instructions retired by a null command round trip.
//!
//! Runs only on the board's benchmark build (`tools/bench.sh`), which lets
//! user mode read `instret`; on a normal build reading it faults. QEMU
//! counts instructions exactly with `-icount`. Output:
//!
//! ```text
//! syscall_bench: null command round trip: min N, median M instructions (200 calls)
//! ```

#![no_std]
#![no_main]

use libtock_lite::syscall::command;
use libtock_lite::{ErrorCode, println};

/// The console driver; command 0 ("exists") does nothing else.
const CONSOLE: u32 = 0x1;
const EXISTS: u32 = 0;
/// Samples live on the 2 KiB stack: 200 of them take 800 bytes.
const CALLS: usize = 200;

libtock_lite::main!(main);

/// Reads the low word of `instret` (the counted spans are far below 2^32).
fn instret() -> u32 {
    let value: u32;
    // SAFETY: reading a counter CSR has no side effect; the benchmark
    // build enables it for user mode.
    unsafe { core::arch::asm!("rdinstret {0}", out(reg) value, options(nomem, nostack)) };
    value
}

fn main() -> Result<(), ErrorCode> {
    // The cost of the two counter reads alone, subtracted below.
    let empty = {
        let a = instret();
        let b = instret();
        b.wrapping_sub(a)
    };
    let mut samples = [0u32; CALLS];
    for sample in samples.iter_mut() {
        let before = instret();
        let ret = command(CONSOLE, EXISTS, 0, 0);
        let after = instret();
        if !ret.is_success() {
            return Err(ErrorCode::Fail);
        }
        *sample = after.wrapping_sub(before).wrapping_sub(empty);
    }
    samples.sort_unstable();
    println!(
        "syscall_bench: null command round trip: min {}, median {} instructions ({} calls)",
        samples[0],
        samples[CALLS / 2],
        CALLS
    );
    Ok(())
}
