// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Behavioural model of a virtio PCI function and its split virtqueues,
//! for host tests of the transport, the queues and the device drivers.
//!
//! The model implements `VirtioPciAccess`: each register access reacts at
//! once as a device would (virtio 1.x 4.1.4.3: feature selects pick the
//! half read, writing 0 to `device_status` resets, `FEATURES_OK` stays set
//! only for features the device accepts, the ISR byte clears on read). It
//! reaches memory only through a table of IOVA mappings the test installs
//! (standing in for the IOMMU domain), so an address the driver forgot to
//! map, or a physical address where an IOVA belongs, makes the access
//! panic. Nothing runs on its own: the test calls
//! [`ModelDevice::take_available`] to let the device read new requests and
//! [`ModelDevice::complete`] to return one, in any order.

#![allow(dead_code, reason = "each test file uses part of the model")]

use std::cell::RefCell;

use virtio_pci::registers::{CommonRegister, VirtioPciAccess, features, status};

/// Descriptor flags (2.7.5).
pub const DESCRIPTOR_NEXT: u16 = 1;
pub const DESCRIPTOR_WRITE: u16 = 2;

/// A queue as the device sees it.
#[derive(Clone, Debug, Default)]
pub struct ModelQueue {
    pub max_size: u16,
    pub size: u16,
    pub msix_vector: u16,
    pub enabled: bool,
    pub notify_off: u16,
    pub descriptor_area: u64,
    pub driver_area: u64,
    pub device_area: u64,
    /// Next available-ring index the device will read.
    pub last_available: u16,
    /// Next used-ring index the device will write.
    pub used_index: u16,
}

/// One segment of a chain the device read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelSegment {
    pub iova: u64,
    pub length: u32,
    pub writable: bool,
}

/// A request the device took from the available ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub head: u16,
    pub segments: Vec<ModelSegment>,
}

#[derive(Clone, Copy, Debug)]
struct Mapping {
    iova: u64,
    host: usize,
    length: usize,
    writable: bool,
}

#[derive(Debug, Default)]
struct State {
    pci_device_id: u16,
    offered: u64,
    status: u8,
    device_feature_select: u32,
    driver_feature_select: u32,
    driver_features: u64,
    queue_select: u16,
    queues: Vec<ModelQueue>,
    isr: u8,
    /// Status writes, in order.
    status_log: Vec<u8>,
    /// Notification writes: (offset, value).
    notifications: Vec<(usize, u16)>,
    /// Status reads after a reset that still read non-zero
    /// (`usize::MAX`: the reset never completes).
    reset_delay: usize,
    pending_reset_reads: usize,
    status_reads: usize,
    mappings: Vec<Mapping>,
    /// The device-specific configuration (4.1.4.6).
    device_config: Vec<u8>,
    /// Bumped by `set_device_config` (`config_generation`).
    config_generation: u8,
}

/// A modelled virtio PCI function.
#[derive(Debug)]
pub struct ModelDevice {
    state: RefCell<State>,
}

/// The notification multiplier the model's capability reports.
pub const NOTIFY_OFF_MULTIPLIER: u32 = 4;
/// Length of the model's notification structure.
pub const NOTIFY_LEN: usize = 0x1000;

impl ModelDevice {
    /// A modern function of virtio type `device_type` offering
    /// `offered` features, with queues of these maximum sizes. Queue `i`'s
    /// `queue_notify_off` is `i`.
    pub fn new(device_type: u16, offered: u64, queue_sizes: &[u16]) -> ModelDevice {
        let queues = queue_sizes
            .iter()
            .enumerate()
            .map(|(index, max)| ModelQueue {
                max_size: *max,
                size: *max,
                notify_off: index as u16,
                ..ModelQueue::default()
            })
            .collect();
        ModelDevice {
            state: RefCell::new(State {
                pci_device_id: 0x1040 + device_type,
                offered,
                queues,
                ..State::default()
            }),
        }
    }

    /// The PCI device ID.
    pub fn pci_device_id(&self) -> u16 {
        self.state.borrow().pci_device_id
    }

    /// Sets the device-specific configuration (and bumps its generation).
    pub fn set_device_config(&self, bytes: &[u8]) {
        let mut state = self.state.borrow_mut();
        state.device_config = bytes.to_vec();
        state.config_generation = state.config_generation.wrapping_add(1);
    }

