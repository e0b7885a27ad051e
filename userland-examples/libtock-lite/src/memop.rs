// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Memory operations (memop, TRD104 section 4.6): the process break and
//! where the kernel put the process.

use crate::error::ErrorCode;
use crate::syscall::memop;

/// Memop operation numbers (value of `a0`).
pub mod operation {
    pub const BRK: u32 = 0;
    pub const SBRK: u32 = 1;
    pub const RAM_START: u32 = 2;
    pub const RAM_END: u32 = 3;
    pub const FLASH_START: u32 = 4;
    pub const FLASH_END: u32 = 5;
    pub const GRANT_START: u32 = 6;
    pub const WRITEABLE_FLASH_REGIONS: u32 = 7;
    pub const WRITEABLE_FLASH_REGION_START: u32 = 8;
    pub const WRITEABLE_FLASH_REGION_END: u32 = 9;
    pub const DEBUG_STACK_START: u32 = 10;
    pub const DEBUG_HEAP_START: u32 = 11;
}

/// Runs a memop that only reports an address.
fn query(operation: u32) -> Result<usize, ErrorCode> {
    // SAFETY: the query operations move no memory.
    let result = unsafe { memop(operation, 0) };
    result.to_result_u32().map(|address| address as usize)
}

/// First byte of the process's RAM.
pub fn ram_start() -> Result<usize, ErrorCode> {
    query(operation::RAM_START)
}

/// The end of the process's RAM block (past the kernel-owned grant region
/// at its top, as Tock reports it); `sbrk(0)` gives the current break.
pub fn ram_end() -> Result<usize, ErrorCode> {
    query(operation::RAM_END)
}

/// First byte of the process's flash (its TBF header).
pub fn flash_start() -> Result<usize, ErrorCode> {
    query(operation::FLASH_START)
}

/// End of the process's flash.
pub fn flash_end() -> Result<usize, ErrorCode> {
    query(operation::FLASH_END)
}

/// The current process break (`sbrk(0)`): the end of the RAM the process
/// may use.
pub fn app_break() -> Result<usize, ErrorCode> {
    // SAFETY: an increment of 0 moves no memory.
    let result = unsafe { memop(operation::SBRK, 0) };
    result.to_result_u32().map(|address| address as usize)
}

/// Lowest address of the kernel-owned grant region above the break.
pub fn grant_start() -> Result<usize, ErrorCode> {
    query(operation::GRANT_START)
}

/// Tells the kernel where the stack starts, for its fault reports.
pub fn debug_stack_start(address: usize) -> Result<(), ErrorCode> {
    // SAFETY: this operation only records an address.
    unsafe { memop(operation::DEBUG_STACK_START, address) }.to_result()
}

/// Tells the kernel where the heap starts, for its fault reports.
pub fn debug_heap_start(address: usize) -> Result<(), ErrorCode> {
    // SAFETY: this operation only records an address.
    unsafe { memop(operation::DEBUG_HEAP_START, address) }.to_result()
}

/// Moves the process break to `address`.
///
/// # Safety
///
/// No memory the program still uses (stack, statics, shared buffers) may
/// lie at or above `address`.
pub unsafe fn brk(address: usize) -> Result<(), ErrorCode> {
    // SAFETY: the caller upholds the contract above.
    unsafe { memop(operation::BRK, address) }.to_result()
}
