// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Alarm syscall driver (0x0): one alarm per process on one hardware alarm.
//!
//! Implements Tock's `doc/syscalls/00000_alarm.md` with the behaviour of
//! Tock's alarm capsule, which libtock-rs and libtock-c rely on:
//!
//! - Command 1 returns the frequency and command 2 the current counter, both
//!   as userspace sees time: a 32-bit counter that wraps at 2^32. A counter
//!   narrower than 32 bits is *left-justified* (shifted up, the frequency
//!   scaled with it); a wider one is truncated to its low 32 bits.
//! - Command 5 sets the alarm `arg1` ticks from now; command 6 sets it to
//!   `arg1 + arg2` (reference + dt). Both return the userspace tick at which
//!   it fires. Setting replaces the process's previous alarm.
//! - Command 3 stops the alarm (`ALREADY` if none is set). Command 4 (the
//!   pre-2.0 absolute alarm) returns `NOSUPPORT`, as do unknown commands.
//! - Upcall 0 delivers `(now, expiration, 0)` in userspace ticks, where
//!   `expiration` is the reference plus dt the alarm was set with (Tock's
//!   capsule passes this; the doc calls it the tick "with which it was
//!   registered"). The alarm is cleared before the upcall.
//!
//! Conversions never make an alarm fire early: with a left-justified counter
//! the reference is rounded down and the expiration up. With a counter wider
//! than 32 bits a userspace reference is taken to be the most recent time
//! whose low 32 bits equal it (it is a counter value the process read
//! before), as Tock does.
//!
//! Every process's expiration lives in its grant. Whenever one changes or
//! the hardware alarm fires, all of them are visited (`apps.iter()`): the
//! expired ones get their upcall, and the hardware is armed for the earliest
//! of the rest (or disarmed).
//!
//! Board wiring: `AlarmDriver::new(alarm, grant)`, then
//! `alarm.set_alarm_client(driver)`. A board that shares one hardware alarm
//! among several kernel users puts a virtual alarm in between.

use kernel::grant::{AllowRoCount, AllowRwCount, Grant, UpcallCount};
use kernel::hil::time::{self, Alarm, Ticks};
use kernel::syscall::{CommandReturn, SyscallDriver};
use kernel::{ErrorCode, ProcessId};

/// Syscall driver number.
pub const DRIVER_NUM: usize = crate::driver::NUM::Alarm as usize;

/// Command numbers.
mod command {
    pub const EXISTS: usize = 0;
    pub const FREQUENCY: usize = 1;
    pub const NOW: usize = 2;
    pub const STOP: usize = 3;
    /// Removed in Tock 2.0; answered with `NOSUPPORT`.
    pub const SET_ABSOLUTE_OLD: usize = 4;
    pub const SET_RELATIVE: usize = 5;
    pub const SET_ABSOLUTE: usize = 6;
}

/// Upcall numbers.
mod upcall {
    /// The alarm fired: (now, expiration, 0).
    pub const FIRED: usize = 0;
    pub const COUNT: u8 = 1;
}

/// Read-only allow numbers (none).
mod ro_allow {
    pub const COUNT: u8 = 0;
}

/// Read-write allow numbers (none).
mod rw_allow {
    pub const COUNT: u8 = 0;
}

/// When a process's alarm fires, in kernel ticks: at `reference + dt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Expiration<T: Ticks> {
    reference: T,
    dt: T,
}

impl<T: Ticks> Expiration<T> {
    fn end(&self) -> T {
        self.reference.wrapping_add(self.dt)
    }

    /// True once `now` has left `[reference, reference + dt)`.
    fn has_expired(&self, now: T) -> bool {
        !now.within_range(self.reference, self.end())
    }
}

/// Per-process alarm state, in the process's grant.
pub struct AlarmData<T: Ticks> {
    expiration: Option<Expiration<T>>,
}

impl<T: Ticks> Default for AlarmData<T> {
    fn default() -> Self {
        AlarmData { expiration: None }
    }
}

/// The alarm driver's grant type.
pub type AlarmGrant<T> = Grant<
    AlarmData<T>,
    UpcallCount<{ upcall::COUNT }>,
    AllowRoCount<{ ro_allow::COUNT }>,
    AllowRwCount<{ rw_allow::COUNT }>,
>;

/// The alarm driver.
pub struct AlarmDriver<'a, A: Alarm<'a>> {
    alarm: &'a A,
    apps: AlarmGrant<A::Ticks>,
}

