// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Buffers a process has shared with the kernel through allow (Tock's
//! `kernel::processbuffer`).
//!
//! A process buffer is a pointer, a length and the owning `ProcessId`. The
//! kernel checked, at allow time, that the range lies in memory the process
//! owns. Every access goes through `enter`/`mut_enter`, which first checks
//! that the process instance still exists, and then lends the memory out as
//! a slice of `Cell<u8>`: the process may change the bytes at any time and
//! two allows may overlap, so the kernel never holds a `&[u8]` or `&mut [u8]`
//! to process memory.

use core::cell::Cell;
use core::ops::{Deref, Index, Range, RangeFrom, RangeTo};

use crate::errorcode::ErrorCode;
use crate::hil::iommu::DmaMemory;
use crate::process::{self, ProcessId};

/// A process buffer the kernel may read.
#[allow(clippy::len_without_is_empty)] // Tock's trait has no is_empty
pub trait ReadableProcessBuffer {
    /// Length in bytes (0 if nothing is allowed).
    fn len(&self) -> usize;

    /// Start address as the process gave it.
    fn ptr(&self) -> *const u8;

    /// Runs `fun` on the buffer's contents if the process is still alive,
    /// else returns `Err(NoSuchApp)`.
    fn enter<F, R>(&self, fun: F) -> Result<R, process::Error>
    where
        F: FnOnce(&ReadableProcessSlice) -> R;
}

/// A process buffer the kernel may also write.
pub trait WriteableProcessBuffer: ReadableProcessBuffer {
    /// Start address as the process gave it, for writing.
    fn mut_ptr(&self) -> *mut u8 {
        self.ptr().cast_mut()
    }

    /// Runs `fun` on the buffer's contents, writable, if the process is still
    /// alive, else returns `Err(NoSuchApp)`.
    fn mut_enter<F, R>(&self, fun: F) -> Result<R, process::Error>
    where
        F: FnOnce(&WriteableProcessSlice) -> R;
}

/// Checks `process_id` is alive, then makes the raw slice.
///
/// # Safety
///
/// (1) When `len > 0`, `[ptr, ptr+len)` was checked at allow time to lie in
/// memory owned by the process `process_id` names. (2) That memory stays
/// mapped for as long as that process instance is alive.
unsafe fn raw_process_slice<'a>(
    ptr: *const u8,
    len: usize,
    process_id: Option<ProcessId>,
) -> Result<&'a [Cell<u8>], process::Error> {
    let Some(pid) = process_id else {
        // The default (never allowed) buffer.
        return Ok(&[]);
    };
    if !pid.kernel.process_is_alive(pid) {
        return Err(process::Error::NoSuchApp);
    }
    if len == 0 {
        return Ok(&[]);
    }
    // SAFETY: by (1) the range is process memory, by (2) it is mapped while
    // the process is alive, which we just checked; `Cell<u8>` has the layout
    // of `u8` and tolerates the process changing it, and the slice's lifetime
    // is bounded by the `enter` closure that uses it.
    Ok(unsafe { core::slice::from_raw_parts(ptr.cast::<Cell<u8>>(), len) })
}

/// What both kinds of process buffer hold: a range the kernel checked at
/// allow time, and the process instance it belongs to.
///
/// Built only by the buffers' `unsafe` constructors, whose obligations
/// (the range lies in memory of `process_id`, checked) it carries.
struct Lease {
    ptr: *const u8,
    len: usize,
    process_id: Option<ProcessId>,
}

impl Lease {
    const EMPTY: Lease = Lease {
        ptr: core::ptr::null(),
        len: 0,
        process_id: None,
    };

    /// The length, or 0 once the process instance is gone.
    fn len(&self) -> usize {
        self.process_id.map_or(0, |pid| {
            if pid.kernel.process_is_alive(pid) {
                self.len
            } else {
                0
            }
        })
    }

    fn ptr(&self) -> *const u8 {
        if self.len == 0 {
            core::ptr::null()
        } else {
            self.ptr
        }
    }

