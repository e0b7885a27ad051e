// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Command encoding and fault-record decoding.
//!
//! Commands are 16 bytes (RISC-V IOMMU spec 1.0 section 3.1 "Command
//! queue"): `IOTINVAL.VMA` (3.1.1), `IOFENCE.C` (3.1.2) and
//! `IODIR.INVAL_DDT` (3.1.3). Fault records are 32 bytes (section 3.2
//! "Fault/Event queue"). Pure functions, tested on the host.

use kernel::hil::iommu::{AccessType, FaultCause};

/// One command: two doublewords, as the IOMMU reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command(pub [u64; 2]);

const OPCODE_IOTINVAL: u64 = 1;
const OPCODE_IOFENCE: u64 = 2;
const OPCODE_IODIR: u64 = 3;
const FUNC3_SHIFT: u32 = 7;
const FUNC3_VMA: u64 = 0;
const FUNC3_C: u64 = 0;
const FUNC3_INVAL_DDT: u64 = 0;

const IOTINVAL_AV: u64 = 1 << 10;
const IOTINVAL_PSCID_SHIFT: u32 = 12;
const IOTINVAL_PSCV: u64 = 1 << 32;

const IOFENCE_AV: u64 = 1 << 10;
const IOFENCE_WSI: u64 = 1 << 11;
const IOFENCE_PR: u64 = 1 << 12;
const IOFENCE_PW: u64 = 1 << 13;
const IOFENCE_DATA_SHIFT: u32 = 32;

const IODIR_DV: u64 = 1 << 33;
const IODIR_DID_SHIFT: u32 = 40;

impl Command {
    /// `IOTINVAL.VMA` (3.1.1): drop first-stage translations cached under
    /// `pscid` (all address spaces if `None`), for the page holding
    /// `address` only if given.
    pub fn iotinval_vma(pscid: Option<u32>, address: Option<u64>) -> Command {
        let mut low = OPCODE_IOTINVAL | (FUNC3_VMA << FUNC3_SHIFT);
        if let Some(pscid) = pscid {
            low |= IOTINVAL_PSCV | (u64::from(pscid & 0xf_ffff) << IOTINVAL_PSCID_SHIFT);
        }
        let mut high = 0;
        if let Some(address) = address {
            low |= IOTINVAL_AV;
            // ADDR[63:12] is held in bits 63:10 of the second doubleword.
            high = (address >> 12) << 10;
        }
        Command([low, high])
    }

    /// `IOFENCE.C` (3.1.2): completes after every earlier command; then
    /// writes `data` to `address` (4-byte aligned) and, if `wsi`, sets
    /// `cqcsr.fence_w_ip` (a wired interrupt). `PR`/`PW` order earlier
    /// IOMMU memory accesses before the write.
    pub fn iofence_c(address: u64, data: u32, wsi: bool) -> Command {
        let mut low = OPCODE_IOFENCE
            | (FUNC3_C << FUNC3_SHIFT)
            | IOFENCE_AV
            | IOFENCE_PR
            | IOFENCE_PW
            | (u64::from(data) << IOFENCE_DATA_SHIFT);
        if wsi {
            low |= IOFENCE_WSI;
        }
        // ADDR[63:2] is held in bits 61:0 of the second doubleword.
        Command([low, address >> 2])
    }

    /// `IODIR.INVAL_DDT` (3.1.3): drop the cached device context of
    /// `device_id` (all of them if `None`).
    pub fn iodir_inval_ddt(device_id: Option<u32>) -> Command {
        let mut low = OPCODE_IODIR | (FUNC3_INVAL_DDT << FUNC3_SHIFT);
        if let Some(device_id) = device_id {
            low |= IODIR_DV | (u64::from(device_id & 0xff_ffff) << IODIR_DID_SHIFT);
        }
        Command([low, 0])
    }
}

impl Command {
    /// The broadest legal command of this command's kind, to replace it
    /// after `cmd_ill`: an invalidation of everything for `IOTINVAL` and
    /// `IODIR` (and for anything unknown), a plain `IOFENCE.C` for a
    /// fence (its completion write is left to the next fence).
    pub fn broadened(&self) -> Command {
        match self.0[0] & 0x7f {
            OPCODE_IOTINVAL => Command::iotinval_vma(None, None),
            OPCODE_IOFENCE => Command([OPCODE_IOFENCE | (FUNC3_C << FUNC3_SHIFT), 0]),
            _ => Command::iodir_inval_ddt(None),
        }
    }
}

