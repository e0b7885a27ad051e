// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! libtock-lite: a small userland runtime for Tock processes on RISC-V.
//!
//! It shares nothing with the kernel but the ABI: TRD104 system calls
//! ([`syscall`], decoded by [`return_variant`] and [`error`]), the
//! fixed-address start-up contract ([`startup`], doc/userland.md) and the
//! Tock drivers for the console (0x1), the alarm (0x0) and low-level debug
//! (0x8). Apps are `#![no_std]` `#![no_main]` binaries that name their main
//! function with [`main!`] and print with [`println!`].

#![no_std]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod alarm;
pub mod console;
pub mod error;
pub mod low_level_debug;
pub mod memop;
mod panic;
pub mod return_variant;
pub mod startup;
pub mod syscall;
pub mod upcall;

pub use error::ErrorCode;
pub use panic::PANIC_EXIT_CODE;
pub use return_variant::SyscallReturn;
pub use startup::{ProcessInfo, process_info};
pub use upcall::Wait;
