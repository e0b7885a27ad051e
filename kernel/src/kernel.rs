// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The kernel object: the process table, grant creation, and the handling of
//! every TRD104 system call.
//!
//! System calls are handled by `Kernel::handle_syscall`, a function of the
//! process and the decoded call only. The board's main loop (with registers
//! from `arch/rv32`) and the host capsule test harness both call it, so the
//! harness tests the very code that runs on the board.

use core::cell::Cell;

use crate::capabilities::{MemoryAllocationCapability, ProcessManagementCapability};
use crate::errorcode::ErrorCode;
use crate::grant::{self, AllowRoSize, AllowRwSize, Grant, KernelManaged, UpcallSize};
use crate::platform::SyscallDriverLookup;
use crate::process::{
    FunctionCall, FunctionCallSource, MAX_GRANTS, ProcessId, ProcessLayout, ProcessStandard, State,
    Task,
};
use crate::processbuffer::{ReadWriteProcessBuffer, ReadableProcessBuffer};
use crate::syscall::{Syscall, SyscallReturn, exit_call, yield_call};
use crate::upcall::UpcallId;

/// What the caller of `handle_syscall` must do next with the process.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum SyscallOutcome {
    /// Write this return value and resume the process.
    Return(SyscallReturn),
    /// Resume the process with no return value (yield-no-wait, no upcall).
    Resume,
    /// The process is waiting (yielded) or has a task to run: ask
    /// `next_task` before resuming it.
    Wait,
    /// The process exited (terminated, or restarted from its entry point).
    Exited,
}

/// How the kernel treats a faulted process (the board chooses).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum FaultPolicy {
    /// Stop it; it stays faulted.
    Stop,
    /// Restart it from its entry point, at most this many times, then stop.
    Restart(usize),
}

/// Whether an observer finished revoking device access to process memory.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Revocation {
    /// Nothing of the process's memory is reachable by a device any more.
    Complete,
    /// Revocation was started (e.g. an IOTLB invalidation is in flight); the
    /// observer will call `Kernel::revocation_complete` when it is done.
    Pending,
}

/// Told when a process instance ends (exit, fault, restart), before its
/// memory can change hands. The proposed Tock kernel change described in
/// `doc/process-memory-revocation.md`.
pub trait ProcessMemoryObserver {
    /// `process_id` has ended. Remove every device mapping of its memory and
    /// detach its contexts. Return `Complete` only once the hardware can no
    /// longer reach that memory (invalidation completed); otherwise
    /// `Pending`, and call `Kernel::revocation_complete` later. Until every
    /// observer is complete the slot does not run again.
    fn process_memory_revoked(&self, process_id: ProcessId) -> Revocation;
}

/// The kernel: process slots and grant bookkeeping.
pub struct Kernel {
    processes: &'static [ProcessStandard],
    next_identifier: Cell<usize>,
    grant_counter: Cell<usize>,
    fault_policy: Cell<FaultPolicy>,
    memory_observers: [Cell<Option<&'static dyn ProcessMemoryObserver>>; 4],
}

impl Kernel {
    /// A kernel over these process slots.
    pub fn new(processes: &'static [ProcessStandard]) -> Kernel {
        Kernel {
            processes,
            next_identifier: Cell::new(1),
            grant_counter: Cell::new(0),
            fault_policy: Cell::new(FaultPolicy::Stop),
            memory_observers: [const { Cell::new(None) }; 4],
        }
    }

    /// Creates the grant of driver `driver_num`. Call once per driver while
    /// setting up the board. Panics past `MAX_GRANTS` (a board bug).
    pub fn create_grant<
        T: Default,
        Upcalls: UpcallSize,
        AllowROs: AllowRoSize,
        AllowRWs: AllowRwSize,
    >(
        &'static self,
        driver_num: usize,
        _capability: &dyn MemoryAllocationCapability,
    ) -> Grant<T, Upcalls, AllowROs, AllowRWs> {
        let grant_num = self.grant_counter.get();
        assert!(grant_num < MAX_GRANTS, "too many grants");
        self.grant_counter.set(grant_num + 1);
        Grant::new(self, driver_num, grant_num)
    }

    pub fn set_fault_policy(
        &self,
        policy: FaultPolicy,
        _capability: &dyn ProcessManagementCapability,
    ) {
        self.fault_policy.set(policy);
    }

