// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Split virtqueues whose addresses are IOVAs.
//!
//! Virtio 1.x section 2.7 ("Split Virtqueues"): a descriptor table, an
//! available ring the driver fills and a used ring the device fills, all
//! in [`QueueMemory`], one page the board lends for good and maps into
//! the device's IOMMU domain at an IOVA it gives [`SplitQueue::new`]. With
//! `VIRTIO_F_ACCESS_PLATFORM` negotiated the device translates every
//! address it is given through the IOMMU (section 6.1), so the ring
//! addresses programmed into the transport and the buffer addresses in
//! descriptors are IOVAs; the queue never learns a physical address.
//!
//! Requests are descriptor chains ([`SplitQueue::submit`]) of
//! device-readable then device-writable segments, each an (IOVA, length)
//! pair. A request is named by its head descriptor plus a generation
//! ([`RequestId`]), so completions may arrive in any order (2.7.8: the
//! used ring carries the head's id) and a stale id is refused. Which
//! descriptors a request holds is kept here, never read back from the
//! table the device can write, and every index the device hands back is
//! checked before use. A request the device never completes holds only
//! its own descriptors: others proceed, and it can be cancelled (its
//! owner hears when the device returns it) or reclaimed after a device
//! reset ([`SplitQueue::reset`]).
//!
//! DMA ordering uses the board's `DmaFence`: the descriptors and ring
//! entry are released before the available index moves (2.7.13.3.1), the
//! index before the notification MMIO write (2.7.13.4); the used ring is
//! acquired after its index is read and before its entries are (2.7.14).
//! Notification suppression (`VIRTIO_F_EVENT_IDX`, ring flags) is not
//! used: the driver always notifies and asks for every interrupt.

use core::cell::Cell;
use core::ptr::NonNull;

use kernel::ErrorCode;
use kernel::hil::iommu::DmaMemory;
use kernel::platform::dma_fence::DmaFence;
use kernel::utilities::cells::OptionalCell;

use crate::transport::VirtioTransport;

/// Descriptor flag: the chain continues at `next` (2.7.5).
const DESCRIPTOR_NEXT: u16 = 1;
/// Descriptor flag: the device writes this buffer (2.7.5).
const DESCRIPTOR_WRITE: u16 = 2;

/// The largest queue this crate builds: the descriptors in flight are one
/// `u64` bit mask.
pub const MAX_QUEUE_SIZE: usize = 64;

/// A descriptor (2.7.5), little-endian in memory.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Descriptor {
    address: u64,
    length: u32,
    flags: u16,
    next: u16,
}

/// An element of the used ring (2.7.8).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct UsedElement {
    id: u32,
    length: u32,
}

/// The available ring (driver area, 2.7.6).
#[repr(C)]
struct AvailableRing<const N: usize> {
    flags: u16,
    index: u16,
    ring: [u16; N],
    used_event: u16,
}

/// The used ring (device area, 2.7.8).
#[repr(C)]
struct UsedRing<const N: usize> {
    flags: u16,
    index: u16,
    ring: [UsedElement; N],
    available_event: u16,
}

/// The memory of one split virtqueue of `N` entries.
///
/// Laid out as 2.7 requires (descriptor table 16-byte, available ring 2-byte, used ring
/// 4-byte aligned) and page aligned and sized, so that the IOMMU maps it
/// exactly. For `N <= 64` it is one 4 KiB page.
#[repr(C, align(4096))]
pub struct QueueMemory<const N: usize> {
    descriptors: [Descriptor; N],
    available: AvailableRing<N>,
    used: UsedRing<N>,
}

impl<const N: usize> QueueMemory<N> {
    /// Zeroed queue memory, for statics.
    pub const ZERO: QueueMemory<N> = QueueMemory {
        descriptors: [Descriptor {
            address: 0,
            length: 0,
            flags: 0,
            next: 0,
        }; N],
        available: AvailableRing {
            flags: 0,
            index: 0,
            ring: [0; N],
            used_event: 0,
        },
        used: UsedRing {
            flags: 0,
            index: 0,
            ring: [UsedElement { id: 0, length: 0 }; N],
            available_event: 0,
        },
    };

