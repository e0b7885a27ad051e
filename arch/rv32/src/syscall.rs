// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The user/kernel boundary: process register state, entering a process,
//! and decoding why it came back.
//!
//! A simplified form of Tock's `UserspaceKernelBoundary`
//! (`kernel/src/syscall.rs` upstream): the kernel keeps one
//! `Rv32StoredState` per process and calls `SysCall::switch_to_process`,
//! which runs the process in user mode until it traps and returns a
//! `ContextSwitchReason`. System-call encoding is TRD104 for RISC-V: the
//! class in `a4`, arguments in `a0..a3`, results in `a0..a3`; an upcall
//! enters at its function with `a0..a3` and `ra` set to the interrupted pc.
//!
//! Everything here except `switch_to_process` is plain data manipulation and
//! is unit-tested on the host; the switch itself is in `switch.rs`.

use crate::trap::{self, TrapCause};
use core::fmt;

/// Index of `x<n>` in `Rv32StoredState::regs` (`x0` is not stored).
const fn reg(n: usize) -> usize {
    n - 1
}

/// `ra` (x1).
pub const R_RA: usize = reg(1);
/// `sp` (x2).
pub const R_SP: usize = reg(2);
/// `a0` (x10).
pub const R_A0: usize = reg(10);
/// `a1` (x11).
pub const R_A1: usize = reg(11);
/// `a2` (x12).
pub const R_A2: usize = reg(12);
/// `a3` (x13).
pub const R_A3: usize = reg(13);
/// `a4` (x14): the system-call class.
pub const R_A4: usize = reg(14);

/// The saved user-mode state of one process.
///
/// The layout is fixed (`repr(C)`): the trap entry in `switch.rs` stores
/// `x<n>` at byte offset `4 * (n - 1)`, then `pc`, `mcause`, `mtval`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rv32StoredState {
    /// `x1..x31`.
    pub regs: [u32; 31],
    /// The pc the process resumes at.
    pub pc: u32,
    /// `mcause` of the last trap out of the process.
    pub mcause: u32,
    /// `mtval` of the last trap out of the process.
    pub mtval: u32,
}

/// Byte offset of `pc` in `Rv32StoredState`, used by the assembly.
pub const STATE_PC_OFFSET: usize = 31 * 4;
/// Byte offset of `mcause`.
pub const STATE_MCAUSE_OFFSET: usize = 32 * 4;
/// Byte offset of `mtval`.
pub const STATE_MTVAL_OFFSET: usize = 33 * 4;

/// Why `switch_to_process` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextSwitchReason {
    /// The process made a system call: `class` from `a4`, `args` from
    /// `a0..a3`. Its pc already points after the `ecall`.
    SyscallFired { class: u32, args: [u32; 4] },
    /// The process faulted (access fault, illegal instruction, ...).
    /// `mcause` and `mtval` are as the hardware reported them; the process
    /// pc (`Rv32StoredState::pc`) is the faulting instruction.
    Fault { mcause: u32, mtval: u32 },
    /// An interrupt arrived while the process ran. Its `mie` bit has been
    /// masked; the chip services it and re-enables it.
    Interrupted,
}

/// Classifies the trap recorded in `state` and updates `state` for the
/// kernel.
///
/// After an `ecall` the saved pc moves past the instruction, so that
/// the process resumes after it (the `ecall` is 4 bytes; there is no
/// compressed `ecall`).
pub fn decode_trap(state: &mut Rv32StoredState) -> ContextSwitchReason {
    match TrapCause::from_mcause(state.mcause) {
        TrapCause::Interrupt(_) => ContextSwitchReason::Interrupted,
        TrapCause::Exception(trap::exception::USER_ECALL) => {
            state.pc = state.pc.wrapping_add(4);
            ContextSwitchReason::SyscallFired {
                class: state.regs[R_A4],
                args: [
                    state.regs[R_A0],
                    state.regs[R_A1],
                    state.regs[R_A2],
                    state.regs[R_A3],
                ],
            }
        }
        TrapCause::Exception(_) => ContextSwitchReason::Fault {
            mcause: state.mcause,
            mtval: state.mtval,
        },
    }
}

/// The RISC-V user/kernel boundary (Tock's `SysCall` for rv32).
#[derive(Default)]
pub struct SysCall(());

impl SysCall {
    /// Makes the boundary. There is one per chip.
    pub const fn new() -> Self {
        SysCall(())
    }

    /// Resets `state` for a fresh start of a process: all registers zero,
    /// `sp = stack_pointer`, `pc = 0`. The kernel then queues the process's
    /// init function with `set_function_call` (so `ra` ends up 0 and a
    /// return from init faults), as Tock does (`doc/userland.md`).
    pub fn initialize_process(&self, state: &mut Rv32StoredState, stack_pointer: usize) {
        *state = Rv32StoredState::default();
        state.regs[R_SP] = stack_pointer as u32;
    }

    /// Writes a system-call result into `a0..a3`.
    pub fn set_syscall_return(&self, state: &mut Rv32StoredState, values: [u32; 4]) {
        state.regs[R_A0] = values[0];
        state.regs[R_A1] = values[1];
        state.regs[R_A2] = values[2];
        state.regs[R_A3] = values[3];
    }

    /// Arranges for the process to run `pc(args)` next, returning to where
    /// it was: `ra` = the saved pc, `a0..a3` = `args`, `pc` = `pc`. The
    /// stack pointer is left as is (TRD104 upcalls run on the process's
    /// stack).
    pub fn set_function_call(&self, state: &mut Rv32StoredState, pc: usize, args: [u32; 4]) {
        state.regs[R_RA] = state.pc;
        state.pc = pc as u32;
        self.set_syscall_return(state, args);
    }

