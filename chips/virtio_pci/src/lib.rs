// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Virtio 1.x over PCI (ECAM) for devices behind an IOMMU.
//!
//! The modern virtio PCI transport (virtio 1.x section 4.1) and split
//! virtqueues (section 2.7) whose every address is an IOVA: the device
//! must negotiate `VIRTIO_F_ACCESS_PLATFORM` and reaches memory only
//! through the IOMMU, where the board maps the queue memory and the
//! drivers' buffers (`doc/virtio.md`).
//!
//! Shaped like Tock's `chips/virtio` (a transport trait, a queue type,
//! device drivers above the transport), and named `virtio_pci` so as not
//! to clash with it: Tock's crate has the MMIO transport and queues that
//! hand devices physical addresses; this one has the PCI transport and
//! IOVA-addressed queues.
//!
//! - `capabilities`: the walk of a function's PCI capability list that
//!   finds the virtio structures, and their placement in the BARs;
//! - `registers`: the common configuration (`register_structs!`), status
//!   and feature bits, and the access trait with its MMIO implementation;
//! - `transport`: [`transport::VirtioTransport`] and the PCI transport;
//! - `queue`: [`queue::SplitQueue`] and the queue memory;
//! - `dma`: memory lent to devices for good, with the `DmaMemory` proof
//!   the board maps;
//! - `device`: device types and [`device::VirtioDeviceDriver`];
//! - `rng`: a virtio-rng driver (device type 4) for `kernel::hil::rng`;
//! - `blk`: a virtio-blk driver (device type 2) for
//!   `kernel::hil::dma_block`.

#![cfg_attr(not(test), no_std)]

pub mod blk;
pub mod capabilities;
pub mod device;
pub mod dma;
pub mod queue;
pub mod registers;
pub mod rng;
pub mod transport;
