// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The main loop: a round-robin scheduler with time slices.
//!
//! Each `RoundRobin::step` services interrupts and deferred calls, then runs
//! the next ready process (round-robin over the slots) until it blocks, exits,
//! faults, its time slice ends, or an interrupt is pending. A process that
//! spins without yielding is preempted by the `SchedulerTimer`, so it cannot
//! starve the others. System calls go to `Kernel::handle_syscall`, the same
//! function the host capsule harness drives.

use core::cell::Cell;

use crate::deferred_call::DeferredCall;
use crate::kernel::{Kernel, SyscallOutcome};
use crate::platform::SyscallDriverLookup;
use crate::process::{FunctionCallSource, ProcessId, ProcessStandard, State, Task};
use crate::syscall::{ContextSwitchReason, SyscallReturn, UserspaceKernelBoundary};

/// A timer that ends a process's time slice with an interrupt (Tock's
/// `SchedulerTimer`, reduced to what this scheduler uses).
pub trait SchedulerTimer {
    /// Starts a slice of `us` microseconds; an interrupt fires at its end.
    fn start(&self, us: u32);
    /// Cancels the slice.
    fn reset(&self);
    /// True once the slice has ended.
    fn has_expired(&self) -> bool;
}

/// What the chip offers the loop.
pub trait LoopChip {
    /// Runs the handlers of pending interrupts (and re-enables them).
    fn service_pending_interrupts(&self);
    /// True if an interrupt is waiting to be serviced.
    fn has_pending_interrupts(&self) -> bool;
    /// Waits for an interrupt (wfi).
    fn sleep(&self);
}

/// What one `step` did, for the board to act on.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Event {
    /// A process ran (and was preempted, blocked or exited).
    Ran(ProcessId),
    /// A process faulted. Its stored state still holds the faulting
    /// registers: print the report, then call `Kernel::process_faulted`.
    Faulted { process: ProcessId, index: usize },
    /// No process was ready; the CPU slept until an interrupt.
    Idle,
    /// No process is alive or waiting to restart.
    NothingAlive,
}

/// Round-robin scheduler state.
pub struct RoundRobin {
    next: Cell<usize>,
    timeslice_us: u32,
}

impl RoundRobin {
    pub const fn new(timeslice_us: u32) -> Self {
        RoundRobin {
            next: Cell::new(0),
            timeslice_us,
        }
    }

    /// Services the chip, then runs at most one process for one slice.
    pub fn step<P, C, B, T>(
        &self,
        kernel: &'static Kernel,
        platform: &P,
        chip: &C,
        boundary: &B,
        timer: &T,
        states: &mut [B::StoredState],
    ) -> Event
    where
        P: SyscallDriverLookup + ?Sized,
        C: LoopChip + ?Sized,
        B: UserspaceKernelBoundary + ?Sized,
        T: SchedulerTimer + ?Sized,
    {
        chip.service_pending_interrupts();
        while DeferredCall::has_tasks() && !chip.has_pending_interrupts() {
            DeferredCall::service_next_pending();
        }
        let count = kernel.process_count().min(states.len());
        for k in 0..count {
            let index = (self.next.get() + k) % count;
            // Boards have more slots than processes: skip the empty and
            // ended ones before building an id and looking it up again
            // (`make_ready` refuses them anyway).
            let Some(process) = kernel.process_at(index).filter(|p| p.is_alive()) else {
                continue;
            };
            let Some(pid) = process.process_id() else {
                continue;
            };
            let state = &mut states[index];
            if !Self::make_ready(kernel, boundary, process, pid, state) {
                continue;
            }
            self.next.set(index + 1);
            return self.run(kernel, platform, chip, boundary, timer, pid, index, state);
        }
        let waiting = (0..kernel.process_count()).any(|i| {
            kernel
                .process_at(i)
                .is_some_and(|p| p.is_alive() || p.restart_requested())
        });
        if !waiting && !DeferredCall::has_tasks() {
            return Event::NothingAlive;
        }
        if !chip.has_pending_interrupts() && !DeferredCall::has_tasks() {
            chip.sleep();
        }
        Event::Idle
    }

