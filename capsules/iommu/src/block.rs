// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Block storage system call driver: whole sectors straight between a
//! disk and a process's allowed buffer, through a per-request IOMMU
//! mapping (`doc/syscalls/50005_block.md`).
//!
//! The board gives each application its own range of the disk's sectors
//! ([`SectorPolicy`]); a process addresses sectors relative to its range
//! and every request is checked against the range before anything reaches
//! the device, so no process reads or writes another's sectors. Several
//! processes share the disk: each may have one request queued or in
//! flight, and requests are served one at a time, oldest first.
//!
//! Two variants of the data path, chosen by the board ([`DataPath`]):
//!
//! - **zero-copy**: the process's buffer (its `DmaMemory`) is mapped for
//!   one request at the window of a [`KernelDomain`], the device moves the
//!   data straight into or out of it, and the request completes to the
//!   process only after the mapping is gone, invalidation completed
//!   (`request_unmapped`). The buffer must start on an IOMMU page and hold
//!   the whole pages the request touches (the device can reach those pages
//!   of the process's own buffer for the request, nothing else); otherwise
//!   the request is refused (`INVAL`, `SIZE`) rather than copied. A
//!   process that ends mid-request has the mapping taken away by the
//!   kernel domain (a `ProcessMemoryObserver`) before its memory changes
//!   hands; the device's late writes fault in the IOMMU, the device is
//!   then aborted, and nothing is completed to anyone.
//! - **bounce**: a kernel buffer mapped for good at a fixed IOVA; the
//!   driver copies between it and the process's buffer (and counts the
//!   bytes it copied, for the benchmark).
//!
//! A device that never completes a request holds the disk until its
//! requester aborts it (`ABORT`) or ends: the device is then reset
//! (`DmaBlock::abort`) and the next request is served.

use core::cell::Cell;

use kernel::capabilities::ProcessManagementCapability;
use kernel::grant::{AllowRoCount, AllowRwCount, Grant, UpcallCount};
use kernel::hil::dma_block::{BounceBuffer, DmaBlock, DmaBlockClient, Operation};
use kernel::hil::iommu::DmaMemory;
use kernel::processbuffer::{ReadableProcessBuffer, WriteableProcessBuffer};
use kernel::syscall::{CommandReturn, SyscallDriver};
use kernel::{ErrorCode, Kernel, ProcessId};

use crate::kernel_domain::{KernelDomain, KernelDomainClient};

/// The block storage driver number.
///
/// The first free number after Tock's storage drivers (0x50000 app flash, 0x50001 NVM storage, 0x50002 SD card, 0x50003 KV,
/// 0x50004 isolated NVM storage). Kept here with the other IOMMU drivers'
/// numbers rather than in `capsules_core::driver::NUM`, because the
/// driver lives in this crate.
pub const DRIVER_NUM: usize = 0x50005;

/// Command numbers.
pub mod command {
    /// Does the driver exist? Always `Ok`.
    pub const EXISTS: usize = 0;
    /// `Ok(sector size, sectors in the caller's range)`.
    pub const INFO: usize = 1;
    /// Read `count` sectors from sector `sector` of the caller's range
    /// into read-write allow 0.
    pub const READ: usize = 2;
    /// Write `count` sectors at sector `sector` of the caller's range from
    /// read-only allow 0.
    pub const WRITE: usize = 3;
    /// Abandon the caller's request (queued or in flight).
    pub const ABORT: usize = 4;
}

/// Upcall numbers.
pub mod upcall {
    /// A request finished: (status code, sectors moved, 0).
    pub const DONE: usize = 0;
    pub const COUNT: u8 = 1;
}

/// Read-only allow numbers.
pub mod ro_allow {
    /// The data a `WRITE` writes.
    pub const WRITE_SOURCE: usize = 0;
    pub const COUNT: u8 = 1;
}

/// Read-write allow numbers.
pub mod rw_allow {
    /// Where a `READ` puts the data.
    pub const READ_DESTINATION: usize = 0;
    pub const COUNT: u8 = 1;
}

/// A range of sectors of the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectorRange {
    pub first: u64,
    pub count: u64,
}

/// The board's policy: which sectors each application may use.
pub trait SectorPolicy {
    /// The range of process `process`, or `None` for no access.
    fn range(&self, process: ProcessId) -> Option<SectorRange>;
}

