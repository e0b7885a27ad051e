// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Kernel messages (boot, process loading, fault reports) and the panic
//! handler. They are printed by polling the UART, so they appear even when
//! the interrupt-driven console is busy or the kernel is broken.

use core::fmt;

use kernel::utilities::StaticRef;
use qemu_rv32_virt_chip::finisher::{FINISHER_BASE, Finisher};
use qemu_rv32_virt_chip::uart::{self, UartRegisters};

/// Prints by polling the UART.
pub fn print(args: fmt::Arguments) {
    // SAFETY: UART0_BASE is the QEMU virt UART; polled writes of whole
    // bytes between interrupt-driven transfers do not disturb the driver.
    let registers = unsafe { StaticRef::new(uart::UART0_BASE as *const UartRegisters) };
    let _ = fmt::write(&mut uart::PolledWriter::new(registers), args);
}

macro_rules! kprintln {
    ($($arg:tt)*) => {
        $crate::io::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use kprintln;

/// The virt test finisher: ends QEMU with pass or fail(code).
pub fn finisher() -> Finisher {
    // SAFETY: FINISHER_BASE is the QEMU virt test finisher's MMIO page.
    Finisher::new(unsafe { StaticRef::new(FINISHER_BASE as *const _) })
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    print(format_args!("\nKernel panic: {info}\n"));
    finisher().fail(1)
}
