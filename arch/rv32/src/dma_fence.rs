// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! `kernel::platform::dma_fence::DmaFence` for RISC-V harts whose DMA is
//! coherent with their caches.
//!
//! Under RVWMO (RISC-V unprivileged spec, "RVWMO Memory Consistency Model"
//! and the `FENCE` instruction), a hart's stores to RAM and its accesses
//! to device registers are ordered against each other only by a `FENCE`
//! whose sets name them: `w` for RAM writes, `i`/`o` for device input and
//! output. Where DMA is coherent, a store that is ordered before the MMIO
//! write starting a device is one the device reads, and a device write
//! that completed before an MMIO read (or a read of a completion word) is
//! seen by any later load ordered after that read. The spec leaves
//! non-coherent DMA to device-specific cache maintenance, which this type
//! does not do.
//!
//! On targets other than RISC-V (host builds of the crate and the host
//! tests that use it) there is no device: the "devices" of host tests are
//! behavioural models that run on the calling thread, inside the driver's
//! register accesses, so program order already orders them. The host
//! variant only keeps the compiler from moving buffer accesses across the
//! call (the buffer's pointer escapes and a compiler fence is issued). It
//! is not a fence for any real device.

use kernel::platform::dma_fence::DmaFence;

/// The DMA fences of a RISC-V hart with cache-coherent DMA: `release` is
/// `fence w, iorw`, `acquire` is `fence ir, r`.
///
/// Each is an `asm!` block that is not `nomem` and takes the buffer's
/// pointer, so the compiler must assume the block reads (release) or
/// writes (acquire) the buffer: it completes earlier stores to it before
/// the block and does not hoist later loads of it above the block.
#[derive(Clone, Copy, Debug)]
pub struct RiscvCoherentDmaFence {
    _private: (),
}

impl RiscvCoherentDmaFence {
    /// The fence, for a board to hand to its DMA drivers.
    ///
    /// # Safety
    ///
    /// Every DMA master that drivers given this fence start must be
    /// coherent with the hart's caches (or the hart must have no data
    /// cache): this type issues ordering instructions only, and never
    /// flushes or invalidates a cache. QEMU's `virt` machine is coherent.
    pub unsafe fn new() -> RiscvCoherentDmaFence {
        RiscvCoherentDmaFence { _private: () }
    }
}

#[cfg(any(target_arch = "riscv32", target_arch = "riscv64"))]
// SAFETY: on a coherent platform (the promise of `new`), `fence w, iorw`
// orders every earlier RAM write before every later device access, and
// `fence ir, r` orders every later RAM read after the earlier device or
// RAM read that observed completion; the non-`nomem` asm blocks with the
// buffer's pointer as input are compiler barriers for the buffer.
unsafe impl DmaFence for RiscvCoherentDmaFence {
    #[inline(always)]
    fn release<T>(self, buf: *mut [T]) {
        // SAFETY: a `fence` instruction changes no register or memory; the
        // pointer operand is never dereferenced.
        unsafe {
            core::arch::asm!(
                "# buffer {buffer} is released to DMA",
                "fence w, iorw",
                buffer = in(reg) buf.cast::<T>(),
                options(nostack, preserves_flags),
            );
        }
    }

    #[inline(always)]
    fn acquire<T>(self, buf: *mut [T]) {
        // SAFETY: as in `release`.
        unsafe {
            core::arch::asm!(
                "# buffer {buffer} is acquired from DMA",
                "fence ir, r",
                buffer = in(reg) buf.cast::<T>(),
                options(nostack, preserves_flags),
            );
        }
    }
}

#[cfg(not(any(target_arch = "riscv32", target_arch = "riscv64")))]
// SAFETY: host builds have no DMA device (see the module documentation):
// host "devices" run on the calling thread, so keeping the compiler from
// reordering buffer accesses across the call is all the ordering needed.
unsafe impl DmaFence for RiscvCoherentDmaFence {
    fn release<T>(self, buf: *mut [T]) {
        core::hint::black_box(buf);
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
    }

    fn acquire<T>(self, buf: *mut [T]) {
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        core::hint::black_box(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::RiscvCoherentDmaFence;
    use kernel::utilities::dma_slice::DmaSliceMut;

    #[test]
    fn host_variant_lends_and_returns_a_buffer() {
        // SAFETY: host build: no device is started.
        let fence = unsafe { RiscvCoherentDmaFence::new() };
        let mut buffer = [1u32, 2, 3];
        // SAFETY: `take` follows.
        let lent = unsafe { DmaSliceMut::new(&mut buffer, fence) };
        // SAFETY: index 1 of the 3 lent words, written as a device would.
        unsafe { lent.as_mut_ptr().add(1).write_volatile(9) };
        // SAFETY: the "device" is done.
        let back = unsafe { lent.take(fence) };
        assert_eq!(back, &[1, 9, 3]);
    }
}
