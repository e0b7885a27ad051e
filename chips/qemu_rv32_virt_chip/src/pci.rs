// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! PCI Express configuration through ECAM: enumerate bus 0, size and assign
//! 32-bit memory BARs (and 64-bit ones below 4 GiB), enable memory
//! decoding and bus mastering, read configuration words for capability
//! walks.
//!
//! ECAM layout from the PCI Express Base Specification (section 7.2.2,
//! "PCI Express Enhanced Configuration Access Mechanism"): function
//! `bus:dev.fn` has 4 KiB of configuration space at
//! `base + (bus << 20 | dev << 15 | fn << 12)`. The type 0 header and BAR
//! sizing follow the PCI Local Bus Specification 3.0, sections 6.1 and
//! 6.2.5.1. On QEMU `virt` ECAM is at 0x3000_0000 and the 32-bit memory
//! window at 0x4000_0000..0x8000_0000.
//!
//! The requester ID a device puts on its DMA (and that the IOMMU keys its
//! device context by) is `bus << 8 | dev << 3 | fn`.

use core::cell::Cell;
use kernel::ErrorCode;
use kernel::utilities::registers::interfaces::{ReadWriteable, Readable, Writeable};
use kernel::utilities::registers::{ReadOnly, ReadWrite, register_bitfields, register_structs};

/// Base of ECAM on QEMU `virt`.
pub const ECAM_BASE: usize = 0x3000_0000;
/// The 32-bit PCI memory window on QEMU `virt`.
pub const MMIO_WINDOW_BASE: u32 = 0x4000_0000;
/// Size of the 32-bit PCI memory window.
pub const MMIO_WINDOW_SIZE: u32 = 0x4000_0000;

const DEVICES_PER_BUS: u8 = 32;
const FUNCTIONS_PER_DEVICE: u8 = 8;
const NO_VENDOR: u16 = 0xffff;
const BAR_COUNT: usize = 6;

register_structs! {
    /// Type 0 configuration header, then the rest of the 4 KiB space.
    pub PciConfigRegisters {
        (0x00 => vendor_id: ReadOnly<u16>),
        (0x02 => device_id: ReadOnly<u16>),
        (0x04 => command: ReadWrite<u16, COMMAND::Register>),
        (0x06 => status: ReadOnly<u16>),
        (0x08 => class_revision: ReadOnly<u32>),
        (0x0c => cache_line_size: ReadWrite<u8>),
        (0x0d => latency_timer: ReadOnly<u8>),
        (0x0e => header_type: ReadOnly<u8, HEADER_TYPE::Register>),
        (0x0f => bist: ReadOnly<u8>),
        /// Base address registers 0..5.
        (0x10 => bar: [ReadWrite<u32>; 6]),
        (0x28 => _reserved0),
        (0x3c => interrupt_line: ReadWrite<u8>),
        /// 0 = no INTx, 1..4 = INTA..INTD.
        (0x3d => interrupt_pin: ReadOnly<u8>),
        (0x3e => _reserved1),
        (0x1000 => @END),
    }
}

register_bitfields![u16,
    COMMAND [
        IO_SPACE OFFSET(0) NUMBITS(1) [],
        MEMORY_SPACE OFFSET(1) NUMBITS(1) [],
        BUS_MASTER OFFSET(2) NUMBITS(1) [],
        INTX_DISABLE OFFSET(10) NUMBITS(1) []
    ]
];

register_bitfields![u8,
    HEADER_TYPE [
        LAYOUT OFFSET(0) NUMBITS(7) [],
        MULTI_FUNCTION OFFSET(7) NUMBITS(1) []
    ]
];

/// BAR bit 0: 1 = I/O space.
const BAR_IO: u32 = 1;
/// BAR bits 2:1: memory type; 0b10 = 64-bit.
const BAR_TYPE_MASK: u32 = 0b110;
const BAR_TYPE_64: u32 = 0b100;
/// BAR bits 3:0 are flags; the address is above them.
const BAR_FLAGS_MASK: u32 = 0xf;

