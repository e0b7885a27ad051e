// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The RISC-V IOMMU memory-mapped register block.
//!
//! RISC-V IOMMU spec 1.0 chapter 5 ("Memory-mapped register interface"),
//! table of section 5.1 ("Register layout"). Every 64-bit register is two
//! 32-bit halves, because rv32 harts can only issue 32-bit accesses (spec
//! 6.1: 64-bit registers may be accessed as two 32-bit halves). Names are
//! the spec's; the high halves add `_high`. Offsets are checked at compile
//! time by `register_structs!`. The block is 4 KiB. Fields are private to
//! this crate: `ddtp`, `cqb` and `fqb` take physical addresses and are
//! written only through the `unsafe fn`s of `RiscvIommu`.

use kernel::utilities::registers::{ReadOnly, ReadWrite, register_bitfields, register_structs};

register_structs! {
    /// The IOMMU register block (spec 5.1).
    pub IommuRegisters {
        /// `capabilities` bits 31:0 (spec 5.3): version, page-table modes,
        /// `MSI_FLAT`, `IGS`.
        (0x000 => pub(crate) capabilities: ReadOnly<u32, capabilities::Register>),
        /// `capabilities` bits 63:32 (spec 5.3): `PAS` and process-id sizes.
        (0x004 => pub(crate) capabilities_high: ReadOnly<u32, capabilities_high::Register>),
        /// `fctl` (spec 5.4): endianness, wired interrupts (`WSI`), `GXL`.
        (0x008 => pub(crate) fctl: ReadWrite<u32, fctl::Register>),
        (0x00c => _custom0),
        /// `ddtp` bits 31:0 (spec 5.5): `iommu_mode`, `busy`, `PPN` low bits.
        /// Holds a physical address: written only through
        /// `Iommu::set_ddtp`.
        (0x010 => pub(crate) ddtp: ReadWrite<u32, ddtp::Register>),
        /// `ddtp` bits 63:32 (spec 5.5): `PPN` high bits.
        (0x014 => pub(crate) ddtp_high: ReadWrite<u32>),
        /// `cqb` bits 31:0 (spec 5.6): `LOG2SZ-1`, `PPN` low bits. Holds a
        /// physical address: written only through `Iommu::set_cqb`.
        (0x018 => pub(crate) cqb: ReadWrite<u32, queue_base::Register>),
        /// `cqb` bits 63:32 (spec 5.6): `PPN` high bits.
        (0x01c => pub(crate) cqb_high: ReadWrite<u32>),
        /// `cqh` (spec 5.7): command-queue head, advanced by the IOMMU.
        (0x020 => pub(crate) cqh: ReadOnly<u32>),
        /// `cqt` (spec 5.8): command-queue tail, advanced by software.
        (0x024 => pub(crate) cqt: ReadWrite<u32>),
        /// `fqb` bits 31:0 (spec 5.9): `LOG2SZ-1`, `PPN` low bits. Holds a
        /// physical address: written only through `Iommu::set_fqb`.
        (0x028 => pub(crate) fqb: ReadWrite<u32, queue_base::Register>),
        /// `fqb` bits 63:32 (spec 5.9): `PPN` high bits.
        (0x02c => pub(crate) fqb_high: ReadWrite<u32>),
        /// `fqh` (spec 5.10): fault-queue head, advanced by software.
        (0x030 => pub(crate) fqh: ReadWrite<u32>),
        /// `fqt` (spec 5.11): fault-queue tail, advanced by the IOMMU.
        (0x034 => pub(crate) fqt: ReadOnly<u32>),
        /// `pqb`, `pqh`, `pqt` (spec 5.12-5.14): the page-request queue,
        /// unused (no ATS/PRI).
        (0x038 => _page_request_queue),
        /// `cqcsr` (spec 5.15): command-queue control and status.
        (0x048 => pub(crate) cqcsr: ReadWrite<u32, cqcsr::Register>),
        /// `fqcsr` (spec 5.16): fault-queue control and status.
        (0x04c => pub(crate) fqcsr: ReadWrite<u32, fqcsr::Register>),
        /// `pqcsr` (spec 5.17): page-request queue, unused.
        (0x050 => _pqcsr),
        /// `ipsr` (spec 5.18): interrupt pending status, write 1 to clear.
        (0x054 => pub(crate) ipsr: ReadWrite<u32, ipsr::Register>),
        /// Performance monitoring, debug translation, QoS, custom (spec
        /// 5.19-5.27): unused.
        (0x058 => _unused),
        /// `icvec` (spec 5.28): interrupt vector of each cause.
        (0x2f8 => pub(crate) icvec: ReadWrite<u32, icvec::Register>),
        (0x2fc => _icvec_high),
        /// `msi_cfg_tbl` (spec 5.29) and reserved space: unused (wired
        /// interrupts).
        (0x300 => _msi_cfg_tbl),
        (0x1000 => @END),
    }
}

