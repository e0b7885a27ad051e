// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The transport, the split queue and the virtio-rng driver against the
//! behavioural model of a virtio PCI function (`tests/model`).
//!
//! Every address the model's device uses goes through the IOVA mappings
//! the rig installs, as through an IOMMU domain: the ring page at
//! `RING_IOVA`, data buffers at `DATA_IOVA`. A physical address in a
//! descriptor or a ring register would make the model panic.

mod model;

use std::cell::RefCell;

use kernel::ErrorCode;
use kernel::hil::rng::{Client, Continue, Rng};
use model::{Chain, ModelDevice, ModelSegment, NOTIFY_OFF_MULTIPLIER};
use rv32::dma_fence::RiscvCoherentDmaFence;
use virtio_pci::device::{VirtioDeviceDriver, VirtioDeviceType};
use virtio_pci::dma::DmaBuffer;
use virtio_pci::queue::{QueueClient, QueueMemory, RequestId, Segment, SplitQueue, Virtqueue};
use virtio_pci::registers::{NO_VECTOR, features, status};
use virtio_pci::rng::VirtioRng;
use virtio_pci::transport::{
    InitializationError, RESET_POLLS, VirtioPciTransport, VirtioTransport,
};

const ENTROPY: u16 = 4;
const QUEUE_SIZE: usize = 8;
const RING_IOVA: u64 = 0x10_0000;
const DATA_IOVA: u64 = 0x20_0000;
const DATA_LEN: usize = 0x1000;
const OFFERED: u64 = features::VERSION_1 | features::ACCESS_PLATFORM | 0b101;

type Fence = RiscvCoherentDmaFence;
type Transport = VirtioPciTransport<'static, &'static ModelDevice>;
type Queue = SplitQueue<'static, QUEUE_SIZE, Fence>;

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

fn fence() -> Fence {
    // SAFETY: host tests: the "device" is the model, which runs on the
    // calling thread.
    unsafe { RiscvCoherentDmaFence::new() }
}

/// Records every completion the queue reports.
#[derive(Default)]
struct Recorder(RefCell<Vec<(RequestId, Result<u32, ErrorCode>)>>);

impl QueueClient for Recorder {
    fn request_done(&self, id: RequestId, result: Result<u32, ErrorCode>) {
        self.0.borrow_mut().push((id, result));
    }
}

impl Recorder {
    fn take(&self) -> Vec<(RequestId, Result<u32, ErrorCode>)> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}

/// A driver that only negotiates.
struct TestDriver {
    device_type: VirtioDeviceType,
    accept: Option<u64>,
}

impl VirtioDeviceDriver for TestDriver {
    fn device_type(&self) -> VirtioDeviceType {
        self.device_type
    }
    fn queue_count(&self) -> usize {
        1
    }
    fn negotiate_features(&self, offered: u64) -> Option<u64> {
        self.accept.map(|accept| accept & offered)
    }
}

struct Rig {
    device: &'static ModelDevice,
    transport: &'static Transport,
    queue: &'static Queue,
    queues: &'static [&'static dyn Virtqueue],
    recorder: &'static Recorder,
    /// Host address of the data buffer mapped at `DATA_IOVA`.
    data: DmaBuffer,
}

/// A device of `device_type` offering `offered` with one queue of
/// `queue_max` entries; the ring page and a data page mapped at their
/// IOVAs. Not initialized.
fn rig_with(device_type: u16, offered: u64, queue_max: u16) -> Rig {
    let device = leak(ModelDevice::new(device_type, offered, &[queue_max]));
    let memory: &'static mut QueueMemory<QUEUE_SIZE> = Box::leak(Box::new(QueueMemory::ZERO));
    let (rings, ring_memory) = QueueMemory::lend(memory);
    assert_eq!(ring_memory.len(), 4096);
    assert_eq!(ring_memory.start() % 4096, 0);
    device.map(RING_IOVA, ring_memory.start(), ring_memory.len(), true);
    let buffer: &'static mut [u8] = Box::leak(vec![0u8; DATA_LEN].into_boxed_slice());
    let (data, data_memory) = DmaBuffer::lend(buffer);
    device.map(DATA_IOVA, data_memory.start(), data_memory.len(), true);
    let queue: &'static Queue = leak(SplitQueue::new(rings, RING_IOVA, fence()));
    let transport: &'static Transport = leak(VirtioPciTransport::new(
        device,
        device.pci_device_id(),
        NOTIFY_OFF_MULTIPLIER,
    ));
    queue.set_transport(transport);
    let recorder = leak(Recorder::default());
    queue.set_client(recorder);
    let queues: &'static [&'static dyn Virtqueue] = Box::leak(Box::new([queue as &dyn Virtqueue]));
    Rig {
        device,
        transport,
        queue,
        queues,
        recorder,
        data,
    }
}

