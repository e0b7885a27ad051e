// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! What a virtio device driver tells the transport: its device type, the
//! features it accepts, how many queues it uses, and hooks around
//! `DRIVER_OK`.
//!
//! Device types are virtio 1.x section 5 ("Device Types"); on PCI the
//! device ID of a modern (non-transitional) function is `0x1040 + type`
//! (4.1.2.1).

use kernel::ErrorCode;

use crate::registers::{CommonRegister, VirtioPciAccess};

/// PCI vendor ID of virtio functions (4.1.2).
pub const VIRTIO_PCI_VENDOR_ID: u16 = 0x1af4;
/// PCI device ID of a modern function of type 0; type `t` is this plus `t`.
pub const VIRTIO_PCI_MODERN_DEVICE_ID_BASE: u16 = 0x1040;

/// Virtio device types (section 5), those with a driver or a likely one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VirtioDeviceType {
    /// Network card (5.1).
    NetworkCard,
    /// Block device (5.2).
    BlockDevice,
    /// Console (5.3).
    Console,
    /// Entropy source (5.4).
    EntropySource,
    /// GPU (5.7).
    GpuDevice,
    /// Input device (5.8).
    InputDevice,
    /// Socket device (5.10).
    SocketDevice,
    /// Any other type, by number.
    Other(u16),
}

impl VirtioDeviceType {
    /// The type with virtio device ID `id`.
    pub fn from_id(id: u16) -> VirtioDeviceType {
        match id {
            1 => VirtioDeviceType::NetworkCard,
            2 => VirtioDeviceType::BlockDevice,
            3 => VirtioDeviceType::Console,
            4 => VirtioDeviceType::EntropySource,
            16 => VirtioDeviceType::GpuDevice,
            18 => VirtioDeviceType::InputDevice,
            19 => VirtioDeviceType::SocketDevice,
            other => VirtioDeviceType::Other(other),
        }
    }

    /// The virtio device ID of the type.
    pub fn id(self) -> u16 {
        match self {
            VirtioDeviceType::NetworkCard => 1,
            VirtioDeviceType::BlockDevice => 2,
            VirtioDeviceType::Console => 3,
            VirtioDeviceType::EntropySource => 4,
            VirtioDeviceType::GpuDevice => 16,
            VirtioDeviceType::InputDevice => 18,
            VirtioDeviceType::SocketDevice => 19,
            VirtioDeviceType::Other(id) => id,
        }
    }

    /// The type of a modern virtio PCI function with PCI device ID
    /// `pci_device_id`, or `None` for a transitional or foreign ID (the
    /// transitional IDs 0x1000..0x103f come with the legacy interface,
    /// which this crate does not drive).
    pub fn from_pci_device_id(pci_device_id: u16) -> Option<VirtioDeviceType> {
        pci_device_id
            .checked_sub(VIRTIO_PCI_MODERN_DEVICE_ID_BASE)
            .filter(|id| *id <= 0x3f)
            .map(VirtioDeviceType::from_id)
    }

    /// The PCI device ID of a modern function of this type.
    pub fn pci_device_id(self) -> u16 {
        VIRTIO_PCI_MODERN_DEVICE_ID_BASE + self.id()
    }
}

/// A driver for one virtio device type, above a transport.
///
/// The transport calls these during `VirtioTransport::initialize`, in the
/// order of virtio 1.x section 3.1.1.
pub trait VirtioDeviceDriver {
    /// The device type this driver drives. Constant.
    fn device_type(&self) -> VirtioDeviceType;

    /// Number of queues the driver uses; the transport sets up exactly the
    /// queues it is given, and refuses a device with fewer. Constant.
    fn queue_count(&self) -> usize;

    /// Chooses among the device-type features (bits 0..23) the device
    /// offers: returns the subset the driver accepts, or `None` if it
    /// cannot drive the device with them. The transport adds the
    /// transport features it requires itself. Pure: it may be called
    /// before the device is set up.
    fn negotiate_features(&self, offered: u64) -> Option<u64>;

    /// Called after the queues are set up, before `DRIVER_OK`. An error
    /// makes the transport set `FAILED` and return it.
    fn pre_device_initialization(&self) -> Result<(), ErrorCode> {
        Ok(())
    }

    /// Called after `DRIVER_OK`. An error is returned by the transport,
    /// which leaves the device running.
    fn device_initialized(&self) -> Result<(), ErrorCode> {
        Ok(())
    }
}

/// The device-specific configuration (4.1.4.6) as a device driver reads
/// it: bytes at offsets, and the generation that tells a torn read of a
/// multi-byte field (2.5.1).
pub trait DeviceConfiguration {
    /// Length of the device-specific configuration in bytes.
    fn config_len(&self) -> usize;

    /// The byte at `offset` (0 past the end).
    fn config_byte(&self, offset: usize) -> u8;

    /// `config_generation`: changes whenever the device changes its
    /// configuration.
    fn config_generation(&self) -> u8;

    /// The little-endian `u64` at `offset`, read until the generation is
    /// the same before and after (2.5.1: fields wider than 32 bits are not
    /// read atomically), at most four times. `None` if the field is not
    /// inside the configuration or the device kept changing it.
    fn read_u64(&self, offset: usize) -> Option<u64> {
        if offset.checked_add(8)? > self.config_len() {
            return None;
        }
        for _ in 0..4 {
            let before = self.config_generation();
            let mut bytes = [0u8; 8];
            for (index, byte) in bytes.iter_mut().enumerate() {
                *byte = self.config_byte(offset + index);
            }
            if self.config_generation() == before {
                return Some(u64::from_le_bytes(bytes));
            }
        }
        None
    }
}

impl<A: VirtioPciAccess> DeviceConfiguration for A {
    fn config_len(&self) -> usize {
        self.device_config_len()
    }

    fn config_byte(&self, offset: usize) -> u8 {
        if offset < self.device_config_len() {
            self.read_device_config(offset)
        } else {
            0
        }
    }

    fn config_generation(&self) -> u8 {
        self.read_common(CommonRegister::ConfigGeneration) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modern_pci_ids() {
        assert_eq!(
            VirtioDeviceType::from_pci_device_id(0x1044),
            Some(VirtioDeviceType::EntropySource)
        );
        assert_eq!(VirtioDeviceType::EntropySource.pci_device_id(), 0x1044);
        assert_eq!(VirtioDeviceType::BlockDevice.pci_device_id(), 0x1042);
        // Transitional virtio-rng, and IDs past the modern range.
        assert_eq!(VirtioDeviceType::from_pci_device_id(0x1005), None);
        assert_eq!(VirtioDeviceType::from_pci_device_id(0x1080), None);
        assert_eq!(
            VirtioDeviceType::from_pci_device_id(0x1040 + 42),
            Some(VirtioDeviceType::Other(42))
        );
    }
}
