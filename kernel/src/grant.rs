// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Grants: per-process state of a capsule, kept in the process's own grant
//! region (Tock's `kernel::grant`).
//!
//! A `Grant<T, Upcalls, AllowROs, AllowRWs>` is created once per driver by the
//! board (`Kernel::create_grant`). The first time a capsule enters it for a
//! process, the kernel carves this layout from the top of that process's
//! memory (see `process` for the memory model):
//!
//! ```text
//!  base: counts word   [upcalls u8 | ro allows u8 | rw allows u8 | 0]
//!        upcall slots  Upcalls  x (fn pointer, app data)
//!        ro slots      AllowROs x (pointer, length)
//!        rw slots      AllowRWs x (pointer, length)
//!        T             aligned for T, initialized with T::default()
//! ```
//!
//! The slots are the kernel-managed part: subscribe and allow write them
//! without knowing `T` (they read the counts word). Memory is freed only when
//! the whole process instance ends, exactly as in Tock, so the size of a
//! process's grants is bounded by the drivers the board has.

use core::cell::Cell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use crate::errorcode::ErrorCode;
use crate::kernel::Kernel;
use crate::process::{Error, ProcessId, ProcessStandard, Task};
use crate::processbuffer::{ReadOnlyProcessBufferRef, ReadWriteProcessBufferRef};
use crate::upcall::{UpcallError, UpcallId};

/// Tracks how many upcalls a grant supports.
pub trait UpcallSize {
    const COUNT: u8;
}

/// `UpcallCount<N>`: the grant has N upcall slots.
pub struct UpcallCount<const NUM: u8>;
impl<const NUM: u8> UpcallSize for UpcallCount<NUM> {
    const COUNT: u8 = NUM;
}

/// Tracks how many read-only allows a grant supports.
pub trait AllowRoSize {
    const COUNT: u8;
}

/// `AllowRoCount<N>`: the grant has N read-only allow slots.
pub struct AllowRoCount<const NUM: u8>;
impl<const NUM: u8> AllowRoSize for AllowRoCount<NUM> {
    const COUNT: u8 = NUM;
}

/// Tracks how many read-write allows a grant supports.
pub trait AllowRwSize {
    const COUNT: u8;
}

/// `AllowRwCount<N>`: the grant has N read-write allow slots.
pub struct AllowRwCount<const NUM: u8>;
impl<const NUM: u8> AllowRwSize for AllowRwCount<NUM> {
    const COUNT: u8 = NUM;
}

const WORD: usize = core::mem::size_of::<usize>();

/// The kernel-managed part of one allocated grant: a view over its counts
/// word and slots, which are all `usize` words in the grant region.
#[derive(Clone, Copy)]
pub(crate) struct KernelManaged<'a> {
    words: &'a [Cell<usize>],
    upcalls: usize,
    ro: usize,
    rw: usize,
}

impl<'a> KernelManaged<'a> {
    /// Number of words the kernel-managed part takes for these counts.
    const fn words_for(upcalls: u8, ro: u8, rw: u8) -> usize {
        1 + 2 * (upcalls as usize + ro as usize + rw as usize)
    }

