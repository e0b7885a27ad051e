// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Processes: identifiers, states, tasks, and the per-process record.
//!
//! `ProcessId`, `ShortId`, `Error`, `State`, `Task`, `FunctionCall` and
//! `ReturnArguments` have the names and shapes of Tock's `kernel::process`.
//! `ProcessStandard` (in `process_standard.rs`) is this kernel's one process
//! implementation (Tock has a `Process` trait with `ProcessStandard` as its
//! main implementation; no capsule sees either).
//!
//! # Memory model
//!
//! Each process owns one contiguous RAM block `[memory_start, memory_end)`:
//!
//! ```text
//!  memory_start            app_break          kernel_break        memory_end
//!  | process-accessible RAM |   free           | grant region        |
//!  | (PMP R/W region)       |                  | (grows down; kernel |
//!  |                        |                  |  only, never PMP)   |
//! ```
//!
//! The process moves `app_break` with memop brk/sbrk; capsules' grants are
//! carved downwards from `memory_end`, as in Tock. The two may never cross.
//! The host test harness and the real kernel both use exactly this record;
//! only where the RAM block comes from differs (a static region on the
//! board, leaked host memory in tests).

use core::fmt;
use core::num::NonZeroU32;

use crate::errorcode::ErrorCode;
use crate::kernel::Kernel;
use crate::upcall::UpcallId;

pub use crate::process_standard::ProcessStandard;

/// Number of grants (drivers with per-process state) a process can hold.
pub const MAX_GRANTS: usize = 16;
/// Granule of process RAM access above the break.
///
/// The architecture may let a process access its RAM up to the next
/// multiple of this above its break (the PMP then covers whole pages, which
/// QEMU emulates far faster; see `arch/rv32/src/pmp.rs`). Grants are never
/// carved below that point, so the extra bytes are the process's own.
pub const ACCESS_GRANULE: usize = 4096;
/// Pending tasks (upcalls) a process can have queued, as in Tock.
pub const TASK_QUEUE_LEN: usize = 10;

/// Identifies one process instance. A restarted process gets a new
/// identifier, so ids held by capsules for the old instance go stale.
#[derive(Clone, Copy)]
pub struct ProcessId {
    pub(crate) kernel: &'static Kernel,
    index: usize,
    identifier: usize,
}

impl PartialEq for ProcessId {
    fn eq(&self, other: &ProcessId) -> bool {
        self.identifier == other.identifier && core::ptr::eq(self.kernel, other.kernel)
    }
}

impl Eq for ProcessId {}

impl fmt::Debug for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.identifier)
    }
}

impl ProcessId {
    pub(crate) fn new(kernel: &'static Kernel, identifier: usize, index: usize) -> ProcessId {
        ProcessId {
            kernel,
            index,
            identifier,
        }
    }

    /// Creates a `ProcessId` outside the kernel crate (boards, tests).
    pub fn new_external(
        kernel: &'static Kernel,
        identifier: usize,
        index: usize,
        _capability: &dyn crate::capabilities::ExternalProcessCapability,
    ) -> ProcessId {
        ProcessId::new(kernel, identifier, index)
    }

    pub(crate) fn raw_index(&self) -> usize {
        self.index
    }

    /// The unique identifier of this process instance.
    pub fn id(&self) -> usize {
        self.identifier
    }

    /// The process's ShortId (from its TBF ShortId header, if any).
    pub fn short_app_id(&self) -> ShortId {
        self.kernel
            .process_map_or(ShortId::LocallyUnique, *self, |p| p.short_id())
    }
}

/// A compact application identifier (Tock's `ShortId`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ShortId {
    /// No fixed id: unique only among the running processes.
    LocallyUnique,
    /// A fixed, non-zero 32-bit id from the TBF ShortId header.
    Fixed(NonZeroU32),
}

/// Errors from process-related kernel operations (Tock's `process::Error`).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Error {
    /// The process no longer exists (or this id is stale).
    NoSuchApp,
    /// Not enough memory in the process's grant region.
    OutOfMemory,
    /// An address or index outside the process's bounds.
    AddressOutOfBounds,
    /// An internal kernel error.
    KernelError,
    /// The grant is already entered.
    AlreadyInUse,
}

impl From<Error> for Result<(), ErrorCode> {
    fn from(err: Error) -> Result<(), ErrorCode> {
        Err(err.into())
    }
}

impl From<Error> for ErrorCode {
    fn from(err: Error) -> ErrorCode {
        match err {
            Error::OutOfMemory => ErrorCode::NOMEM,
            Error::AddressOutOfBounds => ErrorCode::INVAL,
            Error::NoSuchApp => ErrorCode::INVAL,
            Error::AlreadyInUse => ErrorCode::FAIL,
            Error::KernelError => ErrorCode::FAIL,
        }
    }
}

/// Scheduling state of a process slot.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum State {
    /// No process in this slot.
    Unused,
    /// Ready to run (or running).
    Running,
    /// Waiting in yield-wait for any upcall.
    Yielded,
    /// Waiting in yield-wait-for for one specific upcall.
    YieldedFor(UpcallId),
    /// Ended by a fault; kept for its fault report until restarted.
    Faulted,
    /// Ended by exit-terminate (or the fault policy stopped it).
    Terminated,
    /// Restarting: waits until every device mapping of the old instance's
    /// memory is revoked (see `Kernel::revocation_complete`), then runs anew.
    Revoking,
}

/// Why the kernel calls into a process function.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum FunctionCallSource {
    /// The kernel (the process entry point).
    Kernel,
    /// An upcall from a driver.
    Driver(UpcallId),
}

/// A function call to set up in the process (entry point or upcall).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct FunctionCall {
    pub source: FunctionCallSource,
    pub argument0: usize,
    pub argument1: usize,
    pub argument2: usize,
    pub argument3: usize,
    pub pc: usize,
}

/// Upcall values for a null upcall, returned by yield-wait-for.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct ReturnArguments {
    pub upcall_id: UpcallId,
    pub argument0: usize,
    pub argument1: usize,
    pub argument2: usize,
}

/// Work queued for a process.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Task {
    FunctionCall(FunctionCall),
    ReturnValue(ReturnArguments),
}

impl Task {
    pub(crate) fn upcall_id(&self) -> Option<UpcallId> {
        match self {
            Task::FunctionCall(FunctionCall {
                source: FunctionCallSource::Driver(id),
                ..
            }) => Some(*id),
            Task::FunctionCall(_) => None,
            Task::ReturnValue(r) => Some(r.upcall_id),
        }
    }
}

/// Where a process's flash image and RAM are, and how to start it.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct ProcessLayout {
    /// Package name from the TBF header.
    pub name: &'static str,
    /// ShortId from the TBF header, if any.
    pub short_id: Option<NonZeroU32>,
    /// Start of the TBF object (its header) in flash.
    pub flash_start: usize,
    /// Length of the whole TBF object.
    pub flash_len: usize,
    /// Entry point (absolute address).
    pub entry: usize,
    /// First byte of the application binary after the TBF header and any
    /// protected trailer; passed to the entry point in `a0`.
    pub app_start: usize,
    /// Start of the process RAM block.
    pub memory_start: usize,
    /// Length of the whole RAM block, grant region included.
    pub memory_len: usize,
    /// Initial app break (end of the process-accessible part).
    pub initial_break: usize,
}