/// A policy by package name: the first entry whose name is the process's.
pub struct NamedSectorRanges<'a> {
    pub ranges: &'a [(&'a str, SectorRange)],
    pub kernel: &'static Kernel,
    pub capability: &'a dyn ProcessManagementCapability,
}

impl SectorPolicy for NamedSectorRanges<'_> {
    fn range(&self, process: ProcessId) -> Option<SectorRange> {
        let name = self.kernel.process_map_or_external(
            None,
            process,
            |p| Some(p.get_process_name()),
            self.capability,
        )?;
        self.ranges
            .iter()
            .find(|(listed, _)| *listed == name)
            .map(|(_, range)| *range)
    }
}

/// How data moves between the device and process buffers.
#[derive(Clone, Copy)]
pub enum DataPath<'a> {
    /// The process buffer is mapped for each request; `page_size` is the
    /// IOMMU's smallest page.
    ZeroCopy { page_size: usize },
    /// Through `buffer`, mapped for good at `iova`.
    Bounce {
        buffer: &'a dyn BounceBuffer,
        iova: usize,
    },
}

/// A request of one process, in its grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Queued {
    operation: Operation,
    /// Absolute sector on the disk (checked against the range).
    sector: u64,
    count: u64,
    /// Order of arrival, for oldest-first service.
    ticket: u64,
}

#[derive(Default)]
pub struct App {
    queued: Option<Queued>,
}

/// The request being served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Current {
    owner: ProcessId,
    operation: Operation,
    sector: u64,
    count: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    /// Zero-copy: waiting for `request_mapped`.
    Mapping(Current),
    /// The device has the request.
    Device(Current),
    /// Zero-copy: the request ended with `result`; waiting for the mapping
    /// to be gone.
    Unmapping(Current, Result<(), ErrorCode>),
}

type BlockGrant = Grant<
    App,
    UpcallCount<{ upcall::COUNT }>,
    AllowRoCount<{ ro_allow::COUNT }>,
    AllowRwCount<{ rw_allow::COUNT }>,
>;

/// The block storage driver over a `DmaBlock` device.
pub struct BlockDriver<'a, D: DmaBlock<'a>> {
    device: &'a D,
    domain: &'a KernelDomain<'a>,
    path: DataPath<'a>,
    policy: &'a dyn SectorPolicy,
    apps: BlockGrant,
    state: Cell<State>,
    next_ticket: Cell<u64>,
    /// The window could not be confirmed unmapped, or the device could not
    /// be stopped: no more requests.
    failed: Cell<bool>,
    bytes_copied: Cell<u64>,
}

