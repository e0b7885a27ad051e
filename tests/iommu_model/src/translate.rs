// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Modelled translation: directory walk, device-context checks, Sv39.
//!
//! RISC-V IOMMU spec 1.0 section 2.3.1 ("Process to locate the
//! device-context"), 2.1.3 (device-context fields and their checks) and
//! 2.3 (first-stage translation, Sv39 as in the privileged spec
//! 10.3.2). Requests carry no process id, so they are unprivileged: a leaf
//! needs U. A and D are not updated by this IOMMU (no `AMO_HWAD` use), so
//! a leaf without A, or a write to a leaf without D, is a page fault.
//!
//! Valid device contexts are cached per `device_id` until
//! `IODIR.INVAL_DDT`; valid leaves are cached per (PSCID, page) until
//! `IOTINVAL.VMA`. Nothing invalid is cached (spec 2.8). A driver that
//! forgets an invalidation is therefore caught by a stale translation.

use crate::faults::{
    ALL_DISALLOWED, DDT_ENTRY_INVALID, DDT_ENTRY_MISCONFIGURED, DDT_LOAD_ACCESS_FAULT,
    LOAD_ACCESS_FAULT, READ_PAGE_FAULT, STORE_ACCESS_FAULT, WRITE_PAGE_FAULT,
};
use crate::registers::DDTP;
use crate::{Access, DeviceContext, Model, TlbEntry};

const PPN_MASK: u64 = (1 << 44) - 1;
const TRANSACTION_TYPE_DISALLOWED: u32 = 260;
const MSI_FLAT: u64 = 1 << 22;
const FSC_MODE_BARE: u64 = 0;
const FSC_MODE_SV39: u64 = 8;
const PTE_V: u64 = 1 << 0;
const PTE_R: u64 = 1 << 1;
const PTE_W: u64 = 1 << 2;
const PTE_X: u64 = 1 << 3;
const PTE_U: u64 = 1 << 4;
const PTE_A: u64 = 1 << 6;
const PTE_D: u64 = 1 << 7;

fn page_fault(access: Access) -> u32 {
    match access {
        Access::Read => READ_PAGE_FAULT,
        Access::Write => WRITE_PAGE_FAULT,
    }
}

fn access_fault(access: Access) -> u32 {
    match access {
        Access::Read => LOAD_ACCESS_FAULT,
        Access::Write => STORE_ACCESS_FAULT,
    }
}

impl Model {
    /// Translates `iova` for `device_id`; `Err` holds the fault cause.
    pub(crate) fn translate(
        &mut self,
        device_id: u32,
        iova: u64,
        access: Access,
    ) -> Result<u64, u32> {
        let ddtp = self.registers.read64(DDTP);
        match ddtp & 0xf {
            0 => return Err(ALL_DISALLOWED),
            1 => return Ok(iova),
            2..=4 => {}
            _ => return Err(DDT_ENTRY_MISCONFIGURED),
        }
        let context = match self.device_contexts.get(&device_id) {
            Some(context) => *context,
            None => {
                let context = self.load_device_context(ddtp, device_id)?;
                self.device_contexts.insert(device_id, context);
                context
            }
        };
        if context.fsc >> 60 == FSC_MODE_BARE {
            return Ok(iova);
        }
        let entry = match self.lookup(context.pscid, iova) {
            Some(entry) => {
                self.stats.iotlb_hits += 1;
                entry
            }
            None => {
                let entry = self.walk(context.fsc, iova, access)?;
                let base = iova & !(entry.size - 1);
                self.iotlb.insert((context.pscid, base), entry);
                entry
            }
        };
        let needed = match access {
            Access::Read => PTE_R | PTE_U | PTE_A,
            Access::Write => PTE_W | PTE_D | PTE_U | PTE_A,
        };
        if entry.pte & needed != needed {
            return Err(page_fault(access));
        }
        Ok(entry.phys + (iova & (entry.size - 1)))
    }

