// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! `time` HIL: counters, tick arithmetic and one-shot alarms.
//!
//! The paths, names and signatures match upstream Tock's
//! `kernel::hil::time` (TRD 105, "Time HIL"), so alarm and console capsules
//! written for Tock compile unchanged against this crate. Only the parts the
//! QEMU virt chip and the core capsules use are provided: `Ticks` with
//! `Ticks32`/`Ticks64`, `Frequency` with a few rates, `Time`,
//! `ConvertTicks`, `Alarm` and `AlarmClient`.

use crate::ErrorCode;
use core::fmt;

/// A tick count of a fixed bit width that wraps at `2^width`.
pub trait Ticks: Clone + Copy + From<u32> + fmt::Debug + Ord + PartialOrd + Eq {
    /// Width of the underlying counter in bits.
    fn width() -> u32;

    /// The value as a `usize` (truncated or zero-extended).
    fn into_usize(self) -> usize;

    /// Bits needed to left-justify this width in a `usize`.
    fn usize_padding() -> u32 {
        usize::BITS.saturating_sub(Self::width())
    }

    /// The value shifted left so that it wraps at `usize::BITS`.
    fn into_usize_left_justified(self) -> usize {
        self.into_usize() << Self::usize_padding()
    }

    /// Frequency in Hz of values from `into_usize_left_justified`.
    fn usize_left_justified_scale_freq<F: Frequency>() -> u32 {
        F::frequency() << Self::usize_padding()
    }

    /// The value as a `u32` (truncated or zero-extended).
    fn into_u32(self) -> u32;

    /// Bits needed to left-justify this width in a `u32`.
    fn u32_padding() -> u32 {
        u32::BITS.saturating_sub(Self::width())
    }

    /// The value shifted left so that it wraps at 32 bits.
    fn into_u32_left_justified(self) -> u32 {
        self.into_u32() << Self::u32_padding()
    }

    /// Frequency in Hz of values from `into_u32_left_justified`.
    fn u32_left_justified_scale_freq<F: Frequency>() -> u32 {
        F::frequency() << Self::u32_padding()
    }

    /// Addition modulo `2^width`.
    fn wrapping_add(self, other: Self) -> Self;

    /// Subtraction modulo `2^width`.
    fn wrapping_sub(self, other: Self) -> Self;

    /// Whether `self` lies in the half-open, possibly wrapping, range
    /// `[start, end)`.
    fn within_range(self, start: Self, end: Self) -> bool;

    /// The largest value, `2^width - 1`.
    fn max_value() -> Self;

    /// Half the range, `2^(width-1)`.
    fn half_max_value() -> Self;

    /// Converts `val`, saturating at `max_value()`.
    fn from_or_max(val: u64) -> Self;

    /// `self * numerator / denominator`, computed without overflow and
    /// saturated at `u32::MAX`.
    fn saturating_scale(self, numerator: u32, denominator: u32) -> u32;
}

/// A counter frequency in Hz.
pub trait Frequency {
    /// The frequency in Hz.
    fn frequency() -> u32;
}

/// A free-running counter.
pub trait Time {
    /// The counter's rate.
    type Frequency: Frequency;
    /// The counter's width.
    type Ticks: Ticks;

    /// The current counter value.
    fn now(&self) -> Self::Ticks;
}

/// Conversion between ticks and wall-clock units for any `Time`.
pub trait ConvertTicks<T: Ticks> {
    /// Ticks in `s` seconds, saturating.
    fn ticks_from_seconds(&self, s: u32) -> T;
    /// Ticks in `ms` milliseconds, saturating.
    fn ticks_from_ms(&self, ms: u32) -> T;
    /// Ticks in `us` microseconds, saturating.
    fn ticks_from_us(&self, us: u32) -> T;
    /// Whole seconds in `tick`, saturating.
    fn ticks_to_seconds(&self, tick: T) -> u32;
    /// Whole milliseconds in `tick`, saturating.
    fn ticks_to_ms(&self, tick: T) -> u32;
    /// Whole microseconds in `tick`, saturating.
    fn ticks_to_us(&self, tick: T) -> u32;
}

impl<T: Time + ?Sized> ConvertTicks<<T as Time>::Ticks> for T {
    fn ticks_from_seconds(&self, s: u32) -> <T as Time>::Ticks {
        let hz = u64::from(<T as Time>::Frequency::frequency());
        <T as Time>::Ticks::from_or_max(hz * u64::from(s))
    }

