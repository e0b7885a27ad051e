// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! libtock-lite: a small userland runtime for Tock processes on RISC-V.
//!
//! It shares nothing with the kernel but the ABI: TRD104 system calls
//! ([`syscall`], decoded by [`return_variant`] and [`error`]), the
//! fixed-address start-up contract ([`startup`], doc/userland.md), the
//! Tock drivers for the console (0x1), the alarm (0x0), low-level debug
//! (0x8) and the RNG (0x40001), and this project's IOMMU (0x10003,
//! [`iommu`]), DMA (0x10004, [`dma`]) and block storage (0x50005,
//! `block`) drivers. Apps are `#![no_std]`
//! `#![no_main]` binaries that name their main function with [`main!`] and
//! print with [`println!`].
//!
//! `cargo test --target x86_64-unknown-linux-gnu -p libtock-lite` runs the
//! unit tests of the pure modules (return decoding, error codes, tick
//! arithmetic, the IOMMU and DMA encodings, DMA buffers) on the host;
//! everything that issues system calls exists only in the RISC-V build.

#![cfg_attr(not(test), no_std)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod dma;
pub mod error;
pub mod iommu;
pub mod return_variant;
pub mod time;

#[cfg(not(test))]
pub mod alarm;
#[cfg(not(test))]
pub mod block;
#[cfg(not(test))]
pub mod console;
#[cfg(not(test))]
pub mod low_level_debug;
#[cfg(not(test))]
pub mod memop;
#[cfg(not(test))]
mod panic;
#[cfg(not(test))]
pub mod rng;
#[cfg(not(test))]
pub mod startup;
#[cfg(not(test))]
pub mod syscall;
#[cfg(not(test))]
pub mod upcall;

pub use error::ErrorCode;
#[cfg(not(test))]
pub use panic::PANIC_EXIT_CODE;
pub use return_variant::SyscallReturn;
#[cfg(not(test))]
pub use startup::{ProcessInfo, process_info};
#[cfg(not(test))]
pub use upcall::Wait;
