// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The machine timer (CLINT `mtime`/`mtimecmp`) as a `hil::time::Alarm`.
//!
//! QEMU `virt` has a SiFive-compatible CLINT (RISC-V ACLINT spec 1.0,
//! MTIMER and MSWI devices) at 0x200_0000: `msip` for hart 0 at +0x0,
//! `mtimecmp` for hart 0 at +0x4000, `mtime` at +0xbff8, both 64 bits.
//! `mtime` counts at 10 MHz. The machine timer interrupt (`mip.MTIP`) is
//! pending while `mtime >= mtimecmp` (privileged spec 3.2.1).
//!
//! The same compare also ends the scheduler's time slices
//! (`kernel::scheduler::SchedulerTimer`), as a second channel.
//!
//! The HIL side uses 32-bit ticks (`Ticks32`, wrapping every ~429 s); the
//! hardware compare stays 64 bits, so an alarm is converted to an absolute
//! 64-bit deadline when it is set.

use core::cell::Cell;
use kernel::ErrorCode;
use kernel::hil::time::{self, Alarm, Ticks, Ticks32};
use kernel::utilities::StaticRef;
use kernel::utilities::cells::OptionalCell;
use kernel::utilities::registers::interfaces::{Readable, Writeable};
use kernel::utilities::registers::{ReadWrite, register_structs};

/// Base of the CLINT on QEMU `virt`.
pub const CLINT_BASE: usize = 0x0200_0000;

register_structs! {
    /// CLINT registers of hart 0, as 32-bit halves (rv32 has no 64-bit
    /// MMIO access).
    pub ClintRegisters {
        /// Machine software interrupt pending of hart 0 (ACLINT MSWI).
        (0x0000 => msip: ReadWrite<u32>),
        (0x0004 => _reserved0),
        /// `mtimecmp` of hart 0, low word.
        (0x4000 => mtimecmp_low: ReadWrite<u32>),
        /// `mtimecmp` of hart 0, high word.
        (0x4004 => mtimecmp_high: ReadWrite<u32>),
        (0x4008 => _reserved1),
        /// `mtime`, low word.
        (0xbff8 => mtime_low: ReadWrite<u32>),
        /// `mtime`, high word.
        (0xbffc => mtime_high: ReadWrite<u32>),
        (0xc000 => @END),
    }
}

/// The 64-bit deadline for the 32-bit alarm `reference + dt`, given the
/// current 64-bit time.
///
/// An alarm whose time has passed (the current time is
/// no longer in `[reference, reference + dt)`) is due at once.
pub fn deadline(now: u64, reference: Ticks32, dt: Ticks32) -> u64 {
    let expiry = reference.wrapping_add(dt);
    let now32 = Ticks32::from(now as u32);
    if now32.within_range(reference, expiry) {
        now + u64::from(expiry.wrapping_sub(now32).into_u32())
    } else {
        now
    }
}

/// The compare value that serves both channels: the earlier of the armed
/// deadlines, or never.
pub fn next_compare(alarm: Option<u64>, slice: Option<u64>) -> u64 {
    match (alarm, slice) {
        (Some(a), Some(s)) => a.min(s),
        (Some(a), None) => a,
        (None, Some(s)) => s,
        (None, None) => u64::MAX,
    }
}

/// The machine timer of hart 0.
///
/// The hart has one `mtimecmp`, shared by two channels: the HIL alarm and
/// the scheduler's time slice (`kernel::scheduler::SchedulerTimer`). Each
/// keeps its own 64-bit deadline; the compare register holds the earlier
/// one, and `handle_interrupt` works out which expired.
pub struct MachineTimer<'a> {
    registers: StaticRef<ClintRegisters>,
    client: OptionalCell<&'a dyn time::AlarmClient>,
    alarm: Cell<Ticks32>,
    armed: Cell<bool>,
    alarm_deadline: Cell<u64>,
    slice_active: Cell<bool>,
    slice_expired: Cell<bool>,
    slice_deadline: Cell<u64>,
}

impl<'a> MachineTimer<'a> {
    /// A driver for the CLINT at `registers`.
    pub fn new(registers: StaticRef<ClintRegisters>) -> Self {
        MachineTimer {
            registers,
            client: OptionalCell::empty(),
            alarm: Cell::new(Ticks32::from(0)),
            armed: Cell::new(false),
            alarm_deadline: Cell::new(u64::MAX),
            slice_active: Cell::new(false),
            slice_expired: Cell::new(false),
            slice_deadline: Cell::new(u64::MAX),
        }
    }

    /// Disarms the compare so no timer interrupt is pending. Call once at
    /// boot (the reset value of `mtimecmp` is unspecified).
    pub fn init(&self) {
        self.write_compare(u64::MAX);
    }

    /// The full 64-bit `mtime`.
    pub fn now_u64(&self) -> u64 {
        let regs = &*self.registers;
        // The high word can change between the two reads; re-read until it
        // is stable. It changes once per 2^32 ticks, so the second try
        // always succeeds; three bound the loop.
        let mut high = regs.mtime_high.get();
        let mut low = regs.mtime_low.get();
        for _ in 0..3 {
            let high_again = regs.mtime_high.get();
            if high_again == high {
                break;
            }
            high = high_again;
            low = regs.mtime_low.get();
        }
        (u64::from(high) << 32) | u64::from(low)
    }

