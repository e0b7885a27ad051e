// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Reset entry `_start`: the first code that runs after QEMU's reset vector.
//!
//! QEMU `virt` jumps to 0x8000_0000 in machine mode (with `-bios none
//! -kernel image.elf`, or `-bios flash.bin`). `_start`:
//!
//! 1. parks every hart but hart 0 in `wfi`;
//! 2. masks all interrupts (`mie = 0`, `mstatus.MIE = 0`): the kernel never
//!    takes interrupts itself, see `switch.rs`;
//! 3. sets `gp` to `__global_pointer$` and `sp` to `_estack`;
//! 4. clears `mscratch` (= "the kernel is running") and points `mtvec` at
//!    `_start_trap` in direct mode;
//! 5. copies `.data` from its load address `_sidata` to `_sdata.._edata`
//!    and zeroes `.bss` (`_sbss.._ebss`), word by word;
//! 6. calls the board's `main`, declared as
//!    `#[unsafe(no_mangle)] pub extern "C" fn main() -> !`.
//!
//! The symbols come from `arch/rv32/kernel_layout.ld`, which a board
//! includes after declaring its `rom` and `ram` memory regions. All loops
//! are bounded by the linker-script symbols.

use core::arch::global_asm;

global_asm!(
    r#"
    .section .riscv.start, "ax"
    .globl _start
_start:
    csrr t0, mhartid
    bnez t0, 9f
    csrw mie, zero
    csrci mstatus, 0x8
    .option push
    .option norelax
    la   gp, __global_pointer$
    .option pop
    la   sp, _estack
    csrw mscratch, zero
    la   t0, _start_trap
    csrw mtvec, t0

    la   t0, _sidata
    la   t1, _sdata
    la   t2, _edata
1:  bgeu t1, t2, 2f
    lw   t3, 0(t0)
    sw   t3, 0(t1)
    addi t0, t0, 4
    addi t1, t1, 4
    j    1b

2:  la   t1, _sbss
    la   t2, _ebss
3:  bgeu t1, t2, 4f
    sw   zero, 0(t1)
    addi t1, t1, 4
    j    3b

4:  call main

9:  wfi
    j    9b
"#
);
