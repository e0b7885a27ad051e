// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The modelled register block and its side effects.
//!
//! RISC-V IOMMU spec 1.0 chapter 5. The block is plain host memory the
//! driver writes with volatile accesses; the model notices writes when it
//! next runs by comparing each control register with the value it last
//! wrote there. A driver write to `cqcsr`/`fqcsr` never reproduces that
//! value while a queue is on, because it cannot set the read-only `cqon`/
//! `fqon` bit, so every write is seen. Then the model applies the
//! write-1-to-clear bits (5.15, 5.16) and the queue enable transitions
//! (`cqen`/`fqen` 0 to 1 resets `cqh`/`fqt` and the error bits).

use crate::Model;
use std::cell::UnsafeCell;

pub const CAPABILITIES: usize = 0x00;
pub const FCTL: usize = 0x08;
pub const DDTP: usize = 0x10;
pub const CQB: usize = 0x18;
pub const CQH: usize = 0x20;
pub const CQT: usize = 0x24;
pub const FQB: usize = 0x28;
pub const FQH: usize = 0x30;
pub const FQT: usize = 0x34;
pub const CQCSR: usize = 0x48;
pub const FQCSR: usize = 0x4c;
pub const IPSR: usize = 0x54;

pub const QUEUE_ENABLE: u32 = 1 << 0;
pub const QUEUE_INTERRUPT_ENABLE: u32 = 1 << 1;
pub const QUEUE_ON: u32 = 1 << 16;
pub const CQCSR_CQMF: u32 = 1 << 8;
pub const CQCSR_CMD_TO: u32 = 1 << 9;
pub const CQCSR_CMD_ILL: u32 = 1 << 10;
pub const CQCSR_FENCE_W_IP: u32 = 1 << 11;
const CQCSR_W1C: u32 = CQCSR_CQMF | CQCSR_CMD_TO | CQCSR_CMD_ILL | CQCSR_FENCE_W_IP;
pub const CQCSR_ERRORS: u32 = CQCSR_CQMF | CQCSR_CMD_TO | CQCSR_CMD_ILL;
pub const FQCSR_FQMF: u32 = 1 << 8;
pub const FQCSR_FQOF: u32 = 1 << 9;
const FQCSR_W1C: u32 = FQCSR_FQMF | FQCSR_FQOF;
const FCTL_WSI: u32 = 1 << 1;
pub const IPSR_CIP: u32 = 1 << 0;
pub const IPSR_FIP: u32 = 1 << 1;
/// A custom `ipsr` bit (15:8 are for custom use) the model keeps set.
const IPSR_MARKER: u32 = 1 << 15;

/// 4 KiB of registers, aligned as on hardware.
#[repr(C, align(4096))]
pub struct RegisterBlock {
    words: [UnsafeCell<u32>; 1024],
}

impl RegisterBlock {
    /// All registers zero.
    #[allow(
        clippy::declare_interior_mutable_const,
        reason = "used once, to initialize"
    )]
    pub const ZERO: RegisterBlock = RegisterBlock {
        words: [const { UnsafeCell::new(0) }; 1024],
    };

    /// Reads the 32-bit register at byte `offset`.
    pub fn read32(&self, offset: usize) -> u32 {
        // SAFETY: the cell is in bounds (indexing checks); the driver only
        // writes it from the same thread, between model calls.
        unsafe { self.words[offset / 4].get().read_volatile() }
    }

    /// Writes the 32-bit register at byte `offset`.
    pub fn write32(&self, offset: usize, value: u32) {
        // SAFETY: as in `read32`.
        unsafe { self.words[offset / 4].get().write_volatile(value) }
    }

    /// Reads a 64-bit register as two halves.
    pub fn read64(&self, offset: usize) -> u64 {
        u64::from(self.read32(offset)) | (u64::from(self.read32(offset + 4)) << 32)
    }

    /// Writes a 64-bit register as two halves.
    pub fn write64(&self, offset: usize, value: u64) {
        self.write32(offset, value as u32);
        self.write32(offset + 4, (value >> 32) as u32);
    }
}

/// A queue's latched configuration.
#[derive(Clone, Copy, Debug, Default)]
pub struct QueueState {
    pub on: bool,
    pub base: u64,
    pub mask: u32,
}

