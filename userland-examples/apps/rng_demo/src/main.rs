// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! rng_demo: asks the RNG driver (0x40001) for random bytes twice, prints
//! them, and checks that both draws were filled, are not all zero, and
//! differ. On this board the bytes come from a virtio-rng device that
//! writes them, through the IOMMU, into a kernel buffer; the driver copies
//! them into the app's. Exits 0, or with FAIL after a `rng_demo: FAIL`
//! line. Expected output (the bytes differ from run to run):
//!
//! ```text
//! rng_demo: draw 1: 16 random bytes: 3f8a...
//! rng_demo: draw 2: 16 random bytes: c2d1...
//! rng_demo: the two draws differ and neither is all zero
//! ```

#![no_std]
#![no_main]

use core::fmt;

use libtock_lite::{ErrorCode, println, rng};

/// Bytes per draw: two equal draws of this size by chance are out of the
/// question (2^-128).
const DRAW_LEN: usize = 16;

libtock_lite::main!(main);

/// Bytes shown as hex.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

fn draw(number: usize) -> Result<[u8; DRAW_LEN], ErrorCode> {
    let mut bytes = [0u8; DRAW_LEN];
    let filled = rng::fill(&mut bytes).inspect_err(|error| {
        println!("rng_demo: FAIL draw {}: {:?}", number, error);
    })?;
    if filled != DRAW_LEN {
        println!(
            "rng_demo: FAIL draw {}: {} of {} bytes filled",
            number, filled, DRAW_LEN
        );
        return Err(ErrorCode::Fail);
    }
    println!(
        "rng_demo: draw {}: {} random bytes: {}",
        number,
        filled,
        Hex(&bytes)
    );
    Ok(bytes)
}

fn main() -> Result<(), ErrorCode> {
    if !rng::exists() {
        println!("rng_demo: FAIL no RNG driver");
        return Err(ErrorCode::NoDevice);
    }
    let first = draw(1)?;
    let second = draw(2)?;
    if first == [0; DRAW_LEN] || second == [0; DRAW_LEN] {
        println!("rng_demo: FAIL a draw is all zero");
        return Err(ErrorCode::Fail);
    }
    if first == second {
        println!("rng_demo: FAIL the two draws are equal");
        return Err(ErrorCode::Fail);
    }
    println!("rng_demo: the two draws differ and neither is all zero");
    Ok(())
}
