// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The block storage driver (0x50005) over the capsule harness's fake
//! processes, the mock IOMMU and a mock disk whose every memory access
//! goes through the mock IOMMU's translation, as a device's does.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use capsule_test_harness::{Harness, Upcall};
use capsules_iommu::block::{
    BlockDriver, DRIVER_NUM, DataPath, SectorPolicy, SectorRange, command,
};
use capsules_iommu::kernel_domain::KernelDomain;
use iommu_test_support::mock_iommu::MockIommu;
use iommu_test_support::test_memory;
use kernel::capabilities::ProcessManagementCapability;
use kernel::hil::dma_block::{BounceBuffer, DmaBlock, DmaBlockClient, Operation};
use kernel::hil::iommu::{AccessType, ContextId};
use kernel::processbuffer::{ReadableProcessSlice, WriteableProcessSlice};
use kernel::utilities::cells::OptionalCell;
use kernel::{ErrorCode, ProcessId, create_capability};

const CONTEXT: usize = 1;
const WINDOW: usize = 0x10_0000;
const BOUNCE_IOVA: usize = 0x2000;
const SECTOR: usize = 512;
/// The mock IOMMU's page: 512 bytes (page shift 9), so that buffers in
/// the harness's small process RAM can be page aligned.
const PAGE: usize = 512;
const DISK_SECTORS: u64 = 64;

/// A disk whose DMA goes through the mock IOMMU, byte by byte.
struct MockDisk {
    iommu: &'static MockIommu,
    medium: RefCell<Vec<u8>>,
    pending: RefCell<VecDeque<(Operation, u64, usize, usize)>>,
    client: OptionalCell<&'static dyn DmaBlockClient>,
    /// Accesses the IOMMU refused.
    faults: Cell<usize>,
    aborts: Cell<usize>,
    /// Keeps serving its requests through an abort (a device that
    /// ignores resets): then only the IOMMU stands between it and memory.
    ignores_abort: Cell<bool>,
}

impl MockDisk {
    fn new(iommu: &'static MockIommu) -> Self {
        MockDisk {
            iommu,
            medium: RefCell::new(vec![0; DISK_SECTORS as usize * SECTOR]),
            pending: RefCell::new(VecDeque::new()),
            client: OptionalCell::empty(),
            faults: Cell::new(0),
            aborts: Cell::new(0),
            ignores_abort: Cell::new(false),
        }
    }

    /// Serves the oldest request, every access through the IOMMU.
    fn complete(&self, result: Result<(), ErrorCode>) {
        let (operation, sector, iova, len) = self.pending.borrow_mut().pop_front().unwrap();
        let start = sector as usize * SECTOR;
        for index in 0..len {
            let access = match operation {
                Operation::Read => AccessType::Write,
                Operation::Write => AccessType::Read,
            };
            match self.iommu.device_access(CONTEXT, iova + index, access) {
                Ok(physical) => match operation {
                    Operation::Read => {
                        let byte = self.medium.borrow()[start + index];
                        // SAFETY: the mock IOMMU translated to memory a
                        // test mapped: leaked process RAM or a leaked
                        // bounce buffer, alive for the whole test.
                        unsafe { (physical as *mut u8).write_volatile(byte) };
                    }
                    Operation::Write => {
                        // SAFETY: as above, for a read.
                        let byte = unsafe { (physical as *const u8).read_volatile() };
                        self.medium.borrow_mut()[start + index] = byte;
                    }
                },
                Err(_) => self.faults.set(self.faults.get() + 1),
            }
        }
        self.client
            .map(|c| c.operation_done(operation, sector, iova, len, result));
    }
}

impl DmaBlock<'static> for MockDisk {
    fn set_client(&self, client: &'static dyn DmaBlockClient) {
        self.client.set(client);
    }
    fn sector_size(&self) -> usize {
        SECTOR
    }
    fn sectors(&self) -> u64 {
        DISK_SECTORS
    }
    fn read_only(&self) -> bool {
        false
    }
    fn start(
        &self,
        operation: Operation,
        sector: u64,
        iova: usize,
        len: usize,
    ) -> Result<(), ErrorCode> {
        self.pending
            .borrow_mut()
            .push_back((operation, sector, iova, len));
        Ok(())
    }
    fn abort(&self) -> Result<(), ErrorCode> {
        self.aborts.set(self.aborts.get() + 1);
        if !self.ignores_abort.get() {
            self.pending.borrow_mut().clear();
        }
        Ok(())
    }
}

/// A bounce buffer over leaked host memory.
struct HostBounce {
    start: usize,
    len: usize,
}

