// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! System calls as TRD104 defines them: classes, arguments, return variants,
//! and their encoding in registers (pure functions, host-tested).
//!
//! On RISC-V the class is in `a4`, the arguments in `a0..a3`, and results go
//! back in `a0..a3` with the return variant in `a0` (TRD104 section 4).

use crate::errorcode::ErrorCode;
use crate::process::FunctionCall;

pub use crate::syscall_driver::{CommandReturn, SyscallDriver};

/// TRD104 system call classes (the number in `a4`).
#[derive(Copy, Clone, Debug, Eq, PartialEq)]
#[repr(u8)]
pub enum SyscallClass {
    Yield = 0,
    Subscribe = 1,
    Command = 2,
    ReadWriteAllow = 3,
    ReadOnlyAllow = 4,
    Memop = 5,
    Exit = 6,
    UserspaceReadableAllow = 7,
}

impl TryFrom<u8> for SyscallClass {
    type Error = u8;

    fn try_from(n: u8) -> Result<SyscallClass, u8> {
        use SyscallClass::*;
        Ok(match n {
            0 => Yield,
            1 => Subscribe,
            2 => Command,
            3 => ReadWriteAllow,
            4 => ReadOnlyAllow,
            5 => Memop,
            6 => Exit,
            7 => UserspaceReadableAllow,
            other => return Err(other),
        })
    }
}

/// Yield variants (`a0` of a yield).
pub mod yield_call {
    pub const NO_WAIT: usize = 0;
    pub const WAIT: usize = 1;
    pub const WAIT_FOR: usize = 2;
}

/// Exit variants (`a0` of an exit).
pub mod exit_call {
    pub const TERMINATE: usize = 0;
    pub const RESTART: usize = 1;
}

/// A decoded system call.
#[derive(Copy, Clone, Debug, Eq, PartialEq)]
pub enum Syscall {
    Yield {
        which: usize,
        param_a: usize,
        param_b: usize,
    },
    Subscribe {
        driver_number: usize,
        subdriver_number: usize,
        upcall_ptr: usize,
        appdata: usize,
    },
    Command {
        driver_number: usize,
        subdriver_number: usize,
        arg0: usize,
        arg1: usize,
    },
    ReadWriteAllow {
        driver_number: usize,
        subdriver_number: usize,
        allow_address: usize,
        allow_size: usize,
    },
    UserspaceReadableAllow {
        driver_number: usize,
        subdriver_number: usize,
        allow_address: usize,
        allow_size: usize,
    },
    ReadOnlyAllow {
        driver_number: usize,
        subdriver_number: usize,
        allow_address: usize,
        allow_size: usize,
    },
    Memop {
        operand: usize,
        arg0: usize,
    },
    Exit {
        which: usize,
        completion_code: usize,
    },
}

impl Syscall {
    /// Decodes the registers of an `ecall`: class from `a4`, arguments from
    /// `a0..a3`. `None` for an unknown class.
    pub fn from_register_arguments(
        class: u8,
        r0: usize,
        r1: usize,
        r2: usize,
        r3: usize,
    ) -> Option<Syscall> {
        Some(match SyscallClass::try_from(class).ok()? {
            SyscallClass::Yield => Syscall::Yield {
                which: r0,
                param_a: r1,
                param_b: r2,
            },
            SyscallClass::Subscribe => Syscall::Subscribe {
                driver_number: r0,
                subdriver_number: r1,
                upcall_ptr: r2,
                appdata: r3,
            },
            SyscallClass::Command => Syscall::Command {
                driver_number: r0,
                subdriver_number: r1,
                arg0: r2,
                arg1: r3,
            },
            SyscallClass::ReadWriteAllow => Syscall::ReadWriteAllow {
                driver_number: r0,
                subdriver_number: r1,
                allow_address: r2,
                allow_size: r3,
            },
            SyscallClass::UserspaceReadableAllow => Syscall::UserspaceReadableAllow {
                driver_number: r0,
                subdriver_number: r1,
                allow_address: r2,
                allow_size: r3,
            },
            SyscallClass::ReadOnlyAllow => Syscall::ReadOnlyAllow {
                driver_number: r0,
                subdriver_number: r1,
                allow_address: r2,
                allow_size: r3,
            },
            SyscallClass::Memop => Syscall::Memop {
                operand: r0,
                arg0: r1,
            },
            SyscallClass::Exit => Syscall::Exit {
                which: r0,
                completion_code: r1,
            },
        })
    }
}

