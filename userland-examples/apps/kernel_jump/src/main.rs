// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! kernel_jump: jumps to the kernel's first instruction and must be killed
//! by a fault.
//!
//! Process isolation must stop a process from executing kernel memory.
//! Expected: the line `kernel_jump: jumping to 0x80000000` and then a fault
//! report from the kernel; `kernel_jump: FAIL ...` means isolation is
//! broken.

#![no_std]
#![no_main]

use core::arch::asm;

use libtock_lite::{ErrorCode, println};

/// Start of the kernel image on `qemu_rv32_virt`.
const KERNEL_START: usize = 0x8000_0000;

libtock_lite::main!(main);

fn main() -> Result<(), ErrorCode> {
    println!("kernel_jump: jumping to {:#010x}", KERNEL_START);
    // SAFETY: the instruction fetch at KERNEL_START is meant to fault and
    // end the process. Should it not, the kernel's reset code runs in user
    // mode and faults on its first privileged instruction; should anything
    // return here anyway, all caller-saved registers are declared clobbered
    // and the stack is not assumed untouched (no `nostack`).
    unsafe {
        asm!(
            "jalr ra, 0({target})",
            target = in(reg) KERNEL_START,
            clobber_abi("C"),
        );
    }
    println!("kernel_jump: FAIL returned from kernel memory");
    Err(ErrorCode::Fail)
}