fn rig() -> Rig {
    let rig = rig_with(ENTROPY, OFFERED, 256);
    let driver = TestDriver {
        device_type: VirtioDeviceType::EntropySource,
        accept: Some(0b100),
    };
    assert_eq!(
        rig.transport.initialize(&driver, rig.queues),
        Ok(VirtioDeviceType::EntropySource)
    );
    rig
}

#[test]
fn status_handshake_features_and_queue_setup() {
    let rig = rig();
    let device = rig.device;
    use status::*;
    assert_eq!(
        device.status_log(),
        [
            0,
            ACKNOWLEDGE,
            ACKNOWLEDGE | DRIVER,
            ACKNOWLEDGE | DRIVER | FEATURES_OK,
            ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK,
        ]
    );
    // The driver's choice among the device bits, plus the two required.
    let expected = features::VERSION_1 | features::ACCESS_PLATFORM | 0b100;
    assert_eq!(device.driver_features(), expected);
    assert_eq!(rig.transport.negotiated_features(), expected);
    let queue = device.queue(0);
    assert!(queue.enabled);
    // The queue uses its own size, not the device's larger maximum.
    assert_eq!(queue.size, QUEUE_SIZE as u16);
    assert_eq!(queue.msix_vector, NO_VECTOR);
    // All three areas are IOVAs inside the mapped ring page.
    assert_eq!(queue.descriptor_area, RING_IOVA);
    assert_eq!(queue.driver_area, RING_IOVA + 16 * QUEUE_SIZE as u64);
    assert_eq!(queue.device_area % 4, 0);
    assert!(queue.device_area + 4 + 8 * QUEUE_SIZE as u64 + 2 <= RING_IOVA + 4096);
}

#[test]
fn negotiation_fails_without_access_platform() {
    let rig = rig_with(ENTROPY, features::VERSION_1 | 0b1, 8);
    let driver = TestDriver {
        device_type: VirtioDeviceType::EntropySource,
        accept: Some(0),
    };
    assert_eq!(
        rig.transport.initialize(&driver, rig.queues),
        Err(InitializationError::RequiredFeatureMissing {
            offered: features::VERSION_1 | 0b1
        })
    );
    assert_ne!(rig.device.status() & status::FAILED, 0);
    assert_eq!(rig.device.status() & status::DRIVER_OK, 0);
    assert!(!rig.device.queue(0).enabled);
    assert_eq!(
        rig.queue.submit(&[Segment::writable(DATA_IOVA, 16)]),
        Err(ErrorCode::OFF)
    );
}

#[test]
fn negotiation_fails_without_version_1_or_when_refused() {
    let rig = rig_with(ENTROPY, features::ACCESS_PLATFORM, 8);
    let driver = TestDriver {
        device_type: VirtioDeviceType::EntropySource,
        accept: Some(0),
    };
    assert!(matches!(
        rig.transport.initialize(&driver, rig.queues),
        Err(InitializationError::RequiredFeatureMissing { .. })
    ));
    // The driver refuses the device.
    let rig = rig_with(ENTROPY, OFFERED, 8);
    let refusing = TestDriver {
        device_type: VirtioDeviceType::EntropySource,
        accept: None,
    };
    assert_eq!(
        rig.transport.initialize(&refusing, rig.queues),
        Err(InitializationError::FeatureNegotiationFailed {
            offered: OFFERED,
            accepted: None
        })
    );
    assert_ne!(rig.device.status() & status::FAILED, 0);
}

#[test]
fn wrong_device_type_is_failed() {
    let rig = rig_with(2, OFFERED, 8);
    let driver = TestDriver {
        device_type: VirtioDeviceType::EntropySource,
        accept: Some(0),
    };
    assert_eq!(
        rig.transport.initialize(&driver, rig.queues),
        Err(InitializationError::IncompatibleDeviceType(
            VirtioDeviceType::BlockDevice
        ))
    );
    assert_ne!(rig.device.status() & status::FAILED, 0);
}

