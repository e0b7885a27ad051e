// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Peripherals of the QEMU `virt` machine (rv32).
//!
//! One file per peripheral, each with its register map and spec reference:
//! `uart` (16550, `hil::uart`), `plic`, `timer` (CLINT machine timer,
//! `hil::time::Alarm`), `finisher` (QEMU exit), `pci` (ECAM enumeration of
//! bus 0 and BAR assignment), `edu` (QEMU's DMA test device); `interrupts`
//! lists the PLIC sources and `chip` dispatches them for the kernel loop.
//!
//! # Board bring-up order
//!
//! 1. Build the drivers over `StaticRef`s to the `*_BASE` addresses and
//!    `QemuRv32VirtChip::new`, then `initialize_interrupts()`.
//! 2. `uart.register()` (deferred calls for aborts); set UART and alarm
//!    clients.
//! 3. `PciEcam::find` + `enable_device` for each `edu`; build `Edu` from
//!    BAR0, `PciDevice::plic_interrupt`, the architecture's `DmaFence`
//!    (`rv32::dma_fence::RiscvCoherentDmaFence` on QEMU) and the RAM its
//!    IOMMU context may map; hand them (and the IOMMU's handler) to the
//!    chip as its `InterruptService`.
//! 4. Kernel loop: run processes with `rv32::SysCall`; after
//!    `Interrupted` or when idle call `service_pending_interrupts`; sleep
//!    with `sleep()` when nothing is runnable.

#![cfg_attr(not(test), no_std)]

pub mod chip;
pub mod edu;
pub mod finisher;
pub mod interrupts;
pub mod pci;
pub mod plic;
pub mod timer;
pub mod uart;

pub use crate::chip::QemuRv32VirtChip;