    /// The range as memory its process may let a device reach, if the
    /// process is alive and the range not empty.
    fn dma_memory(&self, writable: bool) -> Option<DmaMemory> {
        let pid = self.process_id?;
        (self.len > 0 && pid.kernel.process_is_alive(pid))
            .then(|| DmaMemory::held(self.ptr as usize, self.len, writable, Some(pid)))
    }

    /// The process memory as cells, if the process is still alive.
    fn cells(&self) -> Result<&[Cell<u8>], process::Error> {
        // SAFETY: a `Lease` is only made by the buffers' `new`, whose
        // callers promised a checked range of `process_id`'s memory;
        // `raw_process_slice` checks the process is alive, and the slice
        // does not outlive `&self`, which callers only lend to a closure.
        unsafe { raw_process_slice(self.ptr, self.len, self.process_id) }
    }
}

/// A read-only buffer shared by a process (read-only allow).
pub struct ReadOnlyProcessBuffer {
    lease: Lease,
}

impl ReadOnlyProcessBuffer {
    /// # Safety
    ///
    /// If `len > 0`, `[ptr, ptr+len)` must lie in memory owned by process
    /// `process_id` (RAM below its break, or its flash) and be checked so.
    pub(crate) unsafe fn new(ptr: *const u8, len: usize, process_id: ProcessId) -> Self {
        ReadOnlyProcessBuffer {
            lease: Lease {
                ptr,
                len,
                process_id: Some(process_id),
            },
        }
    }

    /// This buffer as memory its process lets devices read
    /// (`hil::iommu::Map::map` maps it read-only), or `None` if it is empty
    /// or its process has ended. A proposed addition to Tock's API.
    pub fn dma_memory(&self) -> Option<DmaMemory> {
        self.lease.dma_memory(false)
    }
}

impl Default for ReadOnlyProcessBuffer {
    fn default() -> Self {
        ReadOnlyProcessBuffer {
            lease: Lease::EMPTY,
        }
    }
}

impl ReadableProcessBuffer for ReadOnlyProcessBuffer {
    fn len(&self) -> usize {
        self.lease.len()
    }

    fn ptr(&self) -> *const u8 {
        self.lease.ptr()
    }

    fn enter<F, R>(&self, fun: F) -> Result<R, process::Error>
    where
        F: FnOnce(&ReadableProcessSlice) -> R,
    {
        Ok(fun(ReadableProcessSlice::from_cells(self.lease.cells()?)))
    }
}

/// A borrowed `ReadOnlyProcessBuffer`, valid inside a grant `enter`.
pub struct ReadOnlyProcessBufferRef<'a> {
    buf: ReadOnlyProcessBuffer,
    _lifetime: core::marker::PhantomData<&'a ()>,
}

impl ReadOnlyProcessBufferRef<'_> {
    /// # Safety
    ///
    /// As `ReadOnlyProcessBuffer::new`.
    pub(crate) unsafe fn new(ptr: *const u8, len: usize, process_id: ProcessId) -> Self {
        ReadOnlyProcessBufferRef {
            // SAFETY: forwarded to our caller.
            buf: unsafe { ReadOnlyProcessBuffer::new(ptr, len, process_id) },
            _lifetime: core::marker::PhantomData,
        }
    }
}

impl Deref for ReadOnlyProcessBufferRef<'_> {
    type Target = ReadOnlyProcessBuffer;
    fn deref(&self) -> &ReadOnlyProcessBuffer {
        &self.buf
    }
}

/// A read-write buffer shared by a process (read-write allow).
pub struct ReadWriteProcessBuffer {
    lease: Lease,
}

impl ReadWriteProcessBuffer {
    /// # Safety
    ///
    /// If `len > 0`, `[ptr, ptr+len)` must lie in RAM owned by process
    /// `process_id`, below its break, and be checked so.
    pub(crate) unsafe fn new(ptr: *mut u8, len: usize, process_id: ProcessId) -> Self {
        ReadWriteProcessBuffer {
            lease: Lease {
                ptr: ptr.cast_const(),
                len,
                process_id: Some(process_id),
            },
        }
    }

