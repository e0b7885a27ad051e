// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The registers of a virtio PCI function: common configuration, notify,
//! ISR status, and the access trait the transport drives them through.
//!
//! Virtio 1.x, section 4.1.4 ("Virtio Structure PCI Capabilities"): the
//! common configuration structure (4.1.4.3), the notification structure
//! (4.1.4.4), the ISR status byte (4.1.4.5) and the device-specific
//! configuration (4.1.4.6) each live in a BAR at an offset the capability
//! list names (`crate::capabilities`). 64-bit fields are accessed as two
//! 32-bit halves, which 4.1.3.1 allows and rv32 needs.
//!
//! The transport reaches them through [`VirtioPciAccess`], one method per
//! kind of access, so that its logic runs unchanged against memory-mapped
//! registers ([`MmioAccess`]) and against a behavioural model in host
//! tests, which must react to each access as a device does (a write of
//! `device_feature_select` changes what `device_feature` reads).

use kernel::utilities::StaticRef;
use kernel::utilities::registers::interfaces::{Readable, Writeable};
use kernel::utilities::registers::{ReadOnly, ReadWrite, register_structs};

register_structs! {
    /// The common configuration structure (virtio 1.x, 4.1.4.3), up to
    /// `queue_device`; the fields virtio 1.2 added after it are unused.
    pub CommonConfigRegisters {
        /// Selects which 32 bits of the device's features `device_feature`
        /// shows (0: bits 0..31, 1: bits 32..63).
        (0x00 => device_feature_select: ReadWrite<u32>),
        /// The device's features, the half `device_feature_select` picks.
        (0x04 => device_feature: ReadOnly<u32>),
        /// Selects which 32 bits `driver_feature` writes.
        (0x08 => driver_feature_select: ReadWrite<u32>),
        /// The features the driver accepts, the half selected.
        (0x0c => driver_feature: ReadWrite<u32>),
        /// MSI-X vector for configuration changes (unused: INTx).
        (0x10 => config_msix_vector: ReadWrite<u16>),
        /// Number of queues the device has.
        (0x12 => num_queues: ReadOnly<u16>),
        /// Device status (section 2.1); writing 0 resets the device.
        (0x14 => device_status: ReadWrite<u8>),
        /// Changes whenever the device configuration changes.
        (0x15 => config_generation: ReadOnly<u8>),
        /// Selects the queue the `queue_*` fields below refer to.
        (0x16 => queue_select: ReadWrite<u16>),
        /// Reads the largest size the device supports (0: no such queue);
        /// the driver may write a smaller power of two.
        (0x18 => queue_size: ReadWrite<u16>),
        /// MSI-X vector of the queue (unused: INTx).
        (0x1a => queue_msix_vector: ReadWrite<u16>),
        /// 1 to enable the queue, after its addresses are written.
        (0x1c => queue_enable: ReadWrite<u16>),
        /// Where the queue's notification register is, in units of the
        /// notify structure's `notify_off_multiplier`.
        (0x1e => queue_notify_off: ReadOnly<u16>),
        /// Bus address (here an IOVA) of the descriptor table, low half.
        (0x20 => queue_desc: ReadWrite<u32>),
        (0x24 => queue_desc_high: ReadWrite<u32>),
        /// Bus address of the driver area (available ring), low half.
        (0x28 => queue_driver: ReadWrite<u32>),
        (0x2c => queue_driver_high: ReadWrite<u32>),
        /// Bus address of the device area (used ring), low half.
        (0x30 => queue_device: ReadWrite<u32>),
        (0x34 => queue_device_high: ReadWrite<u32>),
        (0x38 => @END),
    }
}

/// Device status bits (virtio 1.x, 2.1).
pub mod status {
    /// The guest has noticed the device.
    pub const ACKNOWLEDGE: u8 = 1;
    /// The guest knows how to drive the device.
    pub const DRIVER: u8 = 2;
    /// The driver is set up and ready to drive the device.
    pub const DRIVER_OK: u8 = 4;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u8 = 8;
    /// The device hit an error it cannot recover from without a reset.
    pub const DEVICE_NEEDS_RESET: u8 = 64;
    /// The driver gave up on the device.
    pub const FAILED: u8 = 128;
}

