// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Physical memory protection (PMP) for user-mode processes.
//!
//! Implements the isolation Tock gives processes on rv32: each process gets
//! one read/execute region over its flash and one read/write region over its
//! RAM from the start of its memory up to its app break. The grant region
//! above the break, the other processes and the kernel match no entry, and a
//! user-mode access that matches no entry fails (RISC-V privileged spec
//! 3.7.1, "If no PMP entry matches an S-mode or U-mode access, but at least
//! one PMP entry is implemented, the access fails").
//!
//! # Plain PMP, not ePMP
//!
//! Tock's `qemu_rv32_virt` uses Smepmp with machine-mode lockdown (MML) to
//! also constrain the kernel itself (no executing RAM, W^X on kernel
//! regions). This crate uses plain PMP and leaves `mseccfg` at its reset
//! value 0, because:
//!
//! - the invariant we need, that user mode reaches only its own regions, is
//!   exactly what plain PMP gives with unlocked entries and default deny;
//! - unlocked entries do not apply to machine mode (3.7.1), so the kernel
//!   reads and writes process memory (allow buffers, grants) directly,
//!   without the per-access region juggling MML needs (under MML, unlocked
//!   rules become user-only and deny machine mode);
//! - MML is sticky until reset and needs locked kernel entries set up before
//!   it is turned on; getting that order wrong wedges the hart.
//!
//! What plain PMP does not give: protection of the kernel from its own
//! bugs (the kernel may execute or write anywhere). That is a hardening step
//! that can be added later with locked entries above the user ones.
//!
//! # Encoding
//!
//! Region `k` (of `MAX_REGIONS`) uses PMP entries `2k` and `2k + 1` in
//! top-of-range (TOR) mode: entry `2k` is OFF and only supplies its address
//! register as the lower bound; entry `2k + 1` has `A = TOR` and the
//! permissions and matches `pmpaddr[2k] <= addr >> 2 < pmpaddr[2k + 1]`
//! (3.7.1.1). Addresses are at 4-byte granularity; a region's end is
//! rounded up to 4 bytes, so the kernel must keep the start of a grant
//! region 4-byte aligned.
//!
//! # Performance on QEMU
//!
//! QEMU caches a PMP decision in its TLB only for a 4 KiB page that one
//! region covers entirely; every access to a partly covered page takes a
//! slow path (measured with `boards/chip_smoke`: a user loop ran about
//! 10,000 times slower on a partly covered page). Correctness does not
//! depend on it, but process flash and RAM that start and end on page
//! boundaries run at full speed. Regions are never widened to pages here:
//! that would hand the process bytes it does not own.

use kernel::ErrorCode;

/// PMP entries on the QEMU `virt` CPU.
pub const PMP_ENTRIES: usize = 16;

/// Regions a configuration holds; each uses two PMP entries.
pub const MAX_REGIONS: usize = 4;

/// Index of the process flash region in a process configuration.
pub const FLASH_REGION: usize = 0;
/// Index of the process RAM region in a process configuration.
pub const RAM_REGION: usize = 1;

const CFG_R: u8 = 1 << 0;
const CFG_W: u8 = 1 << 1;
const CFG_X: u8 = 1 << 2;
const CFG_A_TOR: u8 = 1 << 3;
const CFG_A_MASK: u8 = 3 << 3;

/// Access rights of a region (Tock's `mpu::Permissions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permissions {
    ReadWriteExecute,
    ReadWriteOnly,
    ReadExecuteOnly,
    ReadOnly,
    ExecuteOnly,
}

impl Permissions {
    fn cfg_bits(self) -> u8 {
        match self {
            Permissions::ReadWriteExecute => CFG_R | CFG_W | CFG_X,
            Permissions::ReadWriteOnly => CFG_R | CFG_W,
            Permissions::ReadExecuteOnly => CFG_R | CFG_X,
            Permissions::ReadOnly => CFG_R,
            Permissions::ExecuteOnly => CFG_X,
        }
    }
}

/// The kind of a memory access, for `PmpConfig::allows`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Execute,
}

/// A checked address range `[start, end)` with permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PmpRegion {
    start: usize,
    end: usize,
    permissions: Permissions,
}

impl PmpRegion {
    /// Makes a region. `start` must be 4-byte aligned; `end` is rounded up
    /// to 4 bytes. Errors: `INVAL` if `start` is misaligned, the range is
    /// empty or reversed, or the end lies beyond the 32-bit address space.
    pub fn new(start: usize, end: usize, permissions: Permissions) -> Result<Self, ErrorCode> {
        if !start.is_multiple_of(4) || end <= start {
            return Err(ErrorCode::INVAL);
        }
        let end = end.checked_next_multiple_of(4).ok_or(ErrorCode::INVAL)?;
        // pmpaddr holds address bits 33:2 on rv32, but the kernel only ever
        // protects the 32-bit physical address space.
        if end as u64 > 1 << 32 {
            return Err(ErrorCode::INVAL);
        }
        Ok(PmpRegion {
            start,
            end,
            permissions,
        })
    }