impl<'a, D: DmaBlock<'a>> BlockDriver<'a, D> {
    /// A driver for `device`, whose IOMMU context `domain` owns; the board
    /// makes it the client of both.
    pub fn new(
        device: &'a D,
        domain: &'a KernelDomain<'a>,
        path: DataPath<'a>,
        policy: &'a dyn SectorPolicy,
        apps: BlockGrant,
    ) -> Self {
        BlockDriver {
            device,
            domain,
            path,
            policy,
            apps,
            state: Cell::new(State::Idle),
            next_ticket: Cell::new(0),
            failed: Cell::new(false),
            bytes_copied: Cell::new(0),
        }
    }

    /// Bytes the CPU copied between process buffers and the bounce buffer
    /// (always 0 on the zero-copy path).
    pub fn bytes_copied(&self) -> u64 {
        self.bytes_copied.get()
    }

    fn sector_size(&self) -> usize {
        self.device.sector_size()
    }

    /// Checks a READ or WRITE of `process` and turns it into absolute
    /// sectors; `bytes` is the request's length.
    fn check(
        &self,
        process: ProcessId,
        operation: Operation,
        sector: usize,
        count: usize,
    ) -> Result<Queued, ErrorCode> {
        if self.failed.get() {
            return Err(ErrorCode::FAIL);
        }
        let range = self.policy.range(process).ok_or(ErrorCode::RESERVE)?;
        let (sector, count) = (sector as u64, count as u64);
        let end = sector.checked_add(count).ok_or(ErrorCode::INVAL)?;
        if count == 0 || end > range.count {
            return Err(ErrorCode::INVAL);
        }
        let absolute_end = range.first.checked_add(end).ok_or(ErrorCode::INVAL)?;
        if absolute_end > self.device.sectors() {
            // The board gave a range the disk does not have.
            return Err(ErrorCode::INVAL);
        }
        if operation == Operation::Write && self.device.read_only() {
            return Err(ErrorCode::NOSUPPORT);
        }
        let bytes = self.bytes(count).ok_or(ErrorCode::SIZE)?;
        if let DataPath::Bounce { buffer, .. } = self.path {
            if bytes > buffer.size() {
                return Err(ErrorCode::SIZE);
            }
        }
        Ok(Queued {
            operation,
            sector: range.first + sector,
            count,
            ticket: 0,
        })
    }

    fn bytes(&self, count: u64) -> Option<usize> {
        usize::try_from(count).ok()?.checked_mul(self.sector_size())
    }

    /// The process's buffer for `operation`, checked for `bytes` on the
    /// zero-copy path: what the device may reach (whole pages).
    fn mapping(
        &self,
        operation: Operation,
        bytes: usize,
        page_size: usize,
        memory: Option<DmaMemory>,
    ) -> Result<DmaMemory, ErrorCode> {
        let memory = memory.ok_or(ErrorCode::SIZE)?;
        if memory.start() % page_size != 0 {
            return Err(ErrorCode::INVAL);
        }
        let mapped = bytes.next_multiple_of(page_size);
        let memory = memory.sub_range(0, mapped).ok_or(ErrorCode::SIZE)?;
        Ok(match operation {
            Operation::Read => memory,
            Operation::Write => memory.read_only(),
        })
    }

    /// The buffer check of a request, at `command` and again at start
    /// (the process may allow another buffer in between).
    fn check_buffer(&self, process: ProcessId, request: &Queued) -> Result<(), ErrorCode> {
        let bytes = self.bytes(request.count).ok_or(ErrorCode::SIZE)?;
        self.apps
            .enter(process, |_, kernel_data| {
                let length = match request.operation {
                    Operation::Read => kernel_data
                        .get_readwrite_processbuffer(rw_allow::READ_DESTINATION)
                        .map_or(0, |buffer| buffer.len()),
                    Operation::Write => kernel_data
                        .get_readonly_processbuffer(ro_allow::WRITE_SOURCE)
                        .map_or(0, |buffer| buffer.len()),
                };
                if length < bytes {
                    return Err(ErrorCode::SIZE);
                }
                if let DataPath::ZeroCopy { page_size } = self.path {
                    self.mapping(
                        request.operation,
                        bytes,
                        page_size,
                        self.memory(kernel_data, request.operation),
                    )?;
                }
                Ok(())
            })
            .unwrap_or(Err(ErrorCode::FAIL))
    }

    fn memory(
        &self,
        kernel_data: &kernel::grant::GrantKernelData,
        operation: Operation,
    ) -> Option<DmaMemory> {
        match operation {
            Operation::Read => kernel_data
                .get_readwrite_processbuffer(rw_allow::READ_DESTINATION)
                .ok()
                .and_then(|buffer| buffer.dma_memory()),
            Operation::Write => kernel_data
                .get_readonly_processbuffer(ro_allow::WRITE_SOURCE)
                .ok()
                .and_then(|buffer| buffer.dma_memory()),
        }
    }

    /// Serves the oldest queued request, if the disk is free.
    fn serve_next(&self) {
        // Bounded: each round takes one request out of a grant.
        for _ in 0..self.apps.iter().count() {
            if self.state.get() != State::Idle || self.failed.get() {
                return;
            }
            let mut oldest: Option<(ProcessId, Queued)> = None;
            for app in self.apps.iter() {
                let process = app.processid();
                if let Some(Some(queued)) = app.try_enter(|app, _| app.queued) {
                    if oldest.is_none_or(|(_, old)| queued.ticket < old.ticket) {
                        oldest = Some((process, queued));
                    }
                }
            }
            let Some((owner, queued)) = oldest else {
                return;
            };
            let _ = self.apps.enter(owner, |app, _| app.queued = None);
            let current = Current {
                owner,
                operation: queued.operation,
                sector: queued.sector,
                count: queued.count,
            };
            if let Err(error) = self.begin(current, &queued) {
                self.deliver(current, Err(error));
            }
        }
    }

    /// Starts `current`: maps the process buffer or fills the bounce
    /// buffer, then gives the request to the device.
    fn begin(&self, current: Current, queued: &Queued) -> Result<(), ErrorCode> {
        self.check_buffer(current.owner, queued)?;
        let bytes = self.bytes(current.count).ok_or(ErrorCode::SIZE)?;
        match self.path {
            DataPath::ZeroCopy { page_size } => {
                let memory = self
                    .apps
                    .enter(current.owner, |_, kernel_data| {
                        self.memory(kernel_data, current.operation)
                    })
                    .map_err(|_| ErrorCode::FAIL)?;
                let memory = self.mapping(current.operation, bytes, page_size, memory)?;
                self.state.set(State::Mapping(current));
                match self.domain.map_request(memory) {
                    Ok(true) => self.start_device(current),
                    Ok(false) => {}
                    Err(error) => {
                        self.state.set(State::Idle);
                        return Err(error);
                    }
                }
                Ok(())
            }
            DataPath::Bounce { buffer, iova } => {
                if current.operation == Operation::Write {
                    let copied = self
                        .apps
                        .enter(current.owner, |_, kernel_data| {
                            kernel_data
                                .get_readonly_processbuffer(ro_allow::WRITE_SOURCE)
                                .and_then(|source| {
                                    source.enter(|source| {
                                        source
                                            .get(..bytes)
                                            .map_or(0, |source| buffer.copy_from_process(0, source))
                                    })
                                })
                                .unwrap_or(0)
                        })
                        .unwrap_or(0);
                    if copied != bytes {
                        return Err(ErrorCode::FAIL);
                    }
                    self.count_copied(copied);
                }
                self.device
                    .start(current.operation, current.sector, iova, bytes)?;
                self.state.set(State::Device(current));
                Ok(())
            }
        }
    }

    /// Zero-copy: the buffer is mapped; hands the request to the device.
    fn start_device(&self, current: Current) {
        let bytes = self.bytes(current.count).unwrap_or(0);
        self.state.set(State::Device(current));
        if let Err(error) = self.device.start(
            current.operation,
            current.sector,
            self.domain.window(),
            bytes,
        ) {
            self.unmap(current, Err(error));
        }
    }

    /// Zero-copy: the request ended with `result`; takes the mapping away
    /// and completes once it is gone.
    fn unmap(&self, current: Current, result: Result<(), ErrorCode>) {
        self.state.set(State::Unmapping(current, result));
        match self.domain.unmap_request() {
            Ok(()) => {}
            // Already gone: the owner ended and the kernel domain took it.
            Err(ErrorCode::ALREADY) => self.finish(current, result),
            Err(_) => {
                // The window stays mapped as far as anyone can tell.
                self.failed.set(true);
                self.finish(current, result);
            }
        }
    }

    fn finish(&self, current: Current, result: Result<(), ErrorCode>) {
        self.state.set(State::Idle);
        self.deliver(current, result);
        self.serve_next();
    }

    /// Tells the owner (if it still lives) that its request ended.
    fn deliver(&self, current: Current, result: Result<(), ErrorCode>) {
        let sectors = if result.is_ok() { current.count } else { 0 };
        let _ = self.apps.enter(current.owner, |_, kernel_data| {
            let _ = kernel_data.schedule_upcall(
                upcall::DONE,
                (
                    kernel::errorcode::into_statuscode(result),
                    sectors as usize,
                    0,
                ),
            );
        });
    }

    fn count_copied(&self, bytes: usize) {
        self.bytes_copied
            .set(self.bytes_copied.get().saturating_add(bytes as u64));
    }

    /// Stops the device for a request nobody waits for any more.
    fn abort_device(&self) {
        if self.device.abort().is_err() {
            self.failed.set(true);
        }
    }

    fn abort(&self, process: ProcessId) -> Result<(), ErrorCode> {
        let queued = self
            .apps
            .enter(process, |app, _| app.queued.take())
            .map_err(|_| ErrorCode::FAIL)?;
        if queued.is_some() {
            return Ok(());
        }
        match self.state.get() {
            State::Device(current) if current.owner == process => {
                self.abort_device();
                match self.path {
                    DataPath::ZeroCopy { .. } => self.unmap(current, Err(ErrorCode::CANCEL)),
                    DataPath::Bounce { .. } => self.finish(current, Err(ErrorCode::CANCEL)),
                }
                Ok(())
            }
            // Mapping or unmapping: ends by itself shortly.
            State::Mapping(current) | State::Unmapping(current, _) if current.owner == process => {
                Err(ErrorCode::BUSY)
            }
            _ => Err(ErrorCode::INVAL),
        }
    }
}

