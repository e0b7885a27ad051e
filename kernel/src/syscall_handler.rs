// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The handling of every TRD104 system call (`Kernel::handle_syscall`).
//!
//! A function of the process and the decoded call only. The board's main
//! loop (with registers from `arch/rv32`) and the host capsule test harness
//! both call it, so the harness tests the very code that runs on the board.

use crate::errorcode::ErrorCode;
use crate::grant::{self, KernelManaged};
use crate::kernel::{Kernel, SyscallOutcome};
use crate::platform::SyscallDriverLookup;
use crate::process::{ProcessId, ProcessStandard, State, Task};
use crate::processbuffer::{ReadWriteProcessBuffer, ReadableProcessBuffer};
use crate::syscall::{Syscall, SyscallReturn, exit_call, yield_call};
use crate::upcall::UpcallId;

impl Kernel {
    /// Handles one system call of process `pid`. The single implementation
    /// of TRD104 in this kernel: the board loop and the test harness both
    /// call it.
    pub fn handle_syscall<P: SyscallDriverLookup + ?Sized>(
        &'static self,
        platform: &P,
        pid: ProcessId,
        syscall: Syscall,
    ) -> SyscallOutcome {
        let Some(process) = self.live_process(pid) else {
            return SyscallOutcome::Exited;
        };
        self.handle_syscall_of(platform, pid, process, syscall)
    }

    /// `handle_syscall` for the live `process` that `pid` names, which the
    /// caller (the scheduler) has already looked up.
    pub(crate) fn handle_syscall_of<P: SyscallDriverLookup + ?Sized>(
        &'static self,
        platform: &P,
        pid: ProcessId,
        process: &ProcessStandard,
        syscall: Syscall,
    ) -> SyscallOutcome {
        process.count_syscall();
        let ret = match syscall {
            Syscall::Yield {
                which,
                param_a,
                param_b,
            } => return self.handle_yield(process, which, param_a, param_b),
            Syscall::Exit {
                which,
                completion_code,
            } => {
                match which {
                    exit_call::RESTART => self.restart_process(pid),
                    exit_call::TERMINATE => {
                        self.end_process(pid, State::Terminated, Some(completion_code as u32))
                    }
                    // TRD104: an unknown exit variant is treated as terminate.
                    _ => self.end_process(pid, State::Terminated, Some(completion_code as u32)),
                }
                return SyscallOutcome::Exited;
            }
            Syscall::Memop { operand, arg0 } => self.handle_memop(process, operand, arg0),
            Syscall::Command {
                driver_number,
                subdriver_number,
                arg0,
                arg1,
            } => platform.with_driver(driver_number, |driver| match driver {
                Some(d) => d.command(subdriver_number, arg0, arg1, pid).into_inner(),
                None => SyscallReturn::Failure(ErrorCode::NODEVICE),
            }),
            Syscall::Subscribe {
                driver_number,
                subdriver_number,
                upcall_ptr,
                appdata,
            } => self.subscribe(
                platform,
                pid,
                process,
                driver_number,
                subdriver_number,
                (upcall_ptr, appdata),
            ),
            Syscall::ReadWriteAllow {
                driver_number,
                subdriver_number,
                allow_address,
                allow_size,
            } => self.allow(
                platform,
                pid,
                process,
                AllowKind::ReadWrite,
                driver_number,
                subdriver_number,
                allow_address,
                allow_size,
            ),
            Syscall::ReadOnlyAllow {
                driver_number,
                subdriver_number,
                allow_address,
                allow_size,
            } => self.allow(
                platform,
                pid,
                process,
                AllowKind::ReadOnly,
                driver_number,
                subdriver_number,
                allow_address,
                allow_size,
            ),
            Syscall::UserspaceReadableAllow {
                driver_number,
                subdriver_number,
                allow_address,
                allow_size,
            } => self.allow_userspace_readable(
                platform,
                pid,
                process,
                driver_number,
                subdriver_number,
                allow_address,
                allow_size,
            ),
        };
        SyscallOutcome::Return(ret)
    }

