// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The virtio PCI modern transport: device status handshake, 64-bit
//! feature negotiation, queue setup with IOVAs, notifications, INTx.
//!
//! Virtio 1.x sections 3.1.1 (driver initialization), 2.1 (device
//! status), 2.2 (feature bits) and 4.1.4-4.1.5 (the PCI structures and
//! how a driver uses them). The transport insists on `VIRTIO_F_VERSION_1`
//! and `VIRTIO_F_ACCESS_PLATFORM`: the first because only the modern
//! interface is driven, the second because every address this crate gives
//! a device is an IOVA, which only a device that translates through the
//! platform's IOMMU understands (6.1). A device that does not offer both
//! is failed.
//!
//! Interrupts are INTx: MSI-X vectors are set to "none", and
//! [`VirtioPciTransport::handle_interrupt`] reads the ISR byte (which
//! clears it and deasserts the line, 4.1.4.5) and hands used-buffer
//! notifications to every queue.

use core::cell::Cell;

use kernel::ErrorCode;
use kernel::utilities::cells::OptionalCell;

use crate::device::{VirtioDeviceDriver, VirtioDeviceType};
use crate::queue::Virtqueue;
use crate::registers::{CommonRegister, NO_VECTOR, VirtioPciAccess, features, isr, status};

/// Reads of `device_status` after a reset before giving up (4.1.4.3.2: the
/// reset is complete when it reads 0).
pub const RESET_POLLS: usize = 10_000;
/// The most queues a transport sets up.
pub const MAX_QUEUES: usize = 4;

/// Why [`VirtioTransport::initialize`] failed. Unless noted, the device
/// was set to `FAILED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitializationError {
    /// The device did not finish its reset in time (not set `FAILED`: it
    /// never acknowledged the reset).
    ResetTimeout,
    /// The PCI device ID is not that of a modern virtio function.
    NotModernVirtio(u16),
    /// The driver drives another device type.
    IncompatibleDeviceType(VirtioDeviceType),
    /// The device lacks a required transport feature (`VERSION_1`,
    /// `ACCESS_PLATFORM`); `offered` is every feature it offered.
    RequiredFeatureMissing { offered: u64 },
    /// The driver refused the device's features, or the device did not
    /// keep `FEATURES_OK` set for the ones written (`accepted`).
    FeatureNegotiationFailed { offered: u64, accepted: Option<u64> },
    /// Queue `index` does not exist on the device, or the driver's queue
    /// cannot use any size it offers; or more queues were given than
    /// [`MAX_QUEUES`] or than the driver's `queue_count`.
    QueueNotAvailable(usize),
    /// The driver's `pre_device_initialization` hook failed.
    DriverPreInitialization(ErrorCode),
    /// The driver's `device_initialized` hook failed after `DRIVER_OK`
    /// (the device was not set `FAILED`).
    DriverInitialization(ErrorCode),
}

/// A virtio transport: brings a device up for a driver, and notifies it.
pub trait VirtioTransport<'a> {
    /// Resets the device and brings it up for `driver` with `queues`
    /// (queue `i` of the device is `queues[i]`), in the order of 3.1.1:
    /// reset, `ACKNOWLEDGE`, `DRIVER`, features, `FEATURES_OK`, queues,
    /// `pre_device_initialization`, `DRIVER_OK`, `device_initialized`.
    /// Returns the device type, or why it failed.
    fn initialize(
        &self,
        driver: &dyn VirtioDeviceDriver,
        queues: &'a [&'a dyn Virtqueue],
    ) -> Result<VirtioDeviceType, InitializationError>;

    /// Tells the device that queue `queue_number` has new buffers.
    fn queue_notify(&self, queue_number: u32);

    /// Resets the device and waits (bounded) until it reports the reset
    /// complete: from then on it no longer touches any queue or buffer,
    /// so the queues may be reclaimed. The queues must be initialized
    /// again (`initialize`) before use.
    ///
    /// Errors:
    /// - `FAIL`: the device did not complete the reset in time.
    fn reset(&self) -> Result<(), ErrorCode>;
}