    /// Initializes the kernel-managed part at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be word-aligned, and point to at least `words_for(..)`
    /// words of grant-region memory of a live process, which nothing else
    /// references, and which stays allocated for `'a`.
    unsafe fn init(base: usize, upcalls: u8, ro: u8, rw: u8) -> KernelManaged<'a> {
        let n = Self::words_for(upcalls, ro, rw);
        let ptr = base as *mut usize;
        for i in 0..n {
            // SAFETY: within the `n` words the caller gave us.
            unsafe { ptr.add(i).write(0) };
        }
        // SAFETY: as above, now initialized.
        unsafe { ptr.write(upcalls as usize | (ro as usize) << 8 | (rw as usize) << 16) };
        // SAFETY: initialized; the caller promised the lifetime.
        unsafe { Self::at(base) }
    }

    /// Views an initialized kernel-managed part at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be the address of a grant initialized with `init` that
    /// stays allocated for `'a`. (Only the kernel writes these words; the
    /// process cannot reach its grant region.)
    pub(crate) unsafe fn at(base: usize) -> KernelManaged<'a> {
        // SAFETY: `base` is an initialized, aligned counts word.
        let counts = unsafe { *(base as *const usize) };
        let (upcalls, ro, rw) = (counts & 0xff, (counts >> 8) & 0xff, (counts >> 16) & 0xff);
        let n = 1 + 2 * (upcalls + ro + rw);
        // SAFETY: the `n` words were initialized by `init`; `Cell<usize>` has
        // the layout of `usize`; they are only ever accessed through `Cell`s.
        let words = unsafe { core::slice::from_raw_parts(base as *const Cell<usize>, n) };
        KernelManaged {
            words,
            upcalls,
            ro,
            rw,
        }
    }

    fn pair(&self, index: usize) -> (usize, usize) {
        (
            self.words[1 + 2 * index].get(),
            self.words[2 + 2 * index].get(),
        )
    }

    fn swap_pair(&self, index: usize, new: (usize, usize)) -> (usize, usize) {
        let old = self.pair(index);
        self.words[1 + 2 * index].set(new.0);
        self.words[2 + 2 * index].set(new.1);
        old
    }

    /// Upcall `n` as (fn pointer, app data).
    pub(crate) fn upcall(&self, n: usize) -> Option<(usize, usize)> {
        (n < self.upcalls).then(|| self.pair(n))
    }

    pub(crate) fn swap_upcall(&self, n: usize, new: (usize, usize)) -> Option<(usize, usize)> {
        (n < self.upcalls).then(|| self.swap_pair(n, new))
    }

    pub(crate) fn allow_ro(&self, n: usize) -> Option<(usize, usize)> {
        (n < self.ro).then(|| self.pair(self.upcalls + n))
    }

    pub(crate) fn swap_allow_ro(&self, n: usize, new: (usize, usize)) -> Option<(usize, usize)> {
        (n < self.ro).then(|| self.swap_pair(self.upcalls + n, new))
    }

    pub(crate) fn allow_rw(&self, n: usize) -> Option<(usize, usize)> {
        (n < self.rw).then(|| self.pair(self.upcalls + self.ro + n))
    }

    pub(crate) fn swap_allow_rw(&self, n: usize, new: (usize, usize)) -> Option<(usize, usize)> {
        (n < self.rw).then(|| self.swap_pair(self.upcalls + self.ro + n, new))
    }
}

/// Schedules upcall `subscribe_num` of `driver_num` on `process` with the
/// slot contents `slot` (fn, data). A null fn queues a `ReturnValue` (seen
/// only by yield-wait-for), as TRD104 specifies for null upcalls.
pub(crate) fn schedule(
    process: &ProcessStandard,
    upcall_id: UpcallId,
    slot: (usize, usize),
    r: (usize, usize, usize),
) -> Result<(), UpcallError> {
    let task = if slot.0 == 0 {
        Task::ReturnValue(crate::process::ReturnArguments {
            upcall_id,
            argument0: r.0,
            argument1: r.1,
            argument2: r.2,
        })
    } else {
        Task::FunctionCall(crate::process::FunctionCall {
            source: crate::process::FunctionCallSource::Driver(upcall_id),
            argument0: r.0,
            argument1: r.1,
            argument2: r.2,
            argument3: slot.1,
            pc: slot.0,
        })
    };
    process.enqueue_task(task).map_err(|e| match e {
        ErrorCode::NOMEM => UpcallError::QueueFull,
        _ => UpcallError::KernelError,
    })
}

/// The capsule's view of its typed grant data.
pub struct GrantData<'a, T: 'a + ?Sized> {
    data: &'a mut T,
}

impl<'a, T: 'a + ?Sized> GrantData<'a, T> {
    fn new(data: &'a mut T) -> GrantData<'a, T> {
        GrantData { data }
    }
}

impl<'a, T: 'a + ?Sized> Deref for GrantData<'a, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.data
    }
}

impl<'a, T: 'a + ?Sized> DerefMut for GrantData<'a, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.data
    }
}

/// The kernel-managed part of an entered grant: upcalls and allowed buffers.
pub struct GrantKernelData<'a> {
    managed: KernelManaged<'a>,
    driver_num: usize,
    process: &'a ProcessStandard,
    process_id: ProcessId,
}

impl<'a> GrantKernelData<'a> {
    /// Schedules upcall `subscribe_num` with arguments `r`.
    ///
    /// Errors: `InvalidSubscribeNum` if the grant has no such slot,
    /// `QueueFull` if the process's task queue is full (the upcall is lost and
    /// counted), `KernelError` if the process is not alive.
    pub fn schedule_upcall(
        &self,
        subscribe_num: usize,
        r: (usize, usize, usize),
    ) -> Result<(), UpcallError> {
        let slot = self
            .managed
            .upcall(subscribe_num)
            .ok_or(UpcallError::InvalidSubscribeNum)?;
        schedule(
            self.process,
            UpcallId {
                driver_num: self.driver_num,
                subscribe_num,
            },
            slot,
            r,
        )
    }

    /// Removes the first queued upcall `subscribe_num`, returning it.
    pub fn remove_upcall(&self, subscribe_num: usize) -> Option<Task> {
        let id = UpcallId {
            driver_num: self.driver_num,
            subscribe_num,
        };
        self.process
            .dequeue_task_where(|t| t.upcall_id() == Some(id))
    }