    /// Lends the memory for good: returns the queue's handle and the proof
    /// the board maps (device read and write) into the device's domain.
    pub fn lend(memory: &'static mut QueueMemory<N>) -> (QueueRings<N>, DmaMemory) {
        let rings = NonNull::from(memory);
        let bytes = rings.cast::<u8>();
        // SAFETY: the pointer comes from a `&'static mut` this function
        // consumed: valid for `size_of::<QueueMemory<N>>()` bytes for good,
        // with no other reference; the byte slice is handed straight to
        // `from_static`, which keeps only its address and length.
        let memory = DmaMemory::from_static(unsafe {
            core::slice::from_raw_parts_mut(bytes.as_ptr(), size_of::<QueueMemory<N>>())
        });
        (QueueRings { rings }, memory)
    }
}

/// The queue's handle on its lent [`QueueMemory`]; made by
/// [`QueueMemory::lend`].
#[derive(Debug)]
pub struct QueueRings<const N: usize> {
    rings: NonNull<QueueMemory<N>>,
}

/// One buffer of a request: `length` bytes at `iova` in the device's I/O
/// address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub iova: u64,
    pub length: u32,
    /// True if the device writes the buffer, false if it reads it.
    pub device_writable: bool,
}

impl Segment {
    /// A buffer the device reads.
    pub const fn readable(iova: u64, length: u32) -> Segment {
        Segment {
            iova,
            length,
            device_writable: false,
        }
    }

    /// A buffer the device writes.
    pub const fn writable(iova: u64, length: u32) -> Segment {
        Segment {
            iova,
            length,
            device_writable: true,
        }
    }
}

/// A submitted request: its head descriptor and that slot's generation,
/// so that an id kept after its request finished is recognised as stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestId {
    head: u16,
    generation: u16,
}

impl RequestId {
    /// The head descriptor's index (the id the device reports).
    pub fn head(&self) -> u16 {
        self.head
    }
}

/// The IOVAs of a queue's three areas (4.1.4.3 `queue_desc`,
/// `queue_driver`, `queue_device`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueAddresses {
    pub descriptor_area: u64,
    pub driver_area: u64,
    pub device_area: u64,
}

/// A virtqueue as the transport sees it.
pub trait Virtqueue {
    /// The number of entries to use, at most `device_max` (which the
    /// device reported). 0 means the queue cannot work with this device.
    fn negotiate_queue_size(&self, device_max: usize) -> usize;

    /// Prepares the queue as queue `queue_number` with `size` entries (the
    /// value `negotiate_queue_size` returned), before the transport gives
    /// the device its addresses.
    fn initialize(&self, queue_number: u32, size: usize);

    /// The IOVAs of the queue's areas.
    fn addresses(&self) -> QueueAddresses;

    /// The device may have returned buffers. Spurious calls are harmless.
    fn used_interrupt(&self);
}

/// Receives the completions of a [`SplitQueue`].
pub trait QueueClient {
    /// The device returned request `id`: `Ok(written)` with the number of
    /// bytes it wrote into the request's writable segments, or
    /// `Err(CANCEL)` if the request had been cancelled. Either way the
    /// device no longer uses the request's buffers.
    fn request_done(&self, id: RequestId, result: Result<u32, ErrorCode>);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    /// Not the head of a request.
    Idle,
    /// The head of a request the device has.
    InFlight,
    /// The head of a cancelled request the device still has.
    Cancelled,
}

/// Book-keeping of the request headed by one descriptor.
#[derive(Clone, Copy, Debug)]
struct Slot {
    state: SlotState,
    generation: u16,
    /// Every descriptor of the chain, as a bit mask.
    chain: u64,
    /// Total length of the writable segments: the most the device may
    /// report written.
    writable: u32,
}

/// A split virtqueue of up to `N` entries (`N` a power of two, 1..=64)
/// over lent [`QueueMemory`], with the platform's DMA fence `F`.
pub struct SplitQueue<'a, const N: usize, F: DmaFence> {
    rings: QueueRings<N>,
    iova: u64,
    fence: F,
    size: Cell<u16>,
    queue_number: OptionalCell<u32>,
    /// Descriptors not in any chain.
    free: Cell<u64>,
    slots: [Cell<Slot>; N],
    /// The next available-ring index to publish (free-running).
    next_available: Cell<u16>,
    /// The used-ring index up to which completions were handled.
    last_used: Cell<u16>,
    /// The device broke the protocol; the queue refuses work until reset.
    failed: Cell<bool>,
    transport: OptionalCell<&'a dyn VirtqueueNotify>,
    client: OptionalCell<&'a dyn QueueClient>,
}

