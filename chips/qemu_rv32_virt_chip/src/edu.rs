// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! QEMU's `edu` PCI device, used as a DMA master for IOMMU tests.
//!
//! Facts from QEMU's hw/misc/edu.c and docs/specs/edu.rst: vendor 0x1234,
//! device 0x11e8; BAR0 (1 MiB) holds the registers below; a 4 KiB buffer
//! inside the device at device address 0x4_0000 is the DMA target/source;
//! the RAM-side address is masked to 28 bits before it leaves the device
//! (so on `virt`, RAM at 0x8000_0000 is reachable only through the IOMMU);
//! a DMA completes about 100 ms (virtual) after the command and, if asked,
//! raises interrupt status bit 0x100 on its INTx line. A DMA range outside
//! the 4 KiB buffer makes QEMU abort, so this driver refuses it.
//!
//! Registers are accessed 32 bits wide; rv32 cannot issue the 64-bit
//! accesses edu also accepts, and a 32-bit write to a DMA register sets
//! its full 64-bit value (upper half 0), which is all the 28-bit mask
//! needs.
//!
//! Reset (`DmaDeviceReset`): the buffer is reachable only by DMA (there
//! is no MMIO window onto it), so the driver wipes it with a copy of its
//! own, 4 KiB from bus address 0 into the buffer, which the caller runs
//! while the device's IOMMU context blocks: the IOMMU refuses every read,
//! and QEMU completes a refused DMA read with zeros, so the buffer ends up
//! zero. Each refused read is also a fault record (QEMU writes one per
//! 4 bytes), for a context that nobody owns then. Afterwards the driver
//! clears the DMA address and count registers and the interrupt status;
//! the identification, liveness and factorial registers hold nothing of
//! a process (only the kernel reaches the registers).
//!
//! DMA ordering: the driver is told an IOVA, not a buffer, so the board
//! gives it the RAM the device can reach through its IOMMU context (its
//! DMA memory) and its architecture's `DmaFence`. The driver releases that
//! memory before the MMIO write that starts a transfer and acquires it
//! after it has read that the transfer finished, before any client hears
//! of it.

use core::cell::Cell;
use kernel::ErrorCode;
use kernel::hil::dma_device::{
    Direction, DmaDevice, DmaDeviceClient, DmaDeviceReset, DmaDeviceResetClient,
};
use kernel::platform::chip::InterruptService;
use kernel::platform::dma_fence::DmaFence;
use kernel::utilities::StaticRef;
use kernel::utilities::cells::OptionalCell;
use kernel::utilities::registers::interfaces::{Readable, Writeable};
use kernel::utilities::registers::{
    ReadOnly, ReadWrite, WriteOnly, register_bitfields, register_structs,
};

/// PCI vendor ID of `edu`.
pub const EDU_VENDOR_ID: u16 = 0x1234;
/// PCI device ID of `edu`.
pub const EDU_DEVICE_ID: u16 = 0x11e8;
/// Device address of the internal DMA buffer.
pub const EDU_BUFFER_ADDRESS: u32 = 0x4_0000;
/// Size of the internal DMA buffer.
pub const EDU_BUFFER_SIZE: u32 = 0x1000;
/// Bits of the RAM-side DMA address the device keeps.
pub const EDU_DMA_MASK: u32 = (1 << 28) - 1;
/// Value of the identification register (version 1.0).
pub const EDU_IDENTIFICATION: u32 = 0x0100_00ed;
/// Interrupt status bit a finished DMA sets.
pub const EDU_DMA_IRQ: u32 = 0x100;
/// Bus address the reset copies from, through a blocking context.
pub const EDU_RESET_IOVA: u32 = 0;

