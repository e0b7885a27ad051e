// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The QEMU `virt` test finisher: ends the emulator with pass or fail.
//!
//! QEMU's `sifive_test` device at 0x10_0000 (hw/misc/sifive_test.c): a
//! 32-bit write of 0x5555 exits QEMU with status 0; `(code << 16) | 0x3333`
//! exits with status `code`; 0x7777 resets the machine.

use kernel::utilities::StaticRef;
use kernel::utilities::registers::interfaces::Writeable;
use kernel::utilities::registers::{WriteOnly, register_structs};

/// Base of the test finisher on QEMU `virt`.
pub const FINISHER_BASE: usize = 0x10_0000;

const FINISHER_PASS: u32 = 0x5555;
const FINISHER_FAIL: u32 = 0x3333;
const FINISHER_RESET: u32 = 0x7777;

register_structs! {
    /// The finisher's single register.
    pub FinisherRegisters {
        /// Command: pass, fail with a code, or reset.
        (0x0 => command: WriteOnly<u32>),
        (0x4 => @END),
    }
}

/// The test finisher.
pub struct Finisher {
    registers: StaticRef<FinisherRegisters>,
}

impl Finisher {
    /// A driver for the finisher at `registers`.
    pub const fn new(registers: StaticRef<FinisherRegisters>) -> Self {
        Finisher { registers }
    }

    /// Ends QEMU with exit status 0.
    pub fn pass(&self) -> ! {
        self.registers.command.set(FINISHER_PASS);
        park()
    }

    /// Ends QEMU with exit status `code` (0 is turned into 1, so a failure
    /// never reads as success).
    pub fn fail(&self, code: u16) -> ! {
        let code = if code == 0 { 1 } else { code };
        self.registers
            .command
            .set((u32::from(code) << 16) | FINISHER_FAIL);
        park()
    }

    /// Resets the machine.
    pub fn reset(&self) -> ! {
        self.registers.command.set(FINISHER_RESET);
        park()
    }
}

/// Waits for QEMU to act on the finisher write. Not a poll: the hart sleeps
/// until the emulator stops (or forever, on hardware without a finisher).
fn park() -> ! {
    loop {
        rv32::csr::wfi();
    }
}
