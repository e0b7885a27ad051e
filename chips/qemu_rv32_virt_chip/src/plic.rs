// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Platform-level interrupt controller (PLIC) for hart 0, machine mode.
//!
//! Register map from the RISC-V PLIC specification 1.0.0 (chapter
//! "Memory Map"): priorities at 0x0 + 4 * source, pending bits at 0x1000,
//! per-context enable bits at 0x2000 + 0x80 * context, per-context
//! threshold and claim/complete at 0x20_0000 + 0x1000 * context. On QEMU
//! `virt` context 0 is hart 0 in machine mode, the only one used here.
//!
//! Source numbers on `virt` are in `crate::interrupts`.

use kernel::ErrorCode;
use kernel::utilities::StaticRef;
use kernel::utilities::registers::interfaces::{Readable, Writeable};
use kernel::utilities::registers::{ReadOnly, ReadWrite, register_structs};

/// Base of the PLIC on QEMU `virt`.
pub const PLIC_BASE: usize = 0x0c00_0000;
/// Interrupt sources on QEMU `virt` (source 0 means "none").
pub const NUM_SOURCES: u32 = 96;
/// Words of enable/pending bits covering `NUM_SOURCES`.
const SOURCE_WORDS: usize = (NUM_SOURCES as usize).div_ceil(32);

register_structs! {
    /// The PLIC, up to the machine-mode context of hart 0.
    pub PlicRegisters {
        /// Source priorities (0 = never interrupts); index = source.
        (0x00_0000 => priority: [ReadWrite<u32>; 1024]),
        /// Pending bits, one per source.
        (0x00_1000 => pending: [ReadOnly<u32>; 32]),
        (0x00_1080 => _reserved0),
        /// Enable bits of context 0 (hart 0, M-mode).
        (0x00_2000 => enable: [ReadWrite<u32>; 32]),
        (0x00_2080 => _reserved1),
        /// Priority threshold of context 0.
        (0x20_0000 => threshold: ReadWrite<u32>),
        /// Claim (read) / complete (write) of context 0.
        (0x20_0004 => claim: ReadWrite<u32>),
        (0x20_0008 => _reserved2),
        (0x20_1000 => @END),
    }
}

/// The PLIC driver for context 0.
pub struct Plic {
    registers: StaticRef<PlicRegisters>,
}

/// Whether `source` names a real source.
fn check_source(source: u32) -> Result<usize, ErrorCode> {
    if source == 0 || source >= NUM_SOURCES {
        Err(ErrorCode::INVAL)
    } else {
        Ok(source as usize)
    }
}

impl Plic {
    /// A driver for the PLIC at `registers`.
    pub const fn new(registers: StaticRef<PlicRegisters>) -> Self {
        Plic { registers }
    }

    /// Sets `source`'s priority (1..=7 on QEMU; 0 disables it).
    /// Errors: `INVAL` for source 0 or out of range.
    pub fn set_priority(&self, source: u32, priority: u32) -> Result<(), ErrorCode> {
        let index = check_source(source)?;
        self.registers.priority[index].set(priority);
        Ok(())
    }

    /// Lets `source` interrupt context 0. Errors: `INVAL`.
    pub fn enable(&self, source: u32) -> Result<(), ErrorCode> {
        let index = check_source(source)?;
        let word = &self.registers.enable[index / 32];
        word.set(word.get() | 1 << (index % 32));
        Ok(())
    }

    /// Stops `source` from interrupting context 0. Errors: `INVAL`.
    pub fn disable(&self, source: u32) -> Result<(), ErrorCode> {
        let index = check_source(source)?;
        let word = &self.registers.enable[index / 32];
        word.set(word.get() & !(1 << (index % 32)));
        Ok(())
    }

    /// Sets context 0's threshold: only priorities above it interrupt.
    pub fn set_threshold(&self, threshold: u32) {
        self.registers.threshold.set(threshold);
    }

    /// Whether `source` is pending.
    pub fn is_pending(&self, source: u32) -> bool {
        match check_source(source) {
            Ok(index) => self.registers.pending[index / 32].get() & (1 << (index % 32)) != 0,
            Err(_) => false,
        }
    }

    /// Sets every source to priority 1, enables them all, threshold 0:
    /// the usual set-up when each driver decides when its device
    /// interrupts.
    pub fn enable_all(&self) {
        for source in 1..NUM_SOURCES {
            self.registers.priority[source as usize].set(1);
        }
        for word in &self.registers.enable[..SOURCE_WORDS] {
            word.set(u32::MAX);
        }
        self.set_threshold(0);
    }

    /// Disables every source for context 0.
    pub fn disable_all(&self) {
        for word in &self.registers.enable[..SOURCE_WORDS] {
            word.set(0);
        }
    }

    /// Claims the highest-priority pending source, if any.
    pub fn claim(&self) -> Option<u32> {
        match self.registers.claim.get() {
            0 => None,
            source => Some(source),
        }
    }

    /// Signals that `source`, returned by `claim`, has been serviced.
    pub fn complete(&self, source: u32) {
        self.registers.claim.set(source);
    }

    /// Claims and completes everything pending, without servicing it.
    /// Bounded by the number of sources.
    pub fn clear_all_pending(&self) {
        for _ in 0..NUM_SOURCES {
            match self.claim() {
                Some(source) => self.complete(source),
                None => return,
            }
        }
    }
}
