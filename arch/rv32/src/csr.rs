// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Machine-mode control and status register access.
//!
//! Only the CSRs the kernel and the chip need: interrupt enables and
//! pending bits (`mie`, `mip`, RISC-V privileged spec 3.1.9), `wfi`, and the
//! `minstret`/`mcycle` counters for benchmarks (3.1.11).
//!
//! On a host build (`cargo test` on x86_64) there are no CSRs: reads return
//! 0 and writes do nothing, so chip code that calls these compiles and its
//! pure parts can be tested.

/// `mie`/`mip` bit of the machine software interrupt.
pub const MIP_MSIP: u32 = 1 << 3;
/// `mie`/`mip` bit of the machine timer interrupt.
pub const MIP_MTIP: u32 = 1 << 7;
/// `mie`/`mip` bit of the machine external (PLIC) interrupt.
pub const MIP_MEIP: u32 = 1 << 11;

#[cfg(target_arch = "riscv32")]
mod imp {
    use core::arch::asm;

    pub fn mie_set(bits: u32) {
        // SAFETY: setting interrupt-enable bits cannot break memory safety;
        // the kernel runs with mstatus.MIE clear, so no trap follows.
        unsafe { asm!("csrs mie, {0}", in(reg) bits, options(nomem, nostack)) };
    }

    pub fn mie_clear(bits: u32) {
        // SAFETY: clearing enable bits only masks interrupts.
        unsafe { asm!("csrc mie, {0}", in(reg) bits, options(nomem, nostack)) };
    }

    pub fn mie() -> u32 {
        let value: u32;
        // SAFETY: reading a CSR has no side effect.
        unsafe { asm!("csrr {0}, mie", out(reg) value, options(nomem, nostack)) };
        value
    }

    pub fn mip() -> u32 {
        let value: u32;
        // SAFETY: reading a CSR has no side effect.
        unsafe { asm!("csrr {0}, mip", out(reg) value, options(nomem, nostack)) };
        value
    }

    pub fn wfi() {
        // SAFETY: `wfi` only stalls the hart until an enabled interrupt is
        // pending; with mstatus.MIE clear it does not trap.
        unsafe { asm!("wfi", options(nomem, nostack)) };
    }

    pub fn minstret() -> u64 {
        let (mut high, mut low, mut high2): (u32, u32, u32);
        // A bounded retry: the high word changes at most once per 2^32
        // instructions, so the second attempt always succeeds.
        let mut tries = 0;
        loop {
            // SAFETY: reading counters has no side effect.
            unsafe {
                asm!("csrr {0}, minstreth", "csrr {1}, minstret", "csrr {2}, minstreth",
                     out(reg) high, out(reg) low, out(reg) high2, options(nomem, nostack));
            }
            tries += 1;
            if high == high2 || tries >= 3 {
                break;
            }
        }
        (u64::from(high) << 32) | u64::from(low)
    }

    pub fn set_mcounteren(bits: u32) {
        // SAFETY: `mcounteren` only decides which counters user mode may
        // read; it cannot affect memory safety.
        // With S-mode present (QEMU virt), user mode needs the bit in
        // `scounteren` as well (privileged spec 4.1.5).
        unsafe {
            asm!("csrw mcounteren, {0}", "csrw scounteren, {0}", in(reg) bits, options(nomem, nostack))
        };
    }

    pub fn mcycle() -> u64 {
        let (mut high, mut low, mut high2): (u32, u32, u32);
        let mut tries = 0;
        loop {
            // SAFETY: reading counters has no side effect.
            unsafe {
                asm!("csrr {0}, mcycleh", "csrr {1}, mcycle", "csrr {2}, mcycleh",
                     out(reg) high, out(reg) low, out(reg) high2, options(nomem, nostack));
            }
            tries += 1;
            if high == high2 || tries >= 3 {
                break;
            }
        }
        (u64::from(high) << 32) | u64::from(low)
    }
}

#[cfg(not(target_arch = "riscv32"))]
mod imp {
    pub fn mie_set(_bits: u32) {}
    pub fn mie_clear(_bits: u32) {}
    pub fn mie() -> u32 {
        0
    }
    pub fn mip() -> u32 {
        0
    }
    pub fn wfi() {}
    pub fn minstret() -> u64 {
        0
    }
    pub fn mcycle() -> u64 {
        0
    }
    pub fn set_mcounteren(_bits: u32) {}
}

/// Enables the machine interrupts in `bits` (`MIP_*`) in `mie`.
pub fn mie_set(bits: u32) {
    imp::mie_set(bits);
}

/// Masks the machine interrupts in `bits` (`MIP_*`) in `mie`.
pub fn mie_clear(bits: u32) {
    imp::mie_clear(bits);
}

/// Reads `mie`.
pub fn mie() -> u32 {
    imp::mie()
}

/// Reads `mip`: which machine interrupts are pending.
pub fn mip() -> u32 {
    imp::mip()
}

/// Waits for an interrupt: returns when any interrupt enabled in `mie` is
/// pending (or spuriously). The kernel keeps `mstatus.MIE` clear, so this
/// never traps; the caller then services what is pending.
pub fn wfi() {
    imp::wfi();
}

/// Instructions retired (`minstret`), 64 bits.
pub fn minstret() -> u64 {
    imp::minstret()
}

/// `mcounteren` bit letting user mode read `instret`/`instreth`.
pub const MCOUNTEREN_IR: u32 = 1 << 2;

/// Sets which counters user mode may read (`mcounteren` and `scounteren`,
/// privileged spec 3.1.11, 4.1.5). Boards leave them 0; a benchmark build
/// exposes `instret`.
pub fn set_mcounteren(bits: u32) {
    imp::set_mcounteren(bits);
}

/// Cycles (`mcycle`), 64 bits.
pub fn mcycle() -> u64 {
    imp::mcycle()
}
