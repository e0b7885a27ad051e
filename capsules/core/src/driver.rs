// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Syscall driver numbers of the core capsules.
//!
//! The numbers are Tock's (`capsules/core/src/driver.rs` upstream and the
//! front matter of each `doc/syscalls/*.md` page): userspace libraries
//! hard-code them, so they are part of the ABI.

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
}