    /// A buffer of length 0 belonging to no process.
    pub const fn const_default() -> Self {
        ReadWriteProcessBuffer {
            lease: Lease::EMPTY,
        }
    }

    /// This buffer as memory its process lets devices read and write
    /// (`hil::iommu::Map::map`), or `None` if it is empty or its process
    /// has ended. A proposed addition to Tock's API.
    pub fn dma_memory(&self) -> Option<DmaMemory> {
        self.lease.dma_memory(true)
    }
}

impl Default for ReadWriteProcessBuffer {
    fn default() -> Self {
        Self::const_default()
    }
}

impl ReadableProcessBuffer for ReadWriteProcessBuffer {
    fn len(&self) -> usize {
        self.lease.len()
    }

    fn ptr(&self) -> *const u8 {
        self.lease.ptr()
    }

    fn enter<F, R>(&self, fun: F) -> Result<R, process::Error>
    where
        F: FnOnce(&ReadableProcessSlice) -> R,
    {
        Ok(fun(ReadableProcessSlice::from_cells(self.lease.cells()?)))
    }
}

impl WriteableProcessBuffer for ReadWriteProcessBuffer {
    fn mut_enter<F, R>(&self, fun: F) -> Result<R, process::Error>
    where
        F: FnOnce(&WriteableProcessSlice) -> R,
    {
        // Writable: `new` required writable process RAM.
        Ok(fun(WriteableProcessSlice::from_cells(self.lease.cells()?)))
    }
}

/// A borrowed `ReadWriteProcessBuffer`, valid inside a grant `enter`.
pub struct ReadWriteProcessBufferRef<'a> {
    buf: ReadWriteProcessBuffer,
    _lifetime: core::marker::PhantomData<&'a ()>,
}

impl ReadWriteProcessBufferRef<'_> {
    /// # Safety
    ///
    /// As `ReadWriteProcessBuffer::new`.
    pub(crate) unsafe fn new(ptr: *mut u8, len: usize, process_id: ProcessId) -> Self {
        ReadWriteProcessBufferRef {
            // SAFETY: forwarded to our caller.
            buf: unsafe { ReadWriteProcessBuffer::new(ptr, len, process_id) },
            _lifetime: core::marker::PhantomData,
        }
    }
}

impl Deref for ReadWriteProcessBufferRef<'_> {
    type Target = ReadWriteProcessBuffer;
    fn deref(&self) -> &ReadWriteProcessBuffer {
        &self.buf
    }
}

/// Tock's name for the buffer of a userspace-readable allow.
pub type UserspaceReadableProcessBuffer = ReadWriteProcessBuffer;

/// One byte of a `ReadableProcessSlice`.
#[repr(transparent)]
pub struct ReadableProcessByte {
    cell: Cell<u8>,
}

impl ReadableProcessByte {
    pub fn get(&self) -> u8 {
        self.cell.get()
    }
}

/// Process memory the kernel may read. Its bytes may change under it.
#[repr(transparent)]
pub struct ReadableProcessSlice {
    slice: [ReadableProcessByte],
}

/// Process memory the kernel may read and write.
#[repr(transparent)]
pub struct WriteableProcessSlice {
    slice: [Cell<u8>],
}

impl ReadableProcessSlice {
    fn from_cells(cells: &[Cell<u8>]) -> &ReadableProcessSlice {
        // SAFETY: `ReadableProcessSlice` and `ReadableProcessByte` are
        // `repr(transparent)` over `[ReadableProcessByte]` and `Cell<u8>`, so
        // the layouts are identical; the lifetime is carried over.
        unsafe { &*(core::ptr::from_ref(cells) as *const ReadableProcessSlice) }
    }

    /// Copies the whole slice into `dest`. Panics if the lengths differ (as
    /// Tock's does); use `copy_to_slice_or_err` for untrusted lengths.
    pub fn copy_to_slice(&self, dest: &mut [u8]) {
        assert!(dest.len() == self.len(), "length mismatch");
        self.copy_to_slice_or_err(dest).unwrap_or(());
    }