    /// First byte of the region.
    pub fn start(&self) -> usize {
        self.start
    }

    /// One past the last byte (4-byte aligned).
    pub fn end(&self) -> usize {
        self.end
    }

    /// The region's access rights.
    pub fn permissions(&self) -> Permissions {
        self.permissions
    }
}

/// The values of the PMP CSRs for entries `0..2 * MAX_REGIONS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PmpRegisters {
    /// `pmpcfg0`, `pmpcfg1`: one byte per entry, entry 0 in the low byte.
    pub pmpcfg: [u32; 2 * MAX_REGIONS / 4],
    /// `pmpaddr0..`: address bits 33:2.
    pub pmpaddr: [u32; 2 * MAX_REGIONS],
}

impl PmpRegisters {
    fn entry_cfg(&self, entry: usize) -> u8 {
        (self.pmpcfg[entry / 4] >> (8 * (entry % 4))) as u8
    }

    /// Whether user mode may make `access` at every byte of
    /// `[addr, addr + len)` under these registers: a model of the PMP
    /// matching rules (3.7.1), independent of how the values were built.
    /// A user-mode access must be fully inside the first matching entry.
    pub fn user_allows(&self, addr: u64, len: u64, access: Access) -> bool {
        let needed = match access {
            Access::Read => CFG_R,
            Access::Write => CFG_W,
            Access::Execute => CFG_X,
        };
        let last = addr + len.max(1) - 1;
        for entry in 0..self.pmpaddr.len() {
            let cfg = self.entry_cfg(entry);
            if cfg & CFG_A_MASK != CFG_A_TOR {
                continue;
            }
            let low = if entry == 0 {
                0
            } else {
                u64::from(self.pmpaddr[entry - 1]) << 2
            };
            let high = u64::from(self.pmpaddr[entry]) << 2;
            let first_in = addr >= low && addr < high;
            let last_in = last >= low && last < high;
            if first_in || last_in {
                // The lowest-numbered entry matching any byte decides; a
                // partial match fails (3.7.1.3).
                return first_in && last_in && cfg & needed == needed;
            }
        }
        false
    }
}

/// A set of user-mode PMP regions: the per-process MPU configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PmpConfig {
    regions: [Option<PmpRegion>; MAX_REGIONS],
}

impl PmpConfig {
    /// A configuration with no region: user mode can access nothing.
    pub const fn new() -> Self {
        PmpConfig {
            regions: [None; MAX_REGIONS],
        }
    }

    /// The configuration of a process: flash `[flash_start, flash_end)`
    /// read/execute in `FLASH_REGION`, RAM `[ram_start, app_brk)`
    /// read/write in `RAM_REGION`. Errors: `INVAL` as `PmpRegion::new`.
    pub fn for_process(
        flash_start: usize,
        flash_end: usize,
        ram_start: usize,
        app_brk: usize,
    ) -> Result<Self, ErrorCode> {
        let mut config = PmpConfig::new();
        config.set_region(
            FLASH_REGION,
            PmpRegion::new(flash_start, flash_end, Permissions::ReadExecuteOnly)?,
        )?;
        config.set_region(
            RAM_REGION,
            PmpRegion::new(ram_start, app_brk, Permissions::ReadWriteOnly)?,
        )?;
        Ok(config)
    }

    /// Sets region `index`. Errors: `INVAL` if `index >= MAX_REGIONS`.
    pub fn set_region(&mut self, index: usize, region: PmpRegion) -> Result<(), ErrorCode> {
        let slot = self.regions.get_mut(index).ok_or(ErrorCode::INVAL)?;
        *slot = Some(region);
        Ok(())
    }

    /// Removes region `index` (no-op if absent or out of range).
    pub fn clear_region(&mut self, index: usize) {
        if let Some(slot) = self.regions.get_mut(index) {
            *slot = None;
        }
    }

    /// Region `index`, if set.
    pub fn region(&self, index: usize) -> Option<PmpRegion> {
        self.regions.get(index).copied().flatten()
    }

    /// Moves the end of the RAM region to `app_brk` (after a `brk`/`sbrk`).
    /// Errors: `INVAL` if there is no RAM region or `app_brk` is not above
    /// its start.
    pub fn update_app_break(&mut self, app_brk: usize) -> Result<(), ErrorCode> {
        let ram = self.region(RAM_REGION).ok_or(ErrorCode::INVAL)?;
        let region = PmpRegion::new(ram.start, app_brk, ram.permissions)?;
        self.set_region(RAM_REGION, region)
    }

