// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! victim: fills its memory with a pattern and keeps checking it.
//!
//! Runs next to hostile apps (`fuzzer`): whatever they ask of the kernel,
//! no byte of another process may change (doc/invariants.md, I2 and I7).
//! The app fills a buffer with a pattern that depends on each byte's
//! address, then sleeps `PERIOD_MS` and checks every byte, `ROUNDS` times.
//! Lines: `victim: filled N bytes at 0x...`, then `victim: N checks of N
//! bytes, memory intact` and `victim: done`; `victim: FAIL ...` at the
//! first changed byte, and exit 1.

#![no_std]
#![no_main]

use core::cell::UnsafeCell;

use libtock_lite::{ErrorCode, alarm, println};

libtock_lite::main!(main);

/// Bytes checked.
const SIZE: usize = 8192;
/// Checks, one every `PERIOD_MS`: the run spans the hostile apps'.
const ROUNDS: u32 = 400;
const PERIOD_MS: u32 = 25;

/// The watched bytes. Only this app touches them, through volatile
/// accesses: a change can only come from outside the program.
struct Watched(UnsafeCell<[u8; SIZE]>);

// SAFETY: the process has one thread and upcalls never touch `MEMORY`.
unsafe impl Sync for Watched {}

static MEMORY: Watched = Watched(UnsafeCell::new([0; SIZE]));

/// The byte expected at `address`.
fn pattern(address: usize) -> u8 {
    (address ^ (address >> 8) ^ 0x5a) as u8
}

fn main() -> Result<(), ErrorCode> {
    let base = MEMORY.0.get().cast::<u8>();
    for offset in 0..SIZE {
        // SAFETY: `offset` is inside `MEMORY`, which nothing else borrows.
        unsafe {
            let byte = base.add(offset);
            byte.write_volatile(pattern(byte as usize));
        }
    }
    println!("victim: filled {} bytes at {:#010x}", SIZE, base as usize);
    for round in 1..=ROUNDS {
        alarm::sleep_ms(PERIOD_MS)?;
        for offset in 0..SIZE {
            // SAFETY: as above.
            let (address, value) = unsafe {
                let byte = base.add(offset);
                (byte as usize, byte.read_volatile())
            };
            if value != pattern(address) {
                println!(
                    "victim: FAIL check {}: byte at {:#010x} is {:#04x}, not {:#04x}",
                    round,
                    address,
                    value,
                    pattern(address)
                );
                return Err(ErrorCode::Fail);
            }
        }
    }
    println!("victim: {} checks of {} bytes, memory intact", ROUNDS, SIZE);
    println!("victim: done");
    Ok(())
}