    /// Reads the bytes of a (device-readable) segment, as the device
    /// would when serving the request.
    pub fn read_segment(&self, segment: &ModelSegment) -> Vec<u8> {
        let mut bytes = vec![0; segment.length as usize];
        self.read_bytes(segment.iova, &mut bytes);
        bytes
    }

    /// Makes a reset take `reads` status reads to complete.
    pub fn set_reset_delay(&self, reads: usize) {
        self.state.borrow_mut().reset_delay = reads;
    }

    /// Installs an IOVA mapping of `length` bytes at host address `host`.
    pub fn map(&self, iova: u64, host: usize, length: usize, writable: bool) {
        self.state.borrow_mut().mappings.push(Mapping {
            iova,
            host,
            length,
            writable,
        });
    }

    pub fn status(&self) -> u8 {
        self.state.borrow().status
    }

    pub fn status_log(&self) -> Vec<u8> {
        self.state.borrow().status_log.clone()
    }

    pub fn status_reads(&self) -> usize {
        self.state.borrow().status_reads
    }

    pub fn driver_features(&self) -> u64 {
        self.state.borrow().driver_features
    }

    pub fn queue(&self, index: usize) -> ModelQueue {
        self.state.borrow().queues[index].clone()
    }

    pub fn notifications(&self) -> Vec<(usize, u16)> {
        self.state.borrow().notifications.clone()
    }

    /// Raises the ISR bits (as a device event would).
    pub fn raise_isr(&self, bits: u8) {
        self.state.borrow_mut().isr |= bits;
    }

    pub fn isr(&self) -> u8 {
        self.state.borrow().isr
    }

    fn translate(&self, iova: u64, length: usize, write: bool) -> usize {
        let state = self.state.borrow();
        let mapping = state
            .mappings
            .iter()
            .find(|m| {
                iova >= m.iova
                    && iova
                        .checked_add(length as u64)
                        .is_some_and(|end| end <= m.iova + m.length as u64)
            })
            .unwrap_or_else(|| panic!("device access to unmapped IOVA {iova:#x} (+{length})"));
        assert!(
            !write || mapping.writable,
            "device write to read-only IOVA {iova:#x}"
        );
        mapping.host + (iova - mapping.iova) as usize
    }

    fn read_bytes(&self, iova: u64, out: &mut [u8]) {
        let host = self.translate(iova, out.len(), false);
        for (index, byte) in out.iter_mut().enumerate() {
            // SAFETY: the test mapped `[host, host + length)` from memory it
            // lent to the device, which outlives the model.
            *byte = unsafe { ((host + index) as *const u8).read_volatile() };
        }
    }

    fn write_bytes(&self, iova: u64, bytes: &[u8]) {
        let host = self.translate(iova, bytes.len(), true);
        for (index, byte) in bytes.iter().enumerate() {
            // SAFETY: as in `read_bytes`, for writable memory.
            unsafe { ((host + index) as *mut u8).write_volatile(*byte) };
        }
    }

    fn read_u16(&self, iova: u64) -> u16 {
        let mut bytes = [0; 2];
        self.read_bytes(iova, &mut bytes);
        u16::from_le_bytes(bytes)
    }

    /// Reads every request the driver made available on queue `queue`
    /// since the last call, walking each chain (bounded by the queue size).
    pub fn take_available(&self, queue: usize) -> Vec<Chain> {
        let q = self.queue(queue);
        assert!(q.enabled, "queue {queue} used while not enabled");
        let available = self.read_u16(q.driver_area + 2);
        let mut chains = Vec::new();
        let mut index = q.last_available;
        while index != available {
            let slot = u64::from(index % q.size);
            let head = self.read_u16(q.driver_area + 4 + 2 * slot);
            assert!(head < q.size, "head {head} beyond the queue");
            let mut segments = Vec::new();
            let mut next = head;
            for _ in 0..q.size {
                let mut raw = [0u8; 16];
                self.read_bytes(q.descriptor_area + 16 * u64::from(next), &mut raw);
                let iova = u64::from_le_bytes(raw[0..8].try_into().unwrap());
                let length = u32::from_le_bytes(raw[8..12].try_into().unwrap());
                let flags = u16::from_le_bytes(raw[12..14].try_into().unwrap());
                segments.push(ModelSegment {
                    iova,
                    length,
                    writable: flags & DESCRIPTOR_WRITE != 0,
                });
                if flags & DESCRIPTOR_NEXT == 0 {
                    break;
                }
                next = u16::from_le_bytes(raw[14..16].try_into().unwrap());
                assert!(next < q.size, "next {next} beyond the queue");
            }
            chains.push(Chain { head, segments });
            index = index.wrapping_add(1);
        }
        self.state.borrow_mut().queues[queue].last_available = index;
        chains
    }

