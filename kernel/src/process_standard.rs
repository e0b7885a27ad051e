// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! `ProcessStandard`: one process slot, its memory bounds, grant table and
//! task queue (see `process` for the memory model).

use core::cell::Cell;

use crate::errorcode::ErrorCode;
use crate::process::{
    Error, MAX_GRANTS, Process, ProcessAddresses, ProcessId, ProcessLayout, ShortId, State,
    TASK_QUEUE_LEN, Task,
};
use crate::upcall::UpcallId;

struct GrantSlot {
    /// Driver number this grant belongs to (valid when `ptr != 0`).
    driver_num: Cell<usize>,
    /// Address of the grant's memory in the grant region, 0 if none.
    ptr: Cell<usize>,
    /// Set while a capsule is inside `enter` for this grant.
    entered: Cell<bool>,
}

impl GrantSlot {
    const fn new() -> Self {
        GrantSlot {
            driver_num: Cell::new(0),
            ptr: Cell::new(0),
            entered: Cell::new(false),
        }
    }
}

/// One process slot.
pub struct ProcessStandard {
    /// The instance in this slot; `None` while the slot is empty.
    process_id: Cell<Option<ProcessId>>,
    state: Cell<State>,
    layout: Cell<Option<ProcessLayout>>,
    app_break: Cell<usize>,
    kernel_break: Cell<usize>,
    grants: [GrantSlot; MAX_GRANTS],
    /// Queued tasks, oldest first, in `tasks[..task_len]`. A removal
    /// shifts the later ones down (the queue is short), so the oldest is
    /// always at index 0 and no index wraps.
    tasks: [Cell<Option<Task>>; TASK_QUEUE_LEN],
    task_len: Cell<usize>,
    dropped_upcalls: Cell<usize>,
    restart_count: Cell<usize>,
    completion_code: Cell<Option<u32>>,
    syscall_count: Cell<usize>,
    /// Highest end of any allow of this instance: brk may not go below it
    /// (Tock's allow high-water mark).
    allow_high_water: Cell<usize>,
    /// Memory observers that have not yet finished revoking device access
    /// to the ended instance's memory (see `process_memory`).
    revocations_pending: Cell<usize>,
    /// A restart was asked for: it happens once `revocations_pending` is 0.
    restart_requested: Cell<bool>,
    /// End of the flash the process may read and execute: its TBF object,
    /// widened to the next `ACCESS_GRANULE` boundary unless another
    /// process's flash starts in between (set by `Kernel::load_process`).
    flash_access_end: Cell<usize>,
    /// Set by `reset`: the main loop must (re)initialize the registers and
    /// call the entry point before running this instance.
    start_pending: Cell<bool>,
}

impl Default for ProcessStandard {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessStandard {
    /// An empty slot.
    pub const fn new() -> Self {
        ProcessStandard {
            process_id: Cell::new(None),
            state: Cell::new(State::Terminated),
            layout: Cell::new(None),
            app_break: Cell::new(0),
            kernel_break: Cell::new(0),
            grants: [const { GrantSlot::new() }; MAX_GRANTS],
            tasks: [const { Cell::new(None) }; TASK_QUEUE_LEN],
            task_len: Cell::new(0),
            dropped_upcalls: Cell::new(0),
            restart_count: Cell::new(0),
            completion_code: Cell::new(None),
            syscall_count: Cell::new(0),
            allow_high_water: Cell::new(0),
            revocations_pending: Cell::new(0),
            restart_requested: Cell::new(false),
            start_pending: Cell::new(false),
            flash_access_end: Cell::new(0),
        }
    }

    // ----- identity and layout --------------------------------------------

    /// The instance in this slot, if the slot holds one (in any state).
    pub fn process_id(&self) -> Option<ProcessId> {
        self.process_id.get()
    }

    pub fn state(&self) -> State {
        self.state.get()
    }

    pub(crate) fn set_state(&self, state: State) {
        self.state.set(state);
    }

    pub fn layout(&self) -> Option<ProcessLayout> {
        self.layout.get()
    }

    /// The package name, or "" for an empty slot.
    pub fn name(&self) -> &'static str {
        self.layout.get().map_or("", |l| l.name)
    }

    pub fn short_id(&self) -> ShortId {
        self.layout
            .get()
            .and_then(|l| l.short_id)
            .map_or(ShortId::LocallyUnique, ShortId::Fixed)
    }

    /// True while the process exists and may run or be woken.
    pub fn is_alive(&self) -> bool {
        matches!(
            self.state.get(),
            State::Running | State::Yielded | State::YieldedFor(_)
        )
    }

