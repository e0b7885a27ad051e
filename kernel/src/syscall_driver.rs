// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The interface capsules implement to serve system calls (Tock's
//! `SyscallDriver` and `CommandReturn`, re-exported from `kernel::syscall`).

use crate::errorcode::ErrorCode;
use crate::process::{self, ProcessId};
use crate::processbuffer::UserspaceReadableProcessBuffer;
use crate::syscall::SyscallReturn;

/// The value of a command system call. Only the TRD104 command variants can
/// be built, so a driver cannot return, say, an allow variant to a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandReturn(SyscallReturn);

impl CommandReturn {
    pub(crate) fn into_inner(self) -> SyscallReturn {
        self.0
    }

    pub fn failure(rc: ErrorCode) -> Self {
        CommandReturn(SyscallReturn::Failure(rc))
    }

    pub fn failure_u32(rc: ErrorCode, data0: u32) -> Self {
        CommandReturn(SyscallReturn::FailureU32(rc, data0))
    }

    pub fn failure_u32_u32(rc: ErrorCode, data0: u32, data1: u32) -> Self {
        CommandReturn(SyscallReturn::FailureU32U32(rc, data0, data1))
    }

    pub fn failure_u64(rc: ErrorCode, data0: u64) -> Self {
        CommandReturn(SyscallReturn::FailureU64(rc, data0))
    }

    pub fn success() -> Self {
        CommandReturn(SyscallReturn::Success)
    }

    pub fn success_u32(data0: u32) -> Self {
        CommandReturn(SyscallReturn::SuccessU32(data0))
    }

    pub fn success_u32_u32(data0: u32, data1: u32) -> Self {
        CommandReturn(SyscallReturn::SuccessU32U32(data0, data1))
    }

    pub fn success_u32_u32_u32(data0: u32, data1: u32, data2: u32) -> Self {
        CommandReturn(SyscallReturn::SuccessU32U32U32(data0, data1, data2))
    }

    pub fn success_u64(data0: u64) -> Self {
        CommandReturn(SyscallReturn::SuccessU64(data0))
    }

    pub fn success_u32_u64(data0: u32, data1: u64) -> Self {
        CommandReturn(SyscallReturn::SuccessU32U64(data0, data1))
    }

    pub fn is_failure(&self) -> bool {
        matches!(self.0, SyscallReturn::Failure(_))
    }

    pub fn is_failure_u32(&self) -> bool {
        matches!(self.0, SyscallReturn::FailureU32(..))
    }

    pub fn is_failure_2_u32(&self) -> bool {
        matches!(self.0, SyscallReturn::FailureU32U32(..))
    }

    pub fn is_failure_u64(&self) -> bool {
        matches!(self.0, SyscallReturn::FailureU64(..))
    }

    pub fn is_success(&self) -> bool {
        matches!(self.0, SyscallReturn::Success)
    }

    pub fn is_success_u32(&self) -> bool {
        matches!(self.0, SyscallReturn::SuccessU32(_))
    }

    pub fn is_success_2_u32(&self) -> bool {
        matches!(self.0, SyscallReturn::SuccessU32U32(..))
    }

    pub fn is_success_u64(&self) -> bool {
        matches!(self.0, SyscallReturn::SuccessU64(_))
    }

    pub fn is_success_3_u32(&self) -> bool {
        matches!(self.0, SyscallReturn::SuccessU32U32U32(..))
    }

    pub fn is_success_u32_u64(&self) -> bool {
        matches!(self.0, SyscallReturn::SuccessU32U64(..))
    }

    pub fn get_failure(&self) -> Option<ErrorCode> {
        match self.0 {
            SyscallReturn::Failure(e) => Some(e),
            _ => None,
        }
    }

    pub fn get_failure_u32(&self) -> Option<(ErrorCode, u32)> {
        match self.0 {
            SyscallReturn::FailureU32(e, a) => Some((e, a)),
            _ => None,
        }
    }

    pub fn get_failure_2_u32(&self) -> Option<(ErrorCode, u32, u32)> {
        match self.0 {
            SyscallReturn::FailureU32U32(e, a, b) => Some((e, a, b)),
            _ => None,
        }
    }

    pub fn get_failure_u64(&self) -> Option<(ErrorCode, u64)> {
        match self.0 {
            SyscallReturn::FailureU64(e, a) => Some((e, a)),
            _ => None,
        }
    }

    pub fn get_success_u32(&self) -> Option<u32> {
        match self.0 {
            SyscallReturn::SuccessU32(a) => Some(a),
            _ => None,
        }
    }

    pub fn get_success_2_u32(&self) -> Option<(u32, u32)> {
        match self.0 {
            SyscallReturn::SuccessU32U32(a, b) => Some((a, b)),
            _ => None,
        }
    }

    pub fn get_success_u64(&self) -> Option<u64> {
        match self.0 {
            SyscallReturn::SuccessU64(a) => Some(a),
            _ => None,
        }
    }

    pub fn get_success_3_u32(&self) -> Option<(u32, u32, u32)> {
        match self.0 {
            SyscallReturn::SuccessU32U32U32(a, b, c) => Some((a, b, c)),
            _ => None,
        }
    }

    pub fn get_success_u32_u64(&self) -> Option<(u32, u64)> {
        match self.0 {
            SyscallReturn::SuccessU32U64(a, b) => Some((a, b)),
            _ => None,
        }
    }
}

impl From<Result<(), ErrorCode>> for CommandReturn {
    fn from(rc: Result<(), ErrorCode>) -> Self {
        match rc {
            Ok(()) => CommandReturn::success(),
            Err(e) => CommandReturn::failure(e),
        }
    }
}

impl From<process::Error> for CommandReturn {
    fn from(perr: process::Error) -> Self {
        CommandReturn::failure(perr.into())
    }
}

/// A capsule serving system calls for one driver number.
///
/// Subscribe and allow are handled by the kernel through the driver's grant
/// (it asks the driver to `allocate_grant` when a process first uses it);
/// the driver implements `command`, and may accept userspace-readable allows.
pub trait SyscallDriver {
    /// Command system call. Command 0 must succeed if the driver exists.
    fn command(
        &self,
        command_num: usize,
        r2: usize,
        r3: usize,
        process_id: ProcessId,
    ) -> CommandReturn {
        let _ = (command_num, r2, r3, process_id);
        CommandReturn::failure(ErrorCode::NOSUPPORT)
    }

    /// Userspace-readable allow. The default refuses with `NOSUPPORT`,
    /// handing the buffer back.
    fn allow_userspace_readable(
        &self,
        app: ProcessId,
        which: usize,
        slice: UserspaceReadableProcessBuffer,
    ) -> Result<UserspaceReadableProcessBuffer, (UserspaceReadableProcessBuffer, ErrorCode)> {
        let _ = (app, which);
        Err((slice, ErrorCode::NOSUPPORT))
    }

    /// Allocates this driver's grant for `process_id`; typically
    /// `self.apps.enter(process_id, |_, _| {})`.
    fn allocate_grant(&self, process_id: ProcessId) -> Result<(), process::Error>;
}