    /// Removes every queued upcall `subscribe_num`; returns how many.
    pub fn remove_pending_upcalls(&self, subscribe_num: usize) -> usize {
        self.process.remove_pending_upcalls(UpcallId {
            driver_num: self.driver_num,
            subscribe_num,
        })
    }

    /// Read-only allow `allow_ro_num` (length 0 if nothing is allowed);
    /// `AddressOutOfBounds` if the grant has no such slot.
    pub fn get_readonly_processbuffer(
        &self,
        allow_ro_num: usize,
    ) -> Result<ReadOnlyProcessBufferRef<'_>, Error> {
        let (ptr, len) = self
            .managed
            .allow_ro(allow_ro_num)
            .ok_or(Error::AddressOutOfBounds)?;
        // SAFETY: the kernel stores only ranges it checked to be in this
        // process's memory (see `Kernel::allow_readonly`); the Ref's lifetime
        // is bounded by this grant entry.
        Ok(unsafe { ReadOnlyProcessBufferRef::new(ptr as *const u8, len, self.process_id) })
    }

    /// Read-write allow `allow_rw_num` (length 0 if nothing is allowed);
    /// `AddressOutOfBounds` if the grant has no such slot.
    pub fn get_readwrite_processbuffer(
        &self,
        allow_rw_num: usize,
    ) -> Result<ReadWriteProcessBufferRef<'_>, Error> {
        let (ptr, len) = self
            .managed
            .allow_rw(allow_rw_num)
            .ok_or(Error::AddressOutOfBounds)?;
        // SAFETY: the kernel stores only ranges it checked to be in this
        // process's RAM below its break (see `Kernel::allow_readwrite`).
        Ok(unsafe { ReadWriteProcessBufferRef::new(ptr as *mut u8, len, self.process_id) })
    }
}

/// A capsule's per-process state, for every process.
pub struct Grant<T: Default, Upcalls: UpcallSize, AllowROs: AllowRoSize, AllowRWs: AllowRwSize> {
    pub(crate) kernel: &'static Kernel,
    driver_num: usize,
    grant_num: usize,
    _types: PhantomData<(T, Upcalls, AllowROs, AllowRWs)>,
}

impl<T: Default, Upcalls: UpcallSize, AllowROs: AllowRoSize, AllowRWs: AllowRwSize>
    Grant<T, Upcalls, AllowROs, AllowRWs>
{
    pub(crate) fn new(kernel: &'static Kernel, driver_num: usize, grant_num: usize) -> Self {
        Grant {
            kernel,
            driver_num,
            grant_num,
            _types: PhantomData,
        }
    }

    const MANAGED_BYTES: usize =
        KernelManaged::words_for(Upcalls::COUNT, AllowROs::COUNT, AllowRWs::COUNT) * WORD;
    const ALIGN: usize = if core::mem::align_of::<T>() > WORD {
        core::mem::align_of::<T>()
    } else {
        WORD
    };
    /// Offset of `T` from the grant's base.
    const T_OFFSET: usize = Self::MANAGED_BYTES.next_multiple_of(Self::ALIGN);
    /// Bytes this grant takes in each process that uses it.
    pub const SIZE: usize = Self::T_OFFSET + core::mem::size_of::<T>();

    /// The driver number this grant serves.
    pub fn driver_num(&self) -> usize {
        self.driver_num
    }

    /// Finds the grant's memory in `process`, allocating and initializing it
    /// on first use.
    fn base_in(&self, process: &ProcessStandard) -> Result<usize, Error> {
        match process.grant_ptr(self.grant_num) {
            Some(base) => Ok(base),
            None => self.allocate_in(process),
        }
    }

    /// Allocates and initializes this grant in `process`. Once per process
    /// instance, so kept out of line of every `enter`.
    #[cold]
    fn allocate_in(&self, process: &ProcessStandard) -> Result<usize, Error> {
        let base =
            process.allocate_grant(self.grant_num, self.driver_num, Self::SIZE, Self::ALIGN)?;
        // SAFETY: `allocate_grant` just carved `SIZE` bytes aligned to
        // `ALIGN` (>= word) from this live process's grant region, which
        // nothing references yet and which lives as long as the instance.
        unsafe {
            KernelManaged::init(base, Upcalls::COUNT, AllowROs::COUNT, AllowRWs::COUNT);
            ((base + Self::T_OFFSET) as *mut T).write(T::default());
        }
        Ok(base)
    }

    fn access<F, R>(
        &self,
        process: &ProcessStandard,
        process_id: ProcessId,
        base: usize,
        fun: F,
    ) -> Result<R, Error>
    where
        F: FnOnce(&mut GrantData<T>, &GrantKernelData) -> R,
    {
        process.enter_grant(self.grant_num)?;
        // SAFETY: `base` is this grant's initialized memory in a live process
        // (`base_in`), which stays allocated while the process instance
        // lives; no process instance can end while a capsule is running. The
        // `entered` flag we just set makes this the only `&mut T` to it.
        let (data, managed) = unsafe {
            (
                &mut *((base + Self::T_OFFSET) as *mut T),
                KernelManaged::at(base),
            )
        };
        let kernel_data = GrantKernelData {
            managed,
            driver_num: self.driver_num,
            process,
            process_id,
        };
        let result = fun(&mut GrantData::new(data), &kernel_data);
        process.leave_grant(self.grant_num);
        Ok(result)
    }

    /// Runs `fun` with this grant's data for `processid`, allocating it on
    /// first use.
    ///
    /// Errors: `NoSuchApp` if the process is gone (or the id is stale),
    /// `OutOfMemory` if its grant region cannot hold the grant,
    /// `AlreadyInUse` if this grant is already entered for that process.
    pub fn enter<F, R>(&self, processid: ProcessId, fun: F) -> Result<R, Error>
    where
        F: FnOnce(&mut GrantData<T>, &GrantKernelData) -> R,
    {
        let process = self
            .kernel
            .live_process(processid)
            .ok_or(Error::NoSuchApp)?;
        let base = self.base_in(process)?;
        self.access(process, processid, base, fun)
    }

    /// Runs `fun` for every live process that has this grant allocated (and
    /// not currently entered).
    pub fn each<F>(&self, mut fun: F)
    where
        F: FnMut(ProcessId, &mut GrantData<T>, &GrantKernelData),
    {
        for pg in self.iter() {
            let pid = pg.processid();
            pg.try_enter(|data, kernel_data| fun(pid, data, kernel_data));
        }
    }

    /// Iterates over the live processes that have this grant allocated.
    pub fn iter(&self) -> Iter<'_, T, Upcalls, AllowROs, AllowRWs> {
        Iter {
            grant: self,
            index: 0,
        }
    }
}