    pub fn app_break(&self) -> usize {
        self.app_break.get()
    }

    /// Lowest address of the grant region.
    pub fn kernel_break(&self) -> usize {
        self.kernel_break.get()
    }

    pub fn memory_start(&self) -> usize {
        self.layout.get().map_or(0, |l| l.memory_start)
    }

    pub fn memory_end(&self) -> usize {
        self.layout
            .get()
            .map_or(0, |l| l.memory_start + l.memory_len)
    }

    pub fn restart_count(&self) -> usize {
        self.restart_count.get()
    }

    pub fn completion_code(&self) -> Option<u32> {
        self.completion_code.get()
    }

    pub(crate) fn set_completion_code(&self, code: Option<u32>) {
        self.completion_code.set(code);
    }

    pub fn dropped_upcall_count(&self) -> usize {
        self.dropped_upcalls.get()
    }

    pub fn syscall_count(&self) -> usize {
        self.syscall_count.get()
    }

    pub(crate) fn count_syscall(&self) {
        self.syscall_count.set(self.syscall_count.get() + 1);
    }

    // ----- memory checks ----------------------------------------------------

    /// True if `[ptr, ptr+len)` lies in the process-accessible RAM
    /// (`memory_start..app_break`). Overflow counts as outside.
    pub fn in_app_owned_memory(&self, ptr: usize, len: usize) -> bool {
        match ptr.checked_add(len) {
            Some(end) => ptr >= self.memory_start() && end <= self.app_break.get(),
            None => false,
        }
    }

    /// True if `[ptr, ptr+len)` lies in the process's flash image.
    pub fn in_app_flash_memory(&self, ptr: usize, len: usize) -> bool {
        let Some(layout) = self.layout.get() else {
            return false;
        };
        match ptr.checked_add(len) {
            Some(end) => ptr >= layout.flash_start && end <= layout.flash_start + layout.flash_len,
            None => false,
        }
    }

    /// Moves the app break, with Tock's checks: not below the highest
    /// allowed byte (nor the memory start), and its access end (the break
    /// rounded up to the granule) not in the grant region. (Tock also
    /// refuses the end of the block, which its own records always lie
    /// below; this kernel keeps them in the slot, so the whole block can be
    /// the process's, and a break up to the TBF's minimum RAM size always
    /// succeeds, as on Tock.)
    pub(crate) fn brk(&self, new_break: usize) -> Result<usize, Error> {
        if new_break < self.allow_high_water.get() || new_break > self.memory_end() {
            return Err(Error::AddressOutOfBounds);
        }
        let access_end = new_break.checked_next_multiple_of(self.access_granule());
        if access_end.is_none_or(|end| end > self.kernel_break.get()) {
            return Err(Error::OutOfMemory);
        }
        let old = self.app_break.get();
        self.app_break.set(new_break);
        Ok(old)
    }

    // ----- lifecycle ----------------------------------------------------------

    /// Puts a process into this slot, runnable from its entry point.
    /// `process_id` must be unique among all process instances ever created.
    pub(crate) fn load(&self, layout: ProcessLayout, process_id: ProcessId) {
        self.layout.set(Some(layout));
        self.restart_count.set(0);
        self.reset(process_id);
    }

    /// Resets the slot to a fresh instance: new identifier, break at its
    /// initial value, no grants, no tasks, the entry call queued. The caller
    /// (the kernel) is responsible for making sure nothing still references
    /// the old instance's memory (revocation, see `Kernel`).
    pub(crate) fn reset(&self, process_id: ProcessId) {
        let Some(layout) = self.layout.get() else {
            return;
        };
        self.process_id.set(Some(process_id));
        self.app_break.set(layout.initial_break);
        self.allow_high_water.set(layout.memory_start);
        self.kernel_break
            .set(layout.memory_start + layout.memory_len);
        for g in &self.grants {
            g.ptr.set(0);
            g.driver_num.set(0);
            g.entered.set(false);
        }
        self.clear_tasks();
        self.completion_code.set(None);
        self.start_pending.set(true);
        self.state.set(State::Running);
    }

    fn access_granule(&self) -> usize {
        self.layout
            .get()
            .map_or(crate::process::PMP_GRANULE, |l| l.access_granule)
    }

    /// End of the flash range the architecture lets the process read and
    /// execute (at least the end of its TBF object).
    pub fn flash_access_end(&self) -> usize {
        self.flash_access_end.get()
    }

    pub(crate) fn set_flash_access_end(&self, end: usize) {
        self.flash_access_end.set(end);
    }

