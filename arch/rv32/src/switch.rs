// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Trap entry and the switch into user mode (RISC-V assembly).
//!
//! One trap vector, `_start_trap`, serves every trap (mtvec direct mode,
//! privileged spec 3.1.7). `mscratch` tells where a trap came from:
//!
//! - `mscratch == 0`: the kernel was running. The trap is handled on the
//!   kernel stack by `kernel_trap` (an interrupt is masked and left for
//!   the chip to service; an exception is a kernel bug and panics), then
//!   `mret` resumes the kernel.
//! - `mscratch != 0`: a process was running and `mscratch` holds the kernel
//!   stack pointer saved by `run_user`. The entry swaps it into `sp`, saves
//!   every user register, `mepc`, `mcause` and `mtval` into the process's
//!   `Rv32StoredState`, clears `mscratch`, restores the kernel's
//!   callee-saved registers and returns from `run_user` as if it were an
//!   ordinary function call.
//!
//! So a process is left only by a trap, and the kernel sees that trap as the
//! return of `run_user`. The kernel runs with `mstatus.MIE` clear: an
//! interrupt reaches the hart only while a process runs (machine interrupts
//! are always enabled in user mode, 3.1.6.1) or wakes `wfi`.

use crate::syscall::Rv32StoredState;
use core::arch::global_asm;

// Kernel frame pushed by `_rv32_run_user` (64 bytes, keeps sp 16-aligned):
// 0 ra, 4 gp, 8 tp, 12..56 s0..s11, 60 the state pointer.
// State layout (see `Rv32StoredState`): x<n> at 4*(n-1), pc 124,
// mcause 128, mtval 132.
global_asm!(
    r#"
    .section .text._rv32_run_user, "ax"
    .globl _rv32_run_user
    .balign 4
_rv32_run_user:
    addi sp, sp, -64
    sw   ra, 0(sp)
    sw   gp, 4(sp)
    sw   tp, 8(sp)
    sw   s0, 12(sp)
    sw   s1, 16(sp)
    sw   s2, 20(sp)
    sw   s3, 24(sp)
    sw   s4, 28(sp)
    sw   s5, 32(sp)
    sw   s6, 36(sp)
    sw   s7, 40(sp)
    sw   s8, 44(sp)
    sw   s9, 48(sp)
    sw   s10, 52(sp)
    sw   s11, 56(sp)
    sw   a0, 60(sp)
    // From here a trap comes back through the user path of _start_trap.
    csrw mscratch, sp
    lw   t0, 124(a0)
    csrw mepc, t0
    // mret to user mode: mstatus.MPP = 0.
    li   t0, 0x1800
    csrc mstatus, t0
    lw   x1, 0(a0)
    lw   x2, 4(a0)
    lw   x3, 8(a0)
    lw   x4, 12(a0)
    lw   x5, 16(a0)
    lw   x6, 20(a0)
    lw   x7, 24(a0)
    lw   x8, 28(a0)
    lw   x9, 32(a0)
    lw   x11, 40(a0)
    lw   x12, 44(a0)
    lw   x13, 48(a0)
    lw   x14, 52(a0)
    lw   x15, 56(a0)
    lw   x16, 60(a0)
    lw   x17, 64(a0)
    lw   x18, 68(a0)
    lw   x19, 72(a0)
    lw   x20, 76(a0)
    lw   x21, 80(a0)
    lw   x22, 84(a0)
    lw   x23, 88(a0)
    lw   x24, 92(a0)
    lw   x25, 96(a0)
    lw   x26, 100(a0)
    lw   x27, 104(a0)
    lw   x28, 108(a0)
    lw   x29, 112(a0)
    lw   x30, 116(a0)
    lw   x31, 120(a0)
    lw   x10, 36(a0)
    mret

    .section .riscv.trap, "ax"
    .globl _start_trap
    .balign 4
_start_trap:
    csrrw sp, mscratch, sp
    beqz  sp, 1f

    // From user mode: sp = kernel frame, mscratch = user sp.
    sw   t0, -4(sp)
    lw   t0, 60(sp)
    sw   x1, 0(t0)
    sw   x3, 8(t0)
    sw   x4, 12(t0)
    sw   x6, 20(t0)
    sw   x7, 24(t0)
    sw   x8, 28(t0)
    sw   x9, 32(t0)
    sw   x10, 36(t0)
    sw   x11, 40(t0)
    sw   x12, 44(t0)
    sw   x13, 48(t0)
    sw   x14, 52(t0)
    sw   x15, 56(t0)
    sw   x16, 60(t0)
    sw   x17, 64(t0)
    sw   x18, 68(t0)
    sw   x19, 72(t0)
    sw   x20, 76(t0)
    sw   x21, 80(t0)
    sw   x22, 84(t0)
    sw   x23, 88(t0)
    sw   x24, 92(t0)
    sw   x25, 96(t0)
    sw   x26, 100(t0)
    sw   x27, 104(t0)
    sw   x28, 108(t0)
    sw   x29, 112(t0)
    sw   x30, 116(t0)
    sw   x31, 120(t0)
    lw   t1, -4(sp)
    sw   t1, 16(t0)
    csrr t1, mscratch
    sw   t1, 4(t0)
    csrw mscratch, zero
    csrr t1, mepc
    sw   t1, 124(t0)
    csrr t1, mcause
    sw   t1, 128(t0)
    csrr t1, mtval
    sw   t1, 132(t0)
    lw   ra, 0(sp)
    lw   gp, 4(sp)
    lw   tp, 8(sp)
    lw   s0, 12(sp)
    lw   s1, 16(sp)
    lw   s2, 20(sp)
    lw   s3, 24(sp)
    lw   s4, 28(sp)
    lw   s5, 32(sp)
    lw   s6, 36(sp)
    lw   s7, 40(sp)
    lw   s8, 44(sp)
    lw   s9, 48(sp)
    lw   s10, 52(sp)
    lw   s11, 56(sp)
    addi sp, sp, 64
    ret

1:  // From the kernel: restore sp (mscratch becomes 0 again).
    csrrw sp, mscratch, sp
    addi sp, sp, -64
    sw   ra, 0(sp)
    sw   t0, 4(sp)
    sw   t1, 8(sp)
    sw   t2, 12(sp)
    sw   t3, 16(sp)
    sw   t4, 20(sp)
    sw   t5, 24(sp)
    sw   t6, 28(sp)
    sw   a0, 32(sp)
    sw   a1, 36(sp)
    sw   a2, 40(sp)
    sw   a3, 44(sp)
    sw   a4, 48(sp)
    sw   a5, 52(sp)
    sw   a6, 56(sp)
    sw   a7, 60(sp)
    call {kernel_trap}
    lw   ra, 0(sp)
    lw   t0, 4(sp)
    lw   t1, 8(sp)
    lw   t2, 12(sp)
    lw   t3, 16(sp)
    lw   t4, 20(sp)
    lw   t5, 24(sp)
    lw   t6, 28(sp)
    lw   a0, 32(sp)
    lw   a1, 36(sp)
    lw   a2, 40(sp)
    lw   a3, 44(sp)
    lw   a4, 48(sp)
    lw   a5, 52(sp)
    lw   a6, 56(sp)
    lw   a7, 60(sp)
    addi sp, sp, 64
    mret
"#,
    kernel_trap = sym kernel_trap,
);