    /// Writes `mtimecmp` without a spurious intermediate match: the low
    /// word is parked at its maximum while the high word changes
    /// (privileged spec 3.2.1 gives this sequence for rv32).
    fn write_compare(&self, value: u64) {
        let regs = &*self.registers;
        regs.mtimecmp_low.set(u32::MAX);
        regs.mtimecmp_high.set((value >> 32) as u32);
        regs.mtimecmp_low.set(value as u32);
    }

    /// Programs the compare for whichever channels are armed, and the
    /// timer interrupt enable to match.
    fn program(&self) {
        let alarm = self.armed.get().then(|| self.alarm_deadline.get());
        let slice = self.slice_active.get().then(|| self.slice_deadline.get());
        self.write_compare(next_compare(alarm, slice));
        if self.needs_interrupt() {
            rv32::csr::mie_set(rv32::csr::MIP_MTIP);
        } else {
            rv32::csr::mie_clear(rv32::csr::MIP_MTIP);
        }
    }

    /// Whether a channel waits for the timer interrupt (the chip unmasks
    /// it after servicing only then).
    pub fn needs_interrupt(&self) -> bool {
        self.armed.get() || self.slice_active.get()
    }

    /// Services the machine timer interrupt: marks expired channels,
    /// reprograms the compare, then calls the alarm client if the alarm
    /// expired.
    pub fn handle_interrupt(&self) {
        let now = self.now_u64();
        let alarm_fired = self.armed.get() && now >= self.alarm_deadline.get();
        if alarm_fired {
            self.armed.set(false);
        }
        if self.slice_active.get() && now >= self.slice_deadline.get() {
            self.slice_active.set(false);
            self.slice_expired.set(true);
        }
        self.program();
        if alarm_fired {
            self.client.map(|client| client.alarm());
        }
    }
}

impl kernel::scheduler::SchedulerTimer for MachineTimer<'_> {
    fn start(&self, us: u32) {
        let hz = u64::from(<time::Freq10MHz as time::Frequency>::frequency());
        let ticks = u64::from(us) * hz / 1_000_000;
        self.slice_deadline
            .set(self.now_u64().saturating_add(ticks.max(1)));
        self.slice_active.set(true);
        self.slice_expired.set(false);
        self.program();
    }

    fn reset(&self) {
        self.slice_active.set(false);
        self.slice_expired.set(false);
        self.program();
    }

    fn has_expired(&self) -> bool {
        self.slice_expired.get()
            || (self.slice_active.get() && self.now_u64() >= self.slice_deadline.get())
    }
}

impl time::Time for MachineTimer<'_> {
    type Frequency = time::Freq10MHz;
    type Ticks = Ticks32;

    fn now(&self) -> Ticks32 {
        Ticks32::from(self.registers.mtime_low.get())
    }
}

impl<'a> Alarm<'a> for MachineTimer<'a> {
    fn set_alarm_client(&self, client: &'a dyn time::AlarmClient) {
        self.client.set(client);
    }

    fn set_alarm(&self, reference: Ticks32, dt: Ticks32) {
        let dt = dt.max(self.minimum_dt());
        self.alarm.set(reference.wrapping_add(dt));
        self.alarm_deadline
            .set(deadline(self.now_u64(), reference, dt));
        self.armed.set(true);
        self.program();
    }

    fn get_alarm(&self) -> Ticks32 {
        self.alarm.get()
    }

    fn disarm(&self) -> Result<(), ErrorCode> {
        self.armed.set(false);
        self.program();
        Ok(())
    }

    fn is_armed(&self) -> bool {
        self.armed.get()
    }

    fn minimum_dt(&self) -> Ticks32 {
        Ticks32::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(value: u32) -> Ticks32 {
        Ticks32::from(value)
    }

    #[test]
    fn deadline_in_future() {
        // now = 1000, alarm at 500 + 1000 = 1500: due in 500 ticks.
        assert_eq!(deadline(1000, t(500), t(1000)), 1500);
        // The 64-bit time carries the upper word along.
        assert_eq!(deadline(0x5_0000_1000, t(0x1000), t(10)), 0x5_0000_100a);
    }

    #[test]
    fn deadline_across_32_bit_wrap() {
        let now = 0x1_ffff_fff0;
        assert_eq!(deadline(now, t(0xffff_fff0), t(0x20)), 0x2_0000_0010);
    }

    #[test]
    fn compare_serves_the_earlier_channel() {
        assert_eq!(next_compare(None, None), u64::MAX);
        assert_eq!(next_compare(Some(10), None), 10);
        assert_eq!(next_compare(None, Some(7)), 7);
        assert_eq!(next_compare(Some(10), Some(7)), 7);
        assert_eq!(next_compare(Some(3), Some(7)), 3);
    }

    #[test]
    fn deadline_passed_is_now() {
        assert_eq!(deadline(2000, t(500), t(1000)), 2000);
        assert_eq!(deadline(1500, t(500), t(1000)), 1500);
        // dt = 0 at the reference: already due.
        assert_eq!(deadline(700, t(700), t(0)), 700);
    }
}
