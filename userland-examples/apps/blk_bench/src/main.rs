// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! blk_bench: instructions retired per 4 KiB (8-sector) block read into
//! the app's buffer.
//!
//! Runs only on the board's benchmark build (`tools/bench-block.sh`),
//! which lets user mode read `instret`; QEMU counts instructions exactly
//! with `-icount`. The counter counts every privilege level, so a sample
//! is the whole read as the app sees it: libtock-lite's `block::read`
//! (unsubscribe, allow, READ command, Yield-WaitFor on DONE, unallow) and
//! everything the kernel does in between: on the zero-copy build the map
//! of the buffer, the device request and its interrupt, the unmap with its
//! IOTLB invalidation; on the `block-bounce` build the device request into
//! the bounce page, its interrupt and the copy into the app's buffer.
//!
//! ```text
//! blk_bench: 4 KiB read into the app's buffer: min N, median M instructions (40 reads)
//! ```

#![no_std]
#![no_main]

use libtock_lite::block::{self, SECTORS_PER_PAGE, Sectors};
use libtock_lite::{ErrorCode, println};

libtock_lite::main!(main);

const READS: usize = 40;

static mut BUFFER: Sectors = Sectors::ZERO;

/// Reads the low word of `instret` (the counted spans are far below 2^32).
fn instret() -> u32 {
    let value: u32;
    // SAFETY: reading a counter CSR has no side effect; the benchmark
    // build enables it for user mode.
    unsafe { core::arch::asm!("rdinstret {0}", out(reg) value, options(nomem, nostack)) };
    value
}

fn main() -> Result<(), ErrorCode> {
    // SAFETY: the only reference to the buffer.
    let buffer = unsafe { &mut *core::ptr::addr_of_mut!(BUFFER) };
    for (index, byte) in buffer.0.iter_mut().enumerate() {
        *byte = index as u8;
    }
    block::write(0, SECTORS_PER_PAGE, buffer)?;
    let empty = {
        let a = instret();
        let b = instret();
        b.wrapping_sub(a)
    };
    let mut samples = [0u32; READS];
    for sample in samples.iter_mut() {
        buffer.0.fill(0);
        let before = instret();
        let read = block::read(0, SECTORS_PER_PAGE, buffer)?;
        let after = instret();
        *sample = after.wrapping_sub(before).wrapping_sub(empty);
        if read != SECTORS_PER_PAGE || buffer.0.iter().enumerate().any(|(i, &b)| b != i as u8) {
            println!("blk_bench: FAIL the sectors read back differ");
            return Err(ErrorCode::Fail);
        }
    }
    samples.sort_unstable();
    println!(
        "blk_bench: 4 KiB read into the app's buffer: min {}, median {} instructions ({} reads)",
        samples[0],
        samples[READS / 2],
        READS
    );
    Ok(())
}
