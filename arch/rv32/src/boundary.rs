// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! `kernel::syscall::UserspaceKernelBoundary` for rv32.
//!
//! Connects the kernel's scheduler to `SysCall`: PMP regions come from the
//! process's layout on every switch (flash: the whole TBF object, read and
//! execute; RAM: memory start up to the current app break, read and write;
//! both rounded up by the kernel to the PMP's 4-byte granule, as Tock's
//! regions are, or to a wider granule a board chose, see
//! `ProcessStandard::ram_access_end`; nothing else, so the grant region and
//! the kernel stay out of reach), and
//! the arch-level `ContextSwitchReason` is turned into the kernel's: system
//! call registers are decoded with `Syscall::from_register_arguments`
//! (TRD104), an unknown class counts as a fault, as in Tock.

use crate::pmp::{FLASH_REGION, Permissions, PmpConfig, PmpRegion, RAM_REGION};
use crate::syscall::{ContextSwitchReason, R_A0, R_A1, R_A2, R_A3, Rv32StoredState, SysCall};
use crate::trap::exception;
use kernel::process::{FunctionCall, ProcessStandard};
use kernel::syscall::{self, Syscall, SyscallReturn, UserspaceKernelBoundary};

/// The PMP configuration for a process with this flash image and RAM up to
/// `app_break`; `None` if the layout cannot be expressed (misaligned or
/// empty flash), in which case the process must not run.
pub fn process_pmp(
    flash_start: usize,
    flash_len: usize,
    memory_start: usize,
    app_break: usize,
) -> Option<PmpConfig> {
    let mut config = PmpConfig::new();
    let flash_end = flash_start.checked_add(flash_len)?;
    let flash = PmpRegion::new(flash_start, flash_end, Permissions::ReadExecuteOnly).ok()?;
    config.set_region(FLASH_REGION, flash).ok()?;
    // A break at the memory start leaves the process no RAM at all.
    if app_break > memory_start {
        let ram = PmpRegion::new(memory_start, app_break, Permissions::ReadWriteOnly).ok()?;
        config.set_region(RAM_REGION, ram).ok()?;
    }
    Some(config)
}

/// Converts the arch-level reason into the kernel's.
pub fn kernel_reason(
    reason: ContextSwitchReason,
    state: &mut Rv32StoredState,
) -> syscall::ContextSwitchReason {
    match reason {
        ContextSwitchReason::SyscallFired { class, args } => {
            let decoded = u8::try_from(class).ok().and_then(|class| {
                Syscall::from_register_arguments(
                    class,
                    args[0] as usize,
                    args[1] as usize,
                    args[2] as usize,
                    args[3] as usize,
                )
            });
            match decoded {
                Some(syscall) => syscall::ContextSwitchReason::SyscallFired { syscall },
                None => {
                    // Report it as the `ecall` it was: pc back on the
                    // instruction, cause "ecall from U-mode", mtval = class.
                    state.pc = state.pc.wrapping_sub(4);
                    state.mtval = class;
                    syscall::ContextSwitchReason::Fault
                }
            }
        }
        ContextSwitchReason::Fault { .. } => syscall::ContextSwitchReason::Fault,
        ContextSwitchReason::Interrupted => syscall::ContextSwitchReason::Interrupted,
    }
}

/// The registers a system call returns its values in, in order (TRD104 4.2).
const RETURN_REGISTERS: [usize; 4] = [R_A0, R_A1, R_A2, R_A3];

fn call_arguments(call: &FunctionCall) -> [u32; 4] {
    [
        call.argument0 as u32,
        call.argument1 as u32,
        call.argument2 as u32,
        call.argument3 as u32,
    ]
}

impl UserspaceKernelBoundary for SysCall {
    type StoredState = Rv32StoredState;

    fn initialize_process(
        &self,
        state: &mut Rv32StoredState,
        stack_pointer: usize,
        call: FunctionCall,
    ) {
        SysCall::initialize_process(self, state, stack_pointer);
        self.set_function_call(state, call.pc, call_arguments(&call));
    }

    fn set_syscall_return_value(&self, state: &mut Rv32StoredState, ret: SyscallReturn) {
        // Only the registers the variant uses: the others keep the
        // process's values (TRD104; libtock-rs relies on it for memop).
        // Register by register: a copy of a variable-length slice would
        // call `memcpy`, which costs more than the whole write.
        let values = ret.encode();
        for (&register, value) in RETURN_REGISTERS
            .iter()
            .zip(values)
            .take(ret.registers_used())
        {
            state.regs[register] = value;
        }
    }

    fn set_process_function(&self, state: &mut Rv32StoredState, call: FunctionCall) {
        self.set_function_call(state, call.pc, call_arguments(&call));
    }

