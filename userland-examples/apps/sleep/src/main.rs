// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! sleep: prints a tick line every 100 ms with the alarm, then exits 0.
//!
//! Sleeps use an upcall function and Yield-Wait; the last one uses
//! Yield-WaitFor on the null upcall. The app checks with the tick counter
//! that the sleeps lasted at least as long as asked and exits with FAIL if
//! not. Expected output:
//!
//! ```text
//! sleep: alarm at <frequency> Hz
//! sleep: tick 1/5
//! ...
//! sleep: tick 5/5
//! sleep: wait-for ok
//! sleep: done
//! ```

#![no_std]
#![no_main]

use libtock_lite::alarm;
use libtock_lite::{ErrorCode, println};

/// Number of tick lines.
const TICKS: u32 = 5;
/// Time between tick lines.
const INTERVAL_MS: u32 = 100;

libtock_lite::main!(main);

fn main() -> Result<(), ErrorCode> {
    let frequency = alarm::frequency()?;
    println!("sleep: alarm at {} Hz", frequency);
    let interval = alarm::milliseconds_to_ticks(INTERVAL_MS, frequency);
    let started = alarm::now()?;
    for tick in 1..=TICKS {
        alarm::sleep_ms(INTERVAL_MS)?;
        println!("sleep: tick {}/{}", tick, TICKS);
    }
    alarm::sleep_ms_wait_for(INTERVAL_MS)?;
    println!("sleep: wait-for ok");

    // The counter wraps; the whole run is far shorter than a wrap.
    let elapsed = alarm::now()?.wrapping_sub(started);
    let expected = interval.saturating_mul(TICKS + 1);
    if elapsed < expected {
        println!(
            "sleep: FAIL woke too early: {} ticks, expected at least {}",
            elapsed, expected
        );
        return Err(ErrorCode::Fail);
    }
    println!("sleep: done");
    Ok(())
}