/// A grant allocated for one process, from `Grant::iter`.
pub struct ProcessGrant<
    'a,
    T: Default,
    Upcalls: UpcallSize,
    AllowROs: AllowRoSize,
    AllowRWs: AllowRwSize,
> {
    grant: &'a Grant<T, Upcalls, AllowROs, AllowRWs>,
    process: &'static ProcessStandard,
    process_id: ProcessId,
    base: usize,
}

impl<T: Default, Upcalls: UpcallSize, AllowROs: AllowRoSize, AllowRWs: AllowRwSize>
    ProcessGrant<'_, T, Upcalls, AllowROs, AllowRWs>
{
    pub fn processid(&self) -> ProcessId {
        self.process_id
    }

    /// Enters the grant. Panics if it is already entered for this process
    /// (as Tock does): that is a capsule bug, nesting `enter` on one grant.
    pub fn enter<F, R>(self, fun: F) -> R
    where
        F: FnOnce(&mut GrantData<T>, &GrantKernelData) -> R,
    {
        self.try_enter(fun).expect("grant entered twice")
    }

    /// Enters the grant, or returns `None` if it is already entered.
    pub fn try_enter<F, R>(self, fun: F) -> Option<R>
    where
        F: FnOnce(&mut GrantData<T>, &GrantKernelData) -> R,
    {
        if !self.process.is_alive()
            || self.process.grant_ptr(self.grant.grant_num) != Some(self.base)
        {
            return None;
        }
        self.grant
            .access(self.process, self.process_id, self.base, fun)
            .ok()
    }
}

/// Iterator over the processes that have a grant allocated.
pub struct Iter<
    'a,
    T: 'a + Default,
    Upcalls: UpcallSize,
    AllowROs: AllowRoSize,
    AllowRWs: AllowRwSize,
> {
    grant: &'a Grant<T, Upcalls, AllowROs, AllowRWs>,
    index: usize,
}

impl<'a, T: Default, Upcalls: UpcallSize, AllowROs: AllowRoSize, AllowRWs: AllowRwSize> Iterator
    for Iter<'a, T, Upcalls, AllowROs, AllowRWs>
{
    type Item = ProcessGrant<'a, T, Upcalls, AllowROs, AllowRWs>;

    fn next(&mut self) -> Option<Self::Item> {
        let kernel = self.grant.kernel;
        while let Some(process) = kernel.process_at(self.index) {
            self.index += 1;
            if !process.is_alive() || process.grant_entered(self.grant.grant_num) {
                continue;
            }
            let grant = process.grant_ptr(self.grant.grant_num);
            if let (Some(base), Some(process_id)) = (grant, process.process_id()) {
                return Some(ProcessGrant {
                    grant: self.grant,
                    process,
                    process_id,
                    base,
                });
            }
        }
        None
    }
}
