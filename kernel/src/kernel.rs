// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The kernel object: the process table, grant creation, process
//! lifecycle and the revocation of device access to process memory.
//!
//! System calls are handled in `syscall_handler` (`Kernel::handle_syscall`).

use core::cell::Cell;

use crate::capabilities::{MemoryAllocationCapability, ProcessManagementCapability};
use crate::errorcode::ErrorCode;
use crate::grant::{AllowRoSize, AllowRwSize, Grant, UpcallSize};
use crate::process::{
    FunctionCall, FunctionCallSource, MAX_GRANTS, Process, ProcessId, ProcessLayout,
    ProcessStandard, State, Task,
};
use crate::process_memory::{ProcessMemoryObserver, Revocation};
use crate::syscall::SyscallReturn;

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
            next_identifier: Cell::new(0),
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
            .position(|p| p.layout().is_none())
            .ok_or(ErrorCode::NOMEM)?;
        let process_id = self.fresh_process_id(index);
        self.processes[index].load(layout, process_id);
        self.update_flash_access();
        Ok(process_id)
    }

    /// Sets each loaded process's flash access end: its TBF object's end
    /// rounded up to its access granule, unless another process's flash
    /// starts before that (then exactly the object's end). With Tock's
    /// granule of 4 bytes this is Tock's flash region.
    fn update_flash_access(&self) {
        let loaded = || self.processes.iter().filter_map(ProcessStandard::layout);
        for process in self.processes.iter() {
            let Some(layout) = process.layout() else {
                continue;
            };
            let end = layout.flash_start + layout.flash_len;
            let page_end = end.next_multiple_of(layout.access_granule);
            let shared =
                loaded().any(|other| other.flash_start >= end && other.flash_start < page_end);
            process.set_flash_access_end(if shared { end } else { page_end });
        }
    }

    /// A new id for the instance about to start in slot `index`.
    /// Identifiers count from 0 and are never reused, as in Tock.
    fn fresh_process_id(&'static self, index: usize) -> ProcessId {
        let identifier = self.next_identifier.get();
        self.next_identifier.set(identifier + 1);
        ProcessId::new(self, identifier, index)
    }

    /// The slot at `index`, if any.
    pub fn process_at(&self, index: usize) -> Option<&'static ProcessStandard> {
        self.processes.get(index)
    }

    /// The id of the instance in slot `index`, if the slot holds one (in
    /// any state). Identifiers start at 0, as in Tock, so no identifier
    /// value can stand for an empty slot.
    pub fn process_id_at(&'static self, index: usize) -> Option<ProcessId> {
        self.processes.get(index)?.process_id()
    }

    pub fn process_count(&self) -> usize {
        self.processes.len()
    }

    /// The slot `pid` names, if it still holds that instance (any state but
    /// unused).
    pub fn process_slot(&self, pid: ProcessId) -> Option<&'static ProcessStandard> {
        self.processes
            .get(pid.raw_index())
            .filter(|p| p.process_id() == Some(pid))
    }

    /// The process `pid` names, if that instance is alive.
    pub fn live_process(&self, pid: ProcessId) -> Option<&'static ProcessStandard> {
        self.process_slot(pid).filter(|p| p.is_alive())
    }

    pub fn process_is_alive(&self, pid: ProcessId) -> bool {
        self.live_process(pid).is_some()
    }

    /// Tock's `process_map_or`: `closure` on the process, or `default`.
    pub(crate) fn process_map_or<F, R>(&self, default: R, pid: ProcessId, closure: F) -> R
    where
        F: FnOnce(&ProcessStandard) -> R,
    {
        self.process_slot(pid).map_or(default, closure)
    }

    /// Tock's `process_map_or_external`: `closure` on process `processid`
    /// if it still exists (in any state), else `default`.
    pub fn process_map_or_external<F, R>(
        &self,
        default: R,
        processid: ProcessId,
        closure: F,
        _capability: &dyn ProcessManagementCapability,
    ) -> R
    where
        F: FnOnce(&dyn Process) -> R,
    {
        self.process_slot(processid)
            .map_or(default, |process| closure(process))
    }

    /// Tock's `process_each_capability`: `closure` on every process, in
    /// slot order.
    pub fn process_each_capability<F>(
        &'static self,
        _capability: &dyn ProcessManagementCapability,
        mut closure: F,
    ) where
        F: FnMut(&dyn Process),
    {
        for process in self.processes.iter().filter(|p| p.layout().is_some()) {
            closure(process);
        }
    }

    /// True if some process is alive.
    pub fn any_process_alive(&self) -> bool {
        self.processes.iter().any(|p| p.is_alive())
    }

    // ----- lifecycle ----------------------------------------------------------

    /// Stops `process` (instance `pid`) with `state` and, if it was still
    /// alive, tells every memory observer, once per instance: a process
    /// that faulted and is then terminated or restarted is not reported
    /// twice. Hook point of the proposed Tock change (`process_memory`).
    fn stop_and_revoke(&self, process: &ProcessStandard, pid: ProcessId, state: State) {
        let was_alive = process.is_alive();
        // Not alive from here on: grants can no longer be entered, no new
        // upcalls, no syscalls.
        process.terminate(state);
        if was_alive {
            let pending = self
                .memory_observers
                .iter()
                .filter_map(Cell::get)
                .filter(|o| o.process_memory_revoked(pid) == Revocation::Pending)
                .count();
            process.add_revocations_pending(pending);
        }
    }

    /// Starts the slot's new instance if a restart was asked for and every
    /// observer is done with the old one.
    fn restart_when_revoked(&'static self, process: &ProcessStandard, pid: ProcessId) {
        if process.take_restart_when_revoked() {
            process.reset(self.fresh_process_id(pid.raw_index()));
        }
    }

    /// Ends `pid` for good with `state` (Terminated or Faulted).
    pub(crate) fn end_process(&'static self, pid: ProcessId, state: State, code: Option<u32>) {
        let Some(process) = self.process_slot(pid) else {
            return;
        };
        process.set_completion_code(code);
        self.stop_and_revoke(process, pid, state);
    }

    /// Restarts `pid` as a new instance (new identifier) from its entry,
    /// once device access to the old instance's memory is revoked; until
    /// then it is `Terminated` with revocations pending.
    pub(crate) fn restart_process(&'static self, pid: ProcessId) {
        let Some(process) = self.process_slot(pid) else {
            return;
        };
        self.stop_and_revoke(process, pid, State::Terminated);
        process.bump_restart_count();
        process.request_restart();
        self.restart_when_revoked(process, pid);
    }

    /// An observer finished revoking device access to the memory of the
    /// ended instance `pid`. When the last one does, a restart that was
    /// asked for starts the new instance. Calls for an instance that is
    /// alive, was replaced, or has nothing pending are ignored.
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
        process.revocation_done();
        self.restart_when_revoked(process, pid);
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
        Self::next_task_of(self.live_process(pid)?)
    }

    /// `next_task` for a process the caller already looked up (the
    /// scheduler), saving a second lookup.
    pub(crate) fn next_task_of(process: &ProcessStandard) -> Option<Task> {
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
}