    fn handle_yield(
        &self,
        process: &ProcessStandard,
        which: usize,
        param_a: usize,
        param_b: usize,
    ) -> SyscallOutcome {
        match which {
            yield_call::NO_WAIT => {
                let has_upcall = (0..process.pending_tasks())
                    .any(|i| matches!(process.peek_task(i), Some(Task::FunctionCall(_))));
                // TRD104: a1 points to a byte set to 1 if an upcall will run.
                if param_a != 0 && process.in_app_owned_memory(param_a, 1) {
                    // SAFETY: the byte lies in the process's own RAM below its
                    // break (checked just above), which stays mapped while it
                    // is alive; a volatile write of one byte aliases nothing
                    // the kernel holds.
                    unsafe { (param_a as *mut u8).write_volatile(u8::from(has_upcall)) };
                }
                if has_upcall {
                    process.set_state(State::Yielded);
                    SyscallOutcome::Wait
                } else {
                    SyscallOutcome::Resume
                }
            }
            yield_call::WAIT => {
                process.set_state(State::Yielded);
                SyscallOutcome::Wait
            }
            yield_call::WAIT_FOR => {
                process.set_state(State::YieldedFor(UpcallId {
                    driver_num: param_a,
                    subscribe_num: param_b,
                }));
                SyscallOutcome::Wait
            }
            // Unknown yield variants return immediately (TRD104 4.1).
            _ => SyscallOutcome::Return(SyscallReturn::Failure(ErrorCode::NOSUPPORT)),
        }
    }

    fn handle_memop(
        &self,
        process: &ProcessStandard,
        operand: usize,
        arg0: usize,
    ) -> SyscallReturn {
        // Every refused brk is NOMEM, as in Tock, including one below the
        // highest allowed byte (which would un-own memory a capsule may
        // still hold an allow of, or a device a mapping of).
        let set_break = |new_break: usize| process.brk(new_break).map_err(|_| ErrorCode::NOMEM);
        let layout = process.layout();
        match operand {
            0 => match set_break(arg0) {
                Ok(_) => SyscallReturn::Success,
                Err(e) => SyscallReturn::Failure(e),
            },
            1 => {
                let old = process.app_break();
                match old
                    .checked_add_signed(arg0 as i32 as isize)
                    .ok_or(ErrorCode::NOMEM)
                    .and_then(set_break)
                {
                    Ok(old) => SyscallReturn::SuccessPtr(old),
                    Err(e) => SyscallReturn::Failure(e),
                }
            }
            2 => SyscallReturn::SuccessPtr(process.memory_start()),
            // The end of the whole RAM block, grant region included (as
            // Tock); the break itself is returned by sbrk(0).
            3 => SyscallReturn::SuccessPtr(process.memory_end()),
            4 => SyscallReturn::SuccessPtr(layout.map_or(0, |l| l.flash_start)),
            5 => SyscallReturn::SuccessPtr(layout.map_or(0, |l| l.flash_start + l.flash_len)),
            6 => SyscallReturn::SuccessPtr(process.kernel_break()),
            7 => SyscallReturn::SuccessU32(0),
            8 | 9 => SyscallReturn::Failure(ErrorCode::FAIL),
            // Debug hints (stack and heap start): accepted, not used.
            10 | 11 => SyscallReturn::Success,
            _ => SyscallReturn::Failure(ErrorCode::NOSUPPORT),
        }
    }

    /// Finds `driver_num`'s grant in `process`, asking the driver to
    /// allocate it on first use.
    fn grant_for<P: SyscallDriverLookup + ?Sized>(
        &self,
        platform: &P,
        pid: ProcessId,
        process: &ProcessStandard,
        driver_num: usize,
    ) -> Result<usize, ErrorCode> {
        if let Some((_, base)) = process.grant_ptr_for_driver(driver_num) {
            return Ok(base);
        }
        platform.with_driver(driver_num, |driver| match driver {
            None => Err(ErrorCode::NODEVICE),
            Some(d) => {
                d.allocate_grant(pid).map_err(|_| ErrorCode::NOMEM)?;
                process
                    .grant_ptr_for_driver(driver_num)
                    .map(|(_, base)| base)
                    .ok_or(ErrorCode::NOMEM)
            }
        })
    }

    fn subscribe<P: SyscallDriverLookup + ?Sized>(
        &self,
        platform: &P,
        pid: ProcessId,
        process: &ProcessStandard,
        driver_num: usize,
        subscribe_num: usize,
        upcall: (usize, usize),
    ) -> SyscallReturn {
        let failure = |e| SyscallReturn::SubscribeFailure(e, upcall.0, upcall.1);
        // An upcall function must be code the process owns (its flash, or
        // its RAM); 0 is the null upcall. Checked first, as Tock does.
        let valid_function = upcall.0 == 0
            || process.in_app_flash_memory(upcall.0, 2)
            || process.in_app_owned_memory(upcall.0, 2);
        if !valid_function {
            return failure(ErrorCode::INVAL);
        }
        let base = match self.grant_for(platform, pid, process, driver_num) {
            Ok(base) => base,
            Err(e) => return failure(e),
        };
        // SAFETY: `base` is an allocated, initialized grant of this live
        // process; the view lives only for this call.
        let managed = unsafe { KernelManaged::at(base) };
        match managed.swap_upcall(subscribe_num, upcall) {
            Some(old) => {
                // TRD104: a successful subscribe drops that slot's pending upcalls.
                process.remove_pending_upcalls(UpcallId {
                    driver_num,
                    subscribe_num,
                });
                SyscallReturn::SubscribeSuccess(old.0, old.1)
            }
            None => failure(ErrorCode::INVAL),
        }
    }