/// What a queue needs of its transport: a way to notify the device.
/// Every [`VirtioTransport`] provides it.
pub trait VirtqueueNotify {
    /// Tells the device that queue `queue_number` has new buffers.
    fn queue_notify(&self, queue_number: u32);
}

impl<'a, T: VirtioTransport<'a>> VirtqueueNotify for T {
    fn queue_notify(&self, queue_number: u32) {
        VirtioTransport::queue_notify(self, queue_number);
    }
}

impl<'a, const N: usize, F: DmaFence> SplitQueue<'a, N, F> {
    /// A queue over `rings`, which the board has mapped (read and write)
    /// at `iova` in the device's domain; `fence` is the platform's.
    pub fn new(rings: QueueRings<N>, iova: u64, fence: F) -> SplitQueue<'a, N, F> {
        const {
            assert!(N.is_power_of_two() && N <= MAX_QUEUE_SIZE);
        }
        SplitQueue {
            rings,
            iova,
            fence,
            size: Cell::new(0),
            queue_number: OptionalCell::empty(),
            free: Cell::new(0),
            slots: core::array::from_fn(|_| {
                Cell::new(Slot {
                    state: SlotState::Idle,
                    generation: 0,
                    chain: 0,
                    writable: 0,
                })
            }),
            next_available: Cell::new(0),
            last_used: Cell::new(0),
            failed: Cell::new(false),
            transport: OptionalCell::empty(),
            client: OptionalCell::empty(),
        }
    }

    /// Sets the transport that notifies the device.
    pub fn set_transport(&self, transport: &'a dyn VirtqueueNotify) {
        self.transport.set(transport);
    }

    /// Sets the client that hears of completions.
    pub fn set_client(&self, client: &'a dyn QueueClient) {
        self.client.set(client);
    }

    /// The queue's number, once initialized.
    pub fn queue_number(&self) -> Option<u32> {
        self.queue_number.get()
    }

    /// The number of entries in use (0 before initialization).
    pub fn size(&self) -> usize {
        self.size.get().into()
    }

    /// Descriptors free for new requests.
    pub fn free_descriptors(&self) -> usize {
        self.free.get().count_ones() as usize
    }

    /// Requests the device holds (cancelled ones included).
    pub fn requests_in_flight(&self) -> usize {
        self.slots
            .iter()
            .filter(|slot| slot.get().state != SlotState::Idle)
            .count()
    }

    /// True once the device broke the protocol (an unknown id or an index
    /// that ran ahead in the used ring); cleared by [`Self::reset`].
    pub fn has_failed(&self) -> bool {
        self.failed.get()
    }

    /// Gives the device a request: `segments` in order, device-readable
    /// ones first. The descriptors carry exactly the IOVAs and lengths
    /// given; the caller is responsible for having them mapped in the
    /// device's domain, and for leaving the memory alone until
    /// `request_done`.
    ///
    /// Errors (nothing was given to the device):
    /// - `INVAL`: no segment, a zero length, or a readable segment after a
    ///   writable one (2.7.4.2).
    /// - `NOMEM`: fewer free descriptors than segments.
    /// - `OFF`: the queue is not initialized.
    /// - `FAIL`: the device broke the protocol; reset it first.
    pub fn submit(&self, segments: &[Segment]) -> Result<RequestId, ErrorCode> {
        if self.failed.get() {
            return Err(ErrorCode::FAIL);
        }
        let queue_number = self.queue_number.get().ok_or(ErrorCode::OFF)?;
        if segments.is_empty() || segments.iter().any(|segment| segment.length == 0) {
            return Err(ErrorCode::INVAL);
        }
        if segments
            .windows(2)
            .any(|pair| pair[0].device_writable && !pair[1].device_writable)
        {
            return Err(ErrorCode::INVAL);
        }
        let free = self.free.get();
        if (free.count_ones() as usize) < segments.len() {
            return Err(ErrorCode::NOMEM);
        }
        // Take the lowest free descriptors, one per segment.
        let mut chain = 0u64;
        let mut remaining = free;
        let mut indices = [0u16; N];
        for index in indices.iter_mut().take(segments.len()) {
            let bit = remaining.trailing_zeros();
            remaining &= !(1 << bit);
            chain |= 1 << bit;
            *index = bit as u16;
        }
        let rings = self.rings.rings.as_ptr();
        let mut writable = 0u32;
        for (position, segment) in segments.iter().enumerate() {
            let last = position + 1 == segments.len();
            let mut flags = 0;
            if segment.device_writable {
                flags |= DESCRIPTOR_WRITE;
                writable = writable.saturating_add(segment.length);
            }
            let next = if last {
                0
            } else {
                flags |= DESCRIPTOR_NEXT;
                indices[position + 1]
            };
            let descriptor = Descriptor {
                address: segment.iova.to_le(),
                length: segment.length.to_le(),
                flags: flags.to_le(),
                next: next.to_le(),
            };
            // SAFETY: the rings are lent for good (`QueueMemory::lend`);
            // `indices[position] < size <= N` (only descriptors below the
            // negotiated size are ever free); the device does not read a
            // free descriptor, and the access is volatile.
            unsafe {
                let entry = &raw mut (*rings).descriptors[usize::from(indices[position])];
                (&raw mut (*entry).address).write_volatile(descriptor.address);
                (&raw mut (*entry).length).write_volatile(descriptor.length);
                (&raw mut (*entry).flags).write_volatile(descriptor.flags);
                (&raw mut (*entry).next).write_volatile(descriptor.next);
            }
        }
        let head = indices[0];
        let mut slot = self.slots[usize::from(head)].get();
        slot.generation = slot.generation.wrapping_add(1);
        slot.state = SlotState::InFlight;
        slot.chain = chain;
        slot.writable = writable;
        self.slots[usize::from(head)].set(slot);
        self.free.set(free & !chain);

        let available = self.next_available.get();
        let position = usize::from(available % self.size.get());
        // SAFETY: as above; `position < size`, and the device reads this
        // ring entry only after the index below passes it.
        unsafe {
            (&raw mut (*rings).available.ring[position]).write_volatile(head.to_le());
        }
        // The chain and its ring entry before the index that publishes them.
        self.fence.release(self.rings_as_raw());
        let available = available.wrapping_add(1);
        self.next_available.set(available);
        // SAFETY: as above; the driver is the only writer of this index.
        unsafe {
            (&raw mut (*rings).available.index).write_volatile(available.to_le());
        }
        // The index before the notification.
        self.fence.release(self.rings_as_raw());
        self.transport
            .map(|transport| transport.queue_notify(queue_number));
        Ok(RequestId {
            head,
            generation: slot.generation,
        })
    }

    /// Cancels request `id`. The device may still be using its buffers:
    /// the request keeps its descriptors until the device returns it (its
    /// client then gets `Err(CANCEL)`) or the queue is [`reset`](Self::reset).
    ///
    /// Errors:
    /// - `INVAL`: `id` is not a request in flight (finished, or stale).
    /// - `ALREADY`: it is already cancelled.
    pub fn cancel(&self, id: RequestId) -> Result<(), ErrorCode> {
        let cell = self
            .slots
            .get(usize::from(id.head))
            .ok_or(ErrorCode::INVAL)?;
        let mut slot = cell.get();
        if slot.generation != id.generation {
            return Err(ErrorCode::INVAL);
        }
        match slot.state {
            SlotState::Idle => Err(ErrorCode::INVAL),
            SlotState::Cancelled => Err(ErrorCode::ALREADY),
            SlotState::InFlight => {
                slot.state = SlotState::Cancelled;
                cell.set(slot);
                Ok(())
            }
        }
    }

    /// Takes back every request after the device was reset (its status
    /// read back 0, so it no longer touches the queue or its buffers),
    /// calling `reclaimed` for each one that was in flight (cancelled ones
    /// included), and leaves the queue uninitialized: the transport sets it
    /// up again with the device.
    pub fn reset(&self, mut reclaimed: impl FnMut(RequestId)) {
        for (head, cell) in self.slots.iter().enumerate() {
            let mut slot = cell.get();
            if slot.state != SlotState::Idle {
                reclaimed(RequestId {
                    head: head as u16,
                    generation: slot.generation,
                });
                slot.state = SlotState::Idle;
                slot.chain = 0;
                cell.set(slot);
            }
        }
        self.queue_number.clear();
        self.size.set(0);
        self.free.set(0);
        self.failed.set(false);
    }

    fn rings_as_raw(&self) -> *mut [u8] {
        core::ptr::slice_from_raw_parts_mut(
            self.rings.rings.as_ptr().cast::<u8>(),
            size_of::<QueueMemory<N>>(),
        )
    }

    /// Handles one used-ring element: frees the request's descriptors and
    /// returns the client call to make, or `None` if the device named no
    /// request of ours.
    fn complete(&self, id: u32, length: u32) -> Option<(RequestId, Result<u32, ErrorCode>)> {
        let index = usize::try_from(id).ok()?;
        let cell = self.slots.get(index)?;
        let mut slot = cell.get();
        let request = RequestId {
            head: index as u16,
            generation: slot.generation,
        };
        let result = match slot.state {
            SlotState::Idle => return None,
            SlotState::InFlight => Ok(length.min(slot.writable)),
            SlotState::Cancelled => Err(ErrorCode::CANCEL),
        };
        self.free.set(self.free.get() | slot.chain);
        slot.state = SlotState::Idle;
        slot.chain = 0;
        cell.set(slot);
        Some((request, result))
    }
}