#[test]
fn reset_polling_is_bounded() {
    let rig = rig_with(ENTROPY, OFFERED, 8);
    rig.device.set_reset_delay(usize::MAX);
    let driver = TestDriver {
        device_type: VirtioDeviceType::EntropySource,
        accept: Some(0),
    };
    assert_eq!(
        rig.transport.initialize(&driver, rig.queues),
        Err(InitializationError::ResetTimeout)
    );
    assert_eq!(rig.device.status_reads(), RESET_POLLS);
    // A slow but finite reset is waited for.
    let rig = rig_with(ENTROPY, OFFERED, 8);
    rig.device.set_reset_delay(100);
    assert!(rig.transport.initialize(&driver, rig.queues).is_ok());
}

#[test]
fn descriptors_carry_exactly_the_given_iovas() {
    let rig = rig();
    let segments = [
        Segment::readable(DATA_IOVA, 16),
        Segment::writable(DATA_IOVA + 0x100, 512),
        Segment::writable(DATA_IOVA + 0x800, 8),
    ];
    let id = rig.queue.submit(&segments).unwrap();
    assert_eq!(rig.queue.free_descriptors(), QUEUE_SIZE - 3);
    // Queue 0's notify_off is 0: its register is at offset 0.
    assert_eq!(rig.device.notifications(), [(0, 0)]);
    let chains = rig.device.take_available(0);
    assert_eq!(
        chains,
        [Chain {
            head: id.head(),
            segments: vec![
                ModelSegment {
                    iova: DATA_IOVA,
                    length: 16,
                    writable: false
                },
                ModelSegment {
                    iova: DATA_IOVA + 0x100,
                    length: 512,
                    writable: true
                },
                ModelSegment {
                    iova: DATA_IOVA + 0x800,
                    length: 8,
                    writable: true
                },
            ]
        }]
    );
    rig.device.complete(0, &chains[0], &[7; 300]);
    rig.transport.handle_interrupt();
    assert_eq!(rig.recorder.take(), [(id, Ok(300))]);
    let mut out = [0u8; 4];
    rig.data.read(0x100, &mut out, fence());
    assert_eq!(out, [7; 4]);
    assert_eq!(rig.queue.free_descriptors(), QUEUE_SIZE);
}

#[test]
fn completions_out_of_order() {
    let rig = rig();
    let ids: Vec<RequestId> = (0..3)
        .map(|i| {
            rig.queue
                .submit(&[Segment::writable(DATA_IOVA + 0x100 * i, 64)])
                .unwrap()
        })
        .collect();
    let chains = rig.device.take_available(0);
    assert_eq!(chains.len(), 3);
    rig.device.complete(0, &chains[1], &[1; 10]);
    rig.device.complete(0, &chains[2], &[2; 20]);
    rig.transport.handle_interrupt();
    assert_eq!(rig.recorder.take(), [(ids[1], Ok(10)), (ids[2], Ok(20))]);
    // Freed descriptors are reused while the first request is still out.
    let again = rig
        .queue
        .submit(&[Segment::writable(DATA_IOVA, 8)])
        .unwrap();
    assert_ne!(again.head(), ids[0].head());
    rig.device.complete(0, &chains[0], &[3; 30]);
    let chains = rig.device.take_available(0);
    rig.device.complete(0, &chains[0], &[]);
    rig.transport.handle_interrupt();
    assert_eq!(rig.recorder.take(), [(ids[0], Ok(30)), (again, Ok(0))]);
    assert_eq!(rig.queue.requests_in_flight(), 0);
}

#[test]
fn a_stuck_request_does_not_wedge_the_others_and_can_be_cancelled() {
    let rig = rig();
    let stuck = rig
        .queue
        .submit(&[
            Segment::readable(DATA_IOVA, 4),
            Segment::writable(DATA_IOVA + 4, 4),
        ])
        .unwrap();
    let stuck_chain = rig.device.take_available(0).remove(0);
    // The device never returns it; many others come and go meanwhile.
    for round in 0..100u8 {
        let id = rig
            .queue
            .submit(&[Segment::writable(DATA_IOVA + 0x100, 16)])
            .unwrap();
        let chain = rig.device.take_available(0).remove(0);
        rig.device.complete(0, &chain, &[round; 16]);
        rig.transport.handle_interrupt();
        assert_eq!(rig.recorder.take(), [(id, Ok(16))]);
    }
    // Only the stuck request's own descriptors are held.
    assert_eq!(rig.queue.free_descriptors(), QUEUE_SIZE - 2);
    assert_eq!(rig.queue.cancel(stuck), Ok(()));
    assert_eq!(rig.queue.cancel(stuck), Err(ErrorCode::ALREADY));
    // When the device finally returns it, its owner hears CANCEL.
    rig.device.complete(0, &stuck_chain, &[0; 4]);
    rig.transport.handle_interrupt();
    assert_eq!(rig.recorder.take(), [(stuck, Err(ErrorCode::CANCEL))]);
    assert_eq!(rig.queue.free_descriptors(), QUEUE_SIZE);
    // The id is stale now.
    assert_eq!(rig.queue.cancel(stuck), Err(ErrorCode::INVAL));
}

