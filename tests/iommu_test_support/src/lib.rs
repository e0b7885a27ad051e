// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Test rigs shared by the IOMMU crates' host tests.
//!
//! - [`on_model`]: one RISC-V IOMMU driver (`chips/riscv_iommu`) over the
//!   behavioural model (`tests/iommu_model`), and the loop that plays the
//!   platform (command queue, interrupt, deferred calls) until it settles.
//! - [`driver_rig`]: the driver alone, with a client recording every
//!   completion and fault (the chip crate's tests).
//! - [`mock_iommu`], [`mock_dma`]: a `hil::iommu` instance and a
//!   `hil::dma_device` device that record what a device could reach.
//! - [`capsule_rig`]: the IOMMU capsule over mock instances, wired as a
//!   board wires it, on the capsule harness's fake processes.
//! - [`real_rig`]: the IOMMU capsule over one or two modelled instances.
//!
//! The random generator the property tests use is the capsule harness's
//! [`Rng`], re-exported here.

pub mod capsule_rig;
pub mod driver_rig;
pub mod mock_dma;
pub mod mock_iommu;
pub mod on_model;
pub mod real_rig;

pub use capsule_test_harness::Rng;

use kernel::hil::iommu::DmaMemory;

/// `[start, start + len)` as memory a test gives a modelled device.
///
/// Tests name memory by address: pages the rigs leaked for the model's
/// devices (`driver_rig::Rig::ram_page`) or addresses the model never
/// dereferences as host memory.
pub fn test_memory(start: usize, len: usize) -> DmaMemory {
    // SAFETY: (1) the rigs own the memory they name (leaked for the life of
    // the test) or the model never touches it as host memory; only the
    // model's devices reach it, through its own accesses, and no Rust
    // reference aliases it during those. (2) Tests let devices write it.
    unsafe { DmaMemory::new(start, len, true) }
}