/// A PCI function's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciAddress {
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl PciAddress {
    /// The requester ID (routing ID): `bus << 8 | device << 3 | function`.
    pub const fn requester_id(&self) -> u16 {
        ((self.bus as u16) << 8) | ((self.device as u16) << 3) | self.function as u16
    }

    /// Offset of this function's configuration space from the ECAM base.
    pub const fn ecam_offset(&self) -> usize {
        ((self.bus as usize) << 20)
            | ((self.device as usize) << 15)
            | ((self.function as usize) << 12)
    }
}

/// An assigned memory BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    /// Bus (= physical, on `virt`) address.
    pub base: u32,
    /// Size in bytes (a power of two).
    pub size: u32,
}

/// A function set up by `PciEcam::enable_device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciDevice {
    pub address: PciAddress,
    pub vendor_id: u16,
    pub device_id: u16,
    /// Memory BARs by index; `None` for unimplemented, I/O, or the upper
    /// half of a 64-bit BAR.
    pub bars: [Option<Bar>; BAR_COUNT],
    /// Interrupt Pin register: 0 none, 1..4 INTA..INTD.
    pub interrupt_pin: u8,
}

impl PciDevice {
    /// The requester ID of the function.
    pub fn requester_id(&self) -> u16 {
        self.address.requester_id()
    }

    /// The PLIC source of its INTx line on QEMU `virt`, if it has one.
    pub fn plic_interrupt(&self) -> Option<u32> {
        crate::interrupts::pcie_intx(self.address.device, self.interrupt_pin)
    }
}

/// A bump allocator of naturally aligned ranges in the memory window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowAllocator {
    next: u64,
    end: u64,
}

impl WindowAllocator {
    /// Allocates from `[base, base + size)`.
    pub const fn new(base: u32, size: u32) -> Self {
        WindowAllocator {
            next: base as u64,
            end: base as u64 + size as u64,
        }
    }

    /// A range of `size` bytes aligned to `size` (BARs are naturally
    /// aligned). Errors: `INVAL` if `size` is not a power of two, `NOMEM`
    /// if the window is exhausted.
    pub fn allocate(&mut self, size: u32) -> Result<u32, ErrorCode> {
        if !size.is_power_of_two() {
            return Err(ErrorCode::INVAL);
        }
        let base = self.next.next_multiple_of(u64::from(size));
        let end = base + u64::from(size);
        if end > self.end {
            return Err(ErrorCode::NOMEM);
        }
        self.next = end;
        Ok(base as u32)
    }
}

/// The size a memory BAR decodes, from the value read back after writing
/// all ones to it; `None` for an unimplemented BAR.
pub fn bar_size(readback: u32) -> Option<u32> {
    let mask = readback & !BAR_FLAGS_MASK;
    if mask == 0 {
        None
    } else {
        Some((!mask).wrapping_add(1))
    }
}

/// Whether a 64-bit BAR decodes at most 4 GiB (so it can be placed in the
/// 32-bit window), from its upper half read back after writing all ones:
/// every upper address bit is then writable (PCI 3.0 section 6.2.5.1). A
/// BAR of more than 4 GiB hardwires the low bits of its upper half to 0.
pub fn upper_half_fits(readback: u32) -> bool {
    readback == u32::MAX
}

/// ECAM access to bus 0 and the memory window to place BARs in.
pub struct PciEcam {
    base: usize,
    window: Cell<WindowAllocator>,
}

impl PciEcam {
    /// ECAM at `ecam_base`, BARs placed in `[window_base, window_base +
    /// window_size)`.
    ///
    /// # Safety
    ///
    /// `ecam_base` must be the ECAM region of a PCIe host bridge that
    /// covers bus 0 (1 MiB), mapped and used by nothing else, and the
    /// window must be bus address space that no other code assigns.
    pub const unsafe fn new(ecam_base: usize, window_base: u32, window_size: u32) -> Self {
        PciEcam {
            base: ecam_base,
            window: Cell::new(WindowAllocator::new(window_base, window_size)),
        }
    }

    fn config(&self, address: PciAddress) -> &PciConfigRegisters {
        // SAFETY: `new`'s contract makes `base` ECAM for bus 0; only bus 0
        // addresses (device < 32, function < 8) are built by this module,
        // so the pointer is inside the region, aligned to 4 KiB, and the
        // registers are MMIO accessed through volatile cells.
        unsafe { &*((self.base + address.ecam_offset()) as *const PciConfigRegisters) }
    }