#[test]
fn a_stuck_request_is_reclaimed_by_a_device_reset() {
    let rig = rig();
    let stuck = rig
        .queue
        .submit(&[Segment::writable(DATA_IOVA, 64)])
        .unwrap();
    assert_eq!(rig.device.take_available(0).len(), 1);
    assert_eq!(rig.transport.reset(), Ok(()));
    assert_eq!(rig.device.status(), 0);
    let mut reclaimed = Vec::new();
    rig.queue.reset(|id| reclaimed.push(id));
    assert_eq!(reclaimed, [stuck]);
    assert_eq!(
        rig.queue.submit(&[Segment::writable(DATA_IOVA, 8)]),
        Err(ErrorCode::OFF)
    );
    // Bring it up again: the queue works from a clean ring.
    let driver = TestDriver {
        device_type: VirtioDeviceType::EntropySource,
        accept: Some(0),
    };
    assert!(rig.transport.initialize(&driver, rig.queues).is_ok());
    let id = rig
        .queue
        .submit(&[Segment::writable(DATA_IOVA, 8)])
        .unwrap();
    assert_ne!(id, stuck);
    let chain = rig.device.take_available(0).remove(0);
    rig.device.complete(0, &chain, &[9; 8]);
    rig.transport.handle_interrupt();
    assert_eq!(rig.recorder.take(), [(id, Ok(8))]);
}

#[test]
fn rings_wrap_past_the_queue_size_and_the_16_bit_index() {
    let rig = rig();
    // 70,000 requests, two at a time: the ring positions wrap every 8,
    // the free-running indices past 65,535.
    for round in 0..35_000u32 {
        let a = rig
            .queue
            .submit(&[Segment::writable(DATA_IOVA, 4)])
            .unwrap();
        let b = rig
            .queue
            .submit(&[
                Segment::readable(DATA_IOVA + 8, 4),
                Segment::writable(DATA_IOVA + 16, 4),
            ])
            .unwrap();
        let chains = rig.device.take_available(0);
        assert_eq!(chains.len(), 2, "round {round}");
        // Alternate the completion order.
        let order = if round % 2 == 0 { [1, 0] } else { [0, 1] };
        for index in order {
            rig.device.complete(0, &chains[index], &round.to_le_bytes());
        }
        rig.transport.handle_interrupt();
        let done = rig.recorder.take();
        let expected = if round % 2 == 0 {
            [(b, Ok(4)), (a, Ok(4))]
        } else {
            [(a, Ok(4)), (b, Ok(4))]
        };
        assert_eq!(done, expected, "round {round}");
    }
    assert_eq!(rig.device.queue(0).used_index, (70_000u32 % 65_536) as u16);
    assert_eq!(rig.queue.free_descriptors(), QUEUE_SIZE);
}

#[test]
fn submissions_are_checked() {
    let rig = rig();
    assert_eq!(rig.queue.submit(&[]), Err(ErrorCode::INVAL));
    assert_eq!(
        rig.queue.submit(&[Segment::writable(DATA_IOVA, 0)]),
        Err(ErrorCode::INVAL)
    );
    // Device-readable segments must come first (2.7.4.2).
    assert_eq!(
        rig.queue.submit(&[
            Segment::writable(DATA_IOVA, 4),
            Segment::readable(DATA_IOVA, 4)
        ]),
        Err(ErrorCode::INVAL)
    );
    let nine = [Segment::writable(DATA_IOVA, 4); QUEUE_SIZE + 1];
    assert_eq!(rig.queue.submit(&nine), Err(ErrorCode::NOMEM));
    let eight = [Segment::writable(DATA_IOVA, 4); QUEUE_SIZE];
    let id = rig.queue.submit(&eight).unwrap();
    assert_eq!(rig.queue.submit(&eight[..1]), Err(ErrorCode::NOMEM));
    let chain = rig.device.take_available(0).remove(0);
    assert_eq!(chain.segments.len(), QUEUE_SIZE);
    // A device claiming more than the writable space is clamped.
    rig.device.push_used(0, u32::from(chain.head), 1000);
    rig.transport.handle_interrupt();
    assert_eq!(rig.recorder.take(), [(id, Ok(32))]);
    // Nothing was given to the device by the refused submissions.
    assert!(rig.device.take_available(0).is_empty());
}

