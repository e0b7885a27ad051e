// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The virtio-blk driver against the behavioural model of a virtio PCI
//! function (`tests/model`), with the test playing the medium: it takes
//! the requests the driver made available, serves them from a byte vector
//! and returns them, in whatever order and with whatever status a test
//! wants.
//!
//! The model reaches memory only through the IOVA mappings the rig
//! installs (the ring page, the request headers and status bytes, a data
//! area), as through an IOMMU domain.

mod model;

use std::cell::RefCell;

use kernel::ErrorCode;
use kernel::hil::dma_block::{DmaBlock, DmaBlockClient, Operation};
use model::{Chain, ModelDevice, ModelSegment, NOTIFY_OFF_MULTIPLIER};
use rv32::dma_fence::RiscvCoherentDmaFence;
use virtio_pci::blk::{self, MAX_REQUESTS, SECTOR_SIZE, STATUS_OFFSET, VirtioBlk};
use virtio_pci::device::{DeviceConfiguration, VirtioDeviceType};
use virtio_pci::dma::DmaBuffer;
use virtio_pci::queue::{QueueMemory, SplitQueue, Virtqueue};
use virtio_pci::registers::{features, status};
use virtio_pci::transport::{InitializationError, VirtioPciTransport, VirtioTransport};

const BLOCK: u16 = 2;
const QUEUE_SIZE: usize = 16;
const RING_IOVA: u64 = 0x10_0000;
const REQUESTS_IOVA: u64 = 0x20_0000;
const DATA_IOVA: u64 = 0x40_0000;
const DATA_LEN: usize = 0x4000;
const SECTORS: u64 = 64;
/// Block features the model offers besides the transport's: SEG_MAX,
/// BLK_SIZE, FLUSH and DISCARD, none of which the driver implements.
const UNIMPLEMENTED: u64 = (1 << 2) | (1 << 6) | (1 << 9) | (1 << 13);

type Fence = RiscvCoherentDmaFence;
type Transport = VirtioPciTransport<'static, &'static ModelDevice>;
type Queue = SplitQueue<'static, QUEUE_SIZE, Fence>;
type Blk = VirtioBlk<'static, QUEUE_SIZE, Fence>;

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

fn fence() -> Fence {
    // SAFETY: host tests: the "device" is the model, which runs on the
    // calling thread.
    unsafe { RiscvCoherentDmaFence::new() }
}

type Done = (Operation, u64, usize, usize, Result<(), ErrorCode>);

#[derive(Default)]
struct Recorder(RefCell<Vec<Done>>);

impl DmaBlockClient for Recorder {
    fn operation_done(
        &self,
        operation: Operation,
        sector: u64,
        iova: usize,
        len: usize,
        result: Result<(), ErrorCode>,
    ) {
        self.0
            .borrow_mut()
            .push((operation, sector, iova, len, result));
    }
}

impl Recorder {
    fn take(&self) -> Vec<Done> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}

struct Rig {
    device: &'static ModelDevice,
    transport: &'static Transport,
    queues: &'static [&'static dyn Virtqueue],
    blk: &'static Blk,
    recorder: &'static Recorder,
    data: DmaBuffer,
    /// The medium the test serves requests from.
    medium: RefCell<Vec<u8>>,
}

/// A block device with `sectors` sectors offering `offered` block
/// features; not initialized.
fn rig_with(offered: u64, config: &[u8]) -> Rig {
    let device = leak(ModelDevice::new(
        BLOCK,
        features::VERSION_1 | features::ACCESS_PLATFORM | offered,
        &[128],
    ));
    device.set_device_config(config);
    let memory: &'static mut QueueMemory<QUEUE_SIZE> = Box::leak(Box::new(QueueMemory::ZERO));
    let (rings, ring_memory) = QueueMemory::lend(memory);
    device.map(RING_IOVA, ring_memory.start(), ring_memory.len(), true);
    let requests: &'static mut [u8] = Box::leak(vec![0u8; 0x1000].into_boxed_slice());
    let (requests, requests_memory) = DmaBuffer::lend(requests);
    device.map(
        REQUESTS_IOVA,
        requests_memory.start(),
        requests_memory.len(),
        true,
    );
    let data: &'static mut [u8] = Box::leak(vec![0u8; DATA_LEN].into_boxed_slice());
    let (data, data_memory) = DmaBuffer::lend(data);
    device.map(DATA_IOVA, data_memory.start(), data_memory.len(), true);
    let queue: &'static Queue = leak(SplitQueue::new(rings, RING_IOVA, fence()));
    let transport: &'static Transport = leak(VirtioPciTransport::new(
        device,
        device.pci_device_id(),
        NOTIFY_OFF_MULTIPLIER,
    ));
    queue.set_transport(transport);
    let configuration: &'static dyn DeviceConfiguration = transport.access();
    let blk: &'static Blk = leak(VirtioBlk::new(
        queue,
        configuration,
        requests,
        REQUESTS_IOVA,
        fence(),
    ));
    queue.set_client(blk);
    let queues: &'static [&'static dyn Virtqueue] = Box::leak(Box::new([queue as &dyn Virtqueue]));
    blk.set_transport(transport, queues);
    let recorder = leak(Recorder::default());
    blk.set_client(recorder);
    Rig {
        device,
        transport,
        queues,
        blk,
        recorder,
        data,
        medium: RefCell::new(vec![0; SECTORS as usize * SECTOR_SIZE]),
    }
}

