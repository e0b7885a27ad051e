// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! A compact kernel core, API-compatible with Tock's `kernel` crate.
//!
//! Tock's kernel crate is not published on a registry this project can
//! reach, so this crate provides the parts the IOMMU HIL, the RISC-V IOMMU
//! driver and the capsules use, under the same paths, names and signatures
//! as upstream Tock (see `doc/kernel.md` for the list and for what is left
//! out). Its userspace ABI is TRD104 and the Tock Binary Format.
//!
//! The crate is `no_std`. The `std` feature exists only for host test
//! builds (the capsule test harness); it never changes an API.

#![cfg_attr(not(feature = "std"), no_std)]

pub mod capabilities;
pub mod deferred_call;
pub mod errorcode;
pub mod grant;
pub mod hil;
pub mod platform;
pub mod process;
pub mod process_loading;
pub mod process_memory;
pub mod processbuffer;
pub mod scheduler;
pub mod syscall;
pub mod tbf;
pub mod upcall;
pub mod utilities;

mod kernel;
mod process_standard;
mod syscall_driver;
mod syscall_handler;

pub use crate::errorcode::ErrorCode;
pub use crate::kernel::{FaultPolicy, Kernel, SyscallOutcome};
pub use crate::process::ProcessId;