/// TRD104 return variant numbers (the value in `a0`).
pub mod variant {
    pub const FAILURE: u32 = 0;
    pub const FAILURE_U32: u32 = 1;
    pub const FAILURE_2_U32: u32 = 2;
    pub const FAILURE_U64: u32 = 3;
    pub const SUCCESS: u32 = 128;
    pub const SUCCESS_U32: u32 = 129;
    pub const SUCCESS_2_U32: u32 = 130;
    pub const SUCCESS_U64: u32 = 131;
    pub const SUCCESS_3_U32: u32 = 132;
    pub const SUCCESS_U32_U64: u32 = 133;
}

/// What a system call returns to the process.
#[derive(Copy, Clone, Debug, Eq, PartialEq)]
pub enum SyscallReturn {
    Failure(ErrorCode),
    FailureU32(ErrorCode, u32),
    FailureU32U32(ErrorCode, u32, u32),
    FailureU64(ErrorCode, u64),
    Success,
    SuccessU32(u32),
    SuccessU32U32(u32, u32),
    SuccessU32U32U32(u32, u32, u32),
    SuccessU64(u64),
    SuccessU32U64(u32, u64),
    /// A pointer-sized success (memop), encoded as success with u32 on rv32.
    SuccessPtr(usize),
    /// Allow success: the previous buffer.
    AllowReadWriteSuccess(usize, usize),
    /// Allow failure: the buffer passed, handed back.
    AllowReadWriteFailure(ErrorCode, usize, usize),
    UserspaceReadableAllowSuccess(usize, usize),
    UserspaceReadableAllowFailure(ErrorCode, usize, usize),
    AllowReadOnlySuccess(usize, usize),
    AllowReadOnlyFailure(ErrorCode, usize, usize),
    /// Subscribe success: the previous upcall (fn, data).
    SubscribeSuccess(usize, usize),
    /// Subscribe failure: the upcall passed, handed back.
    SubscribeFailure(ErrorCode, usize, usize),
    /// Yield-wait-for: the upcall's three values, no variant.
    YieldWaitFor(usize, usize, usize),
}

impl SyscallReturn {
    /// True for every success variant.
    pub fn is_success(&self) -> bool {
        use SyscallReturn::*;
        matches!(
            self,
            Success
                | SuccessU32(_)
                | SuccessU32U32(..)
                | SuccessU32U32U32(..)
                | SuccessU64(_)
                | SuccessU32U64(..)
                | SuccessPtr(_)
                | AllowReadWriteSuccess(..)
                | UserspaceReadableAllowSuccess(..)
                | AllowReadOnlySuccess(..)
                | SubscribeSuccess(..)
                | YieldWaitFor(..)
        )
    }

    /// How many of `a0..a3` this return variant uses. The others are left
    /// as the process had them: TRD104 lets a caller rely on that, and
    /// libtock-rs's one- and two-argument system calls (memop, exit) declare
    /// only `a0`/`a1` as clobbered. Same table as Tock's kernel.
    pub fn registers_used(&self) -> usize {
        use SyscallReturn::*;
        match self {
            Success => 1,
            Failure(_) | SuccessU32(_) | SuccessPtr(_) => 2,
            FailureU32(..)
            | SuccessU32U32(..)
            | SuccessU64(_)
            | AllowReadWriteSuccess(..)
            | UserspaceReadableAllowSuccess(..)
            | AllowReadOnlySuccess(..)
            | SubscribeSuccess(..)
            | YieldWaitFor(..) => 3,
            FailureU32U32(..)
            | FailureU64(..)
            | SuccessU32U32U32(..)
            | SuccessU32U64(..)
            | AllowReadWriteFailure(..)
            | UserspaceReadableAllowFailure(..)
            | AllowReadOnlyFailure(..)
            | SubscribeFailure(..) => 4,
        }
    }