register_structs! {
    /// BAR0 registers of `edu` (docs/specs/edu.rst).
    pub EduRegisters {
        /// 0x010000ed: major 1, minor 0.
        (0x00 => identification: ReadOnly<u32>),
        /// Reads back the bitwise inverse of the last write.
        (0x04 => liveness: ReadWrite<u32>),
        /// Write n, read n! once status.COMPUTING clears.
        (0x08 => factorial: ReadWrite<u32>),
        (0x0c => _reserved0),
        (0x20 => status: ReadWrite<u32, STATUS::Register>),
        /// Raised interrupt bits.
        (0x24 => interrupt_status: ReadOnly<u32>),
        (0x28 => _reserved1),
        /// Writing ORs the value into the interrupt status and raises the
        /// interrupt.
        (0x60 => interrupt_raise: WriteOnly<u32>),
        /// Writing clears these status bits; the line drops at 0.
        (0x64 => interrupt_acknowledge: WriteOnly<u32>),
        (0x68 => _reserved2),
        /// DMA source address.
        (0x80 => dma_source: ReadWrite<u32>),
        (0x84 => _reserved3),
        /// DMA destination address.
        (0x88 => dma_destination: ReadWrite<u32>),
        (0x8c => _reserved4),
        /// DMA byte count.
        (0x90 => dma_count: ReadWrite<u32>),
        (0x94 => _reserved5),
        (0x98 => dma_command: ReadWrite<u32, DMA_COMMAND::Register>),
        (0x9c => _reserved6),
        (0x100 => @END),
    }
}

register_bitfields![u32,
    STATUS [
        COMPUTING OFFSET(0) NUMBITS(1) [],
        IRQ_AFTER_FACTORIAL OFFSET(7) NUMBITS(1) []
    ],
    DMA_COMMAND [
        /// Start; reads 1 while the transfer runs.
        RUN OFFSET(0) NUMBITS(1) [],
        /// 0 = RAM to device buffer, 1 = device buffer to RAM.
        DIRECTION OFFSET(1) NUMBITS(1) [],
        /// Raise `EDU_DMA_IRQ` when done.
        RAISE_IRQ OFFSET(2) NUMBITS(1) []
    ]
];

/// Which way a DMA copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaDirection {
    /// Device buffer to RAM (the device writes memory).
    ToRam,
    /// RAM to device buffer (the device reads memory).
    FromRam,
}

/// Receives `edu` completions.
pub trait EduClient {
    /// A DMA started by `start_dma` finished. `Ok(())` says only that the
    /// device is done: a blocked or faulting IOMMU translation is reported
    /// by the IOMMU, not here.
    fn dma_done(&self, result: Result<(), ErrorCode>);

    /// The interrupt fired with these status bits other than
    /// `EDU_DMA_IRQ` (e.g. after `raise_interrupt`).
    fn interrupt(&self, _status: u32) {}
}

/// Checks a DMA request; returns the device-side address and count.
///
/// Errors: `INVAL` for a zero length, a range outside the buffer, or an
/// IOVA range that does not fit under the 28-bit mask (as
/// `hil::dma_device::DmaDevice::start` specifies).
pub fn check_dma(iova: u32, buffer_offset: u32, len: u32) -> Result<u32, ErrorCode> {
    if len == 0 || buffer_offset >= EDU_BUFFER_SIZE || len > EDU_BUFFER_SIZE - buffer_offset {
        return Err(ErrorCode::INVAL);
    }
    match iova.checked_add(len - 1) {
        Some(last) if last <= EDU_DMA_MASK => Ok(EDU_BUFFER_ADDRESS + buffer_offset),
        _ => Err(ErrorCode::INVAL),
    }
}

/// One `edu` function, ordering its DMA with the fence `F`.
pub struct Edu<'a, F: DmaFence> {
    registers: StaticRef<EduRegisters>,
    plic_interrupt: Option<u32>,
    fence: F,
    /// All RAM the device can reach (see `new`): released before each
    /// transfer, acquired after it.
    dma_memory: *mut [u8],
    client: OptionalCell<&'a dyn EduClient>,
    dma_client: OptionalCell<&'a dyn DmaDeviceClient>,
    reset_client: OptionalCell<&'a dyn DmaDeviceResetClient>,
    busy: Cell<bool>,
    /// The DMA in flight is a reset's, not a transfer's.
    resetting: Cell<bool>,
    /// The transfer in flight: direction, buffer offset, IOVA, length.
    transfer: Cell<(DmaDirection, u32, u32, u32)>,
}

