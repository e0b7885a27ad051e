// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The Tock system calls (TRD104 section 4) on RISC-V.
//!
//! A system call is an `ecall` with the class in `a4` and the arguments in
//! `a0..a3`; the kernel answers in `a0..a3` (return variant in `a0`) and
//! preserves every other register. Upcalls run only inside yield, as an
//! ordinary C-ABI function call on the process stack, so the yield wrappers
//! treat all caller-saved registers as clobbered.
//!
//! Calls that hand memory or code to the kernel (subscribe, allow, brk) are
//! `unsafe fn`s whose `# Safety` section states what the caller promises;
//! the others are safe.

use core::arch::asm;
use core::ptr;

use crate::error::ErrorCode;
use crate::return_variant::SyscallReturn;

/// System call classes (TRD104 section 4, value of `a4`).
pub mod class {
    pub const YIELD: u32 = 0;
    pub const SUBSCRIBE: u32 = 1;
    pub const COMMAND: u32 = 2;
    pub const ALLOW_READ_WRITE: u32 = 3;
    pub const ALLOW_READ_ONLY: u32 = 4;
    pub const MEMOP: u32 = 5;
    pub const EXIT: u32 = 6;
    pub const ALLOW_USERSPACE_READABLE: u32 = 7;
}

/// Yield variants (TRD104 section 4.1, value of `a0`).
mod yield_variant {
    pub const NO_WAIT: u32 = 0;
    pub const WAIT: u32 = 1;
    pub const WAIT_FOR: u32 = 2;
}

/// Exit variants (TRD104 section 4.7, value of `a0`).
mod exit_variant {
    pub const TERMINATE: u32 = 0;
    pub const RESTART: u32 = 1;
}

/// An upcall function: the kernel calls it with the driver's three values
/// and the application data given to [`subscribe`].
pub type Upcall = extern "C" fn(usize, usize, usize, usize);

/// Issues a non-yield system call.
///
/// # Safety
///
/// The caller upholds the memory contract of `class` for these arguments
/// (see [`subscribe`], [`allow_read_only`], [`allow_read_write`],
/// [`memop`]); command and exit have none.
unsafe fn syscall(class: u32, arguments: [usize; 4]) -> SyscallReturn {
    let [mut a0, mut a1, mut a2, mut a3] = arguments;
    // SAFETY: TRD104: the kernel changes only a0..a3 and, beyond what the
    // caller vouched for, touches no process memory. Memory is not marked
    // `nomem` so the compiler does not cache values across the call.
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") a0,
            inlateout("a1") a1,
            inlateout("a2") a2,
            inlateout("a3") a3,
            in("a4") class,
            options(nostack, preserves_flags),
        );
    }
    SyscallReturn::decode([a0 as u32, a1 as u32, a2 as u32, a3 as u32])
}

/// Yield-NoWait: runs one pending upcall if there is one, otherwise returns
/// at once. Returns whether an upcall ran. Does not give up the processor.
pub fn yield_no_wait() -> bool {
    let mut upcall_ran: u8 = 0;
    // SAFETY: the kernel writes only `upcall_ran`, a live local byte. An
    // upcall runs only a function registered with `subscribe`, whose
    // contract makes calling it here sound; it is a C function call, hence
    // the C ABI's caller-saved registers are clobbered and the stack below
    // sp is used (no `nostack`).
    unsafe {
        asm!(
            "ecall",
            in("a0") yield_variant::NO_WAIT,
            in("a1") ptr::from_mut(&mut upcall_ran),
            in("a4") class::YIELD,
            clobber_abi("C"),
        );
    }
    upcall_ran != 0
}

/// Yield-Wait: blocks until one upcall has run.
pub fn yield_wait() {
    // SAFETY: as in `yield_no_wait`; no memory argument.
    unsafe {
        asm!(
            "ecall",
            in("a0") yield_variant::WAIT,
            in("a4") class::YIELD,
            clobber_abi("C"),
        );
    }
}

/// Yield-WaitFor: blocks until the upcall `(driver, subscribe_number)` is
/// scheduled and returns its three values without running any function.
/// Works with the null upcall too: the kernel queues such upcalls for it.
pub fn yield_wait_for(driver: u32, subscribe_number: u32) -> (usize, usize, usize) {
    let (value0, value1, value2);
    // SAFETY: no function runs and no process memory is written; the C
    // clobbers are kept as for the other yields so that a kernel that does
    // run something cannot corrupt the caller's registers.
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") yield_variant::WAIT_FOR as usize => value0,
            inlateout("a1") driver as usize => value1,
            inlateout("a2") subscribe_number as usize => value2,
            in("a4") class::YIELD,
            clobber_abi("C"),
        );
    }
    (value0, value1, value2)
}