impl<'a, D: DmaBlock<'a>> SyscallDriver for BlockDriver<'a, D> {
    fn command(
        &self,
        command_num: usize,
        arg1: usize,
        arg2: usize,
        process: ProcessId,
    ) -> CommandReturn {
        let operation = match command_num {
            command::EXISTS => return CommandReturn::success(),
            command::INFO => {
                return match self.policy.range(process) {
                    Some(range) => CommandReturn::success_u32_u32(
                        self.sector_size() as u32,
                        u32::try_from(range.count).unwrap_or(u32::MAX),
                    ),
                    None => CommandReturn::failure(ErrorCode::RESERVE),
                };
            }
            command::ABORT => {
                return match self.abort(process) {
                    Ok(()) => CommandReturn::success(),
                    Err(error) => CommandReturn::failure(error),
                };
            }
            command::READ => Operation::Read,
            command::WRITE => Operation::Write,
            _ => return CommandReturn::failure(ErrorCode::NOSUPPORT),
        };
        let mut request = match self.check(process, operation, arg1, arg2) {
            Ok(request) => request,
            Err(error) => return CommandReturn::failure(error),
        };
        if let Err(error) = self.check_buffer(process, &request) {
            return CommandReturn::failure(error);
        }
        let busy = matches!(self.state.get(),
            State::Mapping(c) | State::Device(c) | State::Unmapping(c, _) if c.owner == process);
        request.ticket = self.next_ticket.get();
        let queued = self.apps.enter(process, |app, _| {
            if busy || app.queued.is_some() {
                return Err(ErrorCode::BUSY);
            }
            app.queued = Some(request);
            Ok(())
        });
        match queued {
            Ok(Ok(())) => {
                self.next_ticket.set(request.ticket + 1);
                self.serve_next();
                CommandReturn::success()
            }
            Ok(Err(error)) => CommandReturn::failure(error),
            Err(_) => CommandReturn::failure(ErrorCode::NOMEM),
        }
    }

    fn allocate_grant(&self, process: ProcessId) -> Result<(), kernel::process::Error> {
        self.apps.enter(process, |_, _| {})
    }
}

