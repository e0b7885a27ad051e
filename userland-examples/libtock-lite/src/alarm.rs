// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Alarm driver (0x0, Tock `doc/syscalls/00000_alarm.md`): a wrapping tick
//! counter of at least 1 kHz, and one-shot notifications.

use crate::error::ErrorCode;
use crate::syscall;
pub use crate::time::milliseconds_to_ticks;
use crate::upcall::{Wait, wait_for_upcall};

/// Driver number of the alarm.
pub const DRIVER_NUMBER: u32 = 0x0;

/// Command numbers.
pub mod command {
    pub const EXISTS: u32 = 0;
    /// Returns the tick frequency in Hz.
    pub const FREQUENCY: u32 = 1;
    /// Returns the current tick count.
    pub const NOW: u32 = 2;
    /// Cancels the pending notification.
    pub const STOP: u32 = 3;
    /// Notifies after argument 0 ticks from now; returns the tick it fires at.
    pub const SET_RELATIVE: u32 = 5;
    /// Notifies at argument 0 (reference) + argument 1 (ticks).
    pub const SET_ABSOLUTE: u32 = 6;
}

/// Upcall (subscribe) numbers.
pub mod upcall {
    /// The alarm fired; values: tick when it fired, reference tick.
    pub const FIRED: u32 = 0;
}

/// Whether the alarm driver is present.
pub fn exists() -> bool {
    syscall::command(DRIVER_NUMBER, command::EXISTS, 0, 0)
        .to_result()
        .is_ok()
}

/// Tick frequency in Hz.
pub fn frequency() -> Result<u32, ErrorCode> {
    syscall::command(DRIVER_NUMBER, command::FREQUENCY, 0, 0).to_result_u32()
}

/// Current tick count (wraps).
pub fn now() -> Result<u32, ErrorCode> {
    syscall::command(DRIVER_NUMBER, command::NOW, 0, 0).to_result_u32()
}

/// Starts a notification `ticks` from now.
fn set_relative(ticks: u32) -> Result<(), ErrorCode> {
    syscall::command(DRIVER_NUMBER, command::SET_RELATIVE, ticks as usize, 0)
        .to_result_u32()
        .map(|_fires_at| ())
}

/// Sleeps for `ticks` ticks, yielding the processor; the notification is
/// delivered as an upcall to a registered function.
pub fn sleep_ticks(ticks: u32) -> Result<(), ErrorCode> {
    wait_for_upcall(DRIVER_NUMBER, upcall::FIRED, Wait::Block, || {
        set_relative(ticks)
    })
    .map(|_values| ())
}

/// Sleeps for at least `milliseconds` ms.
pub fn sleep_ms(milliseconds: u32) -> Result<(), ErrorCode> {
    sleep_ticks(milliseconds_to_ticks(milliseconds, frequency()?))
}

/// Sleeps for at least `milliseconds` ms using Yield-WaitFor on the null
/// upcall instead of an upcall function (TRD104 section 4.1.3: the kernel
/// queues the notification for Yield-WaitFor even without a function).
pub fn sleep_ms_wait_for(milliseconds: u32) -> Result<(), ErrorCode> {
    let ticks = milliseconds_to_ticks(milliseconds, frequency()?);
    syscall::unsubscribe(DRIVER_NUMBER, upcall::FIRED)?;
    set_relative(ticks)?;
    let _values = syscall::yield_wait_for(DRIVER_NUMBER, upcall::FIRED);
    Ok(())
}
