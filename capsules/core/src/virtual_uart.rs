// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Shares one UART among several kernel users (console, low-level debug).
//!
//! The same idea as Tock's `virtualizers::virtual_uart` (`MuxUart` and
//! `UartDevice`), written for this kernel's `hil::uart` (TRD 3 split-phase
//! calls). Each user gets a `UartDevice` that implements `Transmit` and
//! `Receive`:
//!
//! - Transmit: every device may have one buffer outstanding. If the UART is
//!   idle the buffer goes to it at once; otherwise it waits in the device.
//!   When the UART finishes, the next waiting device in round-robin order
//!   (after the one just served) is started *before* the finished device's
//!   client hears back, so a client that transmits again from its callback
//!   queues behind the others instead of keeping the UART. Buffers are
//!   passed through, never copied.
//! - Receive: one device at a time; another device's request gets `BUSY`.
//!   `receive_abort` only aborts the caller's own receive.
//! - `transmit_word` and `receive_word` are not offered (`NOSUPPORT`);
//!   aborting a transmit still waiting for the UART is refused (`FAIL`),
//!   one on the wire is forwarded to the UART.
//!
//! Board wiring:
//!
//! ```ignore
//! let mux = static_init!(MuxUart, MuxUart::new(uart));
//! uart.set_transmit_client(mux);
//! uart.set_receive_client(mux);
//! let console_uart = static_init!(UartDevice, UartDevice::new(mux));
//! console_uart.setup()?; // at most MAX_DEVICES
//! ```

use core::cell::Cell;

use kernel::ErrorCode;
use kernel::hil::uart;
use kernel::utilities::cells::{OptionalCell, TakeCell};

/// Devices one multiplexer serves.
pub const MAX_DEVICES: usize = 4;

/// The multiplexer: the UART's only client.
pub struct MuxUart<'a> {
    uart: &'a dyn uart::UartData<'a>,
    devices: [OptionalCell<&'a UartDevice<'a>>; MAX_DEVICES],
    /// The device whose buffer is on the UART.
    transmitting: OptionalCell<usize>,
    /// The device whose receive is in progress.
    receiving: OptionalCell<usize>,
}

impl<'a> MuxUart<'a> {
    pub fn new(uart: &'a dyn uart::UartData<'a>) -> MuxUart<'a> {
        MuxUart {
            uart,
            devices: [const { OptionalCell::empty() }; MAX_DEVICES],
            transmitting: OptionalCell::empty(),
            receiving: OptionalCell::empty(),
        }
    }

    fn device(&self, index: usize) -> Option<&'a UartDevice<'a>> {
        self.devices.get(index).and_then(OptionalCell::get)
    }

    /// Starts the next waiting device after `after`, round robin. A device
    /// whose buffer the UART refuses hears so at once; at most one try per
    /// device.
    fn start_next(&self, after: usize) {
        for step in 1..=MAX_DEVICES {
            if self.transmitting.is_some() {
                return;
            }
            let index = (after + step) % MAX_DEVICES;
            let Some(device) = self.device(index) else {
                continue;
            };
            let Some(buffer) = device.waiting.take() else {
                continue;
            };
            match self.uart.transmit_buffer(buffer, device.waiting_len.get()) {
                Ok(()) => self.transmitting.set(index),
                Err((error, buffer)) => {
                    device.transmitting.set(false);
                    device
                        .tx_client
                        .map(|client| client.transmitted_buffer(buffer, 0, Err(error)));
                }
            }
        }
    }
}

impl uart::TransmitClient for MuxUart<'_> {
    fn transmitted_buffer(
        &self,
        tx_buffer: &'static mut [u8],
        tx_len: usize,
        rval: Result<(), ErrorCode>,
    ) {
        let Some(index) = self.transmitting.take() else {
            // Not ours to hand back; cannot happen with a correct UART.
            return;
        };
        self.start_next(index);
        if let Some(device) = self.device(index) {
            device.transmitting.set(false);
            device
                .tx_client
                .map(|client| client.transmitted_buffer(tx_buffer, tx_len, rval));
        }
    }
}

impl uart::ReceiveClient for MuxUart<'_> {
    fn received_buffer(
        &self,
        rx_buffer: &'static mut [u8],
        rx_len: usize,
        rval: Result<(), ErrorCode>,
        error: uart::Error,
    ) {
        if let Some(device) = self.receiving.take().and_then(|i| self.device(i)) {
            device
                .rx_client
                .map(|client| client.received_buffer(rx_buffer, rx_len, rval, error));
        }
    }
}

