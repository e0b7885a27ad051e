// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Decoding of `mcause`: interrupts versus exceptions.
//!
//! Codes from the RISC-V privileged spec 3.1.15, table "Machine cause
//! register (mcause) values after trap". The interrupt bit is bit 31 on
//! rv32.

/// `mcause` bit 31: the trap is an interrupt.
pub const MCAUSE_INTERRUPT: u32 = 1 << 31;

/// Exception codes (`mcause` with bit 31 clear).
pub mod exception {
    pub const INSTRUCTION_MISALIGNED: u32 = 0;
    pub const INSTRUCTION_ACCESS_FAULT: u32 = 1;
    pub const ILLEGAL_INSTRUCTION: u32 = 2;
    pub const BREAKPOINT: u32 = 3;
    pub const LOAD_MISALIGNED: u32 = 4;
    pub const LOAD_ACCESS_FAULT: u32 = 5;
    pub const STORE_MISALIGNED: u32 = 6;
    pub const STORE_ACCESS_FAULT: u32 = 7;
    pub const USER_ECALL: u32 = 8;
    pub const MACHINE_ECALL: u32 = 11;
    pub const INSTRUCTION_PAGE_FAULT: u32 = 12;
    pub const LOAD_PAGE_FAULT: u32 = 13;
    pub const STORE_PAGE_FAULT: u32 = 15;
}

/// Interrupt codes (`mcause` with bit 31 set), equal to their `mip` bit.
pub mod interrupt {
    pub const MACHINE_SOFTWARE: u32 = 3;
    pub const MACHINE_TIMER: u32 = 7;
    pub const MACHINE_EXTERNAL: u32 = 11;
}

/// A decoded `mcause`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapCause {
    /// An interrupt with this code (bit number in `mie`/`mip`).
    Interrupt(u32),
    /// A synchronous exception with this code.
    Exception(u32),
}

impl TrapCause {
    /// Decodes a raw `mcause` value.
    pub fn from_mcause(mcause: u32) -> Self {
        let code = mcause & !MCAUSE_INTERRUPT;
        if mcause & MCAUSE_INTERRUPT != 0 {
            TrapCause::Interrupt(code)
        } else {
            TrapCause::Exception(code)
        }
    }
}

/// A human-readable name of a raw `mcause`, for fault reports.
pub fn mcause_name(mcause: u32) -> &'static str {
    use exception::*;
    match TrapCause::from_mcause(mcause) {
        TrapCause::Interrupt(interrupt::MACHINE_SOFTWARE) => "machine software interrupt",
        TrapCause::Interrupt(interrupt::MACHINE_TIMER) => "machine timer interrupt",
        TrapCause::Interrupt(interrupt::MACHINE_EXTERNAL) => "machine external interrupt",
        TrapCause::Interrupt(_) => "interrupt",
        TrapCause::Exception(code) => match code {
            INSTRUCTION_MISALIGNED => "instruction address misaligned",
            INSTRUCTION_ACCESS_FAULT => "instruction access fault",
            ILLEGAL_INSTRUCTION => "illegal instruction",
            BREAKPOINT => "breakpoint",
            LOAD_MISALIGNED => "load address misaligned",
            LOAD_ACCESS_FAULT => "load access fault",
            STORE_MISALIGNED => "store/AMO address misaligned",
            STORE_ACCESS_FAULT => "store/AMO access fault",
            USER_ECALL => "environment call from U-mode",
            MACHINE_ECALL => "environment call from M-mode",
            INSTRUCTION_PAGE_FAULT => "instruction page fault",
            LOAD_PAGE_FAULT => "load page fault",
            STORE_PAGE_FAULT => "store/AMO page fault",
            _ => "reserved exception",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode() {
        assert_eq!(
            TrapCause::from_mcause(0x8000_0007),
            TrapCause::Interrupt(interrupt::MACHINE_TIMER)
        );
        assert_eq!(
            TrapCause::from_mcause(5),
            TrapCause::Exception(exception::LOAD_ACCESS_FAULT)
        );
        assert_eq!(mcause_name(0x8000_000b), "machine external interrupt");
        assert_eq!(mcause_name(2), "illegal instruction");
        assert_eq!(mcause_name(9), "reserved exception");
    }
}