fn rig() -> Rig {
    let rig = rig_with(UNIMPLEMENTED, &SECTORS.to_le_bytes());
    assert_eq!(
        rig.transport.initialize(rig.blk, rig.queues),
        Ok(VirtioDeviceType::BlockDevice)
    );
    rig
}

/// A request as the device decodes it.
#[derive(Debug)]
struct Decoded {
    kind: u32,
    sector: u64,
    data: ModelSegment,
    status: ModelSegment,
}

impl Rig {
    fn decode(&self, chain: &Chain) -> Decoded {
        assert_eq!(chain.segments.len(), 3, "header, data, status");
        let header = self.device.read_segment(&chain.segments[0]);
        assert!(!chain.segments[0].writable);
        assert_eq!(header.len(), 16);
        assert!(chain.segments[2].writable);
        assert_eq!(chain.segments[2].length, 1);
        Decoded {
            kind: u32::from_le_bytes(header[0..4].try_into().unwrap()),
            sector: u64::from_le_bytes(header[8..16].try_into().unwrap()),
            data: chain.segments[1],
            status: chain.segments[2],
        }
    }

    /// Serves `chain` from the medium and returns it with `status`.
    fn serve(&self, chain: &Chain, status: u8) {
        let request = self.decode(chain);
        let start = request.sector as usize * SECTOR_SIZE;
        let len = request.data.length as usize;
        match request.kind {
            0 => {
                assert!(request.data.writable);
                let mut bytes = self.medium.borrow()[start..start + len].to_vec();
                bytes.push(status);
                self.device.complete(0, chain, &bytes);
            }
            1 => {
                assert!(!request.data.writable);
                let bytes = self.device.read_segment(&request.data);
                self.medium.borrow_mut()[start..start + len].copy_from_slice(&bytes);
                self.device.complete(0, chain, &[status]);
            }
            other => panic!("request type {other}"),
        }
        self.transport.handle_interrupt();
    }

    fn take(&self) -> Vec<Chain> {
        self.device.take_available(0)
    }
}

/// Device resets so far (writes of 0 to `device_status`).
#[allow(clippy::naive_bytecount, reason = "a handful of status writes")]
fn resets(rig: &Rig) -> usize {
    rig.device.status_log().iter().filter(|s| **s == 0).count()
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
}

#[test]
fn blk_negotiates_only_what_it_implements_and_reads_the_capacity() {
    let rig = rig();
    // None of the offered block features is accepted.
    assert_eq!(
        rig.device.driver_features(),
        features::VERSION_1 | features::ACCESS_PLATFORM
    );
    assert_eq!(rig.blk.sectors(), SECTORS);
    assert_eq!(rig.blk.sector_size(), 512);
    assert!(!rig.blk.read_only());
    assert_ne!(rig.device.status() & status::DRIVER_OK, 0);

    // A read-only medium: RO is accepted, and writes are refused before
    // they reach the device.
    let rig = rig_with(UNIMPLEMENTED | blk::features::RO, &32u64.to_le_bytes());
    rig.transport.initialize(rig.blk, rig.queues).unwrap();
    assert_eq!(
        rig.device.driver_features(),
        features::VERSION_1 | features::ACCESS_PLATFORM | blk::features::RO
    );
    assert!(rig.blk.read_only());
    assert_eq!(rig.blk.sectors(), 32);
    assert_eq!(
        rig.blk
            .start(Operation::Write, 0, DATA_IOVA as usize, SECTOR_SIZE),
        Err(ErrorCode::NOSUPPORT)
    );
    assert!(rig.take().is_empty());
}

