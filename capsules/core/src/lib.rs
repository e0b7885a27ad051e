// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Core capsules: console, alarm, low-level debug, RNG, and a UART multiplexer.
//!
//! Each syscall driver implements the semantics of Tock's
//! `doc/syscalls/` page for its driver number, so that apps built with
//! libtock-rs or libtock-c for Tock run unchanged. Capsules use only the
//! kernel's Tock-compatible API (grants, process buffers, `hil::uart`,
//! `hil::time`) and contain no `unsafe` code. `virtual_uart` lets console
//! and low-level debug share one UART, as Tock's UART mux does.

#![no_std]
#![forbid(unsafe_code)]

pub mod alarm;
pub mod console;
pub mod driver;
pub mod low_level_debug;
pub mod rng;
pub mod virtual_uart;

#[cfg(test)]
mod test_fakes;

#[cfg(test)]
mod syscall_sequences;