impl<'a, F: DmaFence> Edu<'a, F> {
    /// A driver for the `edu` whose BAR0 is `registers`, interrupting on
    /// PLIC source `plic_interrupt` (`PciDevice::plic_interrupt`), whose
    /// transfers are ordered with `fence` over `dma_memory`.
    ///
    /// # Safety
    ///
    /// `registers` must be the BAR0 of an `edu` function with memory
    /// decoding and bus mastering on (`PciEcam::enable_device`), and that
    /// function's DMA must be translated by an IOMMU context that the
    /// kernel controls (blocking until attached), because `start_dma` lets
    /// safe code name any IOVA. Without such an IOMMU, DMA reaches physical
    /// memory below 256 MiB directly. `dma_memory` covers all RAM that
    /// context's domains may map (the fences cover nothing else; it is
    /// never dereferenced), and `fence` is valid for this device.
    pub const unsafe fn new(
        registers: StaticRef<EduRegisters>,
        plic_interrupt: Option<u32>,
        fence: F,
        dma_memory: *mut [u8],
    ) -> Self {
        Edu {
            registers,
            plic_interrupt,
            fence,
            dma_memory,
            client: OptionalCell::empty(),
            dma_client: OptionalCell::empty(),
            reset_client: OptionalCell::empty(),
            busy: Cell::new(false),
            resetting: Cell::new(false),
            transfer: Cell::new((DmaDirection::FromRam, 0, 0, 0)),
        }
    }

    /// Sets the `edu`-specific client (DMA completion and raised
    /// interrupts). The generic client is set through `DmaDevice`.
    pub fn set_edu_client(&self, client: &'a dyn EduClient) {
        self.client.set(client);
    }

    /// The identification register (`EDU_IDENTIFICATION` for edu 1.0).
    pub fn identification(&self) -> u32 {
        self.registers.identification.get()
    }

    /// Writes `value` to the liveness register and checks that its
    /// inverse comes back: the BAR decodes and the device answers.
    pub fn is_alive(&self, value: u32) -> bool {
        self.registers.liveness.set(value);
        self.registers.liveness.get() == !value
    }

    /// Raises the device's interrupt with status bits `bits` (a test of the
    /// INTx route; must not include `EDU_DMA_IRQ`). Errors: `INVAL`.
    pub fn raise_interrupt(&self, bits: u32) -> Result<(), ErrorCode> {
        if bits == 0 || bits & EDU_DMA_IRQ != 0 {
            return Err(ErrorCode::INVAL);
        }
        self.registers.interrupt_raise.set(bits);
        Ok(())
    }

    /// Whether a DMA is in flight.
    pub fn is_busy(&self) -> bool {
        self.busy.get()
    }

    /// Starts copying `len` bytes between the device buffer at
    /// `buffer_offset` and IOVA `iova`; `EduClient::dma_done` follows from
    /// the interrupt. Errors: `BUSY` if a DMA is in flight, `INVAL` as
    /// `check_dma`.
    pub fn start_dma(
        &self,
        direction: DmaDirection,
        iova: u32,
        buffer_offset: u32,
        len: u32,
    ) -> Result<(), ErrorCode> {
        if self.busy.get() || self.registers.dma_command.is_set(DMA_COMMAND::RUN) {
            return Err(ErrorCode::BUSY);
        }
        let device_address = check_dma(iova, buffer_offset, len)?;
        let regs = &*self.registers;
        let direction_bit = match direction {
            DmaDirection::ToRam => {
                regs.dma_source.set(device_address);
                regs.dma_destination.set(iova);
                DMA_COMMAND::DIRECTION::SET
            }
            DmaDirection::FromRam => {
                regs.dma_source.set(iova);
                regs.dma_destination.set(device_address);
                DMA_COMMAND::DIRECTION::CLEAR
            }
        };
        regs.dma_count.set(len);
        self.busy.set(true);
        self.transfer.set((direction, buffer_offset, iova, len));
        // Both ways: the device must read what the kernel and processes
        // wrote, and its writes must not be overtaken by older ones.
        self.fence.release(self.dma_memory);
        regs.dma_command
            .write(DMA_COMMAND::RUN::SET + DMA_COMMAND::RAISE_IRQ::SET + direction_bit);
        Ok(())
    }

    /// Services the device's interrupt: acknowledges it and calls the
    /// client.
    pub fn handle_interrupt(&self) {
        let status = self.registers.interrupt_status.get();
        self.registers.interrupt_acknowledge.set(status);
        if status & EDU_DMA_IRQ != 0
            && self.busy.get()
            && !self.registers.dma_command.is_set(DMA_COMMAND::RUN)
        {
            // Seen the transfer finish: what the device wrote is visible
            // to whoever reads the memory once the clients hear of it.
            self.fence.acquire(self.dma_memory);
            self.busy.set(false);
            if self.resetting.take() {
                self.finish_reset();
            } else {
                self.client.map(|client| client.dma_done(Ok(())));
                let (direction, offset, iova, len) = self.transfer.get();
                self.dma_client.map(|client| {
                    client.transfer_done(
                        direction.into(),
                        offset as usize,
                        iova as usize,
                        len as usize,
                        Ok(()),
                    )
                });
            }
        }
        let other = status & !EDU_DMA_IRQ;
        if other != 0 {
            self.client.map(|client| client.interrupt(other));
        }
    }