    /// Registers a capsule that must be told before process memory changes
    /// hands. At most four; returns `NOMEM` past that.
    pub fn register_memory_observer(
        &self,
        observer: &'static dyn ProcessMemoryObserver,
        _capability: &dyn ProcessManagementCapability,
    ) -> Result<(), ErrorCode> {
        let slot = self
            .memory_observers
            .iter()
            .find(|s| s.get().is_none())
            .ok_or(ErrorCode::NOMEM)?;
        slot.set(Some(observer));
        Ok(())
    }

    // ----- process table ----------------------------------------------------

    /// Loads a process into the first free slot. `NOMEM` if none is free.
    pub fn load_process(
        &'static self,
        layout: ProcessLayout,
        _capability: &dyn ProcessManagementCapability,
    ) -> Result<ProcessId, ErrorCode> {
        let index = self
            .processes
            .iter()
            .position(|p| p.state() == State::Unused)
            .ok_or(ErrorCode::NOMEM)?;
        let process = &self.processes[index];
        process.load(layout, self.fresh_identifier());
        self.update_flash_access();
        Ok(self.process_id_at(index))
    }

    /// Widens each loaded process's flash access to the end of its last
    /// page, unless another process's flash starts inside that page (the
    /// bytes gained are then padding or unused flash, never another app).
    fn update_flash_access(&self) {
        let loaded = || self.processes.iter().filter_map(ProcessStandard::layout);
        for process in self.processes.iter() {
            let Some(layout) = process.layout() else {
                continue;
            };
            let end = layout.flash_start + layout.flash_len;
            let page_end = end.next_multiple_of(crate::process::ACCESS_GRANULE);
            let shared =
                loaded().any(|other| other.flash_start >= end && other.flash_start < page_end);
            process.set_flash_access_end(if shared { end } else { page_end });
        }
    }

    fn fresh_identifier(&self) -> usize {
        let id = self.next_identifier.get();
        self.next_identifier.set(id + 1);
        id
    }

    /// The slot at `index`, if any.
    pub fn process_at(&self, index: usize) -> Option<&'static ProcessStandard> {
        self.processes.get(index)
    }

    /// The id of whatever instance currently occupies slot `index`.
    pub fn process_id_at(&'static self, index: usize) -> ProcessId {
        let identifier = self.processes.get(index).map_or(0, |p| p.identifier());
        ProcessId::new(self, identifier, index)
    }

    pub fn process_count(&self) -> usize {
        self.processes.len()
    }