    /// The registers `a0..a3` this return is encoded in (TRD104 4.2); only
    /// the first `registers_used()` are meaningful. 64-bit
    /// values go low word first: `a2` low, `a3` high (or `a1`/`a2` for
    /// success with u64).
    pub fn encode(&self) -> [u32; 4] {
        use SyscallReturn::*;
        use variant::*;
        let e = |c: ErrorCode| c as u32;
        let lo = |v: u64| v as u32;
        let hi = |v: u64| (v >> 32) as u32;
        match *self {
            Failure(c) => [FAILURE, e(c), 0, 0],
            FailureU32(c, a) => [FAILURE_U32, e(c), a, 0],
            FailureU32U32(c, a, b) => [FAILURE_2_U32, e(c), a, b],
            FailureU64(c, v) => [FAILURE_U64, e(c), lo(v), hi(v)],
            Success => [SUCCESS, 0, 0, 0],
            SuccessU32(a) => [SUCCESS_U32, a, 0, 0],
            SuccessU32U32(a, b) => [SUCCESS_2_U32, a, b, 0],
            SuccessU32U32U32(a, b, c) => [SUCCESS_3_U32, a, b, c],
            SuccessU64(v) => [SUCCESS_U64, lo(v), hi(v), 0],
            SuccessU32U64(a, v) => [SUCCESS_U32_U64, a, lo(v), hi(v)],
            SuccessPtr(p) => [SUCCESS_U32, p as u32, 0, 0],
            AllowReadWriteSuccess(p, l)
            | UserspaceReadableAllowSuccess(p, l)
            | AllowReadOnlySuccess(p, l)
            | SubscribeSuccess(p, l) => [SUCCESS_2_U32, p as u32, l as u32, 0],
            AllowReadWriteFailure(c, p, l)
            | UserspaceReadableAllowFailure(c, p, l)
            | AllowReadOnlyFailure(c, p, l)
            | SubscribeFailure(c, p, l) => [FAILURE_2_U32, e(c), p as u32, l as u32],
            YieldWaitFor(a, b, c) => [a as u32, b as u32, c as u32, 0],
        }
    }
}

/// Why a process stopped running and control came back to the kernel.
#[derive(Copy, Clone, Debug, Eq, PartialEq)]
pub enum ContextSwitchReason {
    /// The process made a system call.
    SyscallFired { syscall: Syscall },
    /// The process faulted (cause and faulting address are arch-specific
    /// and kept in its stored state for the fault report).
    Fault,
    /// An interrupt or the end of the time slice stopped the process.
    Interrupted,
}

/// What the kernel needs from an architecture to run processes (the shape
/// of Tock's trait of the same name, simplified to one process type).
pub trait UserspaceKernelBoundary {
    /// Registers and whatever else must be saved while a process is off the
    /// CPU.
    type StoredState: Default + Copy;

    /// Sets up `state` to start the process with `call` (its entry point and
    /// arguments), with the stack pointer at `stack_pointer`.
    fn initialize_process(
        &self,
        state: &mut Self::StoredState,
        stack_pointer: usize,
        call: FunctionCall,
    );

    /// Writes a system call's return value into the saved registers.
    fn set_syscall_return_value(&self, state: &mut Self::StoredState, ret: SyscallReturn);

    /// Makes the process run `call` (an upcall) when it next runs; the
    /// upcall returns to where the process was (the instruction after its
    /// yield).
    fn set_process_function(&self, state: &mut Self::StoredState, call: FunctionCall);

