// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The board's PCI devices: the edus, the interrupt routing of every
//! device beyond the UART, and finding a virtio function's structures.

use core::mem::MaybeUninit;

use kernel::platform::chip::InterruptService;
use kernel::utilities::StaticRef;
use qemu_rv32_virt_chip::edu::Edu;
use qemu_rv32_virt_chip::interrupts;
use qemu_rv32_virt_chip::pci::{PciDevice, PciEcam};
use rv32::dma_fence::RiscvCoherentDmaFence;
use virtio_pci::capabilities::VirtioPciLayout;
use virtio_pci::registers::MmioAccess;

use crate::block::BlkTransport;
use crate::virtio_rng::RngTransport;
use crate::{APP_RAM, BoardEdu, EDU_COUNT, IOMMU_VECTORS, Iommu};

/// PLIC sources beyond the UART: the edus' and virtio-rng's INTx and the
/// IOMMU's vectors.
pub(crate) struct Devices {
    pub(crate) edus: [&'static BoardEdu; EDU_COUNT],
    pub(crate) iommu: &'static Iommu,
    /// virtio-rng's PLIC source and transport, if QEMU has the device.
    pub(crate) rng: Option<(u32, &'static RngTransport)>,
    /// virtio-blk's, likewise.
    pub(crate) blk: Option<(u32, &'static BlkTransport)>,
}

impl InterruptService for Devices {
    fn service_interrupt(&self, interrupt: u32) -> bool {
        let iommu_civ = interrupts::IOMMU_BASE + u32::from(IOMMU_VECTORS.civ);
        let iommu_fiv = interrupts::IOMMU_BASE + u32::from(IOMMU_VECTORS.fiv);
        if interrupt == iommu_civ || interrupt == iommu_fiv {
            self.iommu.handle_interrupt();
            return true;
        }
        // INTx lines may be shared: let every device that uses it look.
        let mut handled = false;
        for edu in self.edus {
            handled |= edu.service_interrupt(interrupt);
        }
        if let Some((source, transport)) = self.rng
            && source == interrupt
        {
            transport.handle_interrupt();
            handled = true;
        }
        if let Some((source, transport)) = self.blk
            && source == interrupt
        {
            transport.handle_interrupt();
            handled = true;
        }
        handled
    }
}

/// Creates the driver for edu `function` in `slot`, ordering its DMA with
/// `fence`.
pub(crate) fn make_edu(
    function: &PciDevice,
    slot: &'static mut MaybeUninit<BoardEdu>,
    fence: RiscvCoherentDmaFence,
) -> &'static BoardEdu {
    let bar0 = function.bars[0].expect("edu BAR0 unassigned");
    // The IOMMU capsule maps only process memory into the edus' domains
    // (invariant I2), and every process's memory is inside APP_RAM.
    let dma_memory = core::ptr::slice_from_raw_parts_mut(APP_RAM.0 as *mut u8, APP_RAM.1);
    // SAFETY: BAR0 of an edu function that `enable_device` set up, and its
    // DMA is translated by the IOMMU context the kernel controls (brought up
    // above, blocking until a process attaches a domain); `dma_memory` is
    // all RAM that context's domains may map; `fence` was made for QEMU
    // virt's coherent DMA.
    let edu = unsafe {
        Edu::new(
            StaticRef::new(bar0.base as *const _),
            function.plic_interrupt(),
            fence,
            dma_memory,
        )
    };
    slot.write(edu)
}

/// Finds the virtio structures of `function` (enabled, a virtio device the
/// board names `what`) and returns the register access of its transport,
/// with its notify offset multiplier. Call once per function: the access
/// must be the structures' only user.
pub(crate) fn virtio_access(ecam: &PciEcam, function: &PciDevice, what: &str) -> (MmioAccess, u32) {
    let address = function.address;
    let layout =
        VirtioPciLayout::parse(&|offset| ecam.read_config_u32(address, offset).unwrap_or(0))
            .unwrap_or_else(|error| panic!("{what}: virtio PCI capabilities: {error:?}"));
    let regions = layout
        .resolve(|bar| {
            let bar = function.bars.get(usize::from(bar)).copied().flatten()?;
            Some((bar.base as usize, bar.size as usize))
        })
        .unwrap_or_else(|error| panic!("{what}: virtio structures in the BARs: {error:?}"));
    // SAFETY: `regions` are the structures of the virtio function that
    // `enable_device` assigned BARs to and turned decoding on for, as
    // `resolve` placed them (obligation 1); the caller makes the one
    // transport of this function over it (obligation 2).
    let access = unsafe { MmioAccess::new(regions) };
    (access, layout.notify_off_multiplier)
}
