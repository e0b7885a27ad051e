// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Output helpers: formatting into a transmit buffer, and polled printing
//! for boot and failure messages.

use core::fmt;
use kernel::utilities::StaticRef;
use qemu_rv32_virt_chip::uart::{self, UartRegisters};

/// Formats into a `'static` buffer for `Transmit::transmit_buffer`;
/// output beyond the buffer is dropped.
pub struct LineBuffer {
    buffer: &'static mut [u8],
    len: usize,
}

impl LineBuffer {
    pub fn new(buffer: &'static mut [u8]) -> Self {
        LineBuffer { buffer, len: 0 }
    }

    /// The buffer and the number of bytes written.
    pub fn into_inner(self) -> (&'static mut [u8], usize) {
        (self.buffer, self.len)
    }
}

impl fmt::Write for LineBuffer {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let room = self.buffer.len() - self.len;
        let count = text.len().min(room);
        self.buffer[self.len..self.len + count].copy_from_slice(&text.as_bytes()[..count]);
        self.len += count;
        Ok(())
    }
}

/// Prints by polling the UART, independent of the interrupt-driven driver.
pub fn print_sync(args: fmt::Arguments) {
    // SAFETY: UART0_BASE is the QEMU virt UART; polled writes of whole
    // bytes do not corrupt the driver's state.
    let registers = unsafe { StaticRef::new(uart::UART0_BASE as *const UartRegisters) };
    let _ = fmt::write(&mut uart::PolledWriter::new(registers), args);
}
