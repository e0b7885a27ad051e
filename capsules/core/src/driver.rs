// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Syscall driver numbers of the core capsules.
//!
//! The numbers are Tock's (`capsules/core/src/driver.rs` upstream and the
//! front matter of each `doc/syscalls/*.md` page): userspace libraries
//! hard-code them, so they are part of the ABI. Only the drivers this
//! project has (or reserves) are listed; the names and values are Tock's.
//! Drivers outside Tock's tree, such as the IOMMU's (`capsules/iommu`),
//! keep their numbers in their own crate, as Tock does for its
//! out-of-tree and tutorial capsules.

/// Driver numbers, as in Tock's `driver::NUM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum NUM {
    /// `doc/syscalls/00000_alarm.md`.
    Alarm = 0x0,
    /// `doc/syscalls/00001_console.md`.
    Console = 0x1,
    /// `doc/syscalls/00008_low_level_debug.md`.
    LowLevelDebug = 0x8,
    /// `doc/syscalls/40001_rng.md`. Reserved: no capsule here offers it
    /// yet; the number is Tock's so that a later one keeps its ABI.
    Rng = 0x40001,
}