impl BounceBuffer for HostBounce {
    fn size(&self) -> usize {
        self.len
    }
    fn copy_from_process(&self, offset: usize, source: &ReadableProcessSlice) -> usize {
        let count = source.len().min(self.len - offset);
        for (index, byte) in source.iter().take(count).enumerate() {
            // SAFETY: inside the leaked buffer; the test is single-threaded.
            unsafe { ((self.start + offset + index) as *mut u8).write_volatile(byte.get()) };
        }
        count
    }
    fn copy_to_process(&self, offset: usize, destination: &WriteableProcessSlice) -> usize {
        let count = destination.len().min(self.len - offset);
        for (index, byte) in destination.iter().take(count).enumerate() {
            // SAFETY: as above.
            byte.set(unsafe { ((self.start + offset + index) as *const u8).read_volatile() });
        }
        count
    }
}

/// "alpha" gets sectors 8..16, "beta" 16..24; nobody else any.
struct Policy(&'static Harness);

impl SectorPolicy for Policy {
    fn range(&self, process: ProcessId) -> Option<SectorRange> {
        match self.0.process(process).layout()?.name {
            "alpha" => Some(SectorRange { first: 8, count: 8 }),
            "beta" => Some(SectorRange {
                first: 16,
                count: 8,
            }),
            _ => None,
        }
    }
}

struct Rig {
    h: &'static Harness,
    mock: &'static MockIommu,
    disk: &'static MockDisk,
    driver: &'static BlockDriver<'static, MockDisk>,
}

fn rig(bounce: bool) -> Rig {
    let h = Harness::new(4);
    let mock = h.leak(MockIommu::new(2, 4, 32, 9));
    let cap: &'static dyn ProcessManagementCapability =
        h.leak(create_capability!(ProcessManagementCapability));
    let domain = h.leak(KernelDomain::new(
        mock,
        ContextId(CONTEXT),
        WINDOW,
        h.kernel(),
        cap,
    ));
    domain.register();
    h.add_memory_observer(domain);
    let disk = h.leak(MockDisk::new(mock));
    let policy = h.leak(Policy(h));
    // Four pages, page aligned, inside a leaked block one page larger.
    let bounce_memory: &'static mut [u64] = Vec::leak(vec![0u64; 5 * PAGE / 8]);
    let bounce_start = (bounce_memory.as_ptr() as usize).next_multiple_of(PAGE);
    let path = if bounce {
        DataPath::Bounce {
            buffer: h.leak(HostBounce {
                start: bounce_start,
                len: 4 * PAGE,
            }),
            iova: BOUNCE_IOVA,
        }
    } else {
        DataPath::ZeroCopy { page_size: PAGE }
    };
    let driver = h.leak(BlockDriver::new(
        disk,
        domain,
        path,
        policy,
        h.create_grant(DRIVER_NUM),
    ));
    disk.set_client(driver);
    domain.set_client(driver);
    h.add_driver(DRIVER_NUM, driver);
    domain
        .setup([(BOUNCE_IOVA, test_memory(bounce_start, 4 * PAGE))])
        .unwrap();
    mock.complete_all();
    Rig {
        h,
        mock,
        disk,
        driver,
    }
}

/// Offset in process RAM of a page-aligned buffer of `pages` pages,
/// `index`-th of its kind.
fn buffer_offset(r: &Rig, p: ProcessId, index: usize) -> usize {
    let start = r.h.ram_start(p);
    (start + 0x100).next_multiple_of(PAGE) - start + index * 4 * PAGE
}

/// Allows a page-aligned buffer of `len` bytes holding `bytes` read-only
/// (`index` 0) or read-write (`index` 1); returns its RAM offset.
fn allow(r: &Rig, p: ProcessId, index: usize, bytes: &[u8], len: usize) -> usize {
    let offset = buffer_offset(r, p, index);
    let address = r.h.write_ram(p, offset, bytes);
    let result = if index == 0 {
        r.h.allow_ro(p, DRIVER_NUM, 0, address, len)
    } else {
        r.h.allow_rw(p, DRIVER_NUM, 0, address, len)
    };
    assert!(result.is_success());
    offset
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13) ^ seed)
        .collect()
}

fn done(status: usize, sectors: usize) -> Upcall {
    Upcall {
        driver_num: DRIVER_NUM,
        subscribe_num: 0,
        args: (status, sectors, 0),
        fn_ptr: 0x200,
        appdata: 0,
    }
}