#[test]
fn device_protocol_errors_fail_the_queue() {
    let rig = rig();
    let id = rig
        .queue
        .submit(&[Segment::writable(DATA_IOVA, 4)])
        .unwrap();
    // An id that is no request of ours.
    rig.device.push_used(0, u32::from(id.head()) + 1, 4);
    rig.transport.handle_interrupt();
    assert!(rig.queue.has_failed());
    assert!(rig.recorder.take().is_empty());
    assert_eq!(
        rig.queue.submit(&[Segment::writable(DATA_IOVA, 4)]),
        Err(ErrorCode::FAIL)
    );

    // A used index that runs ahead of everything outstanding.
    let second = self::rig();
    second
        .queue
        .submit(&[Segment::writable(DATA_IOVA, 4)])
        .unwrap();
    second.device.advance_used_index(0, QUEUE_SIZE as u16 + 1);
    second.transport.handle_interrupt();
    assert!(second.queue.has_failed());
    assert!(second.recorder.take().is_empty());
}

#[test]
fn interrupts_dispatch_only_on_queue_isr() {
    let rig = rig();
    let id = rig
        .queue
        .submit(&[Segment::writable(DATA_IOVA, 4)])
        .unwrap();
    let chain = rig.device.take_available(0).remove(0);
    // Spurious and configuration-change interrupts deliver nothing.
    rig.transport.handle_interrupt();
    rig.device.raise_isr(2);
    rig.transport.handle_interrupt();
    assert_eq!(rig.device.isr(), 0);
    assert!(rig.recorder.take().is_empty());
    rig.device.complete(0, &chain, &[1; 4]);
    assert_eq!(rig.device.isr(), 1);
    rig.transport.handle_interrupt();
    assert_eq!(rig.device.isr(), 0);
    assert_eq!(rig.recorder.take(), [(id, Ok(4))]);
}

/// An rng client that takes `wanted` words and records them.
struct Collector {
    wanted: usize,
    words: RefCell<Vec<u32>>,
    errors: RefCell<Vec<Result<(), ErrorCode>>>,
}

impl Client for Collector {
    fn randomness_available(
        &self,
        randomness: &mut dyn Iterator<Item = u32>,
        error: Result<(), ErrorCode>,
    ) -> Continue {
        self.errors.borrow_mut().push(error);
        let mut words = self.words.borrow_mut();
        while words.len() < self.wanted {
            match randomness.next() {
                Some(word) => words.push(word),
                None => break,
            }
        }
        if words.len() < self.wanted {
            Continue::More
        } else {
            Continue::Done
        }
    }
}

struct RngRig {
    rig: Rig,
    rng: &'static VirtioRng<'static, QUEUE_SIZE, Fence>,
    collector: &'static Collector,
}

fn rng_rig(wanted: usize) -> RngRig {
    let rng_rig = rng_rig_uninitialized(wanted);
    initialize_rng(&rng_rig);
    rng_rig
}

fn initialize_rng(rng_rig: &RngRig) {
    let rig = &rng_rig.rig;
    assert_eq!(
        rig.transport.initialize(rng_rig.rng, rig.queues),
        Ok(VirtioDeviceType::EntropySource)
    );
    // virtio-rng has no feature bits: only the transport's.
    assert_eq!(
        rig.device.driver_features(),
        features::VERSION_1 | features::ACCESS_PLATFORM
    );
}

/// The rng over a device the transport has not initialized yet.
fn rng_rig_uninitialized(wanted: usize) -> RngRig {
    let rig = rig_with(ENTROPY, OFFERED, 64);
    let buffer: &'static mut [u8] = Box::leak(vec![0u8; 64].into_boxed_slice());
    let (buffer, memory) = DmaBuffer::lend(buffer);
    const RNG_IOVA: u64 = 0x30_0000;
    rig.device.map(RNG_IOVA, memory.start(), memory.len(), true);
    let rng = leak(VirtioRng::new(rig.queue, buffer, RNG_IOVA, fence()));
    rig.queue.set_client(rng);
    let collector = leak(Collector {
        wanted,
        words: RefCell::new(Vec::new()),
        errors: RefCell::new(Vec::new()),
    });
    rng.set_client(collector);
    RngRig {
        rig,
        rng,
        collector,
    }
}

