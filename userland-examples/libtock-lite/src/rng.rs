// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! RNG driver (0x40001, Tock `doc/syscalls/40001_rng.md`): fills a buffer
//! with random bytes.
//!
//! One request at a time: the buffer is shared with read-write allow 0,
//! command 1 asks for its length in bytes, and the process waits for
//! upcall 0 with Yield-WaitFor (the null upcall is subscribed, so no
//! function runs and nothing on the stack is left registered), then takes
//! the buffer back.

use crate::error::ErrorCode;
use crate::syscall;

/// Driver number of the RNG.
pub const DRIVER_NUMBER: u32 = 0x40001;

/// Command numbers.
pub mod command {
    pub const EXISTS: u32 = 0;
    /// Fills argument 0 bytes of the buffer (at most its length).
    pub const GET: u32 = 1;
}

/// Upcall (subscribe) numbers.
pub mod upcall {
    /// The request finished; values: 0, bytes filled, 0.
    pub const DONE: u32 = 0;
}

/// Read-write allow numbers.
pub mod allow_rw {
    /// The buffer random bytes are written to.
    pub const BUFFER: u32 = 0;
}

/// Whether the RNG driver is present.
pub fn exists() -> bool {
    syscall::command(DRIVER_NUMBER, command::EXISTS, 0, 0)
        .to_result()
        .is_ok()
}

/// Fills `buffer` with random bytes; returns how many the driver filled
/// (all of them unless the driver ended the request early).
pub fn fill(buffer: &mut [u8]) -> Result<usize, ErrorCode> {
    if buffer.is_empty() {
        return Ok(0);
    }
    let length = buffer.len();
    // The null upcall: the kernel queues the upcall for Yield-WaitFor.
    syscall::unsubscribe(DRIVER_NUMBER, upcall::DONE)?;
    // SAFETY: `buffer` is mutably borrowed for this whole call and not
    // touched until the share is revoked below.
    unsafe {
        syscall::allow_read_write(DRIVER_NUMBER, allow_rw::BUFFER, buffer.as_mut_ptr(), length)?
    };
    let started = syscall::command(DRIVER_NUMBER, command::GET, length, 0).to_result();
    let filled = started.map(|()| {
        let (_status, filled, _) = syscall::yield_wait_for(DRIVER_NUMBER, upcall::DONE);
        filled
    });
    // SAFETY: a null buffer shares no memory.
    let revoked = unsafe {
        syscall::allow_read_write(DRIVER_NUMBER, allow_rw::BUFFER, core::ptr::null_mut(), 0)
    };
    if revoked.is_err() {
        // The kernel could go on writing memory the program reuses.
        syscall::exit_terminate(ErrorCode::Fail.as_u32());
    }
    Ok(filled?.min(length))
}
