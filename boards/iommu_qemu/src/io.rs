// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Polled console output and the end of a run through the test finisher.
//!
//! Every result line is printed by polling the UART, so output is complete
//! even when the run ends right after it (a failure, or a panic).

use core::fmt;
use kernel::utilities::StaticRef;
use qemu_rv32_virt_chip::finisher::{FINISHER_BASE, Finisher};
use qemu_rv32_virt_chip::uart::{self, UartRegisters};

/// Prints by polling the UART, independent of the interrupt-driven driver.
pub fn print_sync(args: fmt::Arguments) {
    // SAFETY: UART0_BASE is the QEMU virt UART; polled writes of whole
    // bytes do not corrupt the driver's state (this image never uses the
    // interrupt-driven transmit path).
    let registers = unsafe { StaticRef::new(uart::UART0_BASE as *const UartRegisters) };
    let _ = fmt::write(&mut uart::PolledWriter::new(registers), args);
}

/// Prints one line prefixed with the image's name.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::io::print_sync(format_args!(
            "iommu_qemu: {}\n",
            format_args!($($arg)*)
        ))
    };
}

fn finisher() -> Finisher {
    // SAFETY: FINISHER_BASE is the QEMU virt test finisher's MMIO page,
    // which nothing else in this image uses.
    Finisher::new(unsafe { StaticRef::new(FINISHER_BASE as *const _) })
}

/// Ends the run with status 0.
pub fn pass() -> ! {
    print_sync(format_args!("iommu_qemu: PASS\n"));
    finisher().pass()
}

/// Ends the run with `code` after printing what failed.
pub fn fail(what: fmt::Arguments, code: u16) -> ! {
    print_sync(format_args!("iommu_qemu: FAIL({code}): {what}\n"));
    finisher().fail(code)
}