    /// Vendor and device ID of `address`, or `None` if nothing is there.
    pub fn ids(&self, address: PciAddress) -> Option<(u16, u16)> {
        if address.bus != 0
            || address.device >= DEVICES_PER_BUS
            || address.function >= FUNCTIONS_PER_DEVICE
        {
            return None;
        }
        let config = self.config(address);
        match config.vendor_id.get() {
            NO_VENDOR => None,
            vendor => Some((vendor, config.device_id.get())),
        }
    }

    /// Calls `f(address, vendor, device)` for each function present on bus
    /// 0, in order. Scans at most 32 devices x 8 functions.
    pub fn for_each_function<F: FnMut(PciAddress, u16, u16)>(&self, mut f: F) {
        for device in 0..DEVICES_PER_BUS {
            let first = PciAddress {
                bus: 0,
                device,
                function: 0,
            };
            let Some((vendor, id)) = self.ids(first) else {
                continue;
            };
            f(first, vendor, id);
            if !self
                .config(first)
                .header_type
                .is_set(HEADER_TYPE::MULTI_FUNCTION)
            {
                continue;
            }
            for function in 1..FUNCTIONS_PER_DEVICE {
                let address = PciAddress {
                    bus: 0,
                    device,
                    function,
                };
                if let Some((vendor, id)) = self.ids(address) {
                    f(address, vendor, id);
                }
            }
        }
    }

    /// The `index`-th (from 0) function on bus 0 with these IDs.
    pub fn find(&self, vendor_id: u16, device_id: u16, index: usize) -> Option<PciAddress> {
        let mut seen = 0;
        let mut found = None;
        self.for_each_function(|address, vendor, device| {
            if found.is_none() && vendor == vendor_id && device == device_id {
                if seen == index {
                    found = Some(address);
                }
                seen += 1;
            }
        });
        found
    }

    /// Sizes the function's memory BARs, places them in the window, and
    /// enables memory decoding and bus mastering (INTx left enabled).
    /// Call once per function: every call allocates fresh window space.
    /// I/O BARs and 64-bit BARs larger than 4 GiB are left unassigned.
    /// Errors: `NODEVICE` if nothing is at `address`, `NOMEM` if the
    /// window is full (the function is then left with decoding off).
    pub fn enable_device(&self, address: PciAddress) -> Result<PciDevice, ErrorCode> {
        let (vendor_id, device_id) = self.ids(address).ok_or(ErrorCode::NODEVICE)?;
        let config = self.config(address);
        // No decoding while BARs hold sizing patterns.
        config.command.modify(
            COMMAND::MEMORY_SPACE::CLEAR + COMMAND::IO_SPACE::CLEAR + COMMAND::BUS_MASTER::CLEAR,
        );
        let mut bars = [None; BAR_COUNT];
        let mut index = 0;
        while index < BAR_COUNT {
            let original = config.bar[index].get();
            if original & BAR_IO != 0 {
                index += 1;
                continue;
            }
            let is_64 = original & BAR_TYPE_MASK == BAR_TYPE_64;
            config.bar[index].set(u32::MAX);
            let readback = config.bar[index].get();
            let mut fits = true;
            if is_64 && index + 1 < BAR_COUNT {
                config.bar[index + 1].set(u32::MAX);
                fits = upper_half_fits(config.bar[index + 1].get());
                config.bar[index + 1].set(0);
            }
            match bar_size(readback) {
                Some(size) if fits => {
                    let mut window = self.window.get();
                    let base = window.allocate(size)?;
                    self.window.set(window);
                    config.bar[index].set(base);
                    bars[index] = Some(Bar { base, size });
                }
                _ => config.bar[index].set(original),
            }
            index += if is_64 { 2 } else { 1 };
        }
        config.command.modify(
            COMMAND::MEMORY_SPACE::SET + COMMAND::BUS_MASTER::SET + COMMAND::INTX_DISABLE::CLEAR,
        );
        Ok(PciDevice {
            address,
            vendor_id,
            device_id,
            bars,
            interrupt_pin: config.interrupt_pin.get(),
        })
    }

