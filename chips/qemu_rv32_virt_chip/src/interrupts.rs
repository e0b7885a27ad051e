// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! PLIC source numbers on QEMU `virt` (hw/riscv/virt.c, include/hw/riscv/virt.h).
//!
//! The PCIe host bridge's four INTx lines go to sources 0x20..0x23 through
//! the device tree's interrupt-map: device `slot`, pin INTA..INTD (1..4)
//! reaches `PCIE_INTX_BASE + (slot + pin - 1) % 4` (the standard PCI
//! swizzle). The platform IOMMU (`iommu-sys=on`) has four wired vectors at
//! 0x24..0x27 (vector numbers from its `icvec`).

/// The 16550 UART.
pub const UART0: u32 = 10;
/// First PCIe INTx source (INTA of slot 0).
pub const PCIE_INTX_BASE: u32 = 0x20;
/// First wired vector of the platform RISC-V IOMMU.
pub const IOMMU_BASE: u32 = 0x24;
/// Number of the IOMMU's wired vectors.
pub const IOMMU_VECTORS: u32 = 4;

/// The PLIC source of PCI `slot`'s interrupt pin `pin` (1 = INTA .. 4 =
/// INTD, as in the config-space Interrupt Pin register); `None` for pin 0
/// (no interrupt) or an invalid pin.
pub fn pcie_intx(slot: u8, pin: u8) -> Option<u32> {
    if !(1..=4).contains(&pin) {
        return None;
    }
    Some(PCIE_INTX_BASE + (u32::from(slot) + u32::from(pin) - 1) % 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swizzle() {
        assert_eq!(pcie_intx(1, 1), Some(0x21));
        assert_eq!(pcie_intx(2, 1), Some(0x22));
        assert_eq!(pcie_intx(3, 2), Some(0x20));
        assert_eq!(pcie_intx(4, 1), Some(0x20));
        assert_eq!(pcie_intx(1, 0), None);
        assert_eq!(pcie_intx(1, 5), None);
    }
}