    /// The slot `pid` names, if it still holds that instance (any state but
    /// unused).
    pub fn process_slot(&self, pid: ProcessId) -> Option<&'static ProcessStandard> {
        self.processes
            .get(pid.raw_index())
            .filter(|p| p.identifier() == pid.id() && p.state() != State::Unused)
    }

    /// The process `pid` names, if that instance is alive.
    pub fn live_process(&self, pid: ProcessId) -> Option<&'static ProcessStandard> {
        self.process_slot(pid).filter(|p| p.is_alive())
    }

    pub fn process_is_alive(&self, pid: ProcessId) -> bool {
        self.live_process(pid).is_some()
    }

    /// Tock's `process_map_or`: `closure` on the process, or `default`.
    pub fn process_map_or<F, R>(&self, default: R, pid: ProcessId, closure: F) -> R
    where
        F: FnOnce(&ProcessStandard) -> R,
    {
        self.process_slot(pid).map_or(default, closure)
    }

    /// True if some process is alive.
    pub fn any_process_alive(&self) -> bool {
        self.processes.iter().any(|p| p.is_alive())
    }

    // ----- lifecycle ----------------------------------------------------------

    /// Tells every observer that `pid` ended; returns how many are still
    /// revoking.
    fn revoke_memory(&self, pid: ProcessId) -> usize {
        self.memory_observers
            .iter()
            .filter_map(Cell::get)
            .filter(|o| o.process_memory_revoked(pid) == Revocation::Pending)
            .count()
    }

    /// Ends `pid` for good with `state` (Terminated or Faulted).
    fn end_process(&'static self, pid: ProcessId, state: State, code: Option<u32>) {
        let Some(process) = self.process_slot(pid) else {
            return;
        };
        // Not alive from here on: grants can no longer be entered, no new
        // upcalls, no syscalls.
        process.set_completion_code(code);
        process.terminate(state);
        let pending = self.revoke_memory(pid);
        process.set_revocations_pending(pending, false);
    }

    /// Restarts `pid` as a new instance (new identifier) from its entry,
    /// once device access to the old instance's memory is revoked.
    fn restart_process(&'static self, pid: ProcessId) {
        let Some(process) = self.process_slot(pid) else {
            return;
        };
        process.terminate(State::Revoking);
        process.bump_restart_count();
        let pending = self.revoke_memory(pid);
        process.set_revocations_pending(pending, true);
        if pending == 0 {
            process.set_revocations_pending(0, false);
            process.reset(self.fresh_identifier());
        }
    }

    /// An observer finished revoking device access to the memory of the
    /// ended instance `pid`. When the last one does, a restarting slot
    /// starts its new instance.
    pub fn revocation_complete(
        &'static self,
        pid: ProcessId,
        _capability: &dyn ProcessManagementCapability,
    ) {
        let Some(process) = self.process_slot(pid) else {
            return;
        };
        if process.is_alive() || process.revocations_pending() == 0 {
            return;
        }
        if process.revocation_done() {
            process.reset(self.fresh_identifier());
        }
    }

    /// Handles a fault of `pid` under the board's fault policy. Returns true
    /// if the process was restarted.
    pub fn process_faulted(
        &'static self,
        pid: ProcessId,
        _capability: &dyn ProcessManagementCapability,
    ) -> bool {
        let Some(process) = self.process_slot(pid) else {
            return false;
        };
        match self.fault_policy.get() {
            FaultPolicy::Restart(max) if process.restart_count() < max => {
                self.restart_process(pid);
                true
            }
            _ => {
                self.end_process(pid, State::Faulted, None);
                false
            }
        }
    }

    /// Stops `pid` as if it had exited with `code` (board or test use).
    pub fn terminate_process(
        &'static self,
        pid: ProcessId,
        code: u32,
        _capability: &dyn ProcessManagementCapability,
    ) {
        self.end_process(pid, State::Terminated, Some(code));
    }

    /// Restarts `pid` (board or test use).
    pub fn restart(&'static self, pid: ProcessId, _capability: &dyn ProcessManagementCapability) {
        self.restart_process(pid);
    }

    /// The call that starts process `pid` from its entry point: TRD104 and
    /// Tock's start-up contract (`doc/userland.md`): a0 = app start (first
    /// byte after the TBF header), a1 = memory start, a2 = memory length
    /// (grant region included), a3 = initial app break.
    pub fn entry_call(&self, pid: ProcessId) -> Option<FunctionCall> {
        let layout = self.process_slot(pid)?.layout()?;
        Some(FunctionCall {
            source: FunctionCallSource::Kernel,
            pc: layout.entry,
            argument0: layout.app_start,
            argument1: layout.memory_start,
            argument2: layout.memory_len,
            argument3: layout.initial_break,
        })
    }

    /// The next thing to do for a waiting process: an upcall to run, or the
    /// values for a yield-wait-for. Changes the process to running when it
    /// returns `Some`. Null-upcall tasks do not wake a plain yield-wait.
    pub fn next_task(&self, pid: ProcessId) -> Option<Task> {
        let process = self.live_process(pid)?;
        match process.state() {
            State::YieldedFor(id) => {
                let task = process.dequeue_task_where(|t| t.upcall_id() == Some(id))?;
                process.set_state(State::Running);
                Some(task)
            }
            State::Yielded => loop {
                match process.dequeue_task()? {
                    task @ Task::FunctionCall(_) => {
                        process.set_state(State::Running);
                        return Some(task);
                    }
                    // A null upcall: only yield-wait-for sees its values.
                    Task::ReturnValue(_) => continue,
                }
            },
            _ => None,
        }
    }

    // ----- system calls -------------------------------------------------------

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
        let high_water = process.allow_high_water();
        let set_break = |new_break: usize| -> Result<usize, ErrorCode> {
            if new_break < high_water {
                // Would un-own memory a capsule may still hold an allow of
                // (or a device a mapping of). INVAL, as TRD104 describes;
                // Tock's kernel returns NOMEM for every refused brk.
                return Err(ErrorCode::INVAL);
            }
            process.brk(new_break).map_err(|_| ErrorCode::NOMEM)
        };
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
