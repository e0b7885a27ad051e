// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The modelled fault queue.
//!
//! RISC-V IOMMU spec 1.0 section 3.2: a 32-byte record per fault at `fqt`
//! (`CAUSE` 11:0, `TTYPE` 39:34, `DID` 63:40; `iotval` at +16). When the
//! queue is full the IOMMU sets `fqcsr.fqof` and drops records until
//! software clears it; a memory fault writing a record sets `fqmf`
//! (5.16). Causes are those of table 11.

use crate::registers::{FQCSR_FQMF, FQCSR_FQOF, FQH, FQT, IPSR_FIP, QUEUE_INTERRUPT_ENABLE};
use crate::{Access, Model};

/// Read access fault (reading memory through a valid translation failed).
pub const LOAD_ACCESS_FAULT: u32 = 5;
/// Write access fault.
pub const STORE_ACCESS_FAULT: u32 = 7;
/// Read page fault.
pub const READ_PAGE_FAULT: u32 = 13;
/// Write page fault.
pub const WRITE_PAGE_FAULT: u32 = 15;
/// All inbound transactions disallowed (`ddtp` Off).
pub const ALL_DISALLOWED: u32 = 256;
/// Reading a directory entry failed.
pub const DDT_LOAD_ACCESS_FAULT: u32 = 257;
/// Directory entry or device context not valid.
pub const DDT_ENTRY_INVALID: u32 = 258;
/// Device context misconfigured.
pub const DDT_ENTRY_MISCONFIGURED: u32 = 259;

/// `TTYPE` values (table 12): untranslated read and write.
const TTYPE_READ: u64 = 2;
const TTYPE_WRITE: u64 = 3;

impl Model {
    /// Writes a fault record, or drops it (setting `fqof` if the queue is
    /// full).
    pub(crate) fn record_fault(&mut self, device_id: u32, iova: u64, access: Access, cause: u32) {
        let dropped = !self.fq.on || self.fqcsr.value & (FQCSR_FQOF | FQCSR_FQMF) != 0;
        let tail = self.registers.read32(FQT) & self.fq.mask;
        let head = self.registers.read32(FQH) & self.fq.mask;
        if dropped || (tail + 1) & self.fq.mask == head {
            if !dropped {
                self.set_fqcsr(self.fqcsr.value | FQCSR_FQOF);
            }
            self.stats.faults_dropped += 1;
            return;
        }
        let ttype = match access {
            Access::Read => TTYPE_READ,
            Access::Write => TTYPE_WRITE,
        };
        let first = u64::from(cause & 0xfff) | (ttype << 34) | (u64::from(device_id) << 40);
        let address = self.fq.base + 32 * u64::from(tail);
        let written = [first, 0, iova, 0]
            .iter()
            .enumerate()
            .all(|(i, word)| self.ram.write64(address + 8 * i as u64, *word).is_some());
        if !written {
            self.set_fqcsr(self.fqcsr.value | FQCSR_FQMF);
            return;
        }
        self.registers.write32(FQT, (tail + 1) & self.fq.mask);
        self.stats.fault_records += 1;
        if self.fqcsr.value & QUEUE_INTERRUPT_ENABLE != 0 {
            self.ipsr |= IPSR_FIP;
        }
    }
}