    /// Returns `chain` on `queue`, having written `data` into its writable
    /// segments in order; raises the queue interrupt.
    pub fn complete(&self, queue: usize, chain: &Chain, data: &[u8]) {
        let mut rest = data;
        for segment in chain.segments.iter().filter(|s| s.writable) {
            let count = rest.len().min(segment.length as usize);
            self.write_bytes(segment.iova, &rest[..count]);
            rest = &rest[count..];
        }
        assert!(rest.is_empty(), "more data than writable space");
        self.push_used(queue, u32::from(chain.head), data.len() as u32);
    }

    /// Appends a raw used element (for protocol-error tests) and raises the
    /// queue interrupt.
    pub fn push_used(&self, queue: usize, id: u32, length: u32) {
        let q = self.queue(queue);
        let slot = u64::from(q.used_index % q.size);
        let element = q.device_area + 4 + 8 * slot;
        self.write_bytes(element, &id.to_le_bytes());
        self.write_bytes(element + 4, &length.to_le_bytes());
        let used = q.used_index.wrapping_add(1);
        self.write_bytes(q.device_area + 2, &used.to_le_bytes());
        let mut state = self.state.borrow_mut();
        state.queues[queue].used_index = used;
        state.isr |= 1;
    }

    /// Moves the used index without writing elements (protocol errors).
    pub fn advance_used_index(&self, queue: usize, by: u16) {
        let q = self.queue(queue);
        let used = q.used_index.wrapping_add(by);
        self.write_bytes(q.device_area + 2, &used.to_le_bytes());
        let mut state = self.state.borrow_mut();
        state.queues[queue].used_index = used;
        state.isr |= 1;
    }

    fn reset(state: &mut State) {
        state.status = 0;
        state.driver_features = 0;
        state.device_feature_select = 0;
        state.driver_feature_select = 0;
        state.queue_select = 0;
        state.isr = 0;
        for queue in state.queues.iter_mut() {
            *queue = ModelQueue {
                max_size: queue.max_size,
                size: queue.max_size,
                notify_off: queue.notify_off,
                ..ModelQueue::default()
            };
        }
        state.pending_reset_reads = state.reset_delay;
    }

    fn write_status(state: &mut State, value: u8) {
        state.status_log.push(value);
        if value == 0 {
            Self::reset(state);
            return;
        }
        let newly = value & !state.status;
        if newly & status::FEATURES_OK != 0 {
            // 2.2 and 6.1: only offered features, VERSION_1 required, and
            // a device behind an IOMMU refuses a driver that does not
            // accept ACCESS_PLATFORM.
            let accepted = state.driver_features;
            let ok = accepted & !state.offered == 0
                && accepted & features::VERSION_1 != 0
                && (state.offered & features::ACCESS_PLATFORM == 0
                    || accepted & features::ACCESS_PLATFORM != 0);
            state.status = if ok {
                value
            } else {
                value & !status::FEATURES_OK
            };
            return;
        }
        state.status = value;
    }
}