#[test]
fn rng_delivers_the_devices_bytes_as_words() {
    let RngRig {
        rig,
        rng,
        collector,
    } = rng_rig(20);
    assert_eq!(rng.get(), Ok(()));
    // A second get while one is outstanding changes nothing.
    assert_eq!(rng.get(), Ok(()));
    let chains = rig.device.take_available(0);
    assert_eq!(
        chains[0].segments,
        [ModelSegment {
            iova: 0x30_0000,
            length: 64,
            writable: true
        }]
    );
    // The device fills 48 bytes (12 words), then 6 bytes (1 word), then
    // the rest: the client asks for more until it has 20 words.
    let bytes: Vec<u8> = (0..=255).collect();
    rig.device.complete(0, &chains[0], &bytes[..48]);
    rig.transport.handle_interrupt();
    assert_eq!(collector.words.borrow().len(), 12);
    let chain = rig.device.take_available(0).remove(0);
    rig.device.complete(0, &chain, &bytes[48..54]);
    rig.transport.handle_interrupt();
    assert_eq!(collector.words.borrow().len(), 13);
    let chain = rig.device.take_available(0).remove(0);
    rig.device.complete(0, &chain, &bytes[100..164]);
    rig.transport.handle_interrupt();
    let words = collector.words.borrow().clone();
    assert_eq!(words.len(), 20);
    assert_eq!(words[0], u32::from_le_bytes([0, 1, 2, 3]));
    assert_eq!(words[12], u32::from_le_bytes([48, 49, 50, 51]));
    assert_eq!(words[13], u32::from_le_bytes([100, 101, 102, 103]));
    assert!(collector.errors.borrow().iter().all(|e| e.is_ok()));
    // Done: nothing more was asked of the device.
    assert!(rig.device.take_available(0).is_empty());
}

#[test]
fn rng_cancel_keeps_the_buffer_until_the_device_returns_it() {
    let RngRig {
        rig,
        rng,
        collector,
    } = rng_rig(4);
    assert_eq!(rng.get(), Ok(()));
    let chain = rig.device.take_available(0).remove(0);
    assert_eq!(rng.cancel(), Ok(()));
    // A get while the device still holds the buffer waits for it.
    assert_eq!(rng.get(), Ok(()));
    assert!(rig.device.take_available(0).is_empty());
    rig.device.complete(0, &chain, &[0xaa; 16]);
    rig.transport.handle_interrupt();
    // The cancelled fill is not delivered; the new get went to the device.
    assert!(collector.words.borrow().is_empty());
    let chain = rig.device.take_available(0).remove(0);
    rig.device.complete(0, &chain, &[0x55; 16]);
    rig.transport.handle_interrupt();
    assert_eq!(*collector.words.borrow(), [0x5555_5555; 4]);
}

#[test]
fn rng_get_before_the_device_is_initialized_waits_for_it() {
    let rng_rig = rng_rig_uninitialized(2);
    // The board brings the device up only once its IOMMU mappings are in
    // place; a process may ask before that.
    assert_eq!(rng_rig.rng.get(), Ok(()));
    assert_eq!(rng_rig.rng.get(), Ok(()));
    initialize_rng(&rng_rig);
    let RngRig {
        rig,
        rng: _,
        collector,
    } = rng_rig;
    let chains = rig.device.take_available(0);
    assert_eq!(chains.len(), 1);
    rig.device.complete(0, &chains[0], &[7; 8]);
    rig.transport.handle_interrupt();
    assert_eq!(*collector.words.borrow(), [0x0707_0707; 2]);
    assert!(collector.errors.borrow().iter().all(|e| e.is_ok()));
}

#[test]
fn rng_cancel_before_the_device_is_initialized_forgets_the_get() {
    let rng_rig = rng_rig_uninitialized(1);
    assert_eq!(rng_rig.rng.get(), Ok(()));
    assert_eq!(rng_rig.rng.cancel(), Ok(()));
    initialize_rng(&rng_rig);
    assert!(rng_rig.rig.device.take_available(0).is_empty());
    assert!(rng_rig.collector.errors.borrow().is_empty());
}