/// A kernel tick as userspace sees it (32 bits, left-justified).
fn to_user<T: Ticks>(ticks: T) -> usize {
    ticks.into_u32_left_justified() as usize
}

/// `value >> shift`, rounded up, in a 32-bit space of `32 - shift` bits.
fn shift_down_rounding_up(value: u32, shift: u32) -> u32 {
    if shift == 0 {
        return value;
    }
    let shifted = (u64::from(value) + (1u64 << shift) - 1) >> shift;
    // Rounding up the very top wraps to 0, as the counter does.
    (shifted & ((1u64 << (32 - shift)) - 1)) as u32
}

/// The expiration for a userspace request at kernel time `now`: relative
/// (`reference` = None) or absolute.
fn expiration_from_user<T: Ticks>(now: T, reference: Option<u32>, dt: u32) -> Expiration<T> {
    let padding = T::u32_padding();
    match reference {
        None => Expiration {
            reference: now,
            dt: T::from(shift_down_rounding_up(dt, padding)),
        },
        Some(reference) if padding > 0 => {
            // Narrow counter: reference rounds down, expiration rounds up.
            let start = T::from(reference.checked_shr(padding).unwrap_or(0));
            let end = T::from(shift_down_rounding_up(reference.wrapping_add(dt), padding));
            Expiration {
                reference: start,
                dt: end.wrapping_sub(start),
            }
        }
        Some(reference) => {
            // 32 bits or wider: the latest time at or before `now` whose low
            // 32 bits are `reference`.
            let back = now.into_u32().wrapping_sub(reference);
            Expiration {
                reference: now.wrapping_sub(T::from(back)),
                dt: T::from(dt),
            }
        }
    }
}

impl<'a, A: Alarm<'a>> AlarmDriver<'a, A> {
    pub fn new(alarm: &'a A, grant: AlarmGrant<A::Ticks>) -> AlarmDriver<'a, A> {
        AlarmDriver { alarm, apps: grant }
    }

    /// Delivers every expired alarm and arms the hardware for the earliest
    /// remaining one (or disarms it).
    fn fire_expired_and_rearm(&self) {
        let now = self.alarm.now();
        let mut earliest: Option<(A::Ticks, Expiration<A::Ticks>)> = None;
        for process_grant in self.apps.iter() {
            process_grant.try_enter(|data, kernel_data| {
                let Some(expiration) = data.expiration else {
                    return;
                };
                if expiration.has_expired(now) {
                    data.expiration = None;
                    // A full task queue drops the upcall, as for any driver.
                    let _ = kernel_data.schedule_upcall(
                        upcall::FIRED,
                        (to_user(now), to_user(expiration.end()), 0),
                    );
                    return;
                }
                let remaining = expiration.end().wrapping_sub(now);
                if earliest.is_none_or(|(best, _)| remaining < best) {
                    earliest = Some((remaining, expiration));
                }
            });
        }
        match earliest {
            Some((_, expiration)) => self.alarm.set_alarm(expiration.reference, expiration.dt),
            None => {
                let _ = self.alarm.disarm();
            }
        }
    }
}

impl<'a, A: Alarm<'a>> SyscallDriver for AlarmDriver<'a, A> {
    /// - 0: driver exists.
    /// - 1: frequency in Hz (of userspace ticks).
    /// - 2: current tick.
    /// - 3: stop the alarm.
    /// - 5: set the alarm `arg1` ticks from now.
    /// - 6: set the alarm to `arg1 + arg2`.
    fn command(
        &self,
        command_num: usize,
        arg1: usize,
        arg2: usize,
        processid: ProcessId,
    ) -> CommandReturn {
        let result = self.apps.enter(processid, |data, _| {
            let now = self.alarm.now();
            // (return value, whether the set of expirations changed)
            match command_num {
                command::EXISTS => (CommandReturn::success(), false),
                command::FREQUENCY => (
                    CommandReturn::success_u32(A::Ticks::u32_left_justified_scale_freq::<
                        A::Frequency,
                    >()),
                    false,
                ),
                command::NOW => (CommandReturn::success_u32(to_user(now) as u32), false),
                command::STOP => match data.expiration.take() {
                    Some(_) => (CommandReturn::success(), true),
                    None => (CommandReturn::failure(ErrorCode::ALREADY), false),
                },
                command::SET_RELATIVE | command::SET_ABSOLUTE => {
                    // Userspace ticks are 32-bit; higher bits are ignored.
                    let expiration = if command_num == command::SET_RELATIVE {
                        expiration_from_user(now, None, arg1 as u32)
                    } else {
                        expiration_from_user(now, Some(arg1 as u32), arg2 as u32)
                    };
                    data.expiration = Some(expiration);
                    (
                        CommandReturn::success_u32(to_user(expiration.end()) as u32),
                        true,
                    )
                }
                command::SET_ABSOLUTE_OLD => (CommandReturn::failure(ErrorCode::NOSUPPORT), false),
                _ => (CommandReturn::failure(ErrorCode::NOSUPPORT), false),
            }
        });
        match result {
            Ok((ret, changed)) => {
                // Outside the grant: the walk enters every process's grant.
                if changed {
                    self.fire_expired_and_rearm();
                }
                ret
            }
            Err(e) => CommandReturn::failure(e.into()),
        }
    }

    fn allocate_grant(&self, processid: ProcessId) -> Result<(), kernel::process::Error> {
        self.apps.enter(processid, |_, _| {})
    }
}

