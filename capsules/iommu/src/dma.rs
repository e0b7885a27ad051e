// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The DMA system call driver (0x10004): device copies for a context's owner.
//!
//! Each DMA-capable device (`kernel::hil::dma_device`, e.g. QEMU's `edu`)
//! sits behind one context of an IOMMU instance. A process that acquired
//! that context through the IOMMU driver (0x10003) may start a copy between
//! the device's buffer and an IOVA; it gets a `DONE` upcall when the device
//! finishes. This capsule checks *no* address: whatever the IOVA, the
//! device reaches only what the context's domain maps, and a context with
//! no domain blocks. Accesses the IOMMU refuses are reported to the owner
//! as IOMMU faults (0x10003 upcall `FAULT`), not here.
//!
//! While a copy is in flight the context is held (`ContextOwnership`), so
//! it cannot pass to another process whose domain the copy would then
//! reach. ABI: `doc/syscalls/10004_dma.md`.
//!
//! A device keeps what a copy loaded into it (invariant I8). Each port
//! remembers the process instance whose transfers used the device since
//! its last reset; before the context goes to any other process, the
//! IOMMU driver asks this capsule (`DeviceHandover::prepare_for`), which
//! resets the device (`DmaDeviceReset`) while holding the context, so
//! `ACQUIRE` returns `BUSY` until the reset has ended. The context is then
//! free, so it blocks: the reset's own device accesses reach no memory.
//! The same record routes faults: the IOMMU driver reports a fault of the
//! context only to the process whose transfer used the device last.

use core::cell::Cell;

use kernel::grant::{AllowRoCount, AllowRwCount, Grant, UpcallCount};
use kernel::hil::dma_device::{Direction, DmaDeviceClient, DmaDeviceResetClient, SharedDmaDevice};
use kernel::syscall::{CommandReturn, SyscallDriver};
use kernel::utilities::cells::OptionalCell;
use kernel::{ErrorCode, ProcessId};

use crate::ownership::{ContextOwnership, DeviceHandover, DeviceUser};

/// Driver number of the DMA system call driver
/// (`doc/syscalls/10004_dma.md`); kept here, not in Tock's
/// `driver::NUM`, for the reasons given at [`crate::driver::DRIVER_NUM`].
pub const DRIVER_NUM: usize = 0x10004;

/// Upcall numbers.
pub mod upcall {
    /// A copy ended. Arguments: (status: 0 or an `ErrorCode`, direction,
    /// length).
    pub const DONE: usize = 0;
    pub const COUNT: u8 = 1;
}

/// Read-only allows: none (the device reaches memory through the IOMMU).
pub mod ro_allow {
    pub const COUNT: u8 = 0;
}

/// Read-write allows: none.
pub mod rw_allow {
    pub const COUNT: u8 = 0;
}

/// Command numbers.
pub mod command {
    pub const EXISTS: usize = 0;
    /// Number of devices.
    pub const INFO: usize = 1;
    /// (instance, context, buffer length) of device r2.
    pub const DEVICE_INFO: usize = 2;
    /// Start a copy: r2 = device | direction << 8 | length << 16, r3 = IOVA.
    pub const START: usize = 3;
}

/// Direction values of `START`.
pub mod direction {
    /// Device buffer to memory (the device writes memory).
    pub const DEVICE_TO_MEMORY: usize = 0;
    /// Memory to device buffer (the device reads memory).
    pub const MEMORY_TO_DEVICE: usize = 1;
}

/// The DMA driver's grant: one upcall, no allows, no data.
pub type DmaGrant = Grant<
    (),
    UpcallCount<{ upcall::COUNT }>,
    AllowRoCount<{ ro_allow::COUNT }>,
    AllowRwCount<{ rw_allow::COUNT }>,
>;

/// One device, the IOMMU context it sits behind, and its client.
pub struct DmaPort<'a> {
    device: &'a dyn SharedDmaDevice<'a>,
    instance: usize,
    context: usize,
    driver: OptionalCell<&'a DmaDriver<'a>>,
    /// The process whose copy is in flight.
    started_by: OptionalCell<ProcessId>,
    /// The process instance whose copies used the device since its last
    /// reset: what the device holds is its. Empty at boot and after a
    /// reset.
    user: OptionalCell<ProcessId>,
    /// A reset is in flight (the context is held for it).
    resetting: Cell<bool>,
}

impl<'a> DmaPort<'a> {
    /// `device`, which the board wired behind `context` of IOMMU instance
    /// `instance`.
    pub const fn new(device: &'a dyn SharedDmaDevice<'a>, instance: usize, context: usize) -> Self {
        DmaPort {
            device,
            instance,
            context,
            driver: OptionalCell::empty(),
            started_by: OptionalCell::empty(),
            user: OptionalCell::empty(),
            resetting: Cell::new(false),
        }
    }
}

impl DmaDeviceResetClient for DmaPort<'_> {
    fn reset_done(&self, result: Result<(), ErrorCode>) {
        self.driver.map(|d| d.reset_done(self, result));
    }
}

impl DmaDeviceClient for DmaPort<'_> {
    fn transfer_done(
        &self,
        direction: Direction,
        _device_offset: usize,
        _iova: usize,
        len: usize,
        result: Result<(), ErrorCode>,
    ) {
        self.driver
            .map(|d| d.transfer_done(self, direction, len, result));
    }
}

/// The DMA system call driver.
pub struct DmaDriver<'a> {
    apps: DmaGrant,
    ports: &'a [DmaPort<'a>],
    ownership: &'a dyn ContextOwnership<'a>,
}

