// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! IOMMU system call drivers: domains and contexts for untrusted processes.
//!
//! Three capsules live here:
//!
//! - [`driver::IommuDriver`] (driver number 0x10003, see
//!   `doc/syscalls/10003_iommu.md`) shares the translation contexts and the
//!   page-table pools of one or more IOMMU instances (`kernel::hil::iommu`)
//!   among processes: a process acquires contexts the board's
//!   [`policy::ContextPolicy`] allows it, creates domains within its
//!   [`policy::Quotas`], maps pages of buffers it allowed to this driver,
//!   and attaches its contexts to its domains. It is also the
//!   `ProcessMemoryObserver` that takes every mapping back before a
//!   process's memory changes hands (`doc/process-memory-revocation.md`).
//! - [`dma::DmaDriver`] (driver number 0x10004, see
//!   `doc/syscalls/10004_dma.md`) lets the owner of a device's context
//!   start copies between the device and an IOVA. It checks no address:
//!   confinement is the IOMMU's job.
//! - [`block::BlockDriver`] (driver number 0x50005, see
//!   `doc/syscalls/50005_block.md`) reads and writes a disk's sectors
//!   straight between the device and a process's allowed buffer, mapped
//!   for one request through a [`kernel_domain::KernelDomain`].
//!
//! Everything process-supplied is checked once, at the boundary, into a
//! validated type ([`handles`], [`args`]); all state is in statically sized
//! tables ([`table`]) and in each process's grant.

#![no_std]
#![forbid(unsafe_code)]

pub mod args;
pub mod block;
pub mod dma;
pub mod driver;
pub mod handles;
pub mod kernel_domain;
pub mod ownership;
pub mod policy;
pub mod port;
pub mod table;
pub mod virtual_iommu;

mod context_ops;
mod domain_ops;
mod faults;
mod revocation;

pub use driver::{DRIVER_NUM, IommuDriver, IommuGrant};
pub use ownership::{ContextOwnership, DeviceHandover, DeviceUser};
pub use policy::{ContextPolicy, Quotas};
pub use port::InstancePort;
pub use table::{IommuStorage, Tables};
pub use virtual_iommu::{MuxIommu, VirtualIommu};
