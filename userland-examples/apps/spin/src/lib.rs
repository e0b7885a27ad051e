// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The workload of spin_a and spin_b: busy loops that never give up the
//! processor.
//!
//! Each app prints a start line, then `ROUNDS` times computes for a while
//! without any system call and prints a progress line. Writes wait with
//! Yield-NoWait ([`Wait::Poll`]), which does not block, so an app keeps the
//! processor from its first to its last line unless the kernel preempts
//! it. Hence with both apps installed the lines of the two interleave only
//! under preemption; a cooperative-only kernel prints all lines of one app,
//! then all of the other. Expected output of each (`NAME` = spin_a/spin_b):
//!
//! ```text
//! NAME: start
//! NAME: round 1/5
//! ...
//! NAME: round 5/5
//! NAME: done
//! ```

#![no_std]

use core::hint::black_box;

use libtock_lite::{Wait, console, println};

/// Progress lines per app.
pub const ROUNDS: u32 = 5;
/// Loop iterations per round: some tens of milliseconds on QEMU, several
/// scheduler time slices.
pub const ITERATIONS_PER_ROUND: u32 = 8_000_000;

/// One round of computation with no system call in it.
fn busy_round(seed: u32) -> u32 {
    let mut state = seed;
    for _ in 0..ITERATIONS_PER_ROUND {
        // An LCG step; black_box keeps the loop from being folded away.
        state = black_box(state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223));
    }
    state
}

/// Runs the workload, printing lines prefixed with `name`.
pub fn run(name: &str) {
    console::set_write_wait(Wait::Poll);
    println!("{}: start", name);
    let mut state = name.bytes().map(u32::from).sum();
    for round in 1..=ROUNDS {
        state = busy_round(state);
        println!("{}: round {}/{}", name, round, ROUNDS);
    }
    println!("{}: done (checksum {:#010x})", name, state);
}
