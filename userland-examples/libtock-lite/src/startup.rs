// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Process start-up for fixed-address apps, and the app's `main`.
//!
//! Contract with the kernel (doc/userland.md, "Process start-up contract"):
//! the kernel starts the process at the ELF entry point `_start` with
//! `a0` = first byte of the app binary (where the linker script puts the
//! [`RuntimeHeader`]), `a1` = start of process RAM, `a2` = size of the
//! process's memory allocation, `a3` = the initial process break. Nothing
//! else, not even `sp`, is relied on.
//!
//! `_start` (assembly, below) checks that the app runs where it was linked,
//! moves the break to the end of its static RAM (memop brk), sets the stack
//! pointer, copies `.data`, zeroes `.bss` and calls [`start_rust`], which
//! records the entry registers, reports stack and heap to the kernel and
//! runs the app's `main` (see [`main!`](crate::main)).

use core::mem::offset_of;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::error::ErrorCode;
use crate::low_level_debug;
use crate::memop;
use crate::syscall;

/// Addresses the linker script writes at the first byte of the binary, in
/// this order (libtock_lite.ld, output section `.start`).
#[repr(C)]
pub struct RuntimeHeader {
    /// Link-time address of `_start`.
    pub start: usize,
    /// Process break to set at start-up: end of `.bss`, 16-byte aligned.
    pub initial_break: usize,
    /// Initial stack pointer (top of the stack at the start of RAM).
    pub stack_top: usize,
    /// Flash address of the `.data` image.
    pub data_load: usize,
    /// RAM address range of `.data` (word aligned).
    pub data_start: usize,
    pub data_end: usize,
    /// RAM address range of `.bss` (word aligned).
    pub bss_start: usize,
    pub bss_end: usize,
}

// The assembly reads the header through a0 (kept in s0 across system
// calls). Offsets come from the struct so the two cannot disagree.
core::arch::global_asm!(
    ".pushsection .start, \"ax\"",
    ".globl _start",
    ".type _start, @function",
    "_start:",
    // The first instruction: its own run-time address.
    "    auipc t0, 0",
    "    mv s0, a0",
    "    mv s1, a1",
    "    mv s2, a2",
    "    mv s3, a3",
    "    lw t1, {start}(s0)",
    "    bne t0, t1, 9f",
    // memop brk to the end of static RAM; a failure leaves the kernel's
    // larger break, which is harmless.
    "    li a0, {memop_brk}",
    "    lw a1, {initial_break}(s0)",
    "    li a4, {class_memop}",
    "    ecall",
    "    lw sp, {stack_top}(s0)",
    // Copy .data from flash.
    "    lw t0, {data_load}(s0)",
    "    lw t1, {data_start}(s0)",
    "    lw t2, {data_end}(s0)",
    "1:  bgeu t1, t2, 2f",
    "    lw t3, 0(t0)",
    "    sw t3, 0(t1)",
    "    addi t0, t0, 4",
    "    addi t1, t1, 4",
    "    j 1b",
    // Zero .bss.
    "2:  lw t1, {bss_start}(s0)",
    "    lw t2, {bss_end}(s0)",
    "3:  bgeu t1, t2, 4f",
    "    sw zero, 0(t1)",
    "    addi t1, t1, 4",
    "    j 3b",
    "4:  mv a0, s0",
    "    mv a1, s1",
    "    mv a2, s2",
    "    mv a3, s3",
    "    call {start_rust}",
    "    unimp",
    // Not where it was linked: nothing that uses an absolute address can
    // work. Report alert code 2 through low-level debug and exit.
    "9:  li a0, {lld_driver}",
    "    li a1, {lld_alert}",
    "    li a2, {alert_wrong_location}",
    "    li a3, 0",
    "    li a4, {class_command}",
    "    ecall",
    "    li a0, {exit_terminate}",
    "    li a1, {wrong_location_code}",
    "    li a4, {class_exit}",
    "    ecall",
    "    unimp",
    ".size _start, . - _start",
    ".popsection",
    start = const offset_of!(RuntimeHeader, start),
    initial_break = const offset_of!(RuntimeHeader, initial_break),
    stack_top = const offset_of!(RuntimeHeader, stack_top),
    data_load = const offset_of!(RuntimeHeader, data_load),
    data_start = const offset_of!(RuntimeHeader, data_start),
    data_end = const offset_of!(RuntimeHeader, data_end),
    bss_start = const offset_of!(RuntimeHeader, bss_start),
    bss_end = const offset_of!(RuntimeHeader, bss_end),
    memop_brk = const memop::operation::BRK,
    class_memop = const syscall::class::MEMOP,
    class_command = const syscall::class::COMMAND,
    class_exit = const syscall::class::EXIT,
    lld_driver = const low_level_debug::DRIVER_NUMBER,
    lld_alert = const low_level_debug::command::PRINT_ALERT_CODE,
    alert_wrong_location = const low_level_debug::alert::WRONG_LOCATION,
    exit_terminate = const 0,
    wrong_location_code = const ErrorCode::Fail as u32,
    start_rust = sym start_rust,
);