    #[allow(clippy::too_many_arguments)] // one per TRD104 argument, plus context
    fn allow<P: SyscallDriverLookup + ?Sized>(
        &self,
        platform: &P,
        pid: ProcessId,
        process: &ProcessStandard,
        kind: AllowKind,
        driver_num: usize,
        allow_num: usize,
        address: usize,
        size: usize,
    ) -> SyscallReturn {
        let failure = |e| match kind {
            AllowKind::ReadWrite => SyscallReturn::AllowReadWriteFailure(e, address, size),
            AllowKind::ReadOnly => SyscallReturn::AllowReadOnlyFailure(e, address, size),
        };
        // A zero-length allow un-shares whatever was there; its address is
        // not checked (TRD104 4.4).
        let valid = size == 0
            || match kind {
                AllowKind::ReadWrite => process.in_app_owned_memory(address, size),
                AllowKind::ReadOnly => {
                    process.in_app_owned_memory(address, size)
                        || process.in_app_flash_memory(address, size)
                }
            };
        if !valid {
            return failure(ErrorCode::INVAL);
        }
        let base = match self.grant_for(platform, pid, process, driver_num) {
            Ok(base) => base,
            Err(e) => return failure(e),
        };
        // SAFETY: `base` is an allocated, initialized grant of this live
        // process; the view lives only for this call.
        let managed = unsafe { KernelManaged::at(base) };
        let swapped = match kind {
            AllowKind::ReadWrite => managed.swap_allow_rw(allow_num, (address, size)),
            AllowKind::ReadOnly => managed.swap_allow_ro(allow_num, (address, size)),
        };
        match swapped {
            Some(old) => {
                if size > 0 && process.in_app_owned_memory(address, size) {
                    process.raise_allow_high_water(address + size);
                }
                match kind {
                    AllowKind::ReadWrite => SyscallReturn::AllowReadWriteSuccess(old.0, old.1),
                    AllowKind::ReadOnly => SyscallReturn::AllowReadOnlySuccess(old.0, old.1),
                }
            }
            None => failure(ErrorCode::INVAL),
        }
    }

    #[allow(clippy::too_many_arguments)] // one per TRD104 argument, plus context
    fn allow_userspace_readable<P: SyscallDriverLookup + ?Sized>(
        &self,
        platform: &P,
        pid: ProcessId,
        process: &ProcessStandard,
        driver_num: usize,
        allow_num: usize,
        address: usize,
        size: usize,
    ) -> SyscallReturn {
        if size != 0 && !process.in_app_owned_memory(address, size) {
            return SyscallReturn::UserspaceReadableAllowFailure(ErrorCode::INVAL, address, size);
        }
        // SAFETY: the range was just checked to be this process's RAM below
        // its break (or is empty).
        let buffer = unsafe { ReadWriteProcessBuffer::new(address as *mut u8, size, pid) };
        platform.with_driver(driver_num, |driver| match driver {
            None => {
                SyscallReturn::UserspaceReadableAllowFailure(ErrorCode::NODEVICE, address, size)
            }
            Some(d) => match d.allow_userspace_readable(pid, allow_num, buffer) {
                Ok(old) => {
                    if size > 0 {
                        process.raise_allow_high_water(address + size);
                    }
                    SyscallReturn::UserspaceReadableAllowSuccess(old.ptr() as usize, old.len())
                }
                Err((_, e)) => SyscallReturn::UserspaceReadableAllowFailure(e, address, size),
            },
        })
    }

    /// Schedules upcall `subscribe_num` of `driver_num` for `pid` from
    /// outside a grant (used by the kernel and tests).
    pub fn schedule_upcall(
        &self,
        pid: ProcessId,
        driver_num: usize,
        subscribe_num: usize,
        r: (usize, usize, usize),
    ) -> Result<(), crate::upcall::UpcallError> {
        let process = self
            .live_process(pid)
            .ok_or(crate::upcall::UpcallError::KernelError)?;
        let (_, base) = process
            .grant_ptr_for_driver(driver_num)
            .ok_or(crate::upcall::UpcallError::KernelError)?;
        // SAFETY: an allocated, initialized grant of this live process.
        let managed = unsafe { KernelManaged::at(base) };
        let slot = managed
            .upcall(subscribe_num)
            .ok_or(crate::upcall::UpcallError::InvalidSubscribeNum)?;
        grant::schedule(
            process,
            UpcallId {
                driver_num,
                subscribe_num,
            },
            slot,
            r,
        )
    }
}

#[derive(Clone, Copy)]
enum AllowKind {
    ReadWrite,
    ReadOnly,
}