/// One user's view of the shared UART.
pub struct UartDevice<'a> {
    mux: &'a MuxUart<'a>,
    index: OptionalCell<usize>,
    tx_client: OptionalCell<&'a dyn uart::TransmitClient>,
    rx_client: OptionalCell<&'a dyn uart::ReceiveClient>,
    /// A buffer waiting for the UART.
    waiting: TakeCell<'static, [u8]>,
    waiting_len: Cell<usize>,
    /// A buffer is waiting or on the UART.
    transmitting: Cell<bool>,
}

impl<'a> UartDevice<'a> {
    pub fn new(mux: &'a MuxUart<'a>) -> UartDevice<'a> {
        UartDevice {
            mux,
            index: OptionalCell::empty(),
            tx_client: OptionalCell::empty(),
            rx_client: OptionalCell::empty(),
            waiting: TakeCell::empty(),
            waiting_len: Cell::new(0),
            transmitting: Cell::new(false),
        }
    }

    /// Registers the device with its multiplexer. `NOMEM` past
    /// `MAX_DEVICES`, `ALREADY` if done before.
    pub fn setup(&'a self) -> Result<(), ErrorCode> {
        if self.index.is_some() {
            return Err(ErrorCode::ALREADY);
        }
        let index = self
            .mux
            .devices
            .iter()
            .position(OptionalCell::is_none)
            .ok_or(ErrorCode::NOMEM)?;
        self.mux.devices[index].set(self);
        self.index.set(index);
        Ok(())
    }
}

impl<'a> uart::Transmit<'a> for UartDevice<'a> {
    fn set_transmit_client(&self, client: &'a dyn uart::TransmitClient) {
        self.tx_client.set(client);
    }

    /// Errors: `OFF` before `setup`, `BUSY` while this device has a buffer
    /// outstanding, `SIZE` for a length of 0 or past the buffer, or the
    /// UART's own error when it is idle and refuses.
    fn transmit_buffer(
        &self,
        tx_buffer: &'static mut [u8],
        tx_len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        let Some(index) = self.index.get() else {
            return Err((ErrorCode::OFF, tx_buffer));
        };
        if self.transmitting.get() {
            return Err((ErrorCode::BUSY, tx_buffer));
        }
        if tx_len == 0 || tx_len > tx_buffer.len() {
            return Err((ErrorCode::SIZE, tx_buffer));
        }
        if self.mux.transmitting.is_none() {
            self.mux.uart.transmit_buffer(tx_buffer, tx_len)?;
            self.mux.transmitting.set(index);
        } else {
            self.waiting.replace(tx_buffer);
            self.waiting_len.set(tx_len);
        }
        self.transmitting.set(true);
        Ok(())
    }

    fn transmit_word(&self, _word: u32) -> Result<(), ErrorCode> {
        Err(ErrorCode::NOSUPPORT)
    }

    fn transmit_abort(&self) -> Result<(), ErrorCode> {
        if !self.transmitting.get() {
            Ok(())
        } else if self.index.get().is_some() && self.mux.transmitting.get() == self.index.get() {
            self.mux.uart.transmit_abort()
        } else {
            Err(ErrorCode::FAIL)
        }
    }
}

