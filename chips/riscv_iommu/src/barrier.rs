// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Ordering of memory writes before device accesses.
//!
//! The IOMMU reads tables, device contexts and commands from memory that
//! the hart wrote with ordinary stores, and learns about them from an MMIO
//! write (`cqt`) or from a device started by MMIO. Under the RISC-V
//! memory model (unprivileged spec: RVWMO and the `FENCE` instruction's
//! I/O ordering), such stores are ordered before later device accesses
//! only by a fence whose predecessor set includes `w` and whose successor
//! set includes `o`; `fence iorw, iorw` orders everything. On other
//! targets (host tests) a sequentially consistent fence stands in for it.

/// Makes every earlier memory write visible to the IOMMU and devices before
/// any later memory or device access.
#[inline]
pub fn io_fence() {
    #[cfg(any(target_arch = "riscv32", target_arch = "riscv64"))]
    // SAFETY: `fence` has no operands and no effect other than ordering.
    unsafe {
        core::arch::asm!("fence iorw, iorw", options(nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "riscv32", target_arch = "riscv64")))]
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
}
