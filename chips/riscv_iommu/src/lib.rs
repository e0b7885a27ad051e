// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! RISC-V IOMMU 1.0 chip driver.
//!
//! Implements `kernel::hil::iommu` for one IOMMU instance (RISC-V IOMMU
//! spec 1.0): the Sv39 page-table format on a board-given page pool
//! (`sv39`, `pool`), and instance management over MMIO (`registers`,
//! `commands`, `device_context`, `iommu`). See `doc/iommu-hil.md`.

#![no_std]

mod commands;
mod device_context;
mod hil;
pub mod iommu;
mod pending;
pub mod pool;
mod queues;
pub mod registers;
pub mod sv39;

pub use crate::iommu::{InterruptVectors, QueueMemory, RiscvIommu};
pub use crate::pool::{Page, PagePool};
