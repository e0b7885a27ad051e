// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The modelled command queue.
//!
//! RISC-V IOMMU spec 1.0 section 3.1: the IOMMU fetches 16-byte commands
//! from `cqh` up to `cqt` and executes `IOTINVAL.VMA` (3.1.1), `IOFENCE.C`
//! (3.1.2) and `IODIR.INVAL_DDT` (3.1.3). Anything else is illegal
//! (`cmd_ill`). On `cmd_ill`, `cmd_to` or `cqmf` the queue stops with `cqh`
//! at the failing command until software clears the bit or re-enables the
//! queue (5.15).

use crate::registers::{
    CQCSR_CMD_ILL, CQCSR_CMD_TO, CQCSR_CQMF, CQCSR_ERRORS, CQCSR_FENCE_W_IP, CQH, CQT,
};
use crate::{CommandError, Model};

const OPCODE_IOTINVAL: u64 = 1;
const OPCODE_IOFENCE: u64 = 2;
const OPCODE_IODIR: u64 = 3;

impl Model {
    /// Executes commands until the queue is empty or stops on an error.
    pub(crate) fn run_commands(&mut self) {
        if !self.cq.on || self.cqcsr.value & CQCSR_ERRORS != 0 {
            return;
        }
        // At most one pass over the queue per call.
        for _ in 0..=self.cq.mask {
            let head = self.registers.read32(CQH) & self.cq.mask;
            if head == self.registers.read32(CQT) & self.cq.mask {
                return;
            }
            let address = self.cq.base + 16 * u64::from(head);
            let fetched = self.ram.read64(address).zip(self.ram.read64(address + 8));
            let error = match (self.injected.take(), fetched) {
                (Some(CommandError::Illegal), _) => Some(CQCSR_CMD_ILL),
                (Some(CommandError::Timeout), _) => Some(CQCSR_CMD_TO),
                (Some(CommandError::MemoryFault), _) | (None, None) => Some(CQCSR_CQMF),
                (None, Some((low, high))) => self.execute(low, high).err(),
            };
            if let Some(bit) = error {
                self.set_cqcsr(self.cqcsr.value | bit);
                return;
            }
            self.registers.write32(CQH, (head + 1) & self.cq.mask);
        }
    }

    /// Executes one command; `Err` holds the `cqcsr` error bit.
    fn execute(&mut self, low: u64, high: u64) -> Result<(), u32> {
        let opcode = low & 0x7f;
        let func3 = (low >> 7) & 0x7;
        match (opcode, func3) {
            (OPCODE_IOTINVAL, 0) => {
                // GV (guest-scoped) needs a second stage, not modelled.
                if low & (1 << 33) != 0 {
                    return Err(CQCSR_CMD_ILL);
                }
                let pscid = (low & (1 << 32) != 0).then_some(((low >> 12) & 0xf_ffff) as u32);
                let address = (low & (1 << 10) != 0).then_some((high >> 10) << 12);
                self.iotlb.retain(|&(tag, base), entry| {
                    let tag_matches = pscid.is_none_or(|p| p == tag);
                    let address_matches =
                        address.is_none_or(|a| a >= base && a < base + entry.size);
                    !(tag_matches && address_matches)
                });
                self.stats.iotinval_vma += 1;
            }
            (OPCODE_IOFENCE, 0) => {
                if low & (1 << 10) != 0 {
                    let data = (low >> 32) as u32;
                    self.ram.write32(high << 2, data).ok_or(CQCSR_CQMF)?;
                }
                if low & (1 << 11) != 0 {
                    self.set_cqcsr(self.cqcsr.value | CQCSR_FENCE_W_IP);
                }
                self.stats.iofence_c += 1;
            }
            (OPCODE_IODIR, 0) => {
                if low & (1 << 33) != 0 {
                    self.device_contexts.remove(&((low >> 40) as u32));
                } else {
                    self.device_contexts.clear();
                }
                self.stats.iodir_inval_ddt += 1;
            }
            _ => return Err(CQCSR_CMD_ILL),
        }
        self.stats.commands += 1;
        Ok(())
    }
}