/// The virtio PCI modern transport of one function, over `A`
/// ([`crate::registers::MmioAccess`] on hardware).
pub struct VirtioPciTransport<'a, A: VirtioPciAccess> {
    access: A,
    pci_device_id: u16,
    notify_off_multiplier: u32,
    queues: OptionalCell<&'a [&'a dyn Virtqueue]>,
    /// Each queue's `queue_notify_off`, read at setup.
    notify_offsets: [Cell<u16>; MAX_QUEUES],
    /// The features agreed on.
    features: Cell<u64>,
}

impl<'a, A: VirtioPciAccess> VirtioPciTransport<'a, A> {
    /// The transport of the function with PCI device ID `pci_device_id`,
    /// whose structures `access` reaches; `notify_off_multiplier` is
    /// from its notification capability. Touches no register.
    pub fn new(access: A, pci_device_id: u16, notify_off_multiplier: u32) -> Self {
        VirtioPciTransport {
            access,
            pci_device_id,
            notify_off_multiplier,
            queues: OptionalCell::empty(),
            notify_offsets: Default::default(),
            features: Cell::new(0),
        }
    }

    /// The register access, for device drivers that read the
    /// device-specific configuration.
    pub fn access(&self) -> &A {
        &self.access
    }

    /// The features agreed on by the last successful negotiation.
    pub fn negotiated_features(&self) -> u64 {
        self.features.get()
    }

    /// The device's status byte.
    pub fn device_status(&self) -> u8 {
        self.access.read_common(CommonRegister::DeviceStatus) as u8
    }

    /// Handles the function's INTx interrupt: reads (and so clears) the
    /// ISR byte and, if a queue was used, lets every queue collect its
    /// completions. Configuration changes are acknowledged and otherwise
    /// ignored. Spurious calls are harmless.
    pub fn handle_interrupt(&self) {
        let cause = self.access.read_isr();
        if cause & isr::QUEUE != 0 {
            self.queues.map(|queues| {
                for queue in queues.iter() {
                    queue.used_interrupt();
                }
            });
        }
    }

    fn set_status(&self, bits: u8) {
        let current = self.device_status();
        self.access
            .write_common(CommonRegister::DeviceStatus, u32::from(current | bits));
    }

    fn fail(&self, error: InitializationError) -> InitializationError {
        self.set_status(status::FAILED);
        error
    }

    fn read_device_features(&self) -> u64 {
        let mut offered = 0;
        for half in 0..2 {
            self.access
                .write_common(CommonRegister::DeviceFeatureSelect, half);
            let bits = self.access.read_common(CommonRegister::DeviceFeature);
            offered |= u64::from(bits) << (32 * half);
        }
        offered
    }

    fn write_driver_features(&self, accepted: u64) {
        for half in 0..2 {
            self.access
                .write_common(CommonRegister::DriverFeatureSelect, half);
            self.access.write_common(
                CommonRegister::DriverFeature,
                (accepted >> (32 * half)) as u32,
            );
        }
    }

    /// Steps 4-6 of 3.1.1: the features both sides accept, `FEATURES_OK`.
    fn negotiate(&self, driver: &dyn VirtioDeviceDriver) -> Result<u64, InitializationError> {
        let offered = self.read_device_features();
        if offered & features::REQUIRED != features::REQUIRED {
            return Err(InitializationError::RequiredFeatureMissing { offered });
        }
        let device_specific = driver
            .negotiate_features(offered & features::DEVICE_SPECIFIC_MASK)
            .ok_or(InitializationError::FeatureNegotiationFailed {
                offered,
                accepted: None,
            })?;
        let accepted = (device_specific & features::DEVICE_SPECIFIC_MASK & offered)
            | features::REQUIRED
            | (offered & features::ORDER_PLATFORM);
        self.write_driver_features(accepted);
        self.set_status(status::FEATURES_OK);
        if self.device_status() & status::FEATURES_OK == 0 {
            return Err(InitializationError::FeatureNegotiationFailed {
                offered,
                accepted: Some(accepted),
            });
        }
        Ok(accepted)
    }