#[test]
fn blk_without_a_capacity_is_failed() {
    let rig = rig_with(0, &[1, 2, 3]);
    assert_eq!(
        rig.transport.initialize(rig.blk, rig.queues),
        Err(InitializationError::DriverPreInitialization(
            ErrorCode::FAIL
        ))
    );
    assert_ne!(rig.device.status() & status::FAILED, 0);
    assert_eq!(rig.blk.sectors(), 0);
    assert_eq!(
        rig.blk
            .start(Operation::Read, 0, DATA_IOVA as usize, SECTOR_SIZE),
        Err(ErrorCode::OFF)
    );
}

#[test]
fn blk_writes_and_reads_round_trip() {
    let rig = rig();
    let written = pattern(0x5a, 2 * SECTOR_SIZE);
    rig.data.write(0, &written, fence());
    let data = DATA_IOVA as usize;
    assert_eq!(
        rig.blk.start(Operation::Write, 10, data, 2 * SECTOR_SIZE),
        Ok(())
    );
    let chains = rig.take();
    assert_eq!(chains.len(), 1);
    let request = rig.decode(&chains[0]);
    assert_eq!((request.kind, request.sector), (1, 10));
    // The data descriptor carries exactly the caller's IOVA; header and
    // status are in the kernel's request area.
    assert_eq!(
        request.data,
        ModelSegment {
            iova: DATA_IOVA,
            length: 1024,
            writable: false
        }
    );
    assert_eq!(chains[0].segments[0].iova, REQUESTS_IOVA);
    assert_eq!(request.status.iova, REQUESTS_IOVA + STATUS_OFFSET as u64);
    rig.serve(&chains[0], 0);
    assert_eq!(
        rig.recorder.take(),
        [(Operation::Write, 10, data, 1024, Ok(()))]
    );
    assert_eq!(
        &rig.medium.borrow()[10 * SECTOR_SIZE..12 * SECTOR_SIZE],
        &written[..]
    );

    // Read it back into a cleared buffer, at another offset.
    rig.data.write(0, &[0; DATA_LEN], fence());
    assert_eq!(
        rig.blk
            .start(Operation::Read, 10, data + 0x1000, 2 * SECTOR_SIZE),
        Ok(())
    );
    let chain = rig.take().remove(0);
    let request = rig.decode(&chain);
    assert_eq!((request.kind, request.sector), (0, 10));
    assert!(request.data.writable);
    rig.serve(&chain, 0);
    assert_eq!(
        rig.recorder.take(),
        [(Operation::Read, 10, data + 0x1000, 1024, Ok(()))]
    );
    let mut back = vec![0; 2 * SECTOR_SIZE];
    rig.data.read(0x1000, &mut back, fence());
    assert_eq!(back, written);
    assert_eq!(rig.blk.requests_in_flight(), 0);
}

#[test]
fn blk_completions_out_of_order() {
    let rig = rig();
    for sector in 0..4u64 {
        let bytes = pattern(sector as u8, SECTOR_SIZE);
        let start = sector as usize * SECTOR_SIZE;
        rig.medium.borrow_mut()[start..start + SECTOR_SIZE].copy_from_slice(&bytes);
    }
    let data = DATA_IOVA as usize;
    for sector in 0..MAX_REQUESTS {
        let iova = data + sector * 0x1000;
        assert_eq!(
            rig.blk
                .start(Operation::Read, sector as u64, iova, SECTOR_SIZE),
            Ok(())
        );
    }
    // Every slot is taken.
    assert_eq!(
        rig.blk.start(Operation::Read, 5, data, SECTOR_SIZE),
        Err(ErrorCode::BUSY)
    );
    let chains = rig.take();
    assert_eq!(chains.len(), MAX_REQUESTS);
    // Each request has its own header and status byte.
    let mut headers: Vec<u64> = chains.iter().map(|c| c.segments[0].iova).collect();
    headers.dedup();
    assert_eq!(headers.len(), MAX_REQUESTS);
    // Returned in the order 2, 0, 3, 1.
    for index in [2, 0, 3, 1] {
        rig.serve(&chains[index], 0);
    }
    let done = rig.recorder.take();
    let sectors: Vec<u64> = done.iter().map(|d| d.1).collect();
    assert_eq!(sectors, [2, 0, 3, 1]);
    for (_, sector, iova, len, result) in done {
        assert_eq!(result, Ok(()));
        assert_eq!(iova, data + sector as usize * 0x1000);
        let mut back = vec![0; len];
        rig.data.read(iova - data, &mut back, fence());
        assert_eq!(back, pattern(sector as u8, SECTOR_SIZE));
    }
    // The freed slots are used again.
    assert_eq!(rig.blk.start(Operation::Read, 5, data, SECTOR_SIZE), Ok(()));
    let chain = rig.take().remove(0);
    rig.serve(&chain, 0);
    assert_eq!(rig.recorder.take()[0].4, Ok(()));
}