fn spawn(r: &Rig, name: &'static str) -> ProcessId {
    let p = r.h.spawn(name);
    assert!(r.h.subscribe(p, DRIVER_NUM, 0, 0x200, 0).is_success());
    p
}

/// IOVAs in the request window the device can reach now.
fn window_reachable(r: &Rig) -> usize {
    r.mock.reachable().iter().filter(|e| e.1 >= WINDOW).count()
}

fn status(error: ErrorCode) -> usize {
    kernel::errorcode::into_statuscode(Err(error))
}

#[test]
fn block_round_trip_zero_copy_completes_only_after_the_unmap() {
    let r = rig(false);
    let p = spawn(&r, "alpha");
    let info = r.h.command(p, DRIVER_NUM, command::INFO, 0, 0);
    assert_eq!(info, kernel::syscall::SyscallReturn::SuccessU32U32(512, 8));
    let data = pattern(1, 2 * SECTOR);
    allow(&r, p, 0, &data, 2 * SECTOR);
    assert!(
        r.h.command(p, DRIVER_NUM, command::WRITE, 1, 2)
            .is_success()
    );
    // The buffer is being mapped; the device has nothing yet.
    assert!(r.disk.pending.borrow().is_empty());
    r.mock.complete_all();
    // Sector 1 of alpha's range is sector 9 of the disk; the data is at the
    // window, the process's buffer itself.
    assert_eq!(
        r.disk.pending.borrow().front().copied(),
        Some((Operation::Write, 9, WINDOW, 2 * SECTOR))
    );
    r.disk.complete(Ok(()));
    // Done on the device, but not to the process until the unmap's
    // invalidation completed.
    assert!(r.h.upcalls(p).is_empty());
    assert!(window_reachable(&r) > 0);
    r.mock.complete_all();
    assert_eq!(r.h.upcalls(p), [done(0, 2)]);
    assert_eq!(window_reachable(&r), 0);
    assert_eq!(&r.disk.medium.borrow()[9 * SECTOR..11 * SECTOR], &data[..]);

    // Back into a read-write buffer.
    let offset = allow(&r, p, 1, &[0; 2 * SECTOR], 2 * SECTOR);
    assert!(r.h.command(p, DRIVER_NUM, command::READ, 1, 2).is_success());
    r.mock.complete_all();
    r.disk.complete(Ok(()));
    r.mock.complete_all();
    assert_eq!(r.h.upcalls(p), [done(0, 2)]);
    assert_eq!(r.h.read_ram(p, offset, 2 * SECTOR), data);
    assert_eq!(r.driver.bytes_copied(), 0);
    assert_eq!(r.disk.faults.get(), 0);
    // A device error reaches the process, after the unmap all the same.
    assert!(r.h.command(p, DRIVER_NUM, command::READ, 0, 1).is_success());
    r.mock.complete_all();
    r.disk.complete(Err(ErrorCode::FAIL));
    r.mock.complete_all();
    assert_eq!(r.h.upcalls(p), [done(status(ErrorCode::FAIL), 0)]);
}

#[test]
fn block_requests_outside_the_range_are_refused_before_the_device() {
    let r = rig(false);
    let p = spawn(&r, "alpha");
    allow(&r, p, 1, &[0; 8 * SECTOR], 8 * SECTOR);
    allow(&r, p, 0, &[0; 8 * SECTOR], 8 * SECTOR);
    for command in [command::READ, command::WRITE] {
        for (sector, count) in [(8, 1), (7, 2), (0, 9), (0, 0), (usize::MAX, 2)] {
            assert_eq!(
                r.h.command(p, DRIVER_NUM, command, sector, count).error(),
                Some(ErrorCode::INVAL),
                "command {command} sector {sector} count {count}"
            );
        }
    }
    // An application the policy does not list has no sectors at all.
    let stranger = spawn(&r, "gamma");
    allow(&r, stranger, 1, &[0; SECTOR], SECTOR);
    assert_eq!(
        r.h.command(stranger, DRIVER_NUM, command::READ, 0, 1)
            .error(),
        Some(ErrorCode::RESERVE)
    );
    assert_eq!(
        r.h.command(stranger, DRIVER_NUM, command::INFO, 0, 0)
            .error(),
        Some(ErrorCode::RESERVE)
    );
    // Buffers: too small, or not on a page.
    assert!(r.h.command(p, DRIVER_NUM, command::READ, 0, 8).is_success());
    r.mock.complete_all();
    r.disk.complete(Ok(()));
    r.mock.complete_all();
    r.h.upcalls(p);
    let offset = buffer_offset(&r, p, 1);
    let address = r.h.ram_start(p) + offset;
    assert!(r.h.allow_rw(p, DRIVER_NUM, 0, address, 100).is_success());
    assert_eq!(
        r.h.command(p, DRIVER_NUM, command::READ, 0, 1).error(),
        Some(ErrorCode::SIZE)
    );
    assert!(
        r.h.allow_rw(p, DRIVER_NUM, 0, address + 8, 2 * SECTOR)
            .is_success()
    );
    assert_eq!(
        r.h.command(p, DRIVER_NUM, command::READ, 0, 1).error(),
        Some(ErrorCode::INVAL)
    );
    // Nothing but the one good read reached the device.
    assert!(r.disk.pending.borrow().is_empty());
    assert_eq!(window_reachable(&r), 0);
}