    /// End of the RAM the architecture lets the process read and write: the
    /// break rounded up to the access granule (`brk` and `carve` keep that
    /// below the grant region).
    pub fn ram_access_end(&self) -> usize {
        self.app_break
            .get()
            .next_multiple_of(self.access_granule())
            .min(self.kernel_break.get())
    }

    /// True once after each `reset`: the caller must start the instance
    /// from its entry point (see `Kernel::entry_call`).
    pub fn take_start_request(&self) -> bool {
        self.start_pending.replace(false)
    }

    pub fn allow_high_water(&self) -> usize {
        self.allow_high_water.get()
    }

    pub(crate) fn raise_allow_high_water(&self, end: usize) {
        self.allow_high_water
            .set(self.allow_high_water.get().max(end));
    }

    /// Observers still revoking device access to this slot's memory.
    pub fn revocations_pending(&self) -> usize {
        self.revocations_pending.get()
    }

    pub(crate) fn add_revocations_pending(&self, n: usize) {
        self.revocations_pending
            .set(self.revocations_pending.get() + n);
    }

    /// Counts one revocation done.
    pub(crate) fn revocation_done(&self) {
        self.revocations_pending
            .set(self.revocations_pending.get().saturating_sub(1));
    }

    /// True while a restart waits for revocations to complete.
    pub fn restart_requested(&self) -> bool {
        self.restart_requested.get()
    }

    pub(crate) fn request_restart(&self) {
        self.restart_requested.set(true);
    }

    /// True once, if a restart was asked for and nothing is still being
    /// revoked: the caller must then reset the slot to a new instance.
    pub(crate) fn take_restart_when_revoked(&self) -> bool {
        self.revocations_pending.get() == 0 && self.restart_requested.replace(false)
    }

    pub(crate) fn bump_restart_count(&self) {
        self.restart_count.set(self.restart_count.get() + 1);
    }

    /// Ends the instance: no more grants, tasks or scheduling.
    pub(crate) fn terminate(&self, state: State) {
        for g in &self.grants {
            g.ptr.set(0);
            g.entered.set(false);
        }
        self.clear_tasks();
        self.state.set(state);
    }

    // ----- grants -------------------------------------------------------------

    /// Address of grant `grant_num`'s memory, if allocated.
    pub(crate) fn grant_ptr(&self, grant_num: usize) -> Option<usize> {
        self.grants
            .get(grant_num)
            .map(|g| g.ptr.get())
            .filter(|&p| p != 0)
    }

    /// Finds the grant allocated for `driver_num`.
    pub(crate) fn grant_ptr_for_driver(&self, driver_num: usize) -> Option<(usize, usize)> {
        self.grants.iter().enumerate().find_map(|(i, g)| {
            let p = g.ptr.get();
            (p != 0 && g.driver_num.get() == driver_num).then_some((i, p))
        })
    }

    /// Carves `size` bytes aligned to `align` from the grant region, for
    /// grant `grant_num` of `driver_num`. Returns the address.
    pub(crate) fn allocate_grant(
        &self,
        grant_num: usize,
        driver_num: usize,
        size: usize,
        align: usize,
    ) -> Result<usize, Error> {
        let slot = self.grants.get(grant_num).ok_or(Error::KernelError)?;
        if slot.ptr.get() != 0 {
            return Ok(slot.ptr.get());
        }
        let ptr = self.carve(size, align)?;
        slot.driver_num.set(driver_num);
        slot.ptr.set(ptr);
        Ok(ptr)
    }

    /// Moves `kernel_break` down by `size` bytes (aligned), never below the
    /// app break.
    pub(crate) fn carve(&self, size: usize, align: usize) -> Result<usize, Error> {
        let top = self.kernel_break.get();
        let start = top
            .checked_sub(size)
            .map(|s| s & !(align.max(1) - 1))
            .ok_or(Error::OutOfMemory)?;
        if start < self.ram_access_end() {
            return Err(Error::OutOfMemory);
        }
        self.kernel_break.set(start);
        Ok(start)
    }

    /// Marks grant `grant_num` as entered. Fails if it already is.
    pub(crate) fn enter_grant(&self, grant_num: usize) -> Result<(), Error> {
        let slot = self.grants.get(grant_num).ok_or(Error::KernelError)?;
        if slot.entered.get() {
            return Err(Error::AlreadyInUse);
        }
        slot.entered.set(true);
        Ok(())
    }

    pub(crate) fn leave_grant(&self, grant_num: usize) {
        if let Some(slot) = self.grants.get(grant_num) {
            slot.entered.set(false);
        }
    }

    pub(crate) fn grant_entered(&self, grant_num: usize) -> bool {
        self.grants.get(grant_num).is_some_and(|g| g.entered.get())
    }