/// The values the kernel passed to the process at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// First byte of the app binary in flash (after the TBF header).
    pub app_start: usize,
    /// First byte of process RAM.
    pub memory_start: usize,
    /// Size of the process's memory allocation, grant region included.
    pub memory_length: usize,
    /// The process break the kernel set before start-up moved it.
    pub kernel_break: usize,
}

static APP_START: AtomicUsize = AtomicUsize::new(0);
static MEMORY_START: AtomicUsize = AtomicUsize::new(0);
static MEMORY_LENGTH: AtomicUsize = AtomicUsize::new(0);
static KERNEL_BREAK: AtomicUsize = AtomicUsize::new(0);

/// The start-up values of this process.
pub fn process_info() -> ProcessInfo {
    ProcessInfo {
        app_start: APP_START.load(Ordering::Relaxed),
        memory_start: MEMORY_START.load(Ordering::Relaxed),
        memory_length: MEMORY_LENGTH.load(Ordering::Relaxed),
        kernel_break: KERNEL_BREAK.load(Ordering::Relaxed),
    }
}

/// What `main` may return; turned into the exit completion code.
pub trait Termination {
    /// The completion code for exit-terminate: 0 for success.
    fn completion_code(self) -> u32;
}

impl Termination for () {
    fn completion_code(self) -> u32 {
        0
    }
}

impl Termination for Result<(), ErrorCode> {
    fn completion_code(self) -> u32 {
        match self {
            Ok(()) => 0,
            Err(error) => error.as_u32(),
        }
    }
}

// SAFETY: `main!` defines this function with exactly this signature; the
// linker fails if an app forgot `main!`.
unsafe extern "Rust" {
    safe fn libtock_lite_main() -> u32;
}

/// The first Rust code of the process, called by `_start` with the entry
/// registers once the stack, `.data` and `.bss` are ready.
extern "C" fn start_rust(
    app_start: usize,
    memory_start: usize,
    memory_length: usize,
    kernel_break: usize,
) -> ! {
    APP_START.store(app_start, Ordering::Relaxed);
    MEMORY_START.store(memory_start, Ordering::Relaxed);
    MEMORY_LENGTH.store(memory_length, Ordering::Relaxed);
    KERNEL_BREAK.store(kernel_break, Ordering::Relaxed);

    // SAFETY: the header is placed at the binary start by the linker script
    // (a0 at entry), is read only and has the layout of `RuntimeHeader`.
    let header = unsafe { &*core::ptr::with_exposed_provenance::<RuntimeHeader>(app_start) };
    // Hints for the kernel's fault reports; a kernel without them is fine.
    let _ = memop::debug_stack_start(header.stack_top);
    let _ = memop::debug_heap_start(header.initial_break);

    syscall::exit_terminate(libtock_lite_main())
}

/// Names the app's `main` function: `libtock_lite::main!(main);`. The
/// function takes no arguments and returns `()` or `Result<(),
/// ErrorCode>`; returning ends the process with exit-terminate (completion
/// code 0, or the error code).
#[macro_export]
macro_rules! main {
    ($function:path) => {
        // SAFETY: the only item with this name in the program (start-up
        // declares it), with the signature start-up expects.
        #[unsafe(no_mangle)]
        fn libtock_lite_main() -> u32 {
            $crate::startup::Termination::completion_code($function())
        }
    };
}