/// Reserved feature bits the transport handles (virtio 1.x, 6).
pub mod features {
    /// The device complies with virtio 1.x (bit 32).
    pub const VERSION_1: u64 = 1 << 32;
    /// The device reaches memory through the platform's IOMMU: the
    /// addresses in its queues are IOVAs, not physical addresses (bit 33).
    pub const ACCESS_PLATFORM: u64 = 1 << 33;
    /// Memory accesses of driver and device are ordered the platform's
    /// way, so the driver must use its DMA fences (bit 36). They are used
    /// whether or not the device offers this, so it is accepted if offered.
    pub const ORDER_PLATFORM: u64 = 1 << 36;
    /// Feature bits 0..23 belong to the device type; the rest are
    /// reserved for the transport and queues.
    pub const DEVICE_SPECIFIC_MASK: u64 = (1 << 24) - 1;
    /// The features the transport requires.
    pub const REQUIRED: u64 = VERSION_1 | ACCESS_PLATFORM;
}

/// ISR status bits (virtio 1.x, 4.1.4.5); reading the byte clears it and
/// deasserts the INTx line.
pub mod isr {
    /// A queue has new used buffers.
    pub const QUEUE: u8 = 1;
    /// The device configuration changed.
    pub const CONFIGURATION: u8 = 2;
}

/// The MSI-X "no vector" value (4.1.4.3): with MSI-X disabled the device
/// interrupts through INTx and the ISR byte.
pub const NO_VECTOR: u16 = 0xffff;

/// A field of the common configuration, for [`VirtioPciAccess`]. 16- and
/// 8-bit fields travel in the low bits of a `u32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommonRegister {
    DeviceFeatureSelect,
    DeviceFeature,
    DriverFeatureSelect,
    DriverFeature,
    ConfigMsixVector,
    NumQueues,
    DeviceStatus,
    ConfigGeneration,
    QueueSelect,
    QueueSize,
    QueueMsixVector,
    QueueEnable,
    QueueNotifyOff,
    QueueDesc,
    QueueDescHigh,
    QueueDriver,
    QueueDriverHigh,
    QueueDevice,
    QueueDeviceHigh,
}

/// How the transport reaches one virtio PCI function's structures.
///
/// Implementations perform each access exactly once, in the order called,
/// as device register accesses (volatile for MMIO); offsets are checked
/// by the transport against the lengths the capabilities give.
pub trait VirtioPciAccess {
    /// Reads a common-configuration field. Writes to read-only fields and
    /// reads of write-only bits behave as the device defines.
    fn read_common(&self, register: CommonRegister) -> u32;

    /// Writes a common-configuration field (truncated to its width).
    fn write_common(&self, register: CommonRegister, value: u32);

    /// Length of the notification structure in bytes.
    fn notify_len(&self) -> usize;

    /// Writes `value` to the 16-bit notification register at `offset` in
    /// the notification structure (`offset + 2 <= notify_len()`).
    fn write_notify(&self, offset: usize, value: u16);

    /// Reads the ISR status byte, which clears it.
    fn read_isr(&self) -> u8;

    /// Length of the device-specific configuration (0 if absent).
    fn device_config_len(&self) -> usize;

    /// Reads the byte at `offset` of the device-specific configuration
    /// (`offset < device_config_len()`).
    fn read_device_config(&self, offset: usize) -> u8;
}

/// Where a function's structures are mapped, resolved from its
/// capabilities and BARs by [`crate::capabilities::VirtioPciLayout::resolve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtioPciRegions {
    /// Address of the common configuration structure.
    pub common: usize,
    /// Address and length of the notification structure.
    pub notify: usize,
    pub notify_len: usize,
    /// Multiplier of `queue_notify_off`, in bytes.
    pub notify_off_multiplier: u32,
    /// Address of the ISR status byte.
    pub isr: usize,
    /// Address and length of the device-specific configuration (length 0
    /// if the device has none).
    pub device: usize,
    pub device_len: usize,
}

/// [`VirtioPciAccess`] over the memory-mapped structures of a function.
pub struct MmioAccess {
    common: StaticRef<CommonConfigRegisters>,
    /// The ISR status structure (4.1.4.5): one byte, read to clear.
    isr: StaticRef<ReadOnly<u8>>,
    regions: VirtioPciRegions,
}

impl MmioAccess {
    /// Accesses the structures at `regions`.
    ///
    /// # Safety
    ///
    /// 1. `regions` must describe the structures of one virtio PCI
    ///    function whose BARs are assigned there and decoded (memory
    ///    space enabled), as `VirtioPciLayout::resolve` computes them;
    /// 2. nothing else may access those registers while this exists.
    pub unsafe fn new(regions: VirtioPciRegions) -> MmioAccess {
        // SAFETY: obligation 1 makes both addresses MMIO of the function,
        // with the layouts declared above; obligation 2 makes this the only
        // user.
        unsafe {
            MmioAccess {
                common: StaticRef::new(regions.common as *const CommonConfigRegisters),
                isr: StaticRef::new(regions.isr as *const ReadOnly<u8>),
                regions,
            }
        }
    }

