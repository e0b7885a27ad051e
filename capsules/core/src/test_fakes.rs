// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Test doubles for the capsules' unit tests (host only).
//!
//! `FakeUart` implements `hil::uart::Transmit` and `Receive` like a real
//! UART driver would (split-phase, buffer handed back in `Err` when an
//! operation cannot start) but completes only when the test says so, and
//! records every byte put on the wire. `FakeAlarm` is a `hil::time::Alarm`
//! whose counter the test moves.

extern crate std;

use core::cell::{Cell, RefCell};
use kernel::ErrorCode;
use kernel::hil::time::{self, Alarm, Freq10MHz, Ticks, Time};
use kernel::hil::uart;
use kernel::utilities::cells::{OptionalCell, TakeCell};
use std::vec::Vec;

/// A UART that records what is sent and completes only when told.
pub struct FakeUart {
    tx_client: OptionalCell<&'static dyn uart::TransmitClient>,
    rx_client: OptionalCell<&'static dyn uart::ReceiveClient>,
    pub tx: TakeCell<'static, [u8]>,
    tx_len: Cell<usize>,
    pub rx: TakeCell<'static, [u8]>,
    rx_len: Cell<usize>,
    /// Every byte the UART was asked to send, in order.
    wire: RefCell<Vec<u8>>,
    /// Refuse the next transmit with this error.
    pub refuse_tx: Cell<Option<ErrorCode>>,
}

impl FakeUart {
    pub fn new() -> Self {
        FakeUart {
            tx_client: OptionalCell::empty(),
            rx_client: OptionalCell::empty(),
            tx: TakeCell::empty(),
            tx_len: Cell::new(0),
            rx: TakeCell::empty(),
            rx_len: Cell::new(0),
            wire: Default::default(),
            refuse_tx: Cell::new(None),
        }
    }
}

impl uart::Transmit<'static> for FakeUart {
    fn set_transmit_client(&self, client: &'static dyn uart::TransmitClient) {
        self.tx_client.set(client);
    }

    fn transmit_buffer(
        &self,
        tx_buffer: &'static mut [u8],
        tx_len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        if let Some(e) = self.refuse_tx.take() {
            return Err((e, tx_buffer));
        }
        assert!(self.tx.is_none(), "two transmits in flight");
        if tx_len == 0 || tx_len > tx_buffer.len() {
            return Err((ErrorCode::SIZE, tx_buffer));
        }
        self.wire
            .borrow_mut()
            .extend_from_slice(&tx_buffer[..tx_len]);
        self.tx_len.set(tx_len);
        self.tx.replace(tx_buffer);
        Ok(())
    }

    fn transmit_word(&self, _word: u32) -> Result<(), ErrorCode> {
        Err(ErrorCode::NOSUPPORT)
    }

    fn transmit_abort(&self) -> Result<(), ErrorCode> {
        Ok(())
    }
}

impl uart::Receive<'static> for FakeUart {
    fn set_receive_client(&self, client: &'static dyn uart::ReceiveClient) {
        self.rx_client.set(client);
    }

    fn receive_buffer(
        &self,
        rx_buffer: &'static mut [u8],
        rx_len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        if self.rx.is_some() {
            return Err((ErrorCode::BUSY, rx_buffer));
        }
        if rx_len == 0 || rx_len > rx_buffer.len() {
            return Err((ErrorCode::SIZE, rx_buffer));
        }
        self.rx_len.set(rx_len);
        self.rx.replace(rx_buffer);
        Ok(())
    }

    fn receive_word(&self) -> Result<(), ErrorCode> {
        Err(ErrorCode::NOSUPPORT)
    }

    fn receive_abort(&self) -> Result<(), ErrorCode> {
        // Complete at once with what was received so far (nothing).
        if let Some(buffer) = self.rx.take() {
            self.rx_client.map(|c| {
                c.received_buffer(buffer, 0, Err(ErrorCode::CANCEL), uart::Error::Aborted)
            });
            return Err(ErrorCode::BUSY);
        }
        Ok(())
    }
}

impl FakeUart {
    /// Finishes the transmit in flight; false if there was none.
    pub fn complete_tx(&self) -> bool {
        let Some(buffer) = self.tx.take() else {
            return false;
        };
        let len = self.tx_len.get();
        self.tx_client
            .map(|c| c.transmitted_buffer(buffer, len, Ok(())));
        true
    }

    /// Completes transmits until the UART is idle (bounded).
    pub fn drain(&self) -> usize {
        let mut n = 0;
        while self.complete_tx() {
            n += 1;
            assert!(n < 10_000);
        }
        n
    }

    /// Delivers typed input to the receive in progress.
    pub fn type_input(&self, input: &[u8], error: uart::Error) {
        let buffer = self.rx.take().expect("no receive in progress");
        let n = input.len().min(self.rx_len.get());
        buffer[..n].copy_from_slice(&input[..n]);
        let rval = if error == uart::Error::None {
            Ok(())
        } else {
            Err(ErrorCode::FAIL)
        };
        self.rx_client
            .map(|c| c.received_buffer(buffer, n, rval, error));
    }

    pub fn wire(&self) -> Vec<u8> {
        self.wire.borrow().clone()
    }
}

/// A hardware alarm whose time the test moves.
pub struct FakeAlarm<T: Ticks> {
    now: Cell<T>,
    armed: Cell<bool>,
    reference: Cell<T>,
    dt: Cell<T>,
    client: OptionalCell<&'static dyn time::AlarmClient>,
}

impl<T: Ticks> FakeAlarm<T> {
    pub fn new(now: T) -> Self {
        FakeAlarm {
            now: Cell::new(now),
            armed: Cell::new(false),
            reference: Cell::new(T::from(0)),
            dt: Cell::new(T::from(0)),
            client: OptionalCell::empty(),
        }
    }

    /// Moves time on by `ticks`, stopping at the armed point (if any)
    /// to fire the client there, as the hardware would.
    pub fn advance(&self, ticks: u32) {
        let mut left = ticks;
        while left > 0 {
            let end = self.reference.get().wrapping_add(self.dt.get());
            let to_end = end.wrapping_sub(self.now.get()).into_u32().max(1);
            let by = if self.armed.get() {
                left.min(to_end)
            } else {
                left
            };
            left -= by;
            self.now.set(self.now.get().wrapping_add(T::from(by)));
            if self.armed.get() && !self.now.get().within_range(self.reference.get(), end) {
                self.armed.set(false);
                self.client.map(|c| c.alarm());
            }
        }
    }

    pub fn fires_at(&self) -> Option<T> {
        self.armed
            .get()
            .then(|| self.reference.get().wrapping_add(self.dt.get()))
    }
}

impl<T: Ticks> Time for FakeAlarm<T> {
    type Frequency = Freq10MHz;
    type Ticks = T;
    fn now(&self) -> T {
        self.now.get()
    }
}

impl<T: Ticks> Alarm<'static> for FakeAlarm<T> {
    fn set_alarm_client(&self, client: &'static dyn time::AlarmClient) {
        self.client.set(client);
    }
    fn set_alarm(&self, reference: T, dt: T) {
        self.reference.set(reference);
        self.dt.set(dt);
        self.armed.set(true);
    }
    fn get_alarm(&self) -> T {
        self.reference.get().wrapping_add(self.dt.get())
    }
    fn disarm(&self) -> Result<(), ErrorCode> {
        self.armed.set(false);
        Ok(())
    }
    fn is_armed(&self) -> bool {
        self.armed.get()
    }
    fn minimum_dt(&self) -> T {
        T::from(1)
    }
}