trait ErrorOf {
    fn error(&self) -> Option<ErrorCode>;
}

impl ErrorOf for kernel::syscall::SyscallReturn {
    fn error(&self) -> Option<ErrorCode> {
        match self {
            kernel::syscall::SyscallReturn::Failure(error) => Some(*error),
            _ => None,
        }
    }
}

#[test]
fn block_two_processes_share_the_disk_oldest_first() {
    let r = rig(false);
    let a = spawn(&r, "alpha");
    let b = spawn(&r, "beta");
    let data_a = pattern(0xa, SECTOR);
    let data_b = pattern(0xb, SECTOR);
    allow(&r, a, 0, &data_a, SECTOR);
    allow(&r, b, 0, &data_b, SECTOR);
    // Both write "their" sector 0.
    assert!(
        r.h.command(a, DRIVER_NUM, command::WRITE, 0, 1)
            .is_success()
    );
    assert!(
        r.h.command(b, DRIVER_NUM, command::WRITE, 0, 1)
            .is_success()
    );
    // One request each at a time.
    assert_eq!(
        r.h.command(b, DRIVER_NUM, command::WRITE, 1, 1).error(),
        Some(ErrorCode::BUSY)
    );
    r.mock.complete_all();
    assert_eq!(r.disk.pending.borrow().len(), 1);
    r.disk.complete(Ok(()));
    r.mock.complete_all();
    assert_eq!(r.h.upcalls(a), [done(0, 1)]);
    assert!(r.h.upcalls(b).is_empty());
    r.mock.complete_all();
    r.disk.complete(Ok(()));
    r.mock.complete_all();
    assert_eq!(r.h.upcalls(b), [done(0, 1)]);
    let medium = r.disk.medium.borrow();
    assert_eq!(&medium[8 * SECTOR..9 * SECTOR], &data_a[..]);
    assert_eq!(&medium[16 * SECTOR..17 * SECTOR], &data_b[..]);
}

#[test]
fn block_kill_mid_request_no_device_write_lands_after_the_memory_changed_hands() {
    let r = rig(false);
    let p = spawn(&r, "alpha");
    r.disk.medium.borrow_mut()[8 * SECTOR..10 * SECTOR].fill(0xee);
    let offset = allow(&r, p, 1, &[0; 2 * SECTOR], 2 * SECTOR);
    let address = r.h.ram_start(p) + offset;
    assert!(r.h.command(p, DRIVER_NUM, command::READ, 0, 2).is_success());
    r.mock.complete_all();
    assert_eq!(r.disk.pending.borrow().len(), 1);
    // A device that ignores resets, so that only the IOMMU can stop it.
    r.disk.ignores_abort.set(true);
    // The process restarts: its memory goes to the new instance only once
    // the window's invalidation completed.
    r.h.restart(p);
    // Two pages still reachable (stale) until the invalidation completes.
    assert_eq!(r.mock.entries_into(address, address + 2 * SECTOR), 2);
    r.mock.complete_all();
    assert_eq!(r.mock.entries_into(address, address + 2 * SECTOR), 0);
    // The slot's new instance, in the same memory.
    let q = r.h.kernel().process_id_at(0).unwrap();
    assert_ne!(q, p);
    assert_eq!(r.h.ram_start(q) + offset, address);
    assert_eq!(r.disk.aborts.get(), 1);
    // The next owner writes its own data there; the device's late request
    // then runs: every one of its writes faults, none lands.
    let mine = pattern(0x77, 2 * SECTOR);
    r.h.write_ram(q, offset, &mine);
    r.disk.complete(Ok(()));
    assert_eq!(r.disk.faults.get(), 2 * SECTOR);
    assert_eq!(r.h.read_ram(q, offset, 2 * SECTOR), mine);
    assert!(r.h.upcalls(q).is_empty());
    // The disk serves the new instance.
    assert!(r.h.subscribe(q, DRIVER_NUM, 0, 0x200, 0).is_success());
    allow(&r, q, 0, &mine, 2 * SECTOR);
    assert!(
        r.h.command(q, DRIVER_NUM, command::WRITE, 0, 2)
            .is_success()
    );
    r.mock.complete_all();
    r.disk.complete(Ok(()));
    r.mock.complete_all();
    assert_eq!(r.h.upcalls(q), [done(0, 2)]);
    assert_eq!(&r.disk.medium.borrow()[8 * SECTOR..10 * SECTOR], &mine[..]);
}