    /// Step 7 of 3.1.1 for the queues (4.1.5.1.3).
    fn set_up_queues(&self, queues: &'a [&'a dyn Virtqueue]) -> Result<(), InitializationError> {
        let available = self.access.read_common(CommonRegister::NumQueues) as usize;
        for (index, queue) in queues.iter().enumerate() {
            if index >= available {
                return Err(InitializationError::QueueNotAvailable(index));
            }
            self.access
                .write_common(CommonRegister::QueueSelect, index as u32);
            let device_max = self.access.read_common(CommonRegister::QueueSize) as usize;
            let size = queue.negotiate_queue_size(device_max);
            if size == 0 || size > device_max {
                return Err(InitializationError::QueueNotAvailable(index));
            }
            self.access
                .write_common(CommonRegister::QueueSize, size as u32);
            queue.initialize(index as u32, size);
            let addresses = queue.addresses();
            let halves = [
                (
                    CommonRegister::QueueDesc,
                    CommonRegister::QueueDescHigh,
                    addresses.descriptor_area,
                ),
                (
                    CommonRegister::QueueDriver,
                    CommonRegister::QueueDriverHigh,
                    addresses.driver_area,
                ),
                (
                    CommonRegister::QueueDevice,
                    CommonRegister::QueueDeviceHigh,
                    addresses.device_area,
                ),
            ];
            for (low, high, iova) in halves {
                self.access.write_common(low, iova as u32);
                self.access.write_common(high, (iova >> 32) as u32);
            }
            self.access
                .write_common(CommonRegister::QueueMsixVector, u32::from(NO_VECTOR));
            let notify_off = self.access.read_common(CommonRegister::QueueNotifyOff) as u16;
            self.notify_offsets[index].set(notify_off);
            self.access.write_common(CommonRegister::QueueEnable, 1);
        }
        Ok(())
    }

    fn wait_for_reset(&self) -> Result<(), ErrorCode> {
        self.access.write_common(CommonRegister::DeviceStatus, 0);
        for _ in 0..RESET_POLLS {
            if self.device_status() == 0 {
                return Ok(());
            }
        }
        Err(ErrorCode::FAIL)
    }
}

impl<'a, A: VirtioPciAccess> VirtioTransport<'a> for VirtioPciTransport<'a, A> {
    fn initialize(
        &self,
        driver: &dyn VirtioDeviceDriver,
        queues: &'a [&'a dyn Virtqueue],
    ) -> Result<VirtioDeviceType, InitializationError> {
        self.queues.clear();
        self.features.set(0);
        self.wait_for_reset()
            .map_err(|_| InitializationError::ResetTimeout)?;
        let device_type = VirtioDeviceType::from_pci_device_id(self.pci_device_id)
            .ok_or(InitializationError::NotModernVirtio(self.pci_device_id))?;
        self.set_status(status::ACKNOWLEDGE);
        if driver.device_type() != device_type {
            return Err(self.fail(InitializationError::IncompatibleDeviceType(device_type)));
        }
        self.set_status(status::DRIVER);
        let accepted = self.negotiate(driver).map_err(|error| self.fail(error))?;
        if queues.len() > MAX_QUEUES || queues.len() != driver.queue_count() {
            return Err(self.fail(InitializationError::QueueNotAvailable(queues.len())));
        }
        self.set_up_queues(queues)
            .map_err(|error| self.fail(error))?;
        driver
            .pre_device_initialization()
            .map_err(|error| self.fail(InitializationError::DriverPreInitialization(error)))?;
        self.features.set(accepted);
        self.queues.set(queues);
        self.set_status(status::DRIVER_OK);
        driver
            .device_initialized()
            .map_err(InitializationError::DriverInitialization)?;
        Ok(device_type)
    }

    fn queue_notify(&self, queue_number: u32) {
        let Some(cell) = self.notify_offsets.get(queue_number as usize) else {
            return;
        };
        // 4.1.4.4: the queue's register is at `queue_notify_off *
        // notify_off_multiplier`; without VIRTIO_F_NOTIFICATION_DATA the
        // driver writes the queue's index there.
        let offset = u64::from(cell.get()) * u64::from(self.notify_off_multiplier);
        let Ok(offset) = usize::try_from(offset) else {
            return;
        };
        if offset % 2 == 0 && offset.saturating_add(2) <= self.access.notify_len() {
            self.access.write_notify(offset, queue_number as u16);
        }
    }

    fn reset(&self) -> Result<(), ErrorCode> {
        self.queues.clear();
        self.wait_for_reset()
    }
}