    // ----- tasks --------------------------------------------------------------

    /// Queues a task. `NODEVICE` if the process is not alive, `NOMEM` if the
    /// queue is full (the upcall is dropped and counted).
    pub(crate) fn enqueue_task(&self, task: Task) -> Result<(), ErrorCode> {
        if !self.is_alive() {
            return Err(ErrorCode::NODEVICE);
        }
        let len = self.task_len.get();
        if len == TASK_QUEUE_LEN {
            self.dropped_upcalls.set(self.dropped_upcalls.get() + 1);
            return Err(ErrorCode::NOMEM);
        }
        self.tasks[len].set(Some(task));
        self.task_len.set(len + 1);
        Ok(())
    }

    /// Removes and returns the first task for which `pred` holds.
    pub(crate) fn dequeue_task_where(&self, pred: impl Fn(&Task) -> bool) -> Option<Task> {
        let queued = &self.tasks[..self.task_len.get()];
        let (found, task) = queued
            .iter()
            .enumerate()
            .find_map(|(i, slot)| slot.get().filter(|t| pred(t)).map(|t| (i, t)))?;
        // Close the gap, keeping order; the last slot becomes free.
        for i in found + 1..queued.len() {
            queued[i - 1].set(queued[i].get());
        }
        queued[queued.len() - 1].set(None);
        self.task_len.set(queued.len() - 1);
        Some(task)
    }

    /// Removes the oldest task.
    pub fn dequeue_task(&self) -> Option<Task> {
        self.dequeue_task_where(|_| true)
    }

    /// Removes every queued task for `upcall_id`; returns how many.
    pub(crate) fn remove_pending_upcalls(&self, upcall_id: UpcallId) -> usize {
        let mut removed = 0;
        while self
            .dequeue_task_where(|t| t.upcall_id() == Some(upcall_id))
            .is_some()
        {
            removed += 1;
        }
        removed
    }

    pub fn pending_tasks(&self) -> usize {
        self.task_len.get()
    }

    /// Looks at queued task `i` (0 = oldest) without removing it.
    pub fn peek_task(&self, i: usize) -> Option<Task> {
        (i < self.task_len.get())
            .then(|| self.tasks[i].get())
            .flatten()
    }

    fn clear_tasks(&self) {
        for t in &self.tasks {
            t.set(None);
        }
        self.task_len.set(0);
    }
}

impl Process for ProcessStandard {
    fn processid(&self) -> ProcessId {
        // The kernel hands out `&dyn Process` only for occupied slots.
        self.process_id
            .get()
            .expect("Process::processid on an empty slot")
    }

    fn short_app_id(&self) -> ShortId {
        self.short_id()
    }

    fn get_restart_count(&self) -> usize {
        self.restart_count()
    }