    /// Prepares `process` (the slot `pid` names, just looked up by the
    /// caller) to run if it can: a fresh start, a pending upcall, or a
    /// yield-wait-for result. False if it is not ready.
    fn make_ready<B: UserspaceKernelBoundary + ?Sized>(
        kernel: &'static Kernel,
        boundary: &B,
        process: &ProcessStandard,
        pid: ProcessId,
        state: &mut B::StoredState,
    ) -> bool {
        if !process.is_alive() {
            return false;
        }
        if process.take_start_request() && !Self::start(kernel, boundary, process, pid, state) {
            return false;
        }
        match process.state() {
            State::Running => true,
            State::YieldedFor(_) => match Kernel::next_task_of(process) {
                // TRD104: yield-wait-for returns the upcall's values and
                // does not call the upcall function.
                Some(Task::FunctionCall(fc)) => {
                    boundary.set_syscall_return_value(
                        state,
                        SyscallReturn::YieldWaitFor(fc.argument0, fc.argument1, fc.argument2),
                    );
                    true
                }
                Some(Task::ReturnValue(r)) => {
                    boundary.set_syscall_return_value(
                        state,
                        SyscallReturn::YieldWaitFor(r.argument0, r.argument1, r.argument2),
                    );
                    true
                }
                None => false,
            },
            State::Yielded => match Kernel::next_task_of(process) {
                Some(Task::FunctionCall(fc)) => {
                    match fc.source {
                        FunctionCallSource::Kernel => {
                            boundary.initialize_process(state, process.memory_start(), fc)
                        }
                        FunctionCallSource::Driver(_) => boundary.set_process_function(state, fc),
                    }
                    true
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// Sets `state` up to enter `process` at its entry point. Once per
    /// instance, so kept out of line: `make_ready` runs on every wake-up.
    #[cold]
    fn start<B: UserspaceKernelBoundary + ?Sized>(
        kernel: &'static Kernel,
        boundary: &B,
        process: &ProcessStandard,
        pid: ProcessId,
        state: &mut B::StoredState,
    ) -> bool {
        match kernel.entry_call(pid) {
            Some(call) => {
                boundary.initialize_process(state, process.memory_start(), call);
                true
            }
            None => false,
        }
    }

    #[allow(clippy::too_many_arguments)] // the loop's collaborators, as in Tock
    fn run<P, C, B, T>(
        &self,
        kernel: &'static Kernel,
        platform: &P,
        chip: &C,
        boundary: &B,
        timer: &T,
        pid: ProcessId,
        index: usize,
        state: &mut B::StoredState,
    ) -> Event
    where
        P: SyscallDriverLookup + ?Sized,
        C: LoopChip + ?Sized,
        B: UserspaceKernelBoundary + ?Sized,
        T: SchedulerTimer + ?Sized,
    {
        timer.start(self.timeslice_us);
        let event = loop {
            let Some(process) = kernel.live_process(pid) else {
                break Event::Ran(pid);
            };
            // SAFETY: `state` was initialized for this process by
            // `make_ready` (fresh start) or by earlier runs, and the process's
            // memory is its own (the kernel checked the layout at load).
            let reason = unsafe { boundary.switch_to_process(process, state) };
            match reason {
                ContextSwitchReason::SyscallFired { syscall } => {
                    match kernel.handle_syscall_of(platform, pid, process, syscall) {
                        SyscallOutcome::Return(ret) => {
                            boundary.set_syscall_return_value(state, ret)
                        }
                        SyscallOutcome::Resume => {}
                        SyscallOutcome::Wait => {
                            if !Self::make_ready(kernel, boundary, process, pid, state) {
                                break Event::Ran(pid);
                            }
                        }
                        SyscallOutcome::Exited => break Event::Ran(pid),
                    }
                }
                ContextSwitchReason::Fault => {
                    break Event::Faulted {
                        process: pid,
                        index,
                    };
                }
                ContextSwitchReason::Interrupted => {}
            }
            if timer.has_expired() || chip.has_pending_interrupts() {
                break Event::Ran(pid);
            }
        };
        timer.reset();
        event
    }
}
