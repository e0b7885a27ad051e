// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Processes: identifiers, states, tasks, and the per-process record.
//!
//! `ProcessId`, `ShortId`, `Error`, `State`, `Task`, `FunctionCall`,
//! `ReturnArguments` and the `Process` trait have the names and shapes of
//! Tock's `kernel::process` (the trait with the subset of Tock's methods
//! that boards use to report on processes). `ProcessStandard` (in
//! `process_standard.rs`) is this kernel's one implementation; boards reach
//! it as `&dyn Process` through `Kernel::process_map_or_external` and
//! `Kernel::process_each_capability`, as in Tock.
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
//! As in Tock on RISC-V, a process starts with its break at `memory_start`
//! (no accessible RAM) and moves it with memop brk/sbrk; capsules' grants
//! are carved downwards from `memory_end`. The two may never cross. The
//! block is as long as the TBF's minimum RAM size, so the room left for
//! grants is what the app asked for beyond the memory it brk's to (elf2tab's
//! `--kernel-heap`): an app that asks for too little gets `NOMEM` from a
//! grant, as on Tock. (Tock also keeps its process record, upcall queue and
//! grant pointer table at the top of the block, and adds their size to it;
//! this kernel keeps them in the process slot, so the grant room is the
//! same.)
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
/// Granule of the RISC-V PMP's top-of-range regions: a process's flash and
/// RAM access ends at its flash end and its break, each rounded up to this,
/// as in Tock.
pub const PMP_GRANULE: usize = 4;
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

/// Scheduling state of a process (Tock's `State`, without `Stopped`: this
/// kernel has no process console that could stop one).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum State {
    /// Ready to run (or running).
    Running,
    /// Waiting in yield-wait for any upcall.
    Yielded,
    /// Waiting in yield-wait-for for one specific upcall.
    YieldedFor(UpcallId),
    /// Ended by a fault; kept for its fault report until restarted.
    Faulted,
    /// Ended by exit-terminate (or the fault policy stopped it). A process
    /// being restarted stays here until device access to its memory is
    /// revoked (`Process::memory_revocations_pending`).
    Terminated,
}

/// A process, as boards and the kernel's process-management callers see it
/// (the subset of Tock's `Process` trait this kernel implements, same names
/// and signatures).
pub trait Process {
    /// The id of this process instance.
    fn processid(&self) -> ProcessId;
    /// Its ShortId.
    fn short_app_id(&self) -> ShortId;
    /// How many times it was restarted.
    fn get_restart_count(&self) -> usize;
    /// Its package name from the TBF header.
    fn get_process_name(&self) -> &'static str;
    /// True if it has queued tasks.
    fn has_tasks(&self) -> bool;
    /// Number of queued tasks.
    fn pending_tasks(&self) -> usize;
    /// Its scheduling state.
    fn get_state(&self) -> State;
    /// True if it can run or be woken (running or yielded).
    fn is_running(&self) -> bool;
    /// `None` while it has not ended; `Some(None)` if it ended with no
    /// completion code (a fault); `Some(Some(code))` after an exit.
    fn get_completion_code(&self) -> Option<Option<u32>>;
    /// System calls it made.
    fn debug_syscall_count(&self) -> usize;
    /// Upcalls dropped because its task queue was full.
    fn debug_dropped_upcall_count(&self) -> usize;
    /// Where its flash and RAM are, and where its break and grant region
    /// are now.
    fn get_addresses(&self) -> ProcessAddresses;
    /// Memory observers that have not yet confirmed that no device can
    /// reach this ended instance's memory (see `process_memory`); a restart
    /// waits until this is 0. The proposed addition to Tock's trait; the
    /// default is for process types that never report their end to memory
    /// observers.
    fn memory_revocations_pending(&self) -> usize {
        0
    }
}

/// A process's addresses (Tock's `ProcessAddresses`).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct ProcessAddresses {
    /// Start of its TBF object in flash.
    pub flash_start: usize,
    /// First byte after the TBF header and protected trailer.
    pub flash_non_protected_start: usize,
    /// End of what the integrity check covers (this kernel does not check
    /// credentials: the end of the TBF object).
    pub flash_integrity_end: *const u8,
    /// End of its TBF object.
    pub flash_end: usize,
    /// Start of its RAM block.
    pub sram_start: usize,
    /// Its current break.
    pub sram_app_brk: usize,
    /// Lowest address of its grant region.
    pub sram_grant_start: usize,
    /// End of its RAM block.
    pub sram_end: usize,
    /// Heap start the process reported (memop 11; not recorded here).
    pub sram_heap_start: Option<usize>,
    /// Stack top the process reported (memop 10; not recorded here).
    pub sram_stack_top: Option<usize>,
    /// Lowest stack pointer seen (not recorded here).
    pub sram_stack_bottom: Option<usize>,
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
    /// What the process's flash and RAM access ends are rounded up to:
    /// `PMP_GRANULE` (Tock's exact ends) unless the board chose a wider
    /// power of two (`LoaderConfig::access_granule`). Grants are never
    /// carved below the rounded break, so the bytes gained are the
    /// process's own.
    pub access_granule: usize,
}
