// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Interfaces a chip offers the kernel loop (Tock's
//! `kernel::platform::chip`, simplified).
//!
//! Upstream `Chip` also names the chip's MPU and user/kernel boundary types;
//! here the board uses the arch crate's PMP and `SysCall` directly, so this
//! trait keeps only the interrupt and sleep part, with Tock's method names
//! and signatures.

/// The microcontroller as the kernel loop sees it.
pub trait Chip {
    /// Services every pending interrupt: calls the drivers' handlers and
    /// re-enables the interrupts it handled.
    fn service_pending_interrupts(&self);

    /// Whether any interrupt is pending that `service_pending_interrupts`
    /// would handle.
    fn has_pending_interrupts(&self) -> bool;

    /// Sleeps until an interrupt is pending (it may return spuriously).
    fn sleep(&self);

    /// Runs `f` with interrupts disabled.
    fn with_interrupts_disabled<F, R>(&self, f: F) -> R
    where
        F: FnOnce() -> R;
}

/// Handles interrupts of devices outside the chip crate (e.g. a board's
/// extra peripherals, or the IOMMU driver in its own crate).
pub trait InterruptService {
    /// Handles interrupt `interrupt` (a PLIC source number); returns `false`
    /// if it does not belong to this service.
    fn service_interrupt(&self, interrupt: u32) -> bool;
}

/// No extra devices.
impl InterruptService for () {
    fn service_interrupt(&self, _interrupt: u32) -> bool {
        false
    }
}

/// A reference serves as what it refers to.
impl<T: InterruptService + ?Sized> InterruptService for &T {
    fn service_interrupt(&self, interrupt: u32) -> bool {
        (**self).service_interrupt(interrupt)
    }
}

/// Two services, asked in order.
impl<A: InterruptService, B: InterruptService> InterruptService for (A, B) {
    fn service_interrupt(&self, interrupt: u32) -> bool {
        self.0.service_interrupt(interrupt) || self.1.service_interrupt(interrupt)
    }
}
