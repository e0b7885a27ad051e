// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Block storage driver (0x50005, `doc/syscalls/50005_block.md`): whole
//! 512-byte sectors of the app's own range of a disk, moved by the device
//! straight into or out of the app's buffer.
//!
//! The driver maps the buffer's pages for the device for one request, so
//! a buffer must start on a 4 KiB page and cover the pages the request
//! touches: [`Sectors`] is such a buffer. One request at a time: the
//! buffer is shared, the command starts the request, the process waits
//! for upcall 0 with Yield-WaitFor (the null upcall is subscribed), then
//! takes the buffer back.

use crate::error::ErrorCode;
use crate::syscall;

/// Driver number of block storage.
pub const DRIVER_NUMBER: u32 = 0x50005;
/// Bytes per sector.
pub const SECTOR_SIZE: usize = 512;
/// Sectors in one [`Sectors`] buffer: one 4 KiB page.
pub const SECTORS_PER_PAGE: usize = 8;

/// Command numbers.
pub mod command {
    pub const EXISTS: u32 = 0;
    /// Returns (sector size, sectors in the app's range).
    pub const INFO: u32 = 1;
    /// Reads argument 1 sectors from sector argument 0 into allow-rw 0.
    pub const READ: u32 = 2;
    /// Writes argument 1 sectors at sector argument 0 from allow-ro 0.
    pub const WRITE: u32 = 3;
    /// Abandons the app's request.
    pub const ABORT: u32 = 4;
}

/// Upcall (subscribe) numbers.
pub mod upcall {
    /// A request finished; values: status, sectors moved, 0.
    pub const DONE: u32 = 0;
}

/// One page of sectors, page aligned, as the zero-copy driver needs.
#[repr(C, align(4096))]
pub struct Sectors(pub [u8; SECTORS_PER_PAGE * SECTOR_SIZE]);

impl Sectors {
    pub const ZERO: Sectors = Sectors([0; SECTORS_PER_PAGE * SECTOR_SIZE]);
}

/// Whether the driver is present.
pub fn exists() -> bool {
    syscall::command(DRIVER_NUMBER, command::EXISTS, 0, 0)
        .to_result()
        .is_ok()
}

/// (sector size, sectors in this app's range); `Reserve` if the board
/// gives the app none.
pub fn info() -> Result<(usize, usize), ErrorCode> {
    syscall::command(DRIVER_NUMBER, command::INFO, 0, 0)
        .to_result_u32_u32()
        .map(|(size, count)| (size as usize, count as usize))
}

/// Waits for the DONE upcall of the request `start` began; returns the
/// sectors moved.
fn finish(started: Result<(), ErrorCode>) -> Result<usize, ErrorCode> {
    started?;
    let (status, sectors, _) = syscall::yield_wait_for(DRIVER_NUMBER, upcall::DONE);
    match status {
        0 => Ok(sectors),
        code => Err(ErrorCode::from_u32(code as u32).unwrap_or(ErrorCode::Fail)),
    }
}

/// Reads `count` sectors from `sector` of the app's range into the start
/// of `buffer`; returns the sectors read.
pub fn read(sector: usize, count: usize, buffer: &mut Sectors) -> Result<usize, ErrorCode> {
    syscall::unsubscribe(DRIVER_NUMBER, upcall::DONE)?;
    // SAFETY: `buffer` is mutably borrowed for this whole call and not
    // touched until the share is revoked below.
    unsafe { syscall::allow_read_write(DRIVER_NUMBER, 0, buffer.0.as_mut_ptr(), buffer.0.len())? };
    let result = finish(syscall::command(DRIVER_NUMBER, command::READ, sector, count).to_result());
    // SAFETY: a null buffer shares no memory.
    if unsafe { syscall::allow_read_write(DRIVER_NUMBER, 0, core::ptr::null_mut(), 0) }.is_err() {
        // The device could go on writing memory the program reuses.
        syscall::exit_terminate(ErrorCode::Fail.as_u32());
    }
    result
}

/// Writes `count` sectors at `sector` of the app's range from the start
/// of `buffer`; returns the sectors written.
pub fn write(sector: usize, count: usize, buffer: &Sectors) -> Result<usize, ErrorCode> {
    syscall::unsubscribe(DRIVER_NUMBER, upcall::DONE)?;
    // SAFETY: `buffer` is borrowed for this whole call and not written.
    unsafe { syscall::allow_read_only(DRIVER_NUMBER, 0, buffer.0.as_ptr(), buffer.0.len())? };
    let result = finish(syscall::command(DRIVER_NUMBER, command::WRITE, sector, count).to_result());
    // SAFETY: a null buffer shares no memory.
    if unsafe { syscall::allow_read_only(DRIVER_NUMBER, 0, core::ptr::null(), 0) }.is_err() {
        syscall::exit_terminate(ErrorCode::Fail.as_u32());
    }
    result
}

/// Abandons the app's request: a queued one is dropped with no upcall; one
/// the device holds is stopped and its DONE upcall follows with `Cancel`.
/// `Invalid` if the app has no request (it ended: its DONE is queued).
pub fn abort() -> Result<(), ErrorCode> {
    syscall::command(DRIVER_NUMBER, command::ABORT, 0, 0).to_result()
}

/// Waits for the DONE upcall of a request begun with [`start_read`];
/// returns the sectors read. The buffer stays shared with the kernel.
pub fn wait_done() -> Result<usize, ErrorCode> {
    finish(Ok(()))
}

/// Starts a read of up to one page without waiting for it (for tests
/// that end a process mid-request, or abandon a request). The buffer stays
/// shared with the kernel.
///
/// # Safety
///
/// The device may write `buffer` until the request ends; the program must
/// not use it until then.
pub unsafe fn start_read(
    sector: usize,
    count: usize,
    buffer: *mut Sectors,
) -> Result<(), ErrorCode> {
    // The null upcall: DONE is queued for `wait_done`'s Yield-WaitFor.
    syscall::unsubscribe(DRIVER_NUMBER, upcall::DONE)?;
    // SAFETY: the caller keeps the buffer alone until the request ends.
    unsafe {
        syscall::allow_read_write(
            DRIVER_NUMBER,
            0,
            buffer.cast::<u8>(),
            SECTORS_PER_PAGE * SECTOR_SIZE,
        )?
    };
    syscall::command(DRIVER_NUMBER, command::READ, sector, count).to_result()
}
