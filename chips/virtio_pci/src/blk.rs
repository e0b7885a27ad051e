// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! A virtio block device driver (virtio 1.x section 5.2) for
//! `kernel::hil::dma_block`.
//!
//! The device has one request queue here (`requestq`, 5.2.2; `VIRTIO_BLK_F_MQ`
//! is not negotiated). A request is a chain of three descriptors (5.2.6):
//!
//! 1. a 16-byte header the device reads: type (`T_IN` 0 reads the medium,
//!    `T_OUT` 1 writes it), reserved, and the first 512-byte sector;
//! 2. the data, at the IOVA the caller gives: device-writable for a read,
//!    device-readable for a write;
//! 3. one status byte the device writes: `OK` 0, `IOERR` 1, `UNSUPP` 2.
//!
//! Headers and status bytes live in kernel memory lent for good
//! ([`DmaBuffer`]), one 32-byte area per request slot, which the board maps
//! at the IOVA it gives [`VirtioBlk::new`]. Where the data lives is the
//! caller's business: a kernel bounce buffer, or a process buffer mapped in
//! the device's IOMMU domain for one request; this driver never sees a
//! physical address. The status byte is set to a value the device never
//! writes before each request, so a device that returns a request without
//! a status is caught.
//!
//! Feature negotiation (5.2.3): only `VIRTIO_BLK_F_RO` is accepted (the
//! driver then refuses writes); every other block feature (segment and
//! size limits, geometry, block size hints, flush, discard, write zeroes,
//! multiqueue) is refused, so the device uses the defaults 5.2.5 gives:
//! 512-byte sectors and any segment size. The capacity, in 512-byte
//! sectors, is read from the device configuration (5.2.4) before
//! `DRIVER_OK`.
//!
//! A request the device never completes holds only its own slot and
//! descriptors; [`DmaBlock::abort`] resets the device (after which it
//! reaches no memory, 4.1.4.3.2), takes every request back without a
//! callback and brings the device up again.

use core::cell::Cell;

use kernel::ErrorCode;
use kernel::hil::dma_block::{DmaBlock, DmaBlockClient, Operation};
use kernel::platform::dma_fence::DmaFence;
use kernel::utilities::cells::OptionalCell;

use crate::device::{DeviceConfiguration, VirtioDeviceDriver, VirtioDeviceType};
use crate::dma::DmaBuffer;
use crate::queue::{QueueClient, RequestId, Segment, SplitQueue, Virtqueue};
use crate::transport::VirtioTransport;

/// The sector size of the virtio-blk protocol (5.2.6), whatever the
/// medium's block size.
pub const SECTOR_SIZE: usize = 512;
/// Bytes of kernel memory per request slot: the 16-byte header, then the
/// status byte at [`STATUS_OFFSET`].
pub const REQUEST_AREA: usize = 32;
/// Offset of the status byte in a request area.
pub const STATUS_OFFSET: usize = 16;
/// The most requests the driver keeps in flight.
pub const MAX_REQUESTS: usize = 4;

/// Request types (5.2.6).
const T_IN: u32 = 0;
const T_OUT: u32 = 1;
/// Status values (5.2.6).
const S_OK: u8 = 0;
const S_IOERR: u8 = 1;
const S_UNSUPP: u8 = 2;
/// Written into the status byte before a request: not a status the device
/// may return.
const STATUS_UNSET: u8 = 0xff;

/// Device-specific feature bits (5.2.3).
pub mod features {
    /// The device is read-only.
    pub const RO: u64 = 1 << 5;
}

/// Offset of `capacity` in the device configuration (5.2.4).
const CAPACITY_OFFSET: usize = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct InFlight {
    request: RequestId,
    operation: Operation,
    sector: u64,
    iova: usize,
    len: usize,
}