#[test]
fn blk_bad_status_is_an_error() {
    let rig = rig();
    let data = DATA_IOVA as usize;
    for (status, expected) in [
        (1, Err(ErrorCode::FAIL)),
        (2, Err(ErrorCode::NOSUPPORT)),
        (7, Err(ErrorCode::FAIL)),
        (0xff, Err(ErrorCode::FAIL)),
        (0, Ok(())),
    ] {
        rig.blk
            .start(Operation::Read, 1, data, SECTOR_SIZE)
            .unwrap();
        let chain = rig.take().remove(0);
        rig.serve(&chain, status);
        assert_eq!(rig.recorder.take()[0].4, expected, "status {status}");
    }
    // A device that returns a request without writing its status (a used
    // length of 0): the status byte keeps the driver's marker.
    rig.blk
        .start(Operation::Write, 1, data, SECTOR_SIZE)
        .unwrap();
    let chain = rig.take().remove(0);
    rig.device.push_used(0, u32::from(chain.head), 0);
    rig.transport.handle_interrupt();
    assert_eq!(rig.recorder.take()[0].4, Err(ErrorCode::FAIL));
}

#[test]
fn blk_requests_are_checked_before_they_reach_the_device() {
    let rig = rig();
    let data = DATA_IOVA as usize;
    for (sector, len) in [
        (0, 0),
        (0, 100),
        (0, SECTOR_SIZE + 1),
        (SECTORS, SECTOR_SIZE),
        (SECTORS - 1, 2 * SECTOR_SIZE),
        (u64::MAX, SECTOR_SIZE),
    ] {
        assert_eq!(
            rig.blk.start(Operation::Read, sector, data, len),
            Err(ErrorCode::INVAL),
            "sector {sector} len {len}"
        );
    }
    assert_eq!(
        rig.blk
            .start(Operation::Read, 0, usize::MAX - 100, SECTOR_SIZE),
        Err(ErrorCode::INVAL)
    );
    assert!(rig.take().is_empty());
    // The last sector is fine.
    assert_eq!(
        rig.blk
            .start(Operation::Read, SECTORS - 1, data, SECTOR_SIZE),
        Ok(())
    );
}

#[test]
fn blk_a_request_the_device_never_completes_does_not_wedge_the_driver() {
    let rig = rig();
    let data = DATA_IOVA as usize;
    rig.blk
        .start(Operation::Read, 3, data, SECTOR_SIZE)
        .unwrap();
    let stuck = rig.take().remove(0);
    // Others proceed past the stuck one.
    for round in 0..10u64 {
        rig.blk
            .start(Operation::Read, round, data + 0x1000, SECTOR_SIZE)
            .unwrap();
        let chain = rig.take().remove(0);
        assert_ne!(chain.head, stuck.head);
        rig.serve(&chain, 0);
        assert_eq!(rig.recorder.take()[0].1, round);
    }
    assert_eq!(rig.blk.requests_in_flight(), 1);
    // Abort: the device is reset (so it reaches no memory for the stuck
    // request), taken back without a callback, and brought up again.
    let resets_before = resets(&rig);
    assert_eq!(rig.blk.abort(), Ok(()));
    // The abort's reset, then the one initialization starts with.
    assert_eq!(resets(&rig), resets_before + 2);
    assert!(rig.recorder.take().is_empty());
    assert_eq!(rig.blk.requests_in_flight(), 0);
    assert_ne!(rig.device.status() & status::DRIVER_OK, 0);
    assert_eq!(rig.blk.sectors(), SECTORS);
    rig.medium.borrow_mut()[3 * SECTOR_SIZE] = 0xab;
    rig.blk
        .start(Operation::Read, 3, data, SECTOR_SIZE)
        .unwrap();
    let chain = rig.take().remove(0);
    rig.serve(&chain, 0);
    assert_eq!(rig.recorder.take()[0].4, Ok(()));
    let mut byte = [0];
    rig.data.read(0, &mut byte, fence());
    assert_eq!(byte, [0xab]);
}

#[test]
fn blk_abort_reports_a_device_that_does_not_reset() {
    let rig = rig();
    rig.blk
        .start(Operation::Read, 0, DATA_IOVA as usize, SECTOR_SIZE)
        .unwrap();
    rig.device.set_reset_delay(usize::MAX);
    assert_eq!(rig.blk.abort(), Err(ErrorCode::FAIL));
    // Not ready, and the request is still the device's.
    assert_eq!(rig.blk.requests_in_flight(), 1);
    assert_eq!(
        rig.blk
            .start(Operation::Read, 0, DATA_IOVA as usize, SECTOR_SIZE),
        Err(ErrorCode::OFF)
    );
}