unsafe extern "C" {
    /// Enters user mode with `state` and returns at the process's next trap
    /// with `state` saved.
    fn _rv32_run_user(state: *mut Rv32StoredState);
}

/// Runs the process described by `state` until it traps.
///
/// # Safety
///
/// As `SysCall::switch_to_process`: machine mode, `mstatus.MIE` clear,
/// `_start_trap` in `mtvec`, PMP set for this process.
pub(crate) unsafe fn run_user(state: &mut Rv32StoredState) {
    // SAFETY: the caller's obligations; `state` is a valid, exclusive
    // pointer for the whole call, and the assembly preserves the kernel's
    // callee-saved registers and stack.
    unsafe { _rv32_run_user(state) };
}

/// A trap taken while the kernel itself was running.
extern "C" fn kernel_trap() {
    let (mcause, mepc, mtval): (u32, u32, u32);
    // SAFETY: reading trap CSRs has no side effect.
    unsafe {
        core::arch::asm!(
            "csrr {0}, mcause", "csrr {1}, mepc", "csrr {2}, mtval",
            out(reg) mcause, out(reg) mepc, out(reg) mtval,
            options(nomem, nostack)
        );
    }
    match crate::trap::TrapCause::from_mcause(mcause) {
        // Only reachable if the board enabled mstatus.MIE: mask the source
        // and let the chip's service loop handle it, as for a process.
        crate::trap::TrapCause::Interrupt(code) => crate::csr::mie_clear(1 << (code & 31)),
        crate::trap::TrapCause::Exception(_) => panic!(
            "kernel trap: {} (mcause {:#x}) at pc {:#010x}, mtval {:#010x}",
            crate::trap::mcause_name(mcause),
            mcause,
            mepc,
            mtval
        ),
    }
}