    /// Copies the whole slice into `dest`, `SIZE` if the lengths differ.
    pub fn copy_to_slice_or_err(&self, dest: &mut [u8]) -> Result<(), ErrorCode> {
        if dest.len() != self.len() {
            return Err(ErrorCode::SIZE);
        }
        for (d, s) in dest.iter_mut().zip(self.slice.iter()) {
            *d = s.get();
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.slice.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slice.is_empty()
    }

    pub fn iter(&self) -> core::slice::Iter<'_, ReadableProcessByte> {
        self.slice.iter()
    }

    pub fn chunks(&self, chunk_size: usize) -> impl Iterator<Item = &ReadableProcessSlice> {
        self.slice.chunks(chunk_size).map(|c| {
            // SAFETY: same layout argument as `from_cells`.
            unsafe { &*(core::ptr::from_ref(c) as *const ReadableProcessSlice) }
        })
    }

    pub fn get<I: ProcessSliceIndex<Self>>(&self, index: I) -> Option<&I::Output> {
        index.get(self)
    }

    pub fn get_from(&self, range: RangeFrom<usize>) -> Option<&ReadableProcessSlice> {
        range.get(self)
    }

    pub fn get_to(&self, range: RangeTo<usize>) -> Option<&ReadableProcessSlice> {
        range.get(self)
    }

    fn sub(&self, range: Range<usize>) -> Option<&ReadableProcessSlice> {
        self.slice.get(range).map(|s| {
            // SAFETY: same layout argument as `from_cells`.
            unsafe { &*(core::ptr::from_ref(s) as *const ReadableProcessSlice) }
        })
    }
}

impl WriteableProcessSlice {
    fn from_cells(cells: &[Cell<u8>]) -> &WriteableProcessSlice {
        // SAFETY: `WriteableProcessSlice` is `repr(transparent)` over
        // `[Cell<u8>]`; the lifetime is carried over.
        unsafe { &*(core::ptr::from_ref(cells) as *const WriteableProcessSlice) }
    }

    /// Copies the whole slice into `dest`. Panics if the lengths differ.
    pub fn copy_to_slice(&self, dest: &mut [u8]) {
        assert!(dest.len() == self.len(), "length mismatch");
        self.copy_to_slice_or_err(dest).unwrap_or(());
    }

    /// Copies the whole slice into `dest`, `SIZE` if the lengths differ.
    pub fn copy_to_slice_or_err(&self, dest: &mut [u8]) -> Result<(), ErrorCode> {
        if dest.len() != self.len() {
            return Err(ErrorCode::SIZE);
        }
        for (d, s) in dest.iter_mut().zip(self.slice.iter()) {
            *d = s.get();
        }
        Ok(())
    }

    /// Fills the whole slice from `src`. Panics if the lengths differ.
    pub fn copy_from_slice(&self, src: &[u8]) {
        assert!(src.len() == self.len(), "length mismatch");
        self.copy_from_slice_or_err(src).unwrap_or(());
    }

    /// Fills the whole slice from `src`, `SIZE` if the lengths differ.
    pub fn copy_from_slice_or_err(&self, src: &[u8]) -> Result<(), ErrorCode> {
        if src.len() != self.len() {
            return Err(ErrorCode::SIZE);
        }
        for (d, s) in self.slice.iter().zip(src.iter()) {
            d.set(*s);
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.slice.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slice.is_empty()
    }

    pub fn iter(&self) -> core::slice::Iter<'_, Cell<u8>> {
        self.slice.iter()
    }

    pub fn chunks(&self, chunk_size: usize) -> impl Iterator<Item = &WriteableProcessSlice> {
        self.slice
            .chunks(chunk_size)
            .map(WriteableProcessSlice::from_cells)
    }

    pub fn get<I: ProcessSliceIndex<Self>>(&self, index: I) -> Option<&I::Output> {
        index.get(self)
    }