    /// The reset's copy ended: the buffer holds zeros. Clears what else
    /// the last transfer left in the registers, then tells the client.
    fn finish_reset(&self) {
        let regs = &*self.registers;
        regs.dma_source.set(0);
        regs.dma_destination.set(0);
        regs.dma_count.set(0);
        // Anything raised meanwhile was just handled; what the reset's own
        // copy raised is cleared with it.
        regs.interrupt_acknowledge.set(u32::MAX);
        self.reset_client.map(|client| client.reset_done(Ok(())));
    }
}

impl From<DmaDirection> for Direction {
    fn from(direction: DmaDirection) -> Direction {
        match direction {
            DmaDirection::ToRam => Direction::DeviceToMemory,
            DmaDirection::FromRam => Direction::MemoryToDevice,
        }
    }
}

impl From<Direction> for DmaDirection {
    fn from(direction: Direction) -> DmaDirection {
        match direction {
            Direction::DeviceToMemory => DmaDirection::ToRam,
            Direction::MemoryToDevice => DmaDirection::FromRam,
        }
    }
}

/// `edu` as the generic DMA device the IOMMU DMA capsule drives. Both
/// clients (this and `EduClient`) hear a completion if both are set.
impl<'a, F: DmaFence> DmaDevice<'a> for Edu<'a, F> {
    fn set_client(&self, client: &'a dyn DmaDeviceClient) {
        self.dma_client.set(client);
    }

    fn buffer_len(&self) -> usize {
        EDU_BUFFER_SIZE as usize
    }

    fn address_bits(&self) -> u32 {
        EDU_DMA_MASK.count_ones()
    }

    fn start(
        &self,
        direction: Direction,
        device_offset: usize,
        iova: usize,
        len: usize,
    ) -> Result<(), ErrorCode> {
        let narrow = |value: usize| u32::try_from(value).map_err(|_| ErrorCode::INVAL);
        self.start_dma(
            direction.into(),
            narrow(iova)?,
            narrow(device_offset)?,
            narrow(len)?,
        )
    }
}

/// Wipes the buffer by a copy through the blocking context (see the
/// module's documentation): the caller must make sure the device's IOMMU
/// context blocks until `reset_done`.
impl<'a, F: DmaFence> DmaDeviceReset<'a> for Edu<'a, F> {
    fn set_reset_client(&self, client: &'a dyn DmaDeviceResetClient) {
        self.reset_client.set(client);
    }

    fn reset(&self) -> Result<(), ErrorCode> {
        self.start_dma(DmaDirection::FromRam, EDU_RESET_IOVA, 0, EDU_BUFFER_SIZE)?;
        self.resetting.set(true);
        Ok(())
    }
}

impl<F: DmaFence> InterruptService for Edu<'_, F> {
    /// Handles the interrupt if it is this device's INTx source. Sources are
    /// level-triggered and may be shared with other slots; the device with
    /// nothing raised simply does nothing.
    fn service_interrupt(&self, interrupt: u32) -> bool {
        if self.plic_interrupt == Some(interrupt) {
            self.handle_interrupt();
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dma_checks() {
        assert_eq!(check_dma(0x1000, 0, 0x1000), Ok(EDU_BUFFER_ADDRESS));
        assert_eq!(
            check_dma(0x1000, 0x800, 0x800),
            Ok(EDU_BUFFER_ADDRESS + 0x800)
        );
        assert_eq!(check_dma(0x1000, 0x800, 0x801), Err(ErrorCode::INVAL));
        assert_eq!(check_dma(0x1000, 0x1000, 1), Err(ErrorCode::INVAL));
        assert_eq!(check_dma(0x1000, 0, 0), Err(ErrorCode::INVAL));
        assert_eq!(check_dma(0x0fff_ff00, 0, 0x100), Ok(EDU_BUFFER_ADDRESS));
        assert_eq!(check_dma(0x0fff_ff00, 0, 0x101), Err(ErrorCode::INVAL));
        assert_eq!(check_dma(0x8000_0000, 0, 4), Err(ErrorCode::INVAL));
        assert_eq!(check_dma(u32::MAX, 0, 4), Err(ErrorCode::INVAL));
    }
}