    unsafe fn switch_to_process(
        &self,
        process: &ProcessStandard,
        state: &mut Rv32StoredState,
    ) -> syscall::ContextSwitchReason {
        // The kernel rounds both ends up to the process's access granule
        // (`flash_access_end`, `ram_access_end`).
        let config = process.layout().and_then(|layout| {
            process_pmp(
                layout.flash_start,
                process
                    .flash_access_end()
                    .saturating_sub(layout.flash_start),
                layout.memory_start,
                process.ram_access_end(),
            )
        });
        let Some(config) = config else {
            // Nothing the process may touch can be described: do not run
            // it; report an instruction access fault at its pc.
            state.mcause = exception::INSTRUCTION_ACCESS_FAULT;
            state.mtval = state.pc;
            return syscall::ContextSwitchReason::Fault;
        };
        // SAFETY: machine mode (the kernel's), no locked PMP entries; the
        // entries only constrain user mode.
        unsafe { crate::pmp::write_registers(&config.registers()) };
        // SAFETY: the kernel runs in machine mode with mstatus.MIE clear and
        // `_start_trap` installed (start.rs); the PMP was just set for this
        // process, whose memory the caller guarantees is its own.
        let reason = unsafe { SysCall::switch_to_process(self, state) };
        kernel_reason(reason, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pmp::Access;

    #[test]
    fn pmp_from_layout() {
        let config = process_pmp(0x8010_0000, 0x1_0000, 0x8030_0000, 0x8030_2000).unwrap();
        let regs = config.registers();
        assert!(regs.user_allows(0x8010_0000, 4, Access::Execute));
        assert!(regs.user_allows(0x8010_fffc, 4, Access::Read));
        assert!(!regs.user_allows(0x8011_0000, 4, Access::Read));
        assert!(regs.user_allows(0x8030_1ffc, 4, Access::Write));
        assert!(!regs.user_allows(0x8030_2000, 4, Access::Write));
        // No RAM when the break is at the start.
        let config = process_pmp(0x8010_0000, 0x1_0000, 0x8030_0000, 0x8030_0000).unwrap();
        assert!(config.region(RAM_REGION).is_none());
        assert!(process_pmp(0x8010_0002, 0x10, 0x8030_0000, 0x8030_1000).is_none());
        assert!(process_pmp(usize::MAX - 3, 0x10, 0x8030_0000, 0x8030_1000).is_none());
    }

    #[test]
    fn syscall_return_leaves_unused_registers_alone() {
        use crate::syscall::{R_A0, R_A1, R_A2, R_A3};
        let boundary = SysCall::new();
        let mut state = Rv32StoredState::default();
        state.regs[R_A2] = 0x1234;
        state.regs[R_A3] = 0x5678;
        UserspaceKernelBoundary::set_syscall_return_value(
            &boundary,
            &mut state,
            SyscallReturn::SuccessU32(7),
        );
        assert_eq!(
            [
                state.regs[R_A0],
                state.regs[R_A1],
                state.regs[R_A2],
                state.regs[R_A3]
            ],
            [129, 7, 0x1234, 0x5678]
        );
        UserspaceKernelBoundary::set_syscall_return_value(
            &boundary,
            &mut state,
            SyscallReturn::Success,
        );
        assert_eq!(state.regs[R_A1], 7, "a1 kept after a plain success");
        UserspaceKernelBoundary::set_syscall_return_value(
            &boundary,
            &mut state,
            SyscallReturn::FailureU64(kernel::ErrorCode::SIZE, 0x1_0000_0002),
        );
        assert_eq!(
            [
                state.regs[R_A0],
                state.regs[R_A1],
                state.regs[R_A2],
                state.regs[R_A3]
            ],
            [3, 7, 2, 1]
        );
    }

    #[test]
    fn syscall_decoding() {
        let mut state = Rv32StoredState {
            pc: 0x104,
            ..Default::default()
        };
        let reason = kernel_reason(
            ContextSwitchReason::SyscallFired {
                class: 2,
                args: [1, 0, 5, 6],
            },
            &mut state,
        );
        assert_eq!(
            reason,
            syscall::ContextSwitchReason::SyscallFired {
                syscall: Syscall::Command {
                    driver_number: 1,
                    subdriver_number: 0,
                    arg0: 5,
                    arg1: 6
                }
            }
        );
        assert_eq!(state.pc, 0x104);
        // Class 8 does not exist; 258 must not alias class 2.
        for class in [8, 258] {
            let mut state = Rv32StoredState {
                pc: 0x104,
                mcause: exception::USER_ECALL,
                ..Default::default()
            };
            let reason = kernel_reason(
                ContextSwitchReason::SyscallFired {
                    class,
                    args: [0; 4],
                },
                &mut state,
            );
            assert_eq!(reason, syscall::ContextSwitchReason::Fault);
            assert_eq!(state.pc, 0x100);
            assert_eq!(state.mtval, class);
        }
        let mut state = Rv32StoredState::default();
        assert_eq!(
            kernel_reason(
                ContextSwitchReason::Fault {
                    mcause: 5,
                    mtval: 0x8000_0000
                },
                &mut state
            ),
            syscall::ContextSwitchReason::Fault
        );
    }

    #[test]
    fn function_call_through_the_trait() {
        use kernel::process::FunctionCallSource;
        let boundary = SysCall::new();
        let mut state = Rv32StoredState::default();
        let call = FunctionCall {
            source: FunctionCallSource::Kernel,
            argument0: 0x8010_0080,
            argument1: 0x8030_0000,
            argument2: 0x4000,
            argument3: 0x8030_3000,
            pc: 0x8010_0080,
        };
        UserspaceKernelBoundary::initialize_process(&boundary, &mut state, 0x8030_0000, call);
        assert_eq!(state.pc, 0x8010_0080);
        assert_eq!(state.regs[crate::syscall::R_RA], 0);
        assert_eq!(state.regs[crate::syscall::R_SP], 0x8030_0000);
        assert_eq!(state.regs[crate::syscall::R_A3], 0x8030_3000);
        boundary.set_syscall_return_value(&mut state, SyscallReturn::SuccessU32(7));
        assert_eq!(state.regs[crate::syscall::R_A0], 129);
        assert_eq!(state.regs[crate::syscall::R_A1], 7);
    }
}