impl<'a, D: DmaBlock<'a>> DmaBlockClient for BlockDriver<'a, D> {
    fn operation_done(
        &self,
        _operation: Operation,
        _sector: u64,
        _iova: usize,
        _len: usize,
        result: Result<(), ErrorCode>,
    ) {
        let State::Device(current) = self.state.get() else {
            return;
        };
        match self.path {
            DataPath::ZeroCopy { .. } => self.unmap(current, result),
            DataPath::Bounce { buffer, .. } => {
                let mut result = result;
                if result.is_ok() && current.operation == Operation::Read {
                    let bytes = self.bytes(current.count).unwrap_or(0);
                    let copied = self
                        .apps
                        .enter(current.owner, |_, kernel_data| {
                            kernel_data
                                .get_readwrite_processbuffer(rw_allow::READ_DESTINATION)
                                .and_then(|destination| {
                                    destination.mut_enter(|destination| {
                                        destination.get(..bytes).map_or(0, |destination| {
                                            buffer.copy_to_process(0, destination)
                                        })
                                    })
                                })
                                .unwrap_or(0)
                        })
                        .unwrap_or(0);
                    self.count_copied(copied);
                    if copied != bytes {
                        result = Err(ErrorCode::SIZE);
                    }
                }
                self.finish(current, result);
            }
        }
    }
}

impl<'a, D: DmaBlock<'a>> KernelDomainClient for BlockDriver<'a, D> {
    fn ready(&self, _result: Result<(), ErrorCode>) {}

    fn request_mapped(&self, result: Result<(), ErrorCode>) {
        let State::Mapping(current) = self.state.get() else {
            return;
        };
        match result {
            Ok(()) => self.start_device(current),
            Err(error) => self.unmap(current, Err(error)),
        }
    }

    fn request_unmapped(&self, result: Result<(), ErrorCode>) {
        if result.is_err() {
            // The device may still reach the window: serve nothing more.
            self.failed.set(true);
        }
        match self.state.get() {
            State::Unmapping(current, outcome) => self.finish(current, outcome),
            // The owner ended mid-request and the kernel domain took the
            // mapping away: the device's writes now fault. Stop the device
            // (its request has no one to go to) and serve the next.
            State::Device(current) | State::Mapping(current) => {
                self.abort_device();
                self.finish(current, Err(ErrorCode::CANCEL));
            }
            State::Idle => {}
        }
    }
}
