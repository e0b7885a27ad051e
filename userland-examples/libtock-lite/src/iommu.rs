// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The IOMMU driver (0x10003, `doc/syscalls/10003_iommu.md`): contexts,
//! domains, mappings of allowed buffers, attach / detach / switch, and
//! fault reports.
//!
//! A process *acquires* the context its device sits behind
//! ([`crate::dma::device_info`] says which), *creates* a domain, *maps*
//! pages of its own buffers into the domain at IOVAs of its choice and
//! *attaches* the context to the domain; from then on the device reaches
//! exactly those pages, and every other access faults and is reported to
//! the process ([`FaultLog`]). Every object is named by a typed handle the
//! kernel checks on every use.
//!
//! `MAP`, `UNMAP`, `ATTACH` and `DETACH` complete later; the functions here
//! start them and wait (Yield-WaitFor on the `DONE` upcall, no function
//! needed) for their `DONE`, which they check names the same command and
//! object. After [`unmap`] or [`detach`] returns `Ok`, the IOMMU has
//! completed the invalidation: no device reaches the pages any more.
//!
//! Allows: a `MAP` reads the buffer of the allow slot it names once, when
//! the command runs, and the mapping then outlives the allow. So
//! [`map_buffer`] allows the buffer, maps it and un-allows it again at
//! once; the device keeps reaching the pages until they are unmapped.
//! That is why mapped memory is a [`DmaBuffer`](crate::dma::DmaBuffer)
//! (`'static`, volatile accesses only), never an ordinary array.

pub mod abi;
#[cfg(not(test))]
mod calls;
#[cfg(not(test))]
mod fault_log;

pub use abi::{
    Access, AllowSlot, ContextHandle, DomainHandle, Fault, FaultCause, Geometry, Info,
    InstanceInfo, MapSource, PageRange, PageUsage, Slot, Translation, command, upcall,
};
#[cfg(not(test))]
pub use calls::{
    acquire, allow_read_only, allow_read_only_bytes, allow_read_write, attach, create_domain,
    destroy_domain, detach, exists, fault_ack, info, instance_info, map, map_buffer, pages,
    release, translate, unallow_read_only, unallow_read_write, unmap,
};
#[cfg(not(test))]
pub use fault_log::{FaultLog, unsubscribe_faults};

/// Driver number of the IOMMU driver.
pub const DRIVER_NUMBER: u32 = 0x10003;
