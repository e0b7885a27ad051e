// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The panic handler: reports the panic and ends the process with a
//! failure code.
//!
//! It raises low-level debug alert code 1 first (works even if the console
//! is what panicked), then prints the panic message on the console once (a
//! panic while printing skips it), then exits with [`PANIC_EXIT_CODE`].

use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::console;
use crate::error::ErrorCode;
use crate::low_level_debug;
use crate::syscall;
use crate::upcall::Wait;

/// Completion code of a process that panicked.
pub const PANIC_EXIT_CODE: u32 = ErrorCode::Fail as u32;

/// Set by the first panic, so that a panic in the console path does not
/// recurse.
static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let _ = low_level_debug::print_alert_code(low_level_debug::alert::PANIC);
    if !PANICKING.swap(true, Ordering::Relaxed) {
        console::set_write_wait(Wait::Block);
        crate::println!("{}", info);
    }
    syscall::exit_terminate(PANIC_EXIT_CODE)
}