impl VirtioPciAccess for &ModelDevice {
    fn read_common(&self, register: CommonRegister) -> u32 {
        let mut state = self.state.borrow_mut();
        let selected = usize::from(state.queue_select);
        let queue = state.queues.get(selected).cloned().unwrap_or_default();
        match register {
            CommonRegister::DeviceFeatureSelect => state.device_feature_select,
            CommonRegister::DeviceFeature => match state.device_feature_select {
                0 => state.offered as u32,
                1 => (state.offered >> 32) as u32,
                _ => 0,
            },
            CommonRegister::DriverFeatureSelect => state.driver_feature_select,
            CommonRegister::DriverFeature => match state.driver_feature_select {
                0 => state.driver_features as u32,
                1 => (state.driver_features >> 32) as u32,
                _ => 0,
            },
            CommonRegister::ConfigMsixVector => 0xffff,
            CommonRegister::NumQueues => state.queues.len() as u32,
            CommonRegister::DeviceStatus => {
                state.status_reads += 1;
                if state.pending_reset_reads > 0 {
                    if state.pending_reset_reads != usize::MAX {
                        state.pending_reset_reads -= 1;
                    }
                    // Still resetting.
                    return 0x40;
                }
                state.status.into()
            }
            CommonRegister::ConfigGeneration => state.config_generation.into(),
            CommonRegister::QueueSelect => state.queue_select.into(),
            CommonRegister::QueueSize => queue.size.into(),
            CommonRegister::QueueMsixVector => queue.msix_vector.into(),
            CommonRegister::QueueEnable => queue.enabled.into(),
            CommonRegister::QueueNotifyOff => queue.notify_off.into(),
            CommonRegister::QueueDesc => queue.descriptor_area as u32,
            CommonRegister::QueueDescHigh => (queue.descriptor_area >> 32) as u32,
            CommonRegister::QueueDriver => queue.driver_area as u32,
            CommonRegister::QueueDriverHigh => (queue.driver_area >> 32) as u32,
            CommonRegister::QueueDevice => queue.device_area as u32,
            CommonRegister::QueueDeviceHigh => (queue.device_area >> 32) as u32,
        }
    }

    fn write_common(&self, register: CommonRegister, value: u32) {
        let mut state = self.state.borrow_mut();
        let selected = usize::from(state.queue_select);
        let low = |old: u64| (old & !0xffff_ffff) | u64::from(value);
        let high = |old: u64| (old & 0xffff_ffff) | (u64::from(value) << 32);
        match register {
            CommonRegister::DeviceFeatureSelect => state.device_feature_select = value,
            CommonRegister::DriverFeatureSelect => state.driver_feature_select = value,
            CommonRegister::DriverFeature => match state.driver_feature_select {
                0 => state.driver_features = low(state.driver_features),
                1 => state.driver_features = high(state.driver_features),
                _ => {}
            },
            CommonRegister::DeviceStatus => ModelDevice::write_status(&mut state, value as u8),
            CommonRegister::QueueSelect => state.queue_select = value as u16,
            CommonRegister::ConfigMsixVector
            | CommonRegister::DeviceFeature
            | CommonRegister::NumQueues
            | CommonRegister::ConfigGeneration
            | CommonRegister::QueueNotifyOff => {}
            _ => {
                let Some(queue) = state.queues.get_mut(selected) else {
                    return;
                };
                assert!(
                    !queue.enabled || register == CommonRegister::QueueEnable,
                    "{register:?} written while the queue is enabled"
                );
                match register {
                    CommonRegister::QueueSize => {
                        assert!(
                            value as u16 <= queue.max_size,
                            "queue size beyond the maximum"
                        );
                        queue.size = value as u16;
                    }
                    CommonRegister::QueueMsixVector => queue.msix_vector = value as u16,
                    CommonRegister::QueueEnable => queue.enabled = value == 1,
                    CommonRegister::QueueDesc => queue.descriptor_area = low(queue.descriptor_area),
                    CommonRegister::QueueDescHigh => {
                        queue.descriptor_area = high(queue.descriptor_area);
                    }
                    CommonRegister::QueueDriver => queue.driver_area = low(queue.driver_area),
                    CommonRegister::QueueDriverHigh => queue.driver_area = high(queue.driver_area),
                    CommonRegister::QueueDevice => queue.device_area = low(queue.device_area),
                    CommonRegister::QueueDeviceHigh => queue.device_area = high(queue.device_area),
                    _ => {}
                }
            }
        }
    }

    fn notify_len(&self) -> usize {
        NOTIFY_LEN
    }

    fn write_notify(&self, offset: usize, value: u16) {
        self.state.borrow_mut().notifications.push((offset, value));
    }

    fn read_isr(&self) -> u8 {
        let mut state = self.state.borrow_mut();
        core::mem::take(&mut state.isr)
    }

    fn device_config_len(&self) -> usize {
        self.state.borrow().device_config.len()
    }

    fn read_device_config(&self, offset: usize) -> u8 {
        self.state
            .borrow()
            .device_config
            .get(offset)
            .copied()
            .unwrap_or(0)
    }
}