/// A fault record (3.2), decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultRecord {
    /// `CAUSE`.
    pub cause: u32,
    /// `TTYPE`: transaction type.
    pub ttype: u32,
    /// `DID`: the requester's device id.
    pub device_id: u32,
    /// `iotval`: the faulting IOVA.
    pub iotval: u64,
}

impl FaultRecord {
    /// Decodes the four doublewords of a record.
    pub fn decode(words: [u64; 4]) -> FaultRecord {
        FaultRecord {
            cause: (words[0] & 0xfff) as u32,
            ttype: ((words[0] >> 34) & 0x3f) as u32,
            device_id: (words[0] >> 40) as u32,
            iotval: words[2],
        }
    }

    /// The HIL cause (causes from the privileged spec and table 11 of the
    /// IOMMU spec section 3.2).
    pub fn fault_cause(&self) -> FaultCause {
        match self.cause {
            // All inbound transactions disallowed (ddtp Off), device
            // context not valid (detached), transaction type disallowed.
            256 | 258 | 260 => FaultCause::Blocked,
            12 | 13 | 15 => FaultCause::PageFault,
            1 | 5 | 7 => FaultCause::AccessFault,
            // DDT entry load access fault, DDT entry misconfigured.
            257 | 259 => FaultCause::Misconfigured,
            _ => FaultCause::Other,
        }
    }

    /// The access that faulted: from the cause where it says, else from
    /// `TTYPE` (on QEMU `TTYPE` reads 3 even for reads, so the cause
    /// comes first).
    pub fn access(&self) -> AccessType {
        match self.cause {
            1 | 12 => AccessType::Execute,
            5 | 13 => AccessType::Read,
            7 | 15 => AccessType::Write,
            _ => match self.ttype {
                1 | 5 => AccessType::Execute,
                3 | 7 => AccessType::Write,
                _ => AccessType::Read,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iotinval_vma_encoding() {
        let all = Command::iotinval_vma(None, None);
        assert_eq!(all.0, [1, 0]);
        let one = Command::iotinval_vma(Some(5), Some(0x1234_5000));
        assert_eq!(one.0[0], 1 | (1 << 10) | (5 << 12) | (1 << 32));
        assert_eq!(one.0[1], 0x1234_5000 >> 2);
    }

    #[test]
    fn iofence_c_encoding() {
        let fence = Command::iofence_c(0x8000_1004, 0xabcd, true);
        assert_eq!(fence.0[0] & 0x7f, 2);
        assert_eq!(fence.0[0] >> 32, 0xabcd);
        assert_ne!(fence.0[0] & (1 << 10), 0, "AV");
        assert_ne!(fence.0[0] & (1 << 11), 0, "WSI");
        assert_eq!(fence.0[1], 0x8000_1004 >> 2);
    }

    #[test]
    fn iodir_inval_ddt_encoding() {
        let one = Command::iodir_inval_ddt(Some(8));
        assert_eq!(one.0[0], 3 | (1 << 33) | (8 << 40));
        assert_eq!(Command::iodir_inval_ddt(None).0[0], 3);
    }

    #[test]
    #[allow(
        clippy::decimal_bitwise_operands,
        reason = "cause codes are decimal, as the spec's fault-cause table lists them"
    )]
    fn fault_record_decoding() {
        let record = FaultRecord::decode([15 | (3 << 34) | (8 << 40) | (1 << 32), 0, 0x4000, 0]);
        assert_eq!(record.cause, 15);
        assert_eq!(record.device_id, 8);
        assert_eq!(record.iotval, 0x4000);
        assert_eq!(record.fault_cause(), FaultCause::PageFault);
        assert_eq!(record.access(), AccessType::Write);
        let read = FaultRecord::decode([13 | (3 << 34), 0, 0, 0]);
        assert_eq!(read.access(), AccessType::Read, "cause wins over TTYPE");
        let blocked = FaultRecord::decode([258 | (2 << 34), 0, 0, 0]);
        assert_eq!(blocked.fault_cause(), FaultCause::Blocked);
        assert_eq!(blocked.access(), AccessType::Read);
    }
}
