// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! RV32 architecture support: start-up, traps, user-mode switch, PMP.
//!
//! Machine-mode kernel on RV32IMAC (RISC-V privileged spec 1.12), processes
//! in user mode, isolated by PMP as Tock does on rv32:
//!
//! - `start`: the reset entry `_start` and, with `kernel_layout.ld`, the
//!   image layout a board links with (stack, `.data`/`.bss` init).
//! - `switch`: the trap vector `_start_trap` and the switch to and from
//!   user mode.
//! - `syscall`: per-process `Rv32StoredState`, `SysCall` (Tock's
//!   `UserspaceKernelBoundary`, simplified) and `ContextSwitchReason`.
//! - `pmp`: per-process PMP regions (one R/X flash, one R/W RAM up to the
//!   app break), plain PMP with default deny; see its docs for why not ePMP.
//! - `boundary`: `kernel::syscall::UserspaceKernelBoundary` for `SysCall`
//!   (PMP from the process layout, TRD104 decoding into `Syscall`).
//! - `trap`: `mcause` decoding; `csr`: `mie`/`mip`, `wfi`, counters.
//! - `dma_fence`: `RiscvCoherentDmaFence`, the kernel's `DmaFence` for
//!   harts with cache-coherent DMA, which boards hand to DMA drivers.
//!
//! # How a board uses it
//!
//! 1. Link with a script that declares `rom`/`ram` and includes
//!    `arch/rv32/kernel_layout.ld`; `_start` runs first and calls the
//!    board's `extern "C" fn main() -> !` with the stack, `.data`, `.bss`,
//!    `mtvec` and `mscratch` ready and all interrupts masked.
//! 2. Call `pmp::disable_all()` once, then per process keep a
//!    `pmp::PmpConfig` and an `Rv32StoredState`; before running a process
//!    write its PMP registers, then call `SysCall::switch_to_process`.
//! 3. On `ContextSwitchReason::Interrupted` let the chip service its
//!    interrupts (the arch masked the interrupt's `mie` bit; the chip
//!    unmasks it). The kernel keeps `mstatus.MIE` clear and sleeps with
//!    `csr::wfi`.
//!
//! Assembly is compiled only for `target_arch = "riscv32"`; on the host the
//! crate builds with stand-ins so that the pure parts can be unit-tested.

#![cfg_attr(not(test), no_std)]

pub mod boundary;
pub mod csr;
pub mod dma_fence;
pub mod pmp;
#[cfg(target_arch = "riscv32")]
mod start;
#[cfg(target_arch = "riscv32")]
mod switch;
pub mod syscall;
pub mod trap;

pub use crate::syscall::{ContextSwitchReason, Rv32StoredState, SysCall};