    /// Runs the process until it traps back. `pmp` configuration for the
    /// process is done by the implementation from `process`'s layout.
    ///
    /// # Safety
    ///
    /// `state` must have been set up by `initialize_process` for the process
    /// whose memory `process` describes, and that memory must be the
    /// process's alone.
    unsafe fn switch_to_process(
        &self,
        process: &crate::process::ProcessStandard,
        state: &mut Self::StoredState,
    ) -> ContextSwitchReason;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_return_variant_encodes_as_trd104_says() {
        use SyscallReturn::*;
        let c = ErrorCode::INVAL;
        let v = 0x1122_3344_5566_7788_u64;
        let cases: [(SyscallReturn, [u32; 4]); 12] = [
            (Failure(c), [0, 6, 0, 0]),
            (FailureU32(c, 7), [1, 6, 7, 0]),
            (FailureU32U32(c, 7, 8), [2, 6, 7, 8]),
            (FailureU64(c, v), [3, 6, 0x5566_7788, 0x1122_3344]),
            (Success, [128, 0, 0, 0]),
            (SuccessU32(7), [129, 7, 0, 0]),
            (SuccessU32U32(7, 8), [130, 7, 8, 0]),
            (SuccessU64(v), [131, 0x5566_7788, 0x1122_3344, 0]),
            (SuccessU32U32U32(7, 8, 9), [132, 7, 8, 9]),
            (SuccessU32U64(7, v), [133, 7, 0x5566_7788, 0x1122_3344]),
            (
                SubscribeFailure(ErrorCode::NODEVICE, 0x40, 3),
                [2, 11, 0x40, 3],
            ),
            (AllowReadOnlySuccess(0x80, 16), [130, 0x80, 16, 0]),
        ];
        for (ret, regs) in cases {
            assert_eq!(ret.encode(), regs, "{ret:?}");
        }
    }

    #[test]
    fn registers_used_match_the_payload() {
        use SyscallReturn::*;
        let c = ErrorCode::FAIL;
        assert_eq!(Success.registers_used(), 1);
        assert_eq!(SuccessPtr(4).registers_used(), 2);
        assert_eq!(Failure(c).registers_used(), 2);
        assert_eq!(SuccessU64(1).registers_used(), 3);
        assert_eq!(SubscribeSuccess(1, 2).registers_used(), 3);
        assert_eq!(SubscribeFailure(c, 1, 2).registers_used(), 4);
        assert_eq!(SuccessU32U64(1, 2).registers_used(), 4);
        // Every register beyond the used ones encodes as 0 (unused).
        for ret in [Success, SuccessU32(9), Failure(c), SuccessU32U32(1, 2)] {
            assert!(ret.encode()[ret.registers_used()..].iter().all(|&r| r == 0));
        }
    }

    #[test]
    fn decode_all_classes_and_reject_unknown() {
        assert_eq!(
            Syscall::from_register_arguments(2, 0x10003, 1, 2, 3),
            Some(Syscall::Command {
                driver_number: 0x10003,
                subdriver_number: 1,
                arg0: 2,
                arg1: 3
            })
        );
        assert_eq!(
            Syscall::from_register_arguments(6, 1, 5, 0, 0),
            Some(Syscall::Exit {
                which: 1,
                completion_code: 5
            })
        );
        for class in 0..=7u8 {
            assert!(Syscall::from_register_arguments(class, 0, 0, 0, 0).is_some());
        }
        assert_eq!(Syscall::from_register_arguments(8, 0, 0, 0, 0), None);
        assert_eq!(Syscall::from_register_arguments(255, 0, 0, 0, 0), None);
    }

    #[test]
    fn command_return_constructors_and_getters() {
        let r = CommandReturn::success_u32_u64(1, 2);
        assert!(r.is_success_u32_u64());
        assert_eq!(r.get_success_u32_u64(), Some((1, 2)));
        assert_eq!(
            CommandReturn::from(Err(ErrorCode::BUSY)).get_failure(),
            Some(ErrorCode::BUSY)
        );
        assert!(CommandReturn::from(Ok(())).is_success());
        assert_eq!(
            CommandReturn::from(crate::process::Error::OutOfMemory).get_failure(),
            Some(ErrorCode::NOMEM)
        );
        assert_eq!(
            CommandReturn::failure_u32(ErrorCode::SIZE, 4)
                .into_inner()
                .encode(),
            [1, 7, 4, 0]
        );
    }
}