/// A virtio-blk device driven through a [`SplitQueue`] of `N` entries.
pub struct VirtioBlk<'a, const N: usize, F: DmaFence> {
    queue: &'a SplitQueue<'a, N, F>,
    configuration: &'a dyn DeviceConfiguration,
    requests: DmaBuffer,
    requests_iova: u64,
    fence: F,
    slots: [Cell<Option<InFlight>>; MAX_REQUESTS],
    capacity: Cell<u64>,
    offered_read_only: Cell<bool>,
    read_only: Cell<bool>,
    ready: Cell<bool>,
    transport: OptionalCell<&'a dyn VirtioTransport<'a>>,
    queues: OptionalCell<&'a [&'a dyn Virtqueue]>,
    client: OptionalCell<&'a dyn DmaBlockClient>,
}

impl<'a, const N: usize, F: DmaFence> VirtioBlk<'a, N, F> {
    /// A driver using `queue` (the device's queue 0), reading the device's
    /// configuration through `configuration` (the transport's register
    /// access), with `requests` for headers and status bytes, which the
    /// board has mapped read-write at `requests_iova`. The board also
    /// makes this the queue's client and calls [`Self::set_transport`].
    pub fn new(
        queue: &'a SplitQueue<'a, N, F>,
        configuration: &'a dyn DeviceConfiguration,
        requests: DmaBuffer,
        requests_iova: u64,
        fence: F,
    ) -> Self {
        VirtioBlk {
            queue,
            configuration,
            requests,
            requests_iova,
            fence,
            slots: Default::default(),
            capacity: Cell::new(0),
            offered_read_only: Cell::new(false),
            read_only: Cell::new(false),
            ready: Cell::new(false),
            transport: OptionalCell::empty(),
            queues: OptionalCell::empty(),
            client: OptionalCell::empty(),
        }
    }

    /// The transport and the queue list it was initialized with, which
    /// [`DmaBlock::abort`] uses to reset the device and bring it up again.
    pub fn set_transport(
        &self,
        transport: &'a dyn VirtioTransport<'a>,
        queues: &'a [&'a dyn Virtqueue],
    ) {
        self.transport.set(transport);
        self.queues.set(queues);
    }

    /// Requests in flight.
    pub fn requests_in_flight(&self) -> usize {
        self.slots
            .iter()
            .filter(|slot| slot.get().is_some())
            .count()
    }

    /// Request slots: as many as the request memory, the queue (three
    /// descriptors each) and [`MAX_REQUESTS`] allow.
    fn slot_count(&self) -> usize {
        (self.requests.len() / REQUEST_AREA)
            .min(self.queue.size() / 3)
            .min(MAX_REQUESTS)
    }

    fn validate(
        &self,
        operation: Operation,
        sector: u64,
        iova: usize,
        len: usize,
    ) -> Result<u32, ErrorCode> {
        if !self.ready.get() {
            return Err(ErrorCode::OFF);
        }
        if self.queue.has_failed() {
            return Err(ErrorCode::FAIL);
        }
        if operation == Operation::Write && self.read_only.get() {
            return Err(ErrorCode::NOSUPPORT);
        }
        if len == 0 || !len.is_multiple_of(SECTOR_SIZE) {
            return Err(ErrorCode::INVAL);
        }
        let length = u32::try_from(len).map_err(|_| ErrorCode::INVAL)?;
        let end = sector
            .checked_add((len / SECTOR_SIZE) as u64)
            .ok_or(ErrorCode::INVAL)?;
        if end > self.capacity.get() || iova.checked_add(len).is_none() {
            return Err(ErrorCode::INVAL);
        }
        Ok(length)
    }
}