    fn lookup(&self, pscid: u32, iova: u64) -> Option<TlbEntry> {
        [1u64 << 12, 1 << 21, 1 << 30].iter().find_map(|&size| {
            self.iotlb
                .get(&(pscid, iova & !(size - 1)))
                .filter(|entry| entry.size == size)
                .copied()
        })
    }

    /// Spec 2.3: walks `ddtp` to the device context and checks it.
    fn load_device_context(&self, ddtp: u64, device_id: u32) -> Result<DeviceContext, u32> {
        let extended = crate::CAPABILITIES & MSI_FLAT != 0;
        let (leaf_bits, context_size) = if extended { (6, 64) } else { (7, 32) };
        let levels = (ddtp & 0xf) as u32 - 1;
        if u64::from(device_id) >> (leaf_bits + 9 * (levels - 1)) != 0 {
            return Err(TRANSACTION_TYPE_DISALLOWED);
        }
        let mut table = ((ddtp >> 10) & PPN_MASK) << 12;
        for level in (1..levels).rev() {
            let index = (u64::from(device_id) >> (leaf_bits + 9 * (level - 1))) & 0x1ff;
            let entry = self
                .ram
                .read64(table + 8 * index)
                .ok_or(DDT_LOAD_ACCESS_FAULT)?;
            if entry & PTE_V == 0 {
                return Err(DDT_ENTRY_INVALID);
            }
            table = ((entry >> 10) & PPN_MASK) << 12;
        }
        let address = table + context_size * (u64::from(device_id) & ((1 << leaf_bits) - 1));
        let field = |n: u64| {
            self.ram
                .read64(address + 8 * n)
                .ok_or(DDT_LOAD_ACCESS_FAULT)
        };
        let (tc, iohgatp, ta, fsc) = (field(0)?, field(1)?, field(2)?, field(3)?);
        if tc & 1 == 0 {
            return Err(DDT_ENTRY_INVALID);
        }
        // Modelled: first stage only, no process directory (PDTV, bit 5),
        // SXL = 0 (bit 11), no ATS/PRI (bits 1-3), second stage Bare.
        let unsupported = tc & ((1 << 5) | (1 << 11) | 0b1110) != 0;
        let fsc_mode = fsc >> 60;
        if unsupported || iohgatp >> 60 != 0 || !matches!(fsc_mode, FSC_MODE_BARE | FSC_MODE_SV39) {
            return Err(DDT_ENTRY_MISCONFIGURED);
        }
        Ok(DeviceContext {
            pscid: ((ta >> 12) & 0xf_ffff) as u32,
            fsc,
        })
    }

    /// Sv39 walk of the table at `fsc.PPN`; returns the leaf.
    fn walk(&mut self, fsc: u64, iova: u64, access: Access) -> Result<TlbEntry, u32> {
        self.stats.page_walks += 1;
        // Bits 63:39 must equal bit 38.
        let upper = iova >> 38;
        if upper != 0 && upper != (1 << 26) - 1 {
            return Err(page_fault(access));
        }
        let mut table = (fsc & PPN_MASK) << 12;
        for level in (0..3).rev() {
            let index = (iova >> (12 + 9 * level)) & 0x1ff;
            let pte = self
                .ram
                .read64(table + 8 * index)
                .ok_or(access_fault(access))?;
            let reserved = pte >> 54 != 0;
            if pte & PTE_V == 0 || (pte & PTE_R == 0 && pte & PTE_W != 0) || reserved {
                return Err(page_fault(access));
            }
            let ppn = (pte >> 10) & PPN_MASK;
            if pte & (PTE_R | PTE_W | PTE_X) != 0 {
                let size = 1u64 << (12 + 9 * level);
                if (ppn << 12) & (size - 1) != 0 {
                    return Err(page_fault(access));
                }
                return Ok(TlbEntry {
                    size,
                    phys: ppn << 12,
                    pte,
                });
            }
            table = ppn << 12;
        }
        Err(page_fault(access))
    }
}