    /// The 32-bit word at `offset` of a function's configuration space,
    /// for walks of its capability list. `None` if nothing is at
    /// `address`, or `offset` is not a multiple of 4 below 4096.
    pub fn read_config_u32(&self, address: PciAddress, offset: usize) -> Option<u32> {
        self.ids(address)?;
        if !offset.is_multiple_of(4) || offset >= 0x1000 {
            return None;
        }
        let word = (self.base + address.ecam_offset() + offset) as *const u32;
        // SAFETY: `ids` checked that `address` is on bus 0, so by `new`'s
        // contract its 4 KiB of configuration space is ECAM; `offset` is
        // aligned and inside it, and the read is volatile.
        Some(unsafe { word.read_volatile() })
    }

    /// Turns off bus mastering of a function: it can no longer start DMA.
    pub fn disable_bus_master(&self, address: PciAddress) -> Result<(), ErrorCode> {
        self.ids(address).ok_or(ErrorCode::NODEVICE)?;
        self.config(address)
            .command
            .modify(COMMAND::BUS_MASTER::CLEAR);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requester_ids() {
        let edu = PciAddress {
            bus: 0,
            device: 1,
            function: 0,
        };
        assert_eq!(edu.requester_id(), 0x8);
        assert_eq!(edu.ecam_offset(), 0x8000);
        let other = PciAddress {
            bus: 1,
            device: 31,
            function: 7,
        };
        assert_eq!(other.requester_id(), 0x1ff);
        assert_eq!(other.ecam_offset(), 0x1f_f000);
    }

    #[test]
    fn bar_sizes() {
        // edu: 1 MiB, 32-bit, non-prefetchable.
        assert_eq!(bar_size(0xfff0_0000), Some(0x10_0000));
        // Flags in the low bits are ignored.
        assert_eq!(bar_size(0xffff_f008), Some(0x1000));
        assert_eq!(bar_size(0), None);
        assert_eq!(bar_size(0x0000_000c), None);
    }

    #[test]
    fn upper_halves_of_64_bit_bars() {
        // virtio-pci's 16 KiB BAR 4: any 64-bit address.
        assert!(upper_half_fits(0xffff_ffff));
        // 8 GiB: bit 32 of the address is size, not address.
        assert!(!upper_half_fits(0xffff_fffe));
        assert!(!upper_half_fits(0));
    }

    #[test]
    fn config_words_for_capability_walks() {
        // A fake bus 0 in host memory: one function at 00:03.0.
        let mut bus = vec![0xffff_ffffu32; (1 << 20) / 4];
        let function = PciAddress {
            bus: 0,
            device: 3,
            function: 0,
        };
        let word = function.ecam_offset() / 4;
        bus[word] = 0x1044_1af4;
        bus[word + 0x34 / 4] = 0x98;
        // SAFETY: `bus` is 1 MiB of memory this test owns and outlives
        // `ecam`; the window is never used.
        let ecam = unsafe { PciEcam::new(bus.as_ptr() as usize, 0, 0) };
        assert_eq!(ecam.read_config_u32(function, 0), Some(0x1044_1af4));
        assert_eq!(ecam.read_config_u32(function, 0x34), Some(0x98));
        assert_eq!(ecam.read_config_u32(function, 0x35), None);
        assert_eq!(ecam.read_config_u32(function, 0x1000), None);
        let empty = PciAddress {
            bus: 0,
            device: 4,
            function: 0,
        };
        assert_eq!(ecam.read_config_u32(empty, 0), None);
    }

    #[test]
    fn window_alignment_and_exhaustion() {
        let mut window = WindowAllocator::new(MMIO_WINDOW_BASE, MMIO_WINDOW_SIZE);
        assert_eq!(window.allocate(0x1000), Ok(0x4000_0000));
        assert_eq!(window.allocate(0x10_0000), Ok(0x4010_0000));
        assert_eq!(window.allocate(0x10_0000), Ok(0x4020_0000));
        assert_eq!(window.allocate(0x1000), Ok(0x4030_0000));
        assert_eq!(window.allocate(3), Err(ErrorCode::INVAL));
        assert_eq!(window.allocate(0x4000_0000), Err(ErrorCode::NOMEM));
        let mut small = WindowAllocator::new(0x4000_0000, 0x2000);
        assert_eq!(small.allocate(0x2000), Ok(0x4000_0000));
        assert_eq!(small.allocate(4), Err(ErrorCode::NOMEM));
    }
}