impl<'a, const N: usize, F: DmaFence> DmaBlock<'a> for VirtioBlk<'a, N, F> {
    fn set_client(&self, client: &'a dyn DmaBlockClient) {
        self.client.set(client);
    }

    fn sector_size(&self) -> usize {
        SECTOR_SIZE
    }

    fn sectors(&self) -> u64 {
        if self.ready.get() {
            self.capacity.get()
        } else {
            0
        }
    }

    fn read_only(&self) -> bool {
        self.read_only.get()
    }

    fn start(
        &self,
        operation: Operation,
        sector: u64,
        iova: usize,
        len: usize,
    ) -> Result<(), ErrorCode> {
        let length = self.validate(operation, sector, iova, len)?;
        let slot = (0..self.slot_count())
            .find(|slot| self.slots[*slot].get().is_none())
            .ok_or(ErrorCode::BUSY)?;
        let area = slot * REQUEST_AREA;
        let kind = match operation {
            Operation::Read => T_IN,
            Operation::Write => T_OUT,
        };
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&kind.to_le_bytes());
        header[8..16].copy_from_slice(&sector.to_le_bytes());
        self.requests.write(area, &header, self.fence);
        self.requests
            .write(area + STATUS_OFFSET, &[STATUS_UNSET], self.fence);
        let area_iova = self.requests_iova + area as u64;
        let data = match operation {
            Operation::Read => Segment::writable(iova as u64, length),
            Operation::Write => Segment::readable(iova as u64, length),
        };
        let segments = [
            Segment::readable(area_iova, 16),
            data,
            Segment::writable(area_iova + STATUS_OFFSET as u64, 1),
        ];
        let request = self.queue.submit(&segments).map_err(|error| match error {
            ErrorCode::NOMEM => ErrorCode::BUSY,
            ErrorCode::OFF => ErrorCode::OFF,
            _ => ErrorCode::FAIL,
        })?;
        self.slots[slot].set(Some(InFlight {
            request,
            operation,
            sector,
            iova,
            len,
        }));
        Ok(())
    }

    fn abort(&self) -> Result<(), ErrorCode> {
        let transport = self.transport.get().ok_or(ErrorCode::FAIL)?;
        self.ready.set(false);
        transport.reset()?;
        // The device reads its status back as 0: it no longer touches the
        // queue or any buffer (4.1.4.3.2), so every request is ours again.
        self.queue.reset(|_| {});
        for slot in self.slots.iter() {
            slot.set(None);
        }
        if let Some(queues) = self.queues.get() {
            // Failing here leaves the device stopped and this driver `OFF`.
            let _ = transport.initialize(self, queues);
        }
        Ok(())
    }
}

impl<const N: usize, F: DmaFence> QueueClient for VirtioBlk<'_, N, F> {
    fn request_done(&self, id: RequestId, result: Result<u32, ErrorCode>) {
        let Some(slot) =
            (0..MAX_REQUESTS).find(|slot| self.slots[*slot].get().is_some_and(|r| r.request == id))
        else {
            return;
        };
        let Some(request) = self.slots[slot].take() else {
            return;
        };
        let mut status = [STATUS_UNSET];
        self.requests
            .read(slot * REQUEST_AREA + STATUS_OFFSET, &mut status, self.fence);
        let outcome = match (result, status[0]) {
            // The status byte is the last one the device writes: a
            // request returned with nothing written has no status.
            (Ok(0), _) | (Err(_), _) => Err(ErrorCode::FAIL),
            (Ok(_), S_OK) => Ok(()),
            (Ok(_), S_UNSUPP) => Err(ErrorCode::NOSUPPORT),
            (Ok(_), S_IOERR) | (Ok(_), _) => Err(ErrorCode::FAIL),
        };
        self.client.map(|client| {
            client.operation_done(
                request.operation,
                request.sector,
                request.iova,
                request.len,
                outcome,
            )
        });
    }
}

impl<const N: usize, F: DmaFence> VirtioDeviceDriver for VirtioBlk<'_, N, F> {
    fn device_type(&self) -> VirtioDeviceType {
        VirtioDeviceType::BlockDevice
    }

    fn queue_count(&self) -> usize {
        1
    }

    fn negotiate_features(&self, offered: u64) -> Option<u64> {
        // Remembered for `pre_device_initialization`: a read-only device
        // stays read-only whether or not the bit is accepted (5.2.5).
        self.offered_read_only.set(offered & features::RO != 0);
        Some(offered & features::RO)
    }

    fn pre_device_initialization(&self) -> Result<(), ErrorCode> {
        let capacity = self
            .configuration
            .read_u64(CAPACITY_OFFSET)
            .ok_or(ErrorCode::FAIL)?;
        if self.slot_count() == 0 {
            return Err(ErrorCode::NOMEM);
        }
        self.capacity.set(capacity);
        self.read_only.set(self.offered_read_only.get());
        Ok(())
    }

    fn device_initialized(&self) -> Result<(), ErrorCode> {
        self.ready.set(true);
        Ok(())
    }
}