    /// The CSR values that implement this configuration.
    pub fn registers(&self) -> PmpRegisters {
        let mut regs = PmpRegisters {
            pmpcfg: [0; 2 * MAX_REGIONS / 4],
            pmpaddr: [0; 2 * MAX_REGIONS],
        };
        for (index, region) in self.regions.iter().enumerate() {
            if let Some(region) = region {
                let top = 2 * index + 1;
                regs.pmpaddr[top - 1] = (region.start >> 2) as u32;
                // `end` <= 2^32, so `end >> 2` fits in 32 bits.
                regs.pmpaddr[top] = (region.end >> 2) as u32;
                let cfg = CFG_A_TOR | region.permissions.cfg_bits();
                regs.pmpcfg[top / 4] |= u32::from(cfg) << (8 * (top % 4));
            }
        }
        regs
    }
}

/// Writes `regs` into PMP entries `0..2 * MAX_REGIONS`.
///
/// # Safety
///
/// The caller must be in machine mode and must not rely on these entries
/// for its own protection: they are unlocked and apply to user mode only.
/// They take effect for the next user-mode access.
#[cfg(target_arch = "riscv32")]
pub unsafe fn write_registers(regs: &PmpRegisters) {
    use core::arch::asm;
    // SAFETY: in machine mode (caller's obligation) unlocked PMP entries do
    // not constrain the running code. Entries are disabled first so that no
    // intermediate state has a stale address with live permissions.
    unsafe {
        asm!("csrw pmpcfg0, zero", "csrw pmpcfg1, zero", options(nostack));
        asm!("csrw pmpaddr0, {0}", in(reg) regs.pmpaddr[0], options(nostack));
        asm!("csrw pmpaddr1, {0}", in(reg) regs.pmpaddr[1], options(nostack));
        asm!("csrw pmpaddr2, {0}", in(reg) regs.pmpaddr[2], options(nostack));
        asm!("csrw pmpaddr3, {0}", in(reg) regs.pmpaddr[3], options(nostack));
        asm!("csrw pmpaddr4, {0}", in(reg) regs.pmpaddr[4], options(nostack));
        asm!("csrw pmpaddr5, {0}", in(reg) regs.pmpaddr[5], options(nostack));
        asm!("csrw pmpaddr6, {0}", in(reg) regs.pmpaddr[6], options(nostack));
        asm!("csrw pmpaddr7, {0}", in(reg) regs.pmpaddr[7], options(nostack));
        asm!("csrw pmpcfg0, {0}", in(reg) regs.pmpcfg[0], options(nostack));
        asm!("csrw pmpcfg1, {0}", in(reg) regs.pmpcfg[1], options(nostack));
    }
}

/// Host stand-in: there are no PMP CSRs to write.
///
/// # Safety
///
/// None; kept `unsafe` to match the target signature.
#[cfg(not(target_arch = "riscv32"))]
pub unsafe fn write_registers(_regs: &PmpRegisters) {}

/// Turns every PMP entry off, so user mode can access nothing. Called once
/// at boot (`-bios none` leaves PMP in its reset state, but a firmware may
/// not).
///
/// # Safety
///
/// Machine mode only, and no entry may be locked (locked entries ignore
/// the write and keep constraining machine mode).
#[cfg(target_arch = "riscv32")]
pub unsafe fn disable_all() {
    use core::arch::asm;
    // SAFETY: clearing unlocked entries only removes user-mode access.
    unsafe {
        asm!(
            "csrw pmpcfg0, zero",
            "csrw pmpcfg1, zero",
            "csrw pmpcfg2, zero",
            "csrw pmpcfg3, zero",
            options(nostack)
        );
    }
}

/// Host stand-in.
///
/// # Safety
///
/// None; kept `unsafe` to match the target signature.
#[cfg(not(target_arch = "riscv32"))]
pub unsafe fn disable_all() {}

#[cfg(test)]
mod tests {
    use super::*;

    const FLASH: (usize, usize) = (0x8010_0000, 0x8011_0000);
    const RAM: (usize, usize) = (0x8030_0000, 0x8030_4000);

    fn process() -> PmpConfig {
        PmpConfig::for_process(FLASH.0, FLASH.1, RAM.0, RAM.1).unwrap()
    }