#[test]
fn block_a_device_that_never_completes_is_aborted_and_the_disk_moves_on() {
    let r = rig(false);
    let a = spawn(&r, "alpha");
    let b = spawn(&r, "beta");
    allow(&r, a, 1, &[0; SECTOR], SECTOR);
    allow(&r, b, 1, &[0; SECTOR], SECTOR);
    assert!(r.h.command(a, DRIVER_NUM, command::READ, 0, 1).is_success());
    assert!(r.h.command(b, DRIVER_NUM, command::READ, 0, 1).is_success());
    r.mock.complete_all();
    // The device never answers a's request; b waits behind it.
    assert_eq!(r.disk.pending.borrow().len(), 1);
    assert!(
        r.h.command(b, DRIVER_NUM, command::ABORT, 0, 0)
            .is_success()
    );
    // b took back its queued request; a aborts its own.
    assert!(r.h.command(b, DRIVER_NUM, command::READ, 0, 1).is_success());
    assert!(
        r.h.command(a, DRIVER_NUM, command::ABORT, 0, 0)
            .is_success()
    );
    assert_eq!(r.disk.aborts.get(), 1);
    assert!(r.disk.pending.borrow().is_empty());
    // Cancelled only once the window is unmapped.
    assert!(r.h.upcalls(a).is_empty());
    r.mock.complete_all();
    assert_eq!(r.h.upcalls(a), [done(status(ErrorCode::CANCEL), 0)]);
    // b is served.
    assert_eq!(r.disk.pending.borrow().len(), 1);
    r.disk.complete(Ok(()));
    r.mock.complete_all();
    assert_eq!(r.h.upcalls(b), [done(0, 1)]);
    assert_eq!(
        r.h.command(a, DRIVER_NUM, command::ABORT, 0, 0).error(),
        Some(ErrorCode::INVAL)
    );
}

#[test]
fn block_bounce_round_trip_copies_and_never_maps_process_memory() {
    let r = rig(true);
    let p = spawn(&r, "beta");
    let data = pattern(3, 2 * SECTOR);
    // Any buffer will do: it is copied, not mapped.
    let address = r.h.write_ram(p, 0x123, &data);
    assert!(
        r.h.allow_ro(p, DRIVER_NUM, 0, address, 2 * SECTOR)
            .is_success()
    );
    assert!(
        r.h.command(p, DRIVER_NUM, command::WRITE, 2, 2)
            .is_success()
    );
    assert_eq!(
        r.disk.pending.borrow().front().copied(),
        Some((Operation::Write, 18, BOUNCE_IOVA, 2 * SECTOR))
    );
    r.disk.complete(Ok(()));
    assert_eq!(r.h.upcalls(p), [done(0, 2)]);
    assert_eq!(&r.disk.medium.borrow()[18 * SECTOR..20 * SECTOR], &data[..]);
    let back = r.h.write_ram(p, 0x1000, &[0; 2 * SECTOR]);
    assert!(
        r.h.allow_rw(p, DRIVER_NUM, 0, back, 2 * SECTOR)
            .is_success()
    );
    assert!(r.h.command(p, DRIVER_NUM, command::READ, 2, 2).is_success());
    r.disk.complete(Ok(()));
    assert_eq!(r.h.upcalls(p), [done(0, 2)]);
    assert_eq!(r.h.read_ram(p, 0x1000, 2 * SECTOR), data);
    assert_eq!(r.driver.bytes_copied(), 4 * SECTOR as u64);
    // The device never reached process memory, only the bounce buffer.
    let ram = r.h.ram_start(p);
    assert_eq!(r.mock.entries_into(ram, ram + 16 * 1024), 0);
    assert_eq!(window_reachable(&r), 0);
    // Larger than the bounce buffer: refused.
    assert_eq!(
        r.h.command(p, DRIVER_NUM, command::READ, 0, 5).error(),
        Some(ErrorCode::SIZE)
    );
}