impl<'a> DmaDriver<'a> {
    pub fn new(
        apps: DmaGrant,
        ports: &'a [DmaPort<'a>],
        ownership: &'a dyn ContextOwnership<'a>,
    ) -> Self {
        DmaDriver {
            apps,
            ports,
            ownership,
        }
    }

    /// Registers the driver as every device's client, and as the IOMMU
    /// driver's device client (changes of owner, fault routing).
    pub fn setup(&'a self) {
        for port in self.ports {
            port.driver.set(self);
            port.device.set_client(port);
            port.device.set_reset_client(port);
        }
        self.ownership.set_device_client(self);
    }

    fn port(&self, instance: usize, context: usize) -> Option<&DmaPort<'a>> {
        self.ports
            .iter()
            .find(|p| p.instance == instance && p.context == context)
    }

    fn start(&self, process: ProcessId, r2: usize, iova: usize) -> Result<(), ErrorCode> {
        if r2 > u32::MAX as usize {
            return Err(ErrorCode::INVAL);
        }
        let port = self.ports.get(r2 & 0xff).ok_or(ErrorCode::INVAL)?;
        let direction = match (r2 >> 8) & 0xff {
            direction::DEVICE_TO_MEMORY => Direction::DeviceToMemory,
            direction::MEMORY_TO_DEVICE => Direction::MemoryToDevice,
            _ => return Err(ErrorCode::INVAL),
        };
        let len = r2 >> 16;
        if len == 0 {
            return Err(ErrorCode::INVAL);
        }
        if !self
            .ownership
            .is_owner(process, port.instance, port.context)
        {
            return Err(ErrorCode::RESERVE);
        }
        if port.started_by.is_some() {
            return Err(ErrorCode::BUSY);
        }
        self.ownership.hold(port.instance, port.context)?;
        port.started_by.set(process);
        let started = port.device.start(direction, 0, iova, len);
        match started {
            // From here on the device may hold data of `process`.
            Ok(()) => port.user.set(process),
            Err(_) => {
                port.started_by.clear();
                self.ownership.unhold(port.instance, port.context);
            }
        }
        started
    }

    fn reset_done(&self, port: &DmaPort<'_>, result: Result<(), ErrorCode>) {
        if !port.resetting.replace(false) {
            return; // not a reset this driver started
        }
        // A failed reset leaves `user` as it was: the next `ACQUIRE` by
        // another process tries again.
        if result.is_ok() {
            port.user.clear();
        }
        self.ownership.unhold(port.instance, port.context);
    }

    fn transfer_done(
        &self,
        port: &DmaPort<'_>,
        direction: Direction,
        len: usize,
        result: Result<(), ErrorCode>,
    ) {
        // Not a copy this driver started: no hold to end, no one to tell.
        let Some(process) = port.started_by.take() else {
            return;
        };
        self.ownership.unhold(port.instance, port.context);
        let direction = match direction {
            Direction::DeviceToMemory => direction::DEVICE_TO_MEMORY,
            Direction::MemoryToDevice => direction::MEMORY_TO_DEVICE,
        };
        let status = kernel::errorcode::into_statuscode(result);
        // The process may have ended meanwhile: then there is no one to tell.
        let _ = self.apps.enter(process, |_, kd| {
            kd.schedule_upcall(upcall::DONE, (status, direction, len))
        });
    }
}

impl DeviceHandover for DmaDriver<'_> {
    fn prepare_for(
        &self,
        instance: usize,
        context: usize,
        process: ProcessId,
    ) -> Result<(), ErrorCode> {
        let Some(port) = self.port(instance, context) else {
            return Ok(());
        };
        if port.user.get().is_none_or(|user| user == process) {
            return Ok(());
        }
        if port.resetting.get() {
            return Err(ErrorCode::BUSY);
        }
        // The caller checked that the context is free, idle and blocking;
        // holding it keeps it so (no one can acquire and attach it) until
        // `reset_done`, and refuses a reset while a copy is in flight.
        self.ownership.hold(instance, context)?;
        port.resetting.set(true);
        if port.device.reset().is_err() {
            port.resetting.set(false);
            self.ownership.unhold(instance, context);
        }
        Err(ErrorCode::BUSY)
    }

    fn user(&self, instance: usize, context: usize) -> DeviceUser {
        match self.port(instance, context) {
            None => DeviceUser::NotDriven,
            Some(port) if port.resetting.get() => DeviceUser::Kernel,
            Some(port) => port
                .user
                .get()
                .map_or(DeviceUser::Kernel, DeviceUser::Process),
        }
    }
}

impl SyscallDriver for DmaDriver<'_> {
    fn command(
        &self,
        command_num: usize,
        r2: usize,
        r3: usize,
        process: ProcessId,
    ) -> CommandReturn {
        match command_num {
            command::EXISTS => CommandReturn::success(),
            command::INFO => CommandReturn::success_u32(self.ports.len() as u32),
            command::DEVICE_INFO => match self.ports.get(r2) {
                Some(p) => CommandReturn::success_u32_u32_u32(
                    p.instance as u32,
                    p.context as u32,
                    p.device.buffer_len().min(u32::MAX as usize) as u32,
                ),
                None => CommandReturn::failure(ErrorCode::INVAL),
            },
            command::START => {
                if let Err(e) = self.apps.enter(process, |_, _| ()) {
                    return CommandReturn::failure(e.into());
                }
                self.start(process, r2, r3).into()
            }
            _ => CommandReturn::failure(ErrorCode::NOSUPPORT),
        }
    }

    fn allocate_grant(&self, process: ProcessId) -> Result<(), kernel::process::Error> {
        self.apps.enter(process, |_, _| ())
    }
}