/// A control/status register: the value the model last wrote.
#[derive(Clone, Copy, Debug, Default)]
pub struct Csr {
    pub value: u32,
}

/// `cqb`/`fqb`: entries = 2^(LOG2SZ + 1), base = PPN * 4 KiB (5.6, 5.9).
fn decode_queue_base(register: u64) -> (u64, u32) {
    let entries = 2u32 << (register & 0x1f).min(30);
    (((register >> 10) & ((1 << 44) - 1)) << 12, entries - 1)
}

impl Model {
    /// Applies whatever the driver wrote since the model last ran.
    pub(crate) fn sync_registers(&mut self) {
        self.clear_ipsr_bits_written();
        self.registers.write64(CAPABILITIES, crate::CAPABILITIES);
        // Only WSI is writable here; GXL reads 0 as on QEMU.
        self.registers
            .write32(FCTL, self.registers.read32(FCTL) & FCTL_WSI);

        let written = self.registers.read32(CQCSR);
        if written != self.cqcsr.value {
            let mut value = (self.cqcsr.value & CQCSR_W1C & !written)
                | (written & (QUEUE_ENABLE | QUEUE_INTERRUPT_ENABLE));
            if written & QUEUE_ENABLE != 0 && !self.cq.on {
                let (base, mask) = decode_queue_base(self.registers.read64(CQB));
                self.cq = QueueState {
                    on: true,
                    base,
                    mask,
                };
                value &= !CQCSR_W1C;
                self.registers.write32(CQH, 0);
            } else if written & QUEUE_ENABLE == 0 {
                self.cq.on = false;
            }
            if self.cq.on {
                value |= QUEUE_ON;
            }
            self.set_cqcsr(value);
        }

        let written = self.registers.read32(FQCSR);
        if written != self.fqcsr.value {
            let mut value = (self.fqcsr.value & FQCSR_W1C & !written)
                | (written & (QUEUE_ENABLE | QUEUE_INTERRUPT_ENABLE));
            if written & QUEUE_ENABLE != 0 && !self.fq.on {
                let (base, mask) = decode_queue_base(self.registers.read64(FQB));
                self.fq = QueueState {
                    on: true,
                    base,
                    mask,
                };
                value &= !FQCSR_W1C;
                self.registers.write32(FQT, 0);
            } else if written & QUEUE_ENABLE == 0 {
                self.fq.on = false;
            }
            if self.fq.on {
                value |= QUEUE_ON;
            }
            self.set_fqcsr(value);
        }
        self.update_interrupts();
    }

    pub(crate) fn set_cqcsr(&mut self, value: u32) {
        self.cqcsr.value = value;
        self.registers.write32(CQCSR, value);
    }

    pub(crate) fn set_fqcsr(&mut self, value: u32) {
        self.fqcsr.value = value;
        self.registers.write32(FQCSR, value);
    }

    /// `ipsr` (5.18): write-1-to-clear bits that are set by events and
    /// set again while their condition lasts. `cip` while `cqcsr.cie` and
    /// `fence_w_ip` or an error bit; `fip` when a record is produced (see
    /// `faults.rs`) and while `fqof` or `fqmf`, with `fqcsr.fie`. A custom
    /// bit (`IPSR_MARKER`) that the driver never writes makes each of its
    /// writes visible, so a clear is never mistaken for no write.
    pub(crate) fn update_interrupts(&mut self) {
        let cq = self.cqcsr.value;
        if cq & QUEUE_INTERRUPT_ENABLE != 0 && cq & CQCSR_W1C != 0 {
            self.ipsr |= IPSR_CIP;
        }
        let fq = self.fqcsr.value;
        if fq & QUEUE_INTERRUPT_ENABLE != 0 && fq & FQCSR_W1C != 0 {
            self.ipsr |= IPSR_FIP;
        }
        self.ipsr_written = self.ipsr | IPSR_MARKER;
        self.registers.write32(IPSR, self.ipsr_written);
    }

    /// Applies a driver write to `ipsr` since the model last wrote it.
    fn clear_ipsr_bits_written(&mut self) {
        let written = self.registers.read32(IPSR);
        if written != self.ipsr_written {
            self.ipsr &= !(written & (IPSR_CIP | IPSR_FIP));
        }
    }
}