    #[test]
    fn process_register_values() {
        let regs = process().registers();
        assert_eq!(regs.pmpaddr[0], 0x8010_0000 >> 2);
        assert_eq!(regs.pmpaddr[1], 0x8011_0000 >> 2);
        assert_eq!(regs.pmpaddr[2], 0x8030_0000 >> 2);
        assert_eq!(regs.pmpaddr[3], 0x8030_4000 >> 2);
        // Entry 1: TOR | X | R = 0x0d; entry 3: TOR | W | R = 0x0b.
        assert_eq!(regs.pmpcfg[0], 0x0b00_0d00);
        assert_eq!(regs.pmpcfg[1], 0);
        assert_eq!(&regs.pmpaddr[4..], &[0; 4]);
    }

    #[test]
    fn process_sees_only_its_regions() {
        let regs = process().registers();
        assert!(regs.user_allows(FLASH.0 as u64, 4, Access::Execute));
        assert!(regs.user_allows(FLASH.1 as u64 - 4, 4, Access::Read));
        assert!(!regs.user_allows(FLASH.0 as u64, 4, Access::Write));
        assert!(regs.user_allows(RAM.0 as u64, 4, Access::Write));
        assert!(regs.user_allows(RAM.1 as u64 - 4, 4, Access::Read));
        assert!(!regs.user_allows(RAM.0 as u64, 4, Access::Execute));
        // Grant region, right above the break.
        assert!(!regs.user_allows(RAM.1 as u64, 4, Access::Read));
        assert!(!regs.user_allows(RAM.1 as u64 - 2, 4, Access::Read));
        // Kernel text, kernel RAM, MMIO, below the process.
        assert!(!regs.user_allows(0x8000_0000, 4, Access::Execute));
        assert!(!regs.user_allows(0x8020_0000, 4, Access::Read));
        assert!(!regs.user_allows(0x1000_0000, 1, Access::Write));
        assert!(!regs.user_allows(RAM.0 as u64 - 4, 4, Access::Read));
    }

    #[test]
    fn empty_config_denies_everything() {
        let regs = PmpConfig::new().registers();
        assert_eq!(regs.pmpcfg, [0, 0]);
        assert!(!regs.user_allows(0x8030_0000, 4, Access::Read));
    }

    #[test]
    fn break_moves_and_rounds_up() {
        let mut config = process();
        config.update_app_break(0x8030_1001).unwrap();
        let ram = config.region(RAM_REGION).unwrap();
        assert_eq!(ram.end(), 0x8030_1004);
        let regs = config.registers();
        assert!(regs.user_allows(0x8030_1000, 4, Access::Write));
        assert!(!regs.user_allows(0x8030_1004, 4, Access::Write));
        assert_eq!(config.update_app_break(RAM.0), Err(ErrorCode::INVAL));
        assert_eq!(config.update_app_break(RAM.0 - 4), Err(ErrorCode::INVAL));
    }

    #[test]
    fn bad_regions_rejected() {
        let rw = Permissions::ReadWriteOnly;
        assert_eq!(PmpRegion::new(2, 8, rw), Err(ErrorCode::INVAL));
        assert_eq!(PmpRegion::new(8, 8, rw), Err(ErrorCode::INVAL));
        assert_eq!(PmpRegion::new(8, 4, rw), Err(ErrorCode::INVAL));
        assert_eq!(PmpRegion::new(0, usize::MAX, rw), Err(ErrorCode::INVAL));
        assert!(PmpRegion::new(0xffff_f000, 0xffff_fffd, rw).is_ok());
        let mut config = PmpConfig::new();
        let region = PmpRegion::new(0, 4, rw).unwrap();
        assert_eq!(
            config.set_region(MAX_REGIONS, region),
            Err(ErrorCode::INVAL)
        );
    }

    #[test]
    fn all_regions_encode_independently() {
        let mut config = PmpConfig::new();
        let perms = [
            Permissions::ReadOnly,
            Permissions::ExecuteOnly,
            Permissions::ReadWriteExecute,
            Permissions::ReadWriteOnly,
        ];
        for (index, perm) in perms.iter().enumerate() {
            let start = 0x1000 * (index + 1);
            let region = PmpRegion::new(start, start + 0x100, *perm).unwrap();
            config.set_region(index, region).unwrap();
        }
        let regs = config.registers();
        assert!(regs.user_allows(0x1000, 4, Access::Read));
        assert!(!regs.user_allows(0x1000, 4, Access::Execute));
        assert!(regs.user_allows(0x2000, 4, Access::Execute));
        assert!(!regs.user_allows(0x2000, 4, Access::Read));
        assert!(regs.user_allows(0x3000, 4, Access::Write));
        assert!(regs.user_allows(0x4000, 4, Access::Write));
        assert!(!regs.user_allows(0x4100, 4, Access::Write));
        config.clear_region(2);
        assert!(!config.registers().user_allows(0x3000, 4, Access::Read));
    }
}