    fn ticks_from_ms(&self, ms: u32) -> <T as Time>::Ticks {
        let hz = u64::from(<T as Time>::Frequency::frequency());
        <T as Time>::Ticks::from_or_max(hz * u64::from(ms) / 1_000)
    }

    fn ticks_from_us(&self, us: u32) -> <T as Time>::Ticks {
        let hz = u64::from(<T as Time>::Frequency::frequency());
        <T as Time>::Ticks::from_or_max(hz * u64::from(us) / 1_000_000)
    }

    fn ticks_to_seconds(&self, tick: <T as Time>::Ticks) -> u32 {
        tick.saturating_scale(1, <T as Time>::Frequency::frequency())
    }

    fn ticks_to_ms(&self, tick: <T as Time>::Ticks) -> u32 {
        tick.saturating_scale(1_000, <T as Time>::Frequency::frequency())
    }

    fn ticks_to_us(&self, tick: <T as Time>::Ticks) -> u32 {
        tick.saturating_scale(1_000_000, <T as Time>::Frequency::frequency())
    }
}

/// Receives alarm expirations.
pub trait AlarmClient {
    /// The alarm fired. It is disarmed when this is called.
    fn alarm(&self);
}

/// A one-shot alarm over a `Time` counter.
///
/// The alarm fires when the counter reaches `reference + dt`. If that point
/// has already passed when `set_alarm` is called, the alarm fires as soon as
/// possible.
pub trait Alarm<'a>: Time {
    /// Sets the client called when the alarm fires.
    fn set_alarm_client(&self, client: &'a dyn AlarmClient);

    /// Arms the alarm for `reference + dt`, replacing any earlier setting.
    fn set_alarm(&self, reference: Self::Ticks, dt: Self::Ticks);

    /// The counter value the alarm is (or was last) set to fire at.
    fn get_alarm(&self) -> Self::Ticks;

    /// Disarms the alarm. Errors: `FAIL` if the hardware could not be
    /// disarmed.
    fn disarm(&self) -> Result<(), ErrorCode>;

    /// Whether the alarm is armed.
    fn is_armed(&self) -> bool;

    /// The smallest `dt` the hardware can honour reliably; smaller values
    /// are rounded up to it.
    fn minimum_dt(&self) -> Self::Ticks;
}

