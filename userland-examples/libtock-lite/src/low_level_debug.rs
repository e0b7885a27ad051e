// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Low-level debug driver (0x8, Tock `doc/syscalls/00008_low_level_debug.md`):
//! prints alert codes and numbers with nothing but a command, so it works
//! where the console cannot (start-up, panics).

use crate::error::ErrorCode;
use crate::syscall::command;

/// Driver number of the low-level debug driver.
pub const DRIVER_NUMBER: u32 = 0x8;

/// Command numbers.
pub mod command {
    pub const EXISTS: u32 = 0;
    pub const PRINT_ALERT_CODE: u32 = 1;
    pub const PRINT_ONE: u32 = 2;
    pub const PRINT_TWO: u32 = 3;
}

/// Predefined alert codes.
pub mod alert {
    /// The application panicked.
    pub const PANIC: u32 = 0x01;
    /// A statically linked app is not at the address it was linked for.
    pub const WRONG_LOCATION: u32 = 0x02;
}

/// Whether the driver is present.
pub fn exists() -> bool {
    command(DRIVER_NUMBER, command::EXISTS, 0, 0)
        .to_result()
        .is_ok()
}

/// Prints one of the predefined alert codes of [`alert`].
pub fn print_alert_code(code: u32) -> Result<(), ErrorCode> {
    command(DRIVER_NUMBER, command::PRINT_ALERT_CODE, code as usize, 0).to_result()
}

/// Prints a number (in hexadecimal, by the kernel).
pub fn print_one(value: usize) -> Result<(), ErrorCode> {
    command(DRIVER_NUMBER, command::PRINT_ONE, value, 0).to_result()
}

/// Prints two numbers.
pub fn print_two(first: usize, second: usize) -> Result<(), ErrorCode> {
    command(DRIVER_NUMBER, command::PRINT_TWO, first, second).to_result()
}
