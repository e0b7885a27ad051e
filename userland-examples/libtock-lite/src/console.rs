// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Console driver (0x1, Tock `doc/syscalls/00001_console.md`) and the
//! `print!` / `println!` macros.
//!
//! A write shares the bytes with read-only allow 1, starts with command 1
//! and ends with upcall 1 (bytes written). A read shares a buffer with
//! read-write allow 1, starts with command 2 and ends with upcall 2 (status,
//! bytes read). Every share is revoked before the call returns.

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::error::ErrorCode;
use crate::syscall;
use crate::upcall::{Wait, wait_for_upcall};

/// Driver number of the console.
pub const DRIVER_NUMBER: u32 = 0x1;

/// Command numbers.
pub mod command {
    pub const EXISTS: u32 = 0;
    pub const WRITE: u32 = 1;
    pub const READ: u32 = 2;
    pub const ABORT_READ: u32 = 3;
}

/// Upcall (subscribe) numbers.
pub mod upcall {
    /// A write finished; value 0 is the number of bytes written.
    pub const WRITE_DONE: u32 = 1;
    /// A read finished; value 0 is a status (0 or an error code), value 1
    /// the number of bytes read.
    pub const READ_DONE: u32 = 2;
}

/// Read-only allow numbers.
pub mod allow_ro {
    pub const WRITE: u32 = 1;
}

/// Read-write allow numbers.
pub mod allow_rw {
    pub const READ: u32 = 1;
}

/// Whether writes poll with Yield-NoWait instead of blocking.
static POLL_WRITES: AtomicBool = AtomicBool::new(false);

/// Chooses how writes wait for completion. [`Wait::Poll`] keeps the
/// processor while a line is printed, so that output from two such apps
/// interleaves only if the kernel preempts them.
pub fn set_write_wait(wait: Wait) {
    POLL_WRITES.store(wait == Wait::Poll, Ordering::Relaxed);
}

fn write_wait() -> Wait {
    if POLL_WRITES.load(Ordering::Relaxed) {
        Wait::Poll
    } else {
        Wait::Block
    }
}

/// Whether the console driver is present.
pub fn exists() -> bool {
    syscall::command(DRIVER_NUMBER, command::EXISTS, 0, 0)
        .to_result()
        .is_ok()
}

/// Ends the process if a share cannot be revoked: the kernel could otherwise
/// go on using memory the program reuses.
fn revoke_or_exit(revoked: Result<(), ErrorCode>) {
    if revoked.is_err() {
        syscall::exit_terminate(ErrorCode::Fail.as_u32());
    }
}

/// Writes up to all of `bytes` and returns how many were written.
pub fn write(bytes: &[u8]) -> Result<usize, ErrorCode> {
    if bytes.is_empty() {
        return Ok(0);
    }
    // SAFETY: `bytes` is borrowed, and so neither freed nor written, for
    // this whole call; the share is revoked below before it returns.
    unsafe {
        syscall::allow_read_only(DRIVER_NUMBER, allow_ro::WRITE, bytes.as_ptr(), bytes.len())?
    };
    let done = wait_for_upcall(DRIVER_NUMBER, upcall::WRITE_DONE, write_wait(), || {
        syscall::command(DRIVER_NUMBER, command::WRITE, bytes.len(), 0).to_result()
    });
    // SAFETY: a null buffer shares no memory.
    revoke_or_exit(unsafe {
        syscall::allow_read_only(DRIVER_NUMBER, allow_ro::WRITE, core::ptr::null(), 0)
    });
    let [written, _, _] = done?;
    Ok(written.min(bytes.len()))
}

/// Writes all of `bytes`.
pub fn write_all(mut bytes: &[u8]) -> Result<(), ErrorCode> {
    while !bytes.is_empty() {
        match write(bytes)? {
            // A driver that makes no progress would make this loop forever.
            0 => return Err(ErrorCode::Fail),
            written => bytes = &bytes[written..],
        }
    }
    Ok(())
}

/// Reads at least one and at most `buffer.len()` bytes into `buffer`,
/// blocking until they arrive, and returns how many were read.
pub fn read(buffer: &mut [u8]) -> Result<usize, ErrorCode> {
    if buffer.is_empty() {
        return Ok(0);
    }
    let length = buffer.len();
    // SAFETY: `buffer` is mutably borrowed for this whole call and not
    // touched by the program until the share is revoked below.
    unsafe {
        syscall::allow_read_write(DRIVER_NUMBER, allow_rw::READ, buffer.as_mut_ptr(), length)?
    };
    let done = wait_for_upcall(DRIVER_NUMBER, upcall::READ_DONE, Wait::Block, || {
        syscall::command(DRIVER_NUMBER, command::READ, length, 0).to_result()
    });
    // SAFETY: a null buffer shares no memory.
    revoke_or_exit(unsafe {
        syscall::allow_read_write(DRIVER_NUMBER, allow_rw::READ, core::ptr::null_mut(), 0)
    });
    let [status, count, _] = done?;
    match status {
        0 => Ok(count.min(length)),
        code => Err(ErrorCode::from_u32(code as u32).unwrap_or(ErrorCode::BadReturnVariant)),
    }
}

/// Size of the formatting buffer: a line up to this long goes out in one
/// write, so lines from different processes do not mix.
const LINE_BUFFER_SIZE: usize = 128;

/// Collects formatted text and writes it in as few writes as possible.
struct LineWriter {
    buffer: [u8; LINE_BUFFER_SIZE],
    length: usize,
    result: Result<(), ErrorCode>,
}

impl LineWriter {
    const fn new() -> LineWriter {
        LineWriter {
            buffer: [0; LINE_BUFFER_SIZE],
            length: 0,
            result: Ok(()),
        }
    }

    fn flush(&mut self) {
        if self.length > 0 && self.result.is_ok() {
            self.result = write_all(&self.buffer[..self.length]);
        }
        self.length = 0;
    }
}

impl fmt::Write for LineWriter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            if self.length == LINE_BUFFER_SIZE {
                self.flush();
            }
            self.buffer[self.length] = byte;
            self.length += 1;
        }
        Ok(())
    }
}

/// Formats and writes `arguments`; what `print!` and `println!` call.
pub fn print_fmt(arguments: fmt::Arguments<'_>) -> Result<(), ErrorCode> {
    let mut writer = LineWriter::new();
    // Formatting into the buffer cannot fail; write errors are in `result`.
    let _ = fmt::write(&mut writer, arguments);
    writer.flush();
    writer.result
}

/// Prints to the console, like `std::print!`. Errors are ignored; call
/// [`print_fmt`] to see them.
#[macro_export]
macro_rules! print {
    ($($argument:tt)*) => {{
        let _ = $crate::console::print_fmt(::core::format_args!($($argument)*));
    }};
}

/// Prints a line to the console, like `std::println!`.
#[macro_export]
macro_rules! println {
    () => {
        $crate::print!("\n")
    };
    ($($argument:tt)*) => {{
        let _ = $crate::console::print_fmt(::core::format_args!(
            "{}\n",
            ::core::format_args!($($argument)*)
        ));
    }};
}