register_bitfields![u32,
    /// Spec 5.3.
    pub capabilities [
        /// Spec version, major in 7:4 (1 for 1.0).
        version OFFSET(0) NUMBITS(8) [],
        Sv32 OFFSET(8) NUMBITS(1) [],
        Sv39 OFFSET(9) NUMBITS(1) [],
        Sv48 OFFSET(10) NUMBITS(1) [],
        Sv57 OFFSET(11) NUMBITS(1) [],
        /// MSI translation in flat mode: device contexts use the 64-byte
        /// extended format (spec 2.1).
        MSI_FLAT OFFSET(22) NUMBITS(1) [],
        AMO_HWAD OFFSET(24) NUMBITS(1) [],
        /// Interrupt generation support.
        IGS OFFSET(28) NUMBITS(2) [
            Msi = 0,
            Wsi = 1,
            Both = 2
        ],
    ],
    /// Spec 5.3, bits 63:32.
    pub capabilities_high [
        /// Physical address size (bits 37:32).
        PAS OFFSET(0) NUMBITS(6) [],
    ],
    /// Spec 5.4.
    pub fctl [
        BE OFFSET(0) NUMBITS(1) [],
        WSI OFFSET(1) NUMBITS(1) [],
        GXL OFFSET(2) NUMBITS(1) [],
    ],
    /// Spec 5.5, bits 31:0.
    pub ddtp [
        iommu_mode OFFSET(0) NUMBITS(4) [
            Off = 0,
            Bare = 1,
            OneLevel = 2,
            TwoLevel = 3,
            ThreeLevel = 4
        ],
        busy OFFSET(4) NUMBITS(1) [],
        /// PPN bits 21:0 of the root (register bits 31:10).
        PPN OFFSET(10) NUMBITS(22) [],
    ],
    /// `cqb` and `fqb` bits 31:0 (spec 5.6, 5.9).
    pub queue_base [
        /// log2(entries) - 1.
        LOG2SZ OFFSET(0) NUMBITS(5) [],
        /// PPN bits 21:0 of the queue (register bits 31:10).
        PPN OFFSET(10) NUMBITS(22) [],
    ],
    /// Spec 5.15.
    pub cqcsr [
        cqen OFFSET(0) NUMBITS(1) [],
        cie OFFSET(1) NUMBITS(1) [],
        cqmf OFFSET(8) NUMBITS(1) [],
        cmd_to OFFSET(9) NUMBITS(1) [],
        cmd_ill OFFSET(10) NUMBITS(1) [],
        fence_w_ip OFFSET(11) NUMBITS(1) [],
        cqon OFFSET(16) NUMBITS(1) [],
        busy OFFSET(17) NUMBITS(1) [],
    ],
    /// Spec 5.16.
    pub fqcsr [
        fqen OFFSET(0) NUMBITS(1) [],
        fie OFFSET(1) NUMBITS(1) [],
        fqmf OFFSET(8) NUMBITS(1) [],
        fqof OFFSET(9) NUMBITS(1) [],
        fqon OFFSET(16) NUMBITS(1) [],
        busy OFFSET(17) NUMBITS(1) [],
    ],
    /// Spec 5.18.
    pub ipsr [
        cip OFFSET(0) NUMBITS(1) [],
        fip OFFSET(1) NUMBITS(1) [],
        pmip OFFSET(2) NUMBITS(1) [],
        pip OFFSET(3) NUMBITS(1) [],
    ],
    /// Spec 5.28.
    pub icvec [
        civ OFFSET(0) NUMBITS(4) [],
        fiv OFFSET(4) NUMBITS(4) [],
        pmiv OFFSET(8) NUMBITS(4) [],
        piv OFFSET(12) NUMBITS(4) [],
    ],
];
