// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Conversions between time and alarm ticks.
//!
//! Pure arithmetic, kept apart from the alarm driver so that it is tested
//! on the host.

/// Ticks in `milliseconds` at `frequency` Hz, rounded up so that a sleep is
/// never shorter than asked, at least 1 (an alarm 0 ticks from now may
/// already have passed), saturating at the largest `u32`.
pub const fn milliseconds_to_ticks(milliseconds: u32, frequency: u32) -> u32 {
    let ticks = (milliseconds as u64 * frequency as u64).div_ceil(1000);
    if ticks == 0 {
        1
    } else if ticks > u32::MAX as u64 {
        u32::MAX
    } else {
        ticks as u32
    }
}

#[cfg(test)]
mod tests {
    use super::milliseconds_to_ticks;

    #[test]
    fn exact_conversions() {
        assert_eq!(milliseconds_to_ticks(100, 1_000_000), 100_000);
        assert_eq!(milliseconds_to_ticks(1, 1000), 1);
        assert_eq!(milliseconds_to_ticks(250, 32_768), 8192);
    }

    #[test]
    fn rounds_up() {
        // 1 ms at 32768 Hz is 32.768 ticks.
        assert_eq!(milliseconds_to_ticks(1, 32_768), 33);
        // 1 ms at 10 Hz is a hundredth of a tick.
        assert_eq!(milliseconds_to_ticks(1, 10), 1);
    }

    #[test]
    fn never_zero() {
        assert_eq!(milliseconds_to_ticks(0, 1_000_000), 1);
        assert_eq!(milliseconds_to_ticks(5, 0), 1);
    }

    #[test]
    fn saturates() {
        assert_eq!(milliseconds_to_ticks(u32::MAX, u32::MAX), u32::MAX);
        assert_eq!(milliseconds_to_ticks(5_000_000, 1_000_000), u32::MAX);
    }
}