    pub fn get_from(&self, range: RangeFrom<usize>) -> Option<&WriteableProcessSlice> {
        range.get(self)
    }

    pub fn get_to(&self, range: RangeTo<usize>) -> Option<&WriteableProcessSlice> {
        range.get(self)
    }

    fn sub(&self, range: Range<usize>) -> Option<&WriteableProcessSlice> {
        self.slice.get(range).map(WriteableProcessSlice::from_cells)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for usize {}
    impl Sealed for core::ops::Range<usize> {}
    impl Sealed for core::ops::RangeFrom<usize> {}
    impl Sealed for core::ops::RangeTo<usize> {}
}

/// Index types for process slices (a byte or a sub-range).
pub trait ProcessSliceIndex<PB: ?Sized>: sealed::Sealed {
    type Output: ?Sized;
    fn get(self, slice: &PB) -> Option<&Self::Output>;
    fn index(self, slice: &PB) -> &Self::Output;
}

macro_rules! range_indices {
    ($slice:ty) => {
        impl ProcessSliceIndex<$slice> for Range<usize> {
            type Output = $slice;
            fn get(self, slice: &$slice) -> Option<&$slice> {
                slice.sub(self)
            }
            fn index(self, slice: &$slice) -> &$slice {
                slice.sub(self).expect("process slice index out of range")
            }
        }
        impl ProcessSliceIndex<$slice> for RangeFrom<usize> {
            type Output = $slice;
            fn get(self, slice: &$slice) -> Option<&$slice> {
                slice.sub(self.start..slice.len())
            }
            fn index(self, slice: &$slice) -> &$slice {
                (self.start..slice.len()).index(slice)
            }
        }
        impl ProcessSliceIndex<$slice> for RangeTo<usize> {
            type Output = $slice;
            fn get(self, slice: &$slice) -> Option<&$slice> {
                slice.sub(0..self.end)
            }
            fn index(self, slice: &$slice) -> &$slice {
                (0..self.end).index(slice)
            }
        }
        impl<I: ProcessSliceIndex<$slice>> Index<I> for $slice {
            type Output = I::Output;
            fn index(&self, index: I) -> &I::Output {
                index.index(self)
            }
        }
    };
}

range_indices!(ReadableProcessSlice);
range_indices!(WriteableProcessSlice);

impl ProcessSliceIndex<ReadableProcessSlice> for usize {
    type Output = ReadableProcessByte;
    fn get(self, slice: &ReadableProcessSlice) -> Option<&ReadableProcessByte> {
        slice.slice.get(self)
    }
    fn index(self, slice: &ReadableProcessSlice) -> &ReadableProcessByte {
        &slice.slice[self]
    }
}

impl ProcessSliceIndex<WriteableProcessSlice> for usize {
    type Output = Cell<u8>;
    fn get(self, slice: &WriteableProcessSlice) -> Option<&Cell<u8>> {
        slice.slice.get(self)
    }
    fn index(self, slice: &WriteableProcessSlice) -> &Cell<u8> {
        &slice.slice[self]
    }
}

impl<'a> From<&'a mut [u8]> for &'a WriteableProcessSlice {
    fn from(val: &'a mut [u8]) -> Self {
        WriteableProcessSlice::from_cells(Cell::from_mut(val).as_slice_of_cells())
    }
}

impl<'a> From<&'a mut [u8]> for &'a ReadableProcessSlice {
    fn from(val: &'a mut [u8]) -> Self {
        ReadableProcessSlice::from_cells(Cell::from_mut(val).as_slice_of_cells())
    }
}

impl<'a> From<&'a [u8]> for &'a ReadableProcessSlice {
    fn from(val: &'a [u8]) -> Self {
        // SAFETY: a `&[u8]` is never written through this view: the
        // `ReadableProcessSlice` API only reads (`ReadableProcessByte::get`),
        // and `Cell<u8>` has the layout of `u8`.
        unsafe { &*(core::ptr::from_ref(val) as *const ReadableProcessSlice) }
    }
}