    fn get_process_name(&self) -> &'static str {
        self.name()
    }

    fn has_tasks(&self) -> bool {
        self.pending_tasks() > 0
    }

    fn pending_tasks(&self) -> usize {
        self.task_len.get()
    }

    fn get_state(&self) -> State {
        self.state()
    }

    fn is_running(&self) -> bool {
        self.is_alive()
    }

    fn get_completion_code(&self) -> Option<Option<u32>> {
        match self.state() {
            State::Faulted | State::Terminated => Some(self.completion_code()),
            _ => None,
        }
    }

    fn debug_syscall_count(&self) -> usize {
        self.syscall_count()
    }

    fn debug_dropped_upcall_count(&self) -> usize {
        self.dropped_upcall_count()
    }

    fn get_addresses(&self) -> ProcessAddresses {
        let layout = self.layout.get();
        let flash_start = layout.map_or(0, |l| l.flash_start);
        let flash_end = layout.map_or(0, |l| l.flash_start + l.flash_len);
        ProcessAddresses {
            flash_start,
            flash_non_protected_start: layout.map_or(0, |l| l.app_start),
            flash_integrity_end: core::ptr::without_provenance(flash_end),
            flash_end,
            sram_start: self.memory_start(),
            sram_app_brk: self.app_break(),
            sram_grant_start: self.kernel_break(),
            sram_end: self.memory_end(),
            sram_heap_start: None,
            sram_stack_top: None,
            sram_stack_bottom: None,
        }
    }

    fn memory_revocations_pending(&self) -> usize {
        self.revocations_pending()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ReturnArguments;

    fn layout() -> ProcessLayout {
        ProcessLayout {
            name: "t",
            short_id: None,
            flash_start: 0x1000,
            flash_len: 0x1000,
            entry: 0x1080,
            app_start: 0x1040,
            memory_start: 0x10000,
            memory_len: 0x1000,
            initial_break: 0x10800,
            access_granule: crate::process::PMP_GRANULE,
        }
    }

    extern crate std;

    /// An id for a process of a kernel with no slots of its own.
    fn pid() -> ProcessId {
        let kernel: &'static crate::Kernel =
            std::boxed::Box::leak(std::boxed::Box::new(crate::Kernel::new(&[])));
        ProcessId::new(kernel, 0, 0)
    }

    fn task(n: usize) -> Task {
        Task::ReturnValue(ReturnArguments {
            upcall_id: UpcallId {
                driver_num: 1,
                subscribe_num: n,
            },
            argument0: n,
            argument1: 0,
            argument2: 0,
        })
    }

    #[test]
    fn task_queue_full_is_reported_and_counted() {
        let p = ProcessStandard::new();
        p.load(layout(), pid());
        for i in 0..TASK_QUEUE_LEN {
            assert_eq!(p.enqueue_task(task(i)), Ok(()));
        }
        assert_eq!(p.enqueue_task(task(99)), Err(ErrorCode::NOMEM));
        assert_eq!(p.dropped_upcall_count(), 1);
        assert_eq!(p.dequeue_task(), Some(task(0)));
        assert_eq!(p.enqueue_task(task(10)), Ok(()));
        // Removing from the middle keeps the order of the rest.
        assert_eq!(
            p.remove_pending_upcalls(UpcallId {
                driver_num: 1,
                subscribe_num: 5
            }),
            1
        );
        let order: [usize; 9] = core::array::from_fn(|_| match p.dequeue_task() {
            Some(Task::ReturnValue(r)) => r.argument0,
            _ => usize::MAX,
        });
        assert_eq!(order, [1, 2, 3, 4, 6, 7, 8, 9, 10]);
        assert_eq!(p.dequeue_task(), None);
    }

    #[test]
    fn dead_process_takes_no_tasks() {
        let p = ProcessStandard::new();
        assert_eq!(p.enqueue_task(task(0)), Err(ErrorCode::NODEVICE));
        p.load(layout(), pid());
        p.terminate(State::Terminated);
        assert_eq!(p.enqueue_task(task(0)), Err(ErrorCode::NODEVICE));
    }

    #[test]
    fn grant_region_never_crosses_the_break() {
        let p = ProcessStandard::new();
        p.load(
            ProcessLayout {
                memory_len: 0x3000,
                ..layout()
            },
            pid(),
        );
        // Break 0x10802: its PMP end is 0x10804, and grants stay above it.
        assert_eq!(p.brk(0x10802), Ok(0x10800));
        assert_eq!(p.ram_access_end(), 0x10804);
        assert_eq!(p.carve(0x27fc, 4), Ok(0x10804));
        assert_eq!(p.carve(4, 4), Err(Error::OutOfMemory));
        // The break cannot grow into the grant region either, not even by
        // the bytes its PMP rounding would add.
        assert_eq!(p.brk(0x10805), Err(Error::OutOfMemory));
        assert_eq!(p.brk(0x10804), Ok(0x10802));
        // Nor below the memory start, nor past the end of the block.
        assert_eq!(p.brk(0xffff), Err(Error::AddressOutOfBounds));
        assert_eq!(p.brk(0x13001), Err(Error::AddressOutOfBounds));
    }

    #[test]
    fn a_wider_access_granule_keeps_grants_out_of_reach() {
        let p = ProcessStandard::new();
        p.load(
            ProcessLayout {
                memory_len: 0x3000,
                access_granule: 0x1000,
                ..layout()
            },
            pid(),
        );
        // Break 0x10800, access up to 0x11000: grants only above that.
        assert_eq!(p.ram_access_end(), 0x11000);
        assert_eq!(p.carve(0x1f00, 8), Ok(0x11100));
        assert_eq!(p.carve(0x200, 8), Err(Error::OutOfMemory));
        assert_eq!(p.brk(0x11001), Err(Error::OutOfMemory));
        assert_eq!(p.brk(0x11000), Ok(0x10800));
    }

    #[test]
    fn memory_checks_reject_overflow_and_outside() {
        let p = ProcessStandard::new();
        p.load(layout(), pid());
        assert!(p.in_app_owned_memory(0x10000, 0x800));
        assert!(!p.in_app_owned_memory(0x10000, 0x801));
        assert!(!p.in_app_owned_memory(0xffff, 1));
        assert!(!p.in_app_owned_memory(usize::MAX, 2));
        assert!(p.in_app_flash_memory(0x1000, 0x1000));
        assert!(!p.in_app_flash_memory(0x1fff, 2));
    }
}
