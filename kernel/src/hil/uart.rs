// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! `uart` HIL: split-phase serial transmit and receive.
//!
//! The paths, names and signatures match upstream Tock's `kernel::hil::uart`
//! so that console capsules written for Tock compile unchanged. Operations
//! are split-phase (TRD 3): a call starts the operation and returns at once;
//! the result arrives later through the client. A call that cannot start
//! hands the buffer back in its `Err`.

use crate::ErrorCode;

/// Number of stop bits.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum StopBits {
    One = 1,
    Two = 2,
}

/// Parity bit setting.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Parity {
    None = 0,
    Odd = 1,
    Even = 2,
}

/// Data bits per character.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Width {
    Six = 6,
    Seven = 7,
    Eight = 8,
}

/// Line settings for `Configure::configure`.
#[derive(Copy, Clone, Debug)]
pub struct Parameters {
    pub baud_rate: u32,
    pub width: Width,
    pub parity: Parity,
    pub stop_bits: StopBits,
    pub hw_flow_control: bool,
}

/// A receive-side line error reported with received data.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Error {
    /// No error.
    None,
    /// A character had a parity error.
    ParityError,
    /// A character had no valid stop bit.
    FramingError,
    /// Characters were lost because the receiver was full.
    OverrunError,
    /// A receive was started while one was in progress.
    RepeatCallError,
    /// The UART was reset during the operation.
    ResetError,
    /// A break condition was detected.
    BreakError,
    /// The operation was aborted.
    Aborted,
}

/// A full UART: configurable, transmit and receive.
pub trait Uart<'a>: Configure + Transmit<'a> + Receive<'a> {}
/// A UART without configuration.
pub trait UartData<'a>: Transmit<'a> + Receive<'a> {}
/// A client of both directions.
pub trait Client: ReceiveClient + TransmitClient {}

impl<'a, T: Configure + Transmit<'a> + Receive<'a>> Uart<'a> for T {}
impl<'a, T: Transmit<'a> + Receive<'a>> UartData<'a> for T {}
impl<T: ReceiveClient + TransmitClient> Client for T {}

/// Line configuration.
pub trait Configure {
    /// Applies `params`. Errors: `OFF` (powered down), `INVAL` (an
    /// impossible setting, e.g. baud rate 0), `NOSUPPORT` (a setting the
    /// hardware lacks), `BUSY` (an operation is in progress).
    fn configure(&self, params: Parameters) -> Result<(), ErrorCode>;
}

/// Split-phase transmit.
pub trait Transmit<'a> {
    /// Sets the client for transmit completions.
    fn set_transmit_client(&self, client: &'a dyn TransmitClient);

    /// Sends the first `tx_len` bytes of `tx_buffer`; completion comes
    /// through `TransmitClient::transmitted_buffer`. Errors (the buffer is
    /// returned): `OFF`, `BUSY` (a transmit is in progress), `SIZE`
    /// (`tx_len` is 0 or larger than the buffer), `FAIL`.
    fn transmit_buffer(
        &self,
        tx_buffer: &'static mut [u8],
        tx_len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])>;

    /// Sends one word; completion comes through
    /// `TransmitClient::transmitted_word`. Errors: `OFF`, `BUSY`, `FAIL`,
    /// `NOSUPPORT`.
    fn transmit_word(&self, word: u32) -> Result<(), ErrorCode>;

    /// Aborts a transmit. `Ok(())` if nothing was in progress; `Err(BUSY)`
    /// if one was and its callback (with `CANCEL`) is still to come; `FAIL`
    /// if it could not be aborted.
    fn transmit_abort(&self) -> Result<(), ErrorCode>;
}

/// Split-phase receive.
pub trait Receive<'a> {
    /// Sets the client for receive completions.
    fn set_receive_client(&self, client: &'a dyn ReceiveClient);

    /// Receives exactly `rx_len` bytes into `rx_buffer`; completion comes
    /// through `ReceiveClient::received_buffer`. Errors (the buffer is
    /// returned): `OFF`, `BUSY`, `SIZE`, `FAIL`.
    fn receive_buffer(
        &self,
        rx_buffer: &'static mut [u8],
        rx_len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])>;

    /// Receives one word; completion comes through
    /// `ReceiveClient::received_word`. Errors: `OFF`, `BUSY`, `FAIL`,
    /// `NOSUPPORT`.
    fn receive_word(&self) -> Result<(), ErrorCode>;

    /// Aborts a receive, as `Transmit::transmit_abort` does.
    fn receive_abort(&self) -> Result<(), ErrorCode>;
}

/// Transmit completions.
pub trait TransmitClient {
    /// A `transmit_word` finished.
    fn transmitted_word(&self, _rval: Result<(), ErrorCode>) {}

    /// A `transmit_buffer` finished: `tx_len` bytes were sent; `rval` is
    /// `Err(CANCEL)` after an abort, `Err(FAIL)` on a hardware error.
    fn transmitted_buffer(
        &self,
        tx_buffer: &'static mut [u8],
        tx_len: usize,
        rval: Result<(), ErrorCode>,
    );
}

/// Receive completions.
pub trait ReceiveClient {
    /// A `receive_word` finished.
    fn received_word(&self, _word: u32, _rval: Result<(), ErrorCode>, _error: Error) {}

    /// A `receive_buffer` finished with `rx_len` bytes; `rval` is
    /// `Err(CANCEL)` after an abort, `Err(FAIL)` on a line error given in
    /// `error`.
    fn received_buffer(
        &self,
        rx_buffer: &'static mut [u8],
        rx_len: usize,
        rval: Result<(), ErrorCode>,
        error: Error,
    );
}