impl<'a, A: Alarm<'a>> time::AlarmClient for AlarmDriver<'a, A> {
    fn alarm(&self) {
        self.fire_expired_and_rearm();
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::test_fakes::FakeAlarm;
    use capsule_test_harness::{Harness, Upcall};
    use kernel::hil::time::{Freq10MHz, Frequency, Ticks32, Ticks64};
    use kernel::syscall::SyscallReturn;
    use std::vec;

    /// A 24-bit counter, to test left-justification.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    struct Ticks24(u32);

    const MASK24: u32 = 0xff_ffff;

    impl From<u32> for Ticks24 {
        fn from(v: u32) -> Self {
            Ticks24(v & MASK24)
        }
    }

    impl Ticks for Ticks24 {
        fn width() -> u32 {
            24
        }
        fn into_usize(self) -> usize {
            self.0 as usize
        }
        fn into_u32(self) -> u32 {
            self.0
        }
        fn wrapping_add(self, other: Self) -> Self {
            Ticks24::from(self.0.wrapping_add(other.0))
        }
        fn wrapping_sub(self, other: Self) -> Self {
            Ticks24::from(self.0.wrapping_sub(other.0))
        }
        fn within_range(self, start: Self, end: Self) -> bool {
            self.wrapping_sub(start).0 < end.wrapping_sub(start).0
        }
        fn max_value() -> Self {
            Ticks24(MASK24)
        }
        fn half_max_value() -> Self {
            Ticks24(1 << 23)
        }
        fn from_or_max(val: u64) -> Self {
            Ticks24(val.min(u64::from(MASK24)) as u32)
        }
        fn saturating_scale(self, numerator: u32, denominator: u32) -> u32 {
            (u64::from(self.0) * u64::from(numerator) / u64::from(denominator)) as u32
        }
    }

    fn setup<T: Ticks + 'static>(
        processes: usize,
        now: T,
    ) -> (&'static Harness, &'static FakeAlarm<T>) {
        let h = Harness::new(processes);
        let alarm: &'static FakeAlarm<T> = h.leak(FakeAlarm::new(now));
        let driver = h.leak(AlarmDriver::new(alarm, h.create_grant(DRIVER_NUM)));
        alarm.set_alarm_client(driver);
        h.add_driver(DRIVER_NUM, driver);
        (h, alarm)
    }

    fn fired(now: usize, expiration: usize) -> Upcall {
        Upcall {
            driver_num: DRIVER_NUM,
            subscribe_num: upcall::FIRED,
            args: (now, expiration, 0),
            fn_ptr: 0x1000,
            appdata: 3,
        }
    }

    fn subscribe(h: &Harness, p: ProcessId) {
        assert!(
            h.subscribe(p, DRIVER_NUM, upcall::FIRED, 0x1000, 3)
                .is_success()
        );
    }

    #[test]
    fn exists_frequency_now_and_unknown_commands() {
        let (h, _) = setup(1, Ticks32::from(1234));
        let p = h.spawn("p");
        assert_eq!(h.command(p, DRIVER_NUM, 0, 0, 0), SyscallReturn::Success);
        assert_eq!(
            h.command(p, DRIVER_NUM, 1, 0, 0),
            SyscallReturn::SuccessU32(Freq10MHz::frequency())
        );
        assert_eq!(
            h.command(p, DRIVER_NUM, 2, 0, 0),
            SyscallReturn::SuccessU32(1234)
        );
        for cmd in [4, 7, 100] {
            assert_eq!(
                h.command(p, DRIVER_NUM, cmd, 0, 0),
                SyscallReturn::Failure(ErrorCode::NOSUPPORT)
            );
        }
    }

    #[test]
    fn relative_alarm_fires_once_with_now_and_expiration() {
        let (h, alarm) = setup(1, Ticks32::from(1000));
        let p = h.spawn("p");
        subscribe(h, p);
        assert_eq!(
            h.command(p, DRIVER_NUM, 5, 500, 0),
            SyscallReturn::SuccessU32(1500)
        );
        assert_eq!(alarm.fires_at(), Some(Ticks32::from(1500)));
        alarm.advance(499);
        assert_eq!(h.upcalls(p), vec![]);
        alarm.advance(1);
        assert_eq!(h.upcalls(p), vec![fired(1500, 1500)]);
        assert_eq!(alarm.fires_at(), None);
        alarm.advance(10_000);
        assert_eq!(h.upcalls(p), vec![]);
        // Stopping a fired alarm: ALREADY.
        assert_eq!(
            h.command(p, DRIVER_NUM, 3, 0, 0),
            SyscallReturn::Failure(ErrorCode::ALREADY)
        );
    }

    #[test]
    fn several_processes_each_get_their_own_alarm_in_time_order() {
        let (h, alarm) = setup(3, Ticks32::from(0));
        let a = h.spawn("a");
        let b = h.spawn("b");
        let c = h.spawn("c");
        for p in [a, b, c] {
            subscribe(h, p);
        }
        assert!(h.command(a, DRIVER_NUM, 5, 3000, 0).is_success());
        assert!(h.command(b, DRIVER_NUM, 5, 1000, 0).is_success());
        assert!(h.command(c, DRIVER_NUM, 6, 0, 2000).is_success());
        assert_eq!(alarm.fires_at(), Some(Ticks32::from(1000)));
        alarm.advance(1000);
        assert_eq!(h.upcalls(b), vec![fired(1000, 1000)]);
        assert_eq!(alarm.fires_at(), Some(Ticks32::from(2000)));
        alarm.advance(1000);
        assert_eq!(h.upcalls(c), vec![fired(2000, 2000)]);
        alarm.advance(1000);
        assert_eq!(h.upcalls(a), vec![fired(3000, 3000)]);
        assert_eq!(alarm.fires_at(), None);
    }

    #[test]
    fn resetting_replaces_and_stop_cancels() {
        let (h, alarm) = setup(2, Ticks32::from(0));
        let a = h.spawn("a");
        let b = h.spawn("b");
        subscribe(h, a);
        subscribe(h, b);
        assert!(h.command(a, DRIVER_NUM, 5, 100, 0).is_success());
        assert!(h.command(a, DRIVER_NUM, 5, 400, 0).is_success());
        assert!(h.command(b, DRIVER_NUM, 5, 200, 0).is_success());
        assert_eq!(alarm.fires_at(), Some(Ticks32::from(200)));
        assert_eq!(h.command(b, DRIVER_NUM, 3, 0, 0), SyscallReturn::Success);
        assert_eq!(alarm.fires_at(), Some(Ticks32::from(400)));
        alarm.advance(1000);
        assert_eq!(h.upcalls(a), vec![fired(400, 400)]);
        assert_eq!(h.upcalls(b), vec![]);
    }

    #[test]
    fn an_alarm_in_the_past_fires_at_once() {
        let (h, alarm) = setup(1, Ticks32::from(5000));
        let p = h.spawn("p");
        subscribe(h, p);
        assert_eq!(
            h.command(p, DRIVER_NUM, 6, 1000, 100),
            SyscallReturn::SuccessU32(1100)
        );
        assert_eq!(h.upcalls(p), vec![fired(5000, 1100)]);
        assert_eq!(alarm.fires_at(), None);
        // dt 0 is "now": fires at once too.
        assert!(h.command(p, DRIVER_NUM, 5, 0, 0).is_success());
        assert_eq!(h.upcalls(p), vec![fired(5000, 5000)]);
    }

    #[test]
    fn a_32_bit_counter_wraps() {
        let (h, alarm) = setup(1, Ticks32::from(u32::MAX - 10));
        let p = h.spawn("p");
        subscribe(h, p);
        assert_eq!(
            h.command(p, DRIVER_NUM, 5, 100, 0),
            SyscallReturn::SuccessU32(89)
        );
        alarm.advance(50);
        assert_eq!(h.upcalls(p), vec![]);
        alarm.advance(50);
        assert_eq!(h.upcalls(p), vec![fired(89, 89)]);
    }

    #[test]
    fn a_64_bit_counter_is_truncated_and_references_rebased() {
        let start = (5u64 << 32) + 1000;
        let (h, alarm) = setup(2, Ticks64::from(start));
        let p = h.spawn("p");
        let q = h.spawn("q");
        subscribe(h, p);
        subscribe(h, q);
        assert_eq!(
            h.command(p, DRIVER_NUM, 2, 0, 0),
            SyscallReturn::SuccessU32(1000)
        );
        // Reference 900 (read a moment ago) + 600: fires at full-width
        // start - 100 + 600, not 2^32 ticks later.
        assert_eq!(
            h.command(p, DRIVER_NUM, 6, 900, 600),
            SyscallReturn::SuccessU32(1500)
        );
        assert_eq!(alarm.fires_at(), Some(Ticks64::from(start + 500)));
        // A reference from before the low word wrapped: one epoch back.
        let before_wrap = u32::MAX - 99; // = 2^32 - 100
        assert_eq!(
            h.command(q, DRIVER_NUM, 6, before_wrap as usize, 2000),
            SyscallReturn::SuccessU32(1900)
        );
        // q's alarm: (5 << 32) - 100 + 2000 = start + 900.
        alarm.advance(500);
        assert_eq!(h.upcalls(p), vec![fired(1500, 1500)]);
        assert_eq!(alarm.fires_at(), Some(Ticks64::from(start + 900)));
        alarm.advance(400);
        assert_eq!(h.upcalls(q), vec![fired(1900, 1900)]);
    }

    #[test]
    fn a_narrow_counter_is_left_justified_and_never_fires_early() {
        let (h, alarm) = setup(1, Ticks24::from(0x10));
        let p = h.spawn("p");
        subscribe(h, p);
        assert_eq!(
            h.command(p, DRIVER_NUM, 1, 0, 0),
            SyscallReturn::SuccessU32(Freq10MHz::frequency() << 8)
        );
        assert_eq!(
            h.command(p, DRIVER_NUM, 2, 0, 0),
            SyscallReturn::SuccessU32(0x1000)
        );
        // 0x101 userspace ticks = 1.004 kernel ticks: rounds up to 2.
        assert_eq!(
            h.command(p, DRIVER_NUM, 5, 0x101, 0),
            SyscallReturn::SuccessU32(0x1200)
        );
        assert_eq!(alarm.fires_at(), Some(Ticks24::from(0x12)));
        // Absolute: reference 0x10ff rounds down to 0x10, expiration
        // 0x10ff + 0x202 = 0x1301 rounds up to 0x14.
        assert_eq!(
            h.command(p, DRIVER_NUM, 6, 0x10ff, 0x202),
            SyscallReturn::SuccessU32(0x1400)
        );
        alarm.advance(3);
        assert_eq!(h.upcalls(p), vec![]);
        alarm.advance(1);
        assert_eq!(h.upcalls(p), vec![fired(0x1400, 0x1400)]);
        // The top of the userspace range wraps to 0 when rounded up.
        assert_eq!(shift_down_rounding_up(u32::MAX, 8), 0);
        assert_eq!(shift_down_rounding_up(0x100, 8), 1);
        assert_eq!(shift_down_rounding_up(7, 0), 7);
    }

    #[test]
    fn dead_processes_alarms_are_dropped_without_wedging() {
        let (h, alarm) = setup(2, Ticks32::from(0));
        let a = h.spawn("a");
        let b = h.spawn("b");
        subscribe(h, a);
        subscribe(h, b);
        assert!(h.command(a, DRIVER_NUM, 5, 100, 0).is_success());
        assert!(h.command(b, DRIVER_NUM, 5, 200, 0).is_success());
        h.exit(a, 0);
        alarm.advance(100);
        // The hardware fired for a's time; a is gone, b is re-armed.
        assert_eq!(alarm.fires_at(), Some(Ticks32::from(200)));
        alarm.advance(100);
        assert_eq!(h.upcalls(b), vec![fired(200, 200)]);
        // A restarted process starts with no alarm.
        let b2 = h.restart(b);
        assert_eq!(
            h.command(b2, DRIVER_NUM, 3, 0, 0),
            SyscallReturn::Failure(ErrorCode::ALREADY)
        );
    }

    #[test]
    fn upcall_without_subscribe_is_a_null_upcall() {
        let (h, alarm) = setup(1, Ticks32::from(0));
        let p = h.spawn("p");
        assert!(h.command(p, DRIVER_NUM, 5, 10, 0).is_success());
        alarm.advance(10);
        let got = h.upcalls(p);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].fn_ptr, got[0].args), (0, (10, 10, 0)));
    }
}