/// Subscribe: registers `upcall` (or none) with application data `data` in
/// upcall slot `number` of `driver`. Success also drops upcalls of this slot
/// that were scheduled but not yet delivered.
///
/// # Safety
///
/// Until a later successful `subscribe` replaces it, the kernel may call
/// `upcall(value0, value1, value2, data)` in any yield of this process. The
/// caller guarantees that such a call is sound in every yield: in particular
/// what `data` points to, if it is a pointer, stays valid until then.
pub unsafe fn subscribe(
    driver: u32,
    number: u32,
    upcall: Option<Upcall>,
    data: usize,
) -> Result<(), ErrorCode> {
    let function = upcall.map_or(0, |function| function as usize);
    // SAFETY: the caller upholds the contract above.
    let result = unsafe {
        syscall(
            class::SUBSCRIBE,
            [driver as usize, number as usize, function, data],
        )
    };
    result.to_result_u32_u32().map(|_previous| ())
}

/// Removes the upcall of slot `number` of `driver`.
pub fn unsubscribe(driver: u32, number: u32) -> Result<(), ErrorCode> {
    // SAFETY: the null upcall is never called, so nothing has to stay valid.
    unsafe { subscribe(driver, number, None, 0) }
}

/// Command: asks `driver` to do `command` with two arguments.
pub fn command(driver: u32, command: u32, argument0: usize, argument1: usize) -> SyscallReturn {
    // SAFETY: a command has no memory contract of its own; the kernel reaches
    // process memory only through buffers shared with allow.
    unsafe {
        syscall(
            class::COMMAND,
            [driver as usize, command as usize, argument0, argument1],
        )
    }
}

/// Read-only allow: shares `length` bytes at `buffer` (RAM or flash) with
/// slot `number` of `driver`. A null buffer of length 0 revokes the share.
///
/// # Safety
///
/// Until a later successful allow on the same slot replaces it, the kernel
/// may read the buffer at any time: it must stay valid and not be written.
pub unsafe fn allow_read_only(
    driver: u32,
    number: u32,
    buffer: *const u8,
    length: usize,
) -> Result<(), ErrorCode> {
    // SAFETY: the caller upholds the contract above.
    let result = unsafe {
        syscall(
            class::ALLOW_READ_ONLY,
            [driver as usize, number as usize, buffer as usize, length],
        )
    };
    result.to_result_u32_u32().map(|_previous| ())
}

/// Read-write allow: shares `length` bytes of RAM at `buffer` with slot
/// `number` of `driver`. A null buffer of length 0 revokes the share.
///
/// # Safety
///
/// Until a later successful allow on the same slot replaces it, the kernel
/// may read and write the buffer at any time: it must stay valid and the
/// program must not hold references into it.
pub unsafe fn allow_read_write(
    driver: u32,
    number: u32,
    buffer: *mut u8,
    length: usize,
) -> Result<(), ErrorCode> {
    // SAFETY: the caller upholds the contract above.
    let result = unsafe {
        syscall(
            class::ALLOW_READ_WRITE,
            [driver as usize, number as usize, buffer as usize, length],
        )
    };
    result.to_result_u32_u32().map(|_previous| ())
}

/// Memop: memory operation `operation` with argument `argument`.
///
/// # Safety
///
/// For operations that move the process break (0 brk, 1 sbrk), no memory
/// the program still uses may lie above the new break. Other operations
/// only report or record addresses.
pub unsafe fn memop(operation: u32, argument: usize) -> SyscallReturn {
    // SAFETY: the caller upholds the contract above.
    unsafe { syscall(class::MEMOP, [operation as usize, argument, 0, 0]) }
}

/// Exit-Terminate: ends the process with `completion_code` (0 = success).
pub fn exit_terminate(completion_code: u32) -> ! {
    exit(exit_variant::TERMINATE, completion_code)
}

/// Exit-Restart: asks the kernel to restart the process.
pub fn exit_restart(completion_code: u32) -> ! {
    exit(exit_variant::RESTART, completion_code)
}

fn exit(variant: u32, completion_code: u32) -> ! {
    // SAFETY: exit never returns (TRD104 section 4.7). Should a kernel return
    // anyway, `unimp` raises an illegal-instruction fault instead of running
    // on into whatever follows.
    unsafe {
        asm!(
            "ecall",
            "unimp",
            in("a0") variant,
            in("a1") completion_code,
            in("a4") class::EXIT,
            options(noreturn, nostack),
        );
    }
}