    /// The regions this accesses.
    pub fn regions(&self) -> VirtioPciRegions {
        self.regions
    }
}

impl VirtioPciAccess for MmioAccess {
    fn read_common(&self, register: CommonRegister) -> u32 {
        let c = &self.common;
        match register {
            CommonRegister::DeviceFeatureSelect => c.device_feature_select.get(),
            CommonRegister::DeviceFeature => c.device_feature.get(),
            CommonRegister::DriverFeatureSelect => c.driver_feature_select.get(),
            CommonRegister::DriverFeature => c.driver_feature.get(),
            CommonRegister::ConfigMsixVector => c.config_msix_vector.get().into(),
            CommonRegister::NumQueues => c.num_queues.get().into(),
            CommonRegister::DeviceStatus => c.device_status.get().into(),
            CommonRegister::ConfigGeneration => c.config_generation.get().into(),
            CommonRegister::QueueSelect => c.queue_select.get().into(),
            CommonRegister::QueueSize => c.queue_size.get().into(),
            CommonRegister::QueueMsixVector => c.queue_msix_vector.get().into(),
            CommonRegister::QueueEnable => c.queue_enable.get().into(),
            CommonRegister::QueueNotifyOff => c.queue_notify_off.get().into(),
            CommonRegister::QueueDesc => c.queue_desc.get(),
            CommonRegister::QueueDescHigh => c.queue_desc_high.get(),
            CommonRegister::QueueDriver => c.queue_driver.get(),
            CommonRegister::QueueDriverHigh => c.queue_driver_high.get(),
            CommonRegister::QueueDevice => c.queue_device.get(),
            CommonRegister::QueueDeviceHigh => c.queue_device_high.get(),
        }
    }

    fn write_common(&self, register: CommonRegister, value: u32) {
        let c = &self.common;
        match register {
            CommonRegister::DeviceFeatureSelect => c.device_feature_select.set(value),
            CommonRegister::DriverFeatureSelect => c.driver_feature_select.set(value),
            CommonRegister::DriverFeature => c.driver_feature.set(value),
            CommonRegister::ConfigMsixVector => c.config_msix_vector.set(value as u16),
            CommonRegister::DeviceStatus => c.device_status.set(value as u8),
            CommonRegister::QueueSelect => c.queue_select.set(value as u16),
            CommonRegister::QueueSize => c.queue_size.set(value as u16),
            CommonRegister::QueueMsixVector => c.queue_msix_vector.set(value as u16),
            CommonRegister::QueueEnable => c.queue_enable.set(value as u16),
            CommonRegister::QueueDesc => c.queue_desc.set(value),
            CommonRegister::QueueDescHigh => c.queue_desc_high.set(value),
            CommonRegister::QueueDriver => c.queue_driver.set(value),
            CommonRegister::QueueDriverHigh => c.queue_driver_high.set(value),
            CommonRegister::QueueDevice => c.queue_device.set(value),
            CommonRegister::QueueDeviceHigh => c.queue_device_high.set(value),
            // Read-only fields: the driver never writes them (4.1.4.3.1).
            CommonRegister::DeviceFeature
            | CommonRegister::NumQueues
            | CommonRegister::ConfigGeneration
            | CommonRegister::QueueNotifyOff => {}
        }
    }

    fn notify_len(&self) -> usize {
        self.regions.notify_len
    }

    fn write_notify(&self, offset: usize, value: u16) {
        if offset
            .checked_add(2)
            .is_none_or(|end| end > self.regions.notify_len)
        {
            return;
        }
        let register = (self.regions.notify + offset) as *mut u16;
        // SAFETY: `new`'s obligation 1 makes `[notify, notify + notify_len)`
        // the function's notification structure, and the check above keeps
        // the 16-bit access inside it; the transport passes offsets that are
        // multiples of 2 (4.1.4.4: `queue_notify_off * multiplier`, with an
        // even multiplier or 0).
        unsafe { core::ptr::write_volatile(register, value) }
    }

    fn read_isr(&self) -> u8 {
        self.isr.get()
    }

    fn device_config_len(&self) -> usize {
        self.regions.device_len
    }

    fn read_device_config(&self, offset: usize) -> u8 {
        if offset >= self.regions.device_len {
            return 0;
        }
        // SAFETY: `new`'s obligation 1 makes `[device, device + device_len)`
        // the device-specific configuration, and the check above keeps the
        // byte access inside it.
        unsafe { core::ptr::read_volatile((self.regions.device + offset) as *const u8) }
    }
}