/// Declares a `Frequency` type of `hz` Hz.
macro_rules! frequency {
    ($(#[$doc:meta])* $name:ident, $hz:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub enum $name {}

        impl Frequency for $name {
            fn frequency() -> u32 {
                $hz
            }
        }
    };
}

frequency!(
    /// 16 MHz.
    Freq16MHz,
    16_000_000
);
frequency!(
    /// 10 MHz (the QEMU virt machine timer).
    Freq10MHz,
    10_000_000
);
frequency!(
    /// 1 MHz.
    Freq1MHz,
    1_000_000
);
frequency!(
    /// 32.768 kHz.
    Freq32KHz,
    32_768
);
frequency!(
    /// 1 kHz.
    Freq1KHz,
    1_000
);

/// Saturates a `u64` into a `u32`.
fn saturate_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// 32-bit ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticks32(u32);

impl From<u32> for Ticks32 {
    fn from(val: u32) -> Self {
        Ticks32(val)
    }
}

impl Ticks for Ticks32 {
    fn width() -> u32 {
        u32::BITS
    }

    fn into_usize(self) -> usize {
        self.0 as usize
    }

    fn into_u32(self) -> u32 {
        self.0
    }

    fn wrapping_add(self, other: Self) -> Self {
        Ticks32(self.0.wrapping_add(other.0))
    }

    fn wrapping_sub(self, other: Self) -> Self {
        Ticks32(self.0.wrapping_sub(other.0))
    }

    fn within_range(self, start: Self, end: Self) -> bool {
        // Distances from `start` make the check independent of wrapping.
        self.0.wrapping_sub(start.0) < end.0.wrapping_sub(start.0)
    }

    fn max_value() -> Self {
        Ticks32(u32::MAX)
    }

    fn half_max_value() -> Self {
        Ticks32(1 << 31)
    }

    fn from_or_max(val: u64) -> Self {
        Ticks32(saturate_u32(val))
    }

    fn saturating_scale(self, numerator: u32, denominator: u32) -> u32 {
        saturate_u32(u64::from(self.0) * u64::from(numerator) / u64::from(denominator))
    }
}

/// 64-bit ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticks64(u64);

impl Ticks64 {
    /// The full 64-bit value.
    pub fn into_u64(self) -> u64 {
        self.0
    }
}

impl From<u32> for Ticks64 {
    fn from(val: u32) -> Self {
        Ticks64(u64::from(val))
    }
}

impl From<u64> for Ticks64 {
    fn from(val: u64) -> Self {
        Ticks64(val)
    }
}

impl Ticks for Ticks64 {
    fn width() -> u32 {
        u64::BITS
    }

    fn into_usize(self) -> usize {
        self.0 as usize
    }

    fn into_u32(self) -> u32 {
        self.0 as u32
    }

    fn wrapping_add(self, other: Self) -> Self {
        Ticks64(self.0.wrapping_add(other.0))
    }

    fn wrapping_sub(self, other: Self) -> Self {
        Ticks64(self.0.wrapping_sub(other.0))
    }

    fn within_range(self, start: Self, end: Self) -> bool {
        self.0.wrapping_sub(start.0) < end.0.wrapping_sub(start.0)
    }

    fn max_value() -> Self {
        Ticks64(u64::MAX)
    }

    fn half_max_value() -> Self {
        Ticks64(1 << 63)
    }

    fn from_or_max(val: u64) -> Self {
        Ticks64(val)
    }

    fn saturating_scale(self, numerator: u32, denominator: u32) -> u32 {
        let scaled = u128::from(self.0) * u128::from(numerator) / u128::from(denominator);
        u32::try_from(scaled).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Clock10MHz;

    impl Time for Clock10MHz {
        type Frequency = Freq10MHz;
        type Ticks = Ticks32;

        fn now(&self) -> Ticks32 {
            Ticks32::from(0)
        }
    }

    struct Clock1KHz64;

    impl Time for Clock1KHz64 {
        type Frequency = Freq1KHz;
        type Ticks = Ticks64;

        fn now(&self) -> Ticks64 {
            Ticks64::from(0u32)
        }
    }

    #[test]
    fn within_range_handles_wrap() {
        let start = Ticks32::from(u32::MAX - 10);
        let end = Ticks32::from(10);
        assert!(Ticks32::from(u32::MAX).within_range(start, end));
        assert!(Ticks32::from(0).within_range(start, end));
        assert!(!Ticks32::from(10).within_range(start, end));
        assert!(!Ticks32::from(100).within_range(start, end));
        assert!(!Ticks32::from(5).within_range(Ticks32::from(5), Ticks32::from(5)));
    }

    #[test]
    fn wrapping_arithmetic() {
        let a = Ticks32::from(u32::MAX);
        assert_eq!(a.wrapping_add(Ticks32::from(2)).into_u32(), 1);
        assert_eq!(Ticks32::from(1).wrapping_sub(a).into_u32(), 2);
        assert_eq!(Ticks32::half_max_value().into_u32(), 0x8000_0000);
        assert_eq!(Ticks64::half_max_value().into_u64(), 1 << 63);
    }

    #[test]
    fn conversions_10mhz() {
        let clock = Clock10MHz;
        assert_eq!(clock.ticks_from_ms(1).into_u32(), 10_000);
        assert_eq!(clock.ticks_from_us(3).into_u32(), 30);
        assert_eq!(clock.ticks_from_seconds(2).into_u32(), 20_000_000);
        // 500 s does not fit in 32 bits at 10 MHz: saturates.
        assert_eq!(clock.ticks_from_seconds(500), Ticks32::max_value());
        assert_eq!(clock.ticks_to_ms(Ticks32::from(25_000)), 2);
        assert_eq!(clock.ticks_to_us(Ticks32::max_value()), 429_496_729);
    }

    #[test]
    fn conversions_64bit_saturate() {
        let clock = Clock1KHz64;
        assert_eq!(clock.ticks_to_seconds(Ticks64::from(5_000u32)), 5);
        assert_eq!(clock.ticks_to_us(Ticks64::from(u64::MAX)), u32::MAX);
        assert_eq!(
            clock.ticks_from_seconds(u32::MAX).into_u64(),
            4_294_967_295_000
        );
    }

    #[test]
    fn padding() {
        assert_eq!(Ticks32::u32_padding(), 0);
        assert_eq!(Ticks64::u32_padding(), 0);
        assert_eq!(
            Ticks32::u32_left_justified_scale_freq::<Freq10MHz>(),
            10_000_000
        );
    }
}