impl<'a> uart::Receive<'a> for UartDevice<'a> {
    fn set_receive_client(&self, client: &'a dyn uart::ReceiveClient) {
        self.rx_client.set(client);
    }

    /// Errors: `OFF` before `setup`, `BUSY` while any device receives, or
    /// the UART's own error.
    fn receive_buffer(
        &self,
        rx_buffer: &'static mut [u8],
        rx_len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        let Some(index) = self.index.get() else {
            return Err((ErrorCode::OFF, rx_buffer));
        };
        if self.mux.receiving.is_some() {
            return Err((ErrorCode::BUSY, rx_buffer));
        }
        self.mux.receiving.set(index);
        self.mux
            .uart
            .receive_buffer(rx_buffer, rx_len)
            .inspect_err(|_| self.mux.receiving.clear())
    }

    fn receive_word(&self) -> Result<(), ErrorCode> {
        Err(ErrorCode::NOSUPPORT)
    }

    fn receive_abort(&self) -> Result<(), ErrorCode> {
        match self.index.get() {
            Some(index) if self.mux.receiving.contains(&index) => self.mux.uart.receive_abort(),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::test_fakes::FakeUart;
    use core::cell::RefCell;
    use kernel::hil::uart::{Receive, Transmit};
    use std::vec::Vec;
    use std::{boxed::Box, vec};

    /// Records completions; can transmit again from its callback.
    struct Client {
        device: &'static UartDevice<'static>,
        done: RefCell<Vec<(usize, Result<(), ErrorCode>)>>,
        received: RefCell<Vec<(usize, Result<(), ErrorCode>)>>,
        again: RefCell<Vec<&'static [u8]>>,
    }

    impl uart::TransmitClient for Client {
        fn transmitted_buffer(
            &self,
            buffer: &'static mut [u8],
            len: usize,
            rval: Result<(), ErrorCode>,
        ) {
            self.done.borrow_mut().push((len, rval));
            if let Some(next) = self.again.borrow_mut().pop() {
                buffer[..next.len()].copy_from_slice(next);
                assert!(self.device.transmit_buffer(buffer, next.len()).is_ok());
            }
        }
    }

    impl uart::ReceiveClient for Client {
        fn received_buffer(
            &self,
            _buffer: &'static mut [u8],
            len: usize,
            rval: Result<(), ErrorCode>,
            _error: uart::Error,
        ) {
            self.received.borrow_mut().push((len, rval));
        }
    }

    fn leak<T>(v: T) -> &'static T {
        Box::leak(Box::new(v))
    }

    fn buffer(text: &[u8]) -> &'static mut [u8] {
        let b: &'static mut [u8] = Box::leak(vec![0u8; 16].into_boxed_slice());
        b[..text.len()].copy_from_slice(text);
        b
    }

    fn setup(devices: usize) -> (&'static FakeUart, Vec<&'static Client>) {
        let uart: &'static FakeUart = leak(FakeUart::new());
        let mux: &'static MuxUart<'static> = leak(MuxUart::new(uart));
        uart.set_transmit_client(mux);
        uart.set_receive_client(mux);
        let clients = (0..devices)
            .map(|_| {
                let device: &'static UartDevice<'static> = leak(UartDevice::new(mux));
                device.setup().unwrap();
                let client = leak(Client {
                    device,
                    done: RefCell::new(Vec::new()),
                    received: RefCell::new(Vec::new()),
                    again: RefCell::new(Vec::new()),
                });
                device.set_transmit_client(client);
                device.set_receive_client(client);
                client
            })
            .collect();
        (uart, clients)
    }

    #[test]
    fn devices_take_turns_and_each_hears_its_own_completion() {
        let (uart, c) = setup(3);
        assert!(c[0].device.transmit_buffer(buffer(b"aaa"), 3).is_ok());
        assert!(c[1].device.transmit_buffer(buffer(b"bb"), 2).is_ok());
        assert!(c[2].device.transmit_buffer(buffer(b"c"), 1).is_ok());
        // One outstanding buffer per device.
        assert_eq!(
            c[1].device
                .transmit_buffer(buffer(b"x"), 1)
                .map_err(|e| e.0),
            Err(ErrorCode::BUSY)
        );
        assert_eq!(uart.drain(), 3);
        assert_eq!(uart.wire(), b"aaabbc");
        assert_eq!(*c[0].done.borrow(), vec![(3, Ok(()))]);
        assert_eq!(*c[1].done.borrow(), vec![(2, Ok(()))]);
        assert_eq!(*c[2].done.borrow(), vec![(1, Ok(()))]);
    }

    #[test]
    fn a_client_sending_again_from_its_callback_queues_behind_others() {
        let (uart, c) = setup(2);
        c[0].again.borrow_mut().push(b"A2");
        assert!(c[0].device.transmit_buffer(buffer(b"A1"), 2).is_ok());
        assert!(c[1].device.transmit_buffer(buffer(b"B1"), 2).is_ok());
        uart.drain();
        assert_eq!(uart.wire(), b"A1B1A2");
    }

    #[test]
    fn refused_transmits_are_reported_to_their_own_device() {
        let (uart, c) = setup(2);
        uart.refuse_tx.set(Some(ErrorCode::OFF));
        // Idle UART refusing: the error comes back at once.
        assert_eq!(
            c[0].device
                .transmit_buffer(buffer(b"a"), 1)
                .map_err(|e| e.0),
            Err(ErrorCode::OFF)
        );
        assert!(c[0].device.transmit_buffer(buffer(b"a"), 1).is_ok());
        assert!(c[1].device.transmit_buffer(buffer(b"b"), 1).is_ok());
        // Waiting buffer refused later: its client hears it in a callback.
        uart.refuse_tx.set(Some(ErrorCode::FAIL));
        uart.drain();
        assert_eq!(*c[1].done.borrow(), vec![(0, Err(ErrorCode::FAIL))]);
        assert_eq!(*c[0].done.borrow(), vec![(1, Ok(()))]);
        // Size checks happen before queueing.
        assert_eq!(
            c[0].device.transmit_buffer(buffer(b""), 0).map_err(|e| e.0),
            Err(ErrorCode::SIZE)
        );
        assert_eq!(
            c[0].device
                .transmit_buffer(buffer(b""), 17)
                .map_err(|e| e.0),
            Err(ErrorCode::SIZE)
        );
        assert_eq!(c[0].device.transmit_word(0), Err(ErrorCode::NOSUPPORT));
    }

    #[test]
    fn receive_is_one_device_at_a_time_and_abort_is_per_device() {
        let (uart, c) = setup(2);
        assert!(c[0].device.receive_buffer(buffer(b""), 4).is_ok());
        assert_eq!(
            c[1].device.receive_buffer(buffer(b""), 4).map_err(|e| e.0),
            Err(ErrorCode::BUSY)
        );
        // Another device's abort does nothing.
        assert_eq!(c[1].device.receive_abort(), Ok(()));
        assert!(uart.rx.is_some());
        uart.type_input(b"hi", uart::Error::None);
        assert_eq!(*c[0].received.borrow(), vec![(2, Ok(()))]);
        assert!(c[1].device.receive_buffer(buffer(b""), 4).is_ok());
        assert_eq!(c[1].device.receive_abort(), Err(ErrorCode::BUSY));
        assert_eq!(*c[1].received.borrow(), vec![(0, Err(ErrorCode::CANCEL))]);
    }

    #[test]
    fn setup_is_bounded_and_unset_devices_are_off() {
        let (_, c) = setup(MAX_DEVICES);
        let extra: &'static UartDevice<'static> = leak(UartDevice::new(c[0].device.mux));
        assert_eq!(extra.setup(), Err(ErrorCode::NOMEM));
        assert_eq!(
            extra.transmit_buffer(buffer(b"a"), 1).map_err(|e| e.0),
            Err(ErrorCode::OFF)
        );
        assert_eq!(c[0].device.setup(), Err(ErrorCode::ALREADY));
    }

    #[test]
    fn console_and_low_level_debug_share_one_uart() {
        use crate::{console, low_level_debug};
        use capsule_test_harness::Harness;
        let h = Harness::new(2);
        let uart: &'static FakeUart = h.leak(FakeUart::new());
        let mux: &'static MuxUart<'static> = h.leak(MuxUart::new(uart));
        uart.set_transmit_client(mux);
        uart.set_receive_client(mux);
        let console_uart: &'static UartDevice<'static> = h.leak(UartDevice::new(mux));
        let debug_uart: &'static UartDevice<'static> = h.leak(UartDevice::new(mux));
        console_uart.setup().unwrap();
        debug_uart.setup().unwrap();
        let tx: &'static mut [u8] = Box::leak(vec![0u8; 64].into_boxed_slice());
        let rx: &'static mut [u8] = Box::leak(vec![0u8; 64].into_boxed_slice());
        let console = h.leak(console::Console::new(
            console_uart,
            tx,
            rx,
            h.create_grant(console::DRIVER_NUM),
        ));
        console_uart.set_transmit_client(console);
        console_uart.set_receive_client(console);
        let lld_buffer: &'static mut [u8] =
            Box::leak(vec![0u8; low_level_debug::BUF_LEN].into_boxed_slice());
        let lld = h.leak(low_level_debug::LowLevelDebug::new(
            lld_buffer,
            debug_uart,
            h.create_grant(low_level_debug::DRIVER_NUM),
        ));
        debug_uart.set_transmit_client(lld);
        h.add_driver(console::DRIVER_NUM, console);
        h.add_driver(low_level_debug::DRIVER_NUM, lld);

        let a = h.spawn("a");
        let b = h.spawn("b");
        let text = h.write_ram(a, 0x100, b"hello from a\n");
        assert!(h.allow_ro(a, console::DRIVER_NUM, 1, text, 13).is_success());
        assert!(h.command(a, console::DRIVER_NUM, 1, 13, 0).is_success());
        assert!(
            h.command(b, low_level_debug::DRIVER_NUM, 1, 2, 0)
                .is_success()
        );
        uart.drain();
        let out = std::string::String::from_utf8(uart.wire()).unwrap();
        assert_eq!(
            out,
            std::format!(
                "hello from a\nLowLevelDebug: App {:#x} alert code 0x2\n",
                b.id()
            )
        );
        assert_eq!(h.upcalls(a).len(), 1);
    }
}