    /// Runs the process in user mode until its next trap and says why it
    /// stopped. `state` is loaded before and saved after.
    ///
    /// # Safety
    ///
    /// 1. The caller is the kernel in machine mode with `mstatus.MIE`
    ///    clear, and `_start_trap` (from `start.rs`) is installed in
    ///    `mtvec` in direct mode.
    /// 2. The PMP is configured for this process (`pmp::write_registers`),
    ///    so that the user-mode code cannot reach anything else.
    #[cfg(target_arch = "riscv32")]
    pub unsafe fn switch_to_process(&self, state: &mut Rv32StoredState) -> ContextSwitchReason {
        // SAFETY: obligations 1 and 2 are the caller's; the assembly
        // saves and restores every register the Rust ABI expects preserved.
        unsafe { crate::switch::run_user(state) };
        let reason = decode_trap(state);
        if let TrapCause::Interrupt(code) = TrapCause::from_mcause(state.mcause) {
            // The interrupt stays pending until its device is serviced;
            // masking it keeps it from firing again as soon as the process
            // resumes. The chip unmasks it after servicing.
            crate::csr::mie_clear(1 << (code & 31));
        }
        reason
    }

    /// Host stand-in: there is no user mode to run; reports an interrupt.
    ///
    /// # Safety
    ///
    /// None on the host; the signature matches the target's.
    #[cfg(not(target_arch = "riscv32"))]
    pub unsafe fn switch_to_process(&self, _state: &mut Rv32StoredState) -> ContextSwitchReason {
        ContextSwitchReason::Interrupted
    }
}

impl fmt::Display for Rv32StoredState {
    /// A register dump for fault reports.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 31] = [
            "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4",
            "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3",
            "t4", "t5", "t6",
        ];
        writeln!(
            f,
            " pc: {:#010x}  mcause: {:#010x} ({})  mtval: {:#010x}",
            self.pc,
            self.mcause,
            trap::mcause_name(self.mcause),
            self.mtval
        )?;
        for (row, chunk) in NAMES.chunks(4).enumerate() {
            for (column, name) in chunk.iter().enumerate() {
                write!(f, " {:>4}: {:#010x}", name, self.regs[row * 4 + column])?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trap::exception;

    #[test]
    fn layout_matches_assembly() {
        assert_eq!(core::mem::size_of::<Rv32StoredState>(), 34 * 4);
        assert_eq!(core::mem::offset_of!(Rv32StoredState, pc), STATE_PC_OFFSET);
        assert_eq!(
            core::mem::offset_of!(Rv32StoredState, mcause),
            STATE_MCAUSE_OFFSET
        );
        assert_eq!(
            core::mem::offset_of!(Rv32StoredState, mtval),
            STATE_MTVAL_OFFSET
        );
    }

    #[test]
    fn ecall_decodes_and_advances_pc() {
        let mut state = Rv32StoredState {
            pc: 0x8010_0100,
            mcause: exception::USER_ECALL,
            ..Default::default()
        };
        state.regs[R_A0] = 1;
        state.regs[R_A1] = 2;
        state.regs[R_A2] = 3;
        state.regs[R_A3] = 4;
        state.regs[R_A4] = 2;
        assert_eq!(
            decode_trap(&mut state),
            ContextSwitchReason::SyscallFired {
                class: 2,
                args: [1, 2, 3, 4]
            }
        );
        assert_eq!(state.pc, 0x8010_0104);
    }

    #[test]
    fn fault_keeps_pc() {
        let mut state = Rv32StoredState {
            pc: 0x8010_0200,
            mcause: exception::STORE_ACCESS_FAULT,
            mtval: 0x8000_0000,
            ..Default::default()
        };
        assert_eq!(
            decode_trap(&mut state),
            ContextSwitchReason::Fault {
                mcause: 7,
                mtval: 0x8000_0000
            }
        );
        assert_eq!(state.pc, 0x8010_0200);
    }

    #[test]
    fn interrupt_decodes() {
        let mut state = Rv32StoredState {
            pc: 0x10,
            mcause: 0x8000_0007,
            ..Default::default()
        };
        assert_eq!(decode_trap(&mut state), ContextSwitchReason::Interrupted);
        assert_eq!(state.pc, 0x10);
    }

    #[test]
    fn function_call_and_return() {
        let boundary = SysCall::new();
        let mut state = Rv32StoredState::default();
        boundary.initialize_process(&mut state, 0x8030_0000);
        assert_eq!(state.regs[R_SP], 0x8030_0000);
        assert_eq!(state.pc, 0);
        boundary.set_function_call(
            &mut state,
            0x8010_0080,
            [0x8010_0080, 0x8030_0000, 0x4000, 0x8030_3000],
        );
        assert_eq!(state.pc, 0x8010_0080);
        assert_eq!(state.regs[R_RA], 0);
        assert_eq!(
            &state.regs[R_A0..=R_A3],
            &[0x8010_0080, 0x8030_0000, 0x4000, 0x8030_3000]
        );
        // An upcall later returns to where the process yielded.
        state.pc = 0x8010_0400;
        boundary.set_function_call(&mut state, 0x8010_0500, [1, 2, 3, 4]);
        assert_eq!(state.regs[R_RA], 0x8010_0400);
        assert_eq!(state.pc, 0x8010_0500);
        boundary.set_syscall_return(&mut state, [128, 0, 0, 0]);
        assert_eq!(state.regs[R_A0], 128);
        assert_eq!(state.regs[R_SP], 0x8030_0000);
    }

    #[test]
    fn display_names_cause() {
        let state = Rv32StoredState {
            mcause: exception::ILLEGAL_INSTRUCTION,
            ..Default::default()
        };
        let text = format!("{state}");
        assert!(text.contains("illegal instruction"));
        assert!(text.contains("  t6: 0x00000000"));
    }
}