impl<const N: usize, F: DmaFence> Virtqueue for SplitQueue<'_, N, F> {
    fn negotiate_queue_size(&self, device_max: usize) -> usize {
        // Split-queue sizes are powers of two (2.7).
        let fit = device_max.min(N);
        if fit == 0 { 0 } else { 1 << fit.ilog2() }
    }

    fn initialize(&self, queue_number: u32, size: usize) {
        let size = size.clamp(1, N);
        let rings = self.rings.rings.as_ptr();
        // SAFETY: the rings are lent for good and valid for their size;
        // before initialization (or after a device reset) the device does
        // not use them. The release below keeps the stores.
        unsafe { rings.write_bytes(0, 1) };
        self.fence.release(self.rings_as_raw());
        for cell in self.slots.iter() {
            let mut slot = cell.get();
            slot.state = SlotState::Idle;
            slot.chain = 0;
            cell.set(slot);
        }
        self.size.set(size as u16);
        self.free.set(if size == 64 {
            u64::MAX
        } else {
            (1 << size) - 1
        });
        self.next_available.set(0);
        self.last_used.set(0);
        self.failed.set(false);
        self.queue_number.set(queue_number);
    }

    fn addresses(&self) -> QueueAddresses {
        QueueAddresses {
            descriptor_area: self.iova + core::mem::offset_of!(QueueMemory<N>, descriptors) as u64,
            driver_area: self.iova + core::mem::offset_of!(QueueMemory<N>, available) as u64,
            device_area: self.iova + core::mem::offset_of!(QueueMemory<N>, used) as u64,
        }
    }

    fn used_interrupt(&self) {
        if self.queue_number.is_none() || self.failed.get() {
            return;
        }
        let rings = self.rings.rings.as_ptr();
        // Bounded: at most `size` completions per call, the most that can
        // be outstanding; more would be a device error.
        for _ in 0..self.size.get() {
            // SAFETY: the rings are lent for good; volatile read of the
            // index the device writes.
            let used = u16::from_le(unsafe { (&raw const (*rings).used.index).read_volatile() });
            let last = self.last_used.get();
            let pending = used.wrapping_sub(last);
            if pending == 0 {
                return;
            }
            if pending > self.size.get() {
                self.failed.set(true);
                return;
            }
            // The entries the index covers, after the index.
            self.fence.acquire(self.rings_as_raw());
            let position = usize::from(last % self.size.get());
            // SAFETY: as above; `position < size <= N`.
            let element = unsafe {
                let entry = &raw const (*rings).used.ring[position];
                UsedElement {
                    id: (&raw const (*entry).id).read_volatile(),
                    length: (&raw const (*entry).length).read_volatile(),
                }
            };
            self.last_used.set(last.wrapping_add(1));
            match self.complete(u32::from_le(element.id), u32::from_le(element.length)) {
                Some((request, result)) => {
                    self.client
                        .map(|client| client.request_done(request, result));
                }
                None => {
                    self.failed.set(true);
                    return;
                }
            }
        }
    }
}
