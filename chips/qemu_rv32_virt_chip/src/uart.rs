// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! 16550 UART with interrupt-driven transmit and receive.
//!
//! QEMU `virt` has one NS16550A at 0x1000_0000, PLIC source 10, input clock
//! 3.6864 MHz (device tree `clock-frequency`). Register map and bits follow
//! the NS16550A data sheet (National Semiconductor / TI SNLS378, section 8).
//!
//! Implements `kernel::hil::uart::{Configure, Transmit, Receive}`. Transmit
//! fills the 16-byte FIFO and refills it on each "transmitter holding
//! register empty" interrupt; receive drains the FIFO on each "data ready"
//! interrupt. Completions are called from `handle_interrupt`, never from
//! inside the call that started the operation. Aborts complete through a
//! deferred call, so the board must `register()` the UART (as a
//! `DeferredCallClient`) once.

use core::cell::Cell;
use kernel::ErrorCode;
use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::uart;
use kernel::utilities::StaticRef;
use kernel::utilities::cells::{OptionalCell, TakeCell};
use kernel::utilities::registers::interfaces::{ReadWriteable, Readable, Writeable};
use kernel::utilities::registers::register_bitfields;

/// Base of the UART on QEMU `virt`.
pub const UART0_BASE: usize = 0x1000_0000;
/// The UART's input clock on QEMU `virt`, in Hz.
pub const UART0_CLOCK_HZ: u32 = 3_686_400;
/// Depth of the transmit and receive FIFOs.
const FIFO_DEPTH: usize = 16;
/// Polls of LSR.THRE per byte in `transmit_sync` before giving up.
const SYNC_POLL_LIMIT: usize = 100_000;

/// The register block, in its own module only to scope the lint allowance.
#[allow(
    clippy::modulo_one,
    reason = "register_structs! checks each offset modulo the struct's alignment, which is 1 for this all-u8 block"
)]
mod registers {
    use super::{FCR, IER, IIR, LCR, LSR, MCR};
    use kernel::utilities::registers::{Aliased, ReadOnly, ReadWrite, register_structs};

    register_structs! {
        /// NS16550A registers (data sheet 8.4, table 8-1). Offsets 0 and 1 hold
        /// the divisor latch instead while LCR.DLAB is set.
        pub UartRegisters {
            /// RBR (read) / THR (write) / DLL (DLAB = 1).
            (0x0 => pub data: ReadWrite<u8>),
            /// IER / DLM (DLAB = 1).
            (0x1 => pub ier: ReadWrite<u8, IER::Register>),
            /// IIR (read) / FCR (write).
            (0x2 => pub iir_fcr: Aliased<u8, IIR::Register, FCR::Register>),
            /// Line control.
            (0x3 => pub lcr: ReadWrite<u8, LCR::Register>),
            /// Modem control.
            (0x4 => pub mcr: ReadWrite<u8, MCR::Register>),
            /// Line status.
            (0x5 => pub lsr: ReadOnly<u8, LSR::Register>),
            /// Modem status.
            (0x6 => pub msr: ReadOnly<u8>),
            /// Scratch.
            (0x7 => pub scr: ReadWrite<u8>),
            (0x8 => @END),
        }
    }
}
pub use registers::UartRegisters;

register_bitfields![u8,
    IER [
        /// Received data available.
        ERBFI OFFSET(0) NUMBITS(1) [],
        /// Transmitter holding register empty.
        ETBEI OFFSET(1) NUMBITS(1) [],
        /// Receiver line status.
        ELSI OFFSET(2) NUMBITS(1) []
    ],
    IIR [
        /// 0 = an interrupt is pending.
        NO_INTERRUPT OFFSET(0) NUMBITS(1) [],
        ID OFFSET(1) NUMBITS(3) []
    ],
    FCR [
        FIFO_ENABLE OFFSET(0) NUMBITS(1) [],
        RX_RESET OFFSET(1) NUMBITS(1) [],
        TX_RESET OFFSET(2) NUMBITS(1) []
    ],
    LCR [
        /// Word length: 0 = 5 bits .. 3 = 8 bits.
        WLS OFFSET(0) NUMBITS(2) [],
        /// 0 = one stop bit, 1 = two.
        STB OFFSET(2) NUMBITS(1) [],
        PEN OFFSET(3) NUMBITS(1) [],
        /// Even parity select.
        EPS OFFSET(4) NUMBITS(1) [],
        /// Divisor latch access.
        DLAB OFFSET(7) NUMBITS(1) []
    ],
    MCR [
        DTR OFFSET(0) NUMBITS(1) [],
        RTS OFFSET(1) NUMBITS(1) [],
        /// Gates the interrupt output on PC-style wiring.
        OUT2 OFFSET(3) NUMBITS(1) [],
        /// Local loopback: transmitted bytes are received, not sent.
        LOOP OFFSET(4) NUMBITS(1) []
    ],
    LSR [
        /// Data ready.
        DR OFFSET(0) NUMBITS(1) [],
        /// Overrun error.
        OE OFFSET(1) NUMBITS(1) [],
        /// Parity error.
        PE OFFSET(2) NUMBITS(1) [],
        /// Framing error.
        FE OFFSET(3) NUMBITS(1) [],
        /// Break interrupt.
        BI OFFSET(4) NUMBITS(1) [],
        /// Transmitter holding register (FIFO) empty.
        THRE OFFSET(5) NUMBITS(1) [],
        /// Transmitter empty.
        TEMT OFFSET(6) NUMBITS(1) []
    ]
];

/// Writes `bytes` to the UART at `registers` by polling LSR.THRE.
///
/// For panic messages and boot output where no driver object is at hand.
/// Waits a
/// bounded time per byte and gives up (dropping the rest) if the
/// transmitter never drains.
pub fn write_polled(registers: &UartRegisters, bytes: &[u8]) {
    for &byte in bytes {
        let mut polls = 0;
        while !registers.lsr.is_set(LSR::THRE) {
            polls += 1;
            if polls >= SYNC_POLL_LIMIT {
                return;
            }
        }
        registers.data.set(byte);
    }
}

/// A `core::fmt::Write` over `write_polled`, for panic handlers and fault
/// reports: works whatever state the interrupt-driven driver is in.
pub struct PolledWriter {
    registers: StaticRef<UartRegisters>,
}

impl PolledWriter {
    /// A writer for the UART at `registers`.
    pub const fn new(registers: StaticRef<UartRegisters>) -> Self {
        PolledWriter { registers }
    }
}

impl core::fmt::Write for PolledWriter {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        write_polled(&self.registers, text.as_bytes());
        Ok(())
    }
}

/// What the transmitter is doing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TxState {
    Idle,
    /// Sending `tx_buffer[tx_index..tx_len]`.
    Buffer,
    /// Sending one word (`tx_word`); `true` once it is in the FIFO.
    Word(bool),
}

/// What the receiver is doing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RxState {
    Idle,
    Buffer,
    Word,
}

/// The 16550 driver.
pub struct Uart16550<'a> {
    registers: StaticRef<UartRegisters>,
    clock_hz: u32,
    tx_client: OptionalCell<&'a dyn uart::TransmitClient>,
    rx_client: OptionalCell<&'a dyn uart::ReceiveClient>,
    tx_state: Cell<TxState>,
    tx_buffer: TakeCell<'static, [u8]>,
    tx_len: Cell<usize>,
    tx_index: Cell<usize>,
    tx_word: Cell<u8>,
    tx_abort: Cell<bool>,
    rx_state: Cell<RxState>,
    rx_buffer: TakeCell<'static, [u8]>,
    rx_len: Cell<usize>,
    rx_index: Cell<usize>,
    rx_abort: Cell<bool>,
    deferred_call: DeferredCall,
}

impl<'a> Uart16550<'a> {
    /// A driver for the UART at `registers` with input clock `clock_hz`.
    pub fn new(registers: StaticRef<UartRegisters>, clock_hz: u32) -> Self {
        Uart16550 {
            registers,
            clock_hz,
            tx_client: OptionalCell::empty(),
            rx_client: OptionalCell::empty(),
            tx_state: Cell::new(TxState::Idle),
            tx_buffer: TakeCell::empty(),
            tx_len: Cell::new(0),
            tx_index: Cell::new(0),
            tx_word: Cell::new(0),
            tx_abort: Cell::new(false),
            rx_state: Cell::new(RxState::Idle),
            rx_buffer: TakeCell::empty(),
            rx_len: Cell::new(0),
            rx_index: Cell::new(0),
            rx_abort: Cell::new(false),
            deferred_call: DeferredCall::new(),
        }
    }

    /// Resets the UART to 8N1, FIFOs on and cleared, interrupts off
    /// except at the UART's output (MCR.OUT2). Call once before use; the
    /// PLIC source must be enabled separately.
    pub fn init(&self) {
        let regs = &*self.registers;
        regs.ier.set(0);
        regs.lcr.write(LCR::WLS.val(3));
        regs.iir_fcr
            .write(FCR::FIFO_ENABLE::SET + FCR::RX_RESET::SET + FCR::TX_RESET::SET);
        regs.mcr
            .write(MCR::DTR::SET + MCR::RTS::SET + MCR::OUT2::SET);
    }

    /// Writes `bytes` by polling (see `write_polled`), for early boot
    /// output. Does not disturb an interrupt-driven transmission's state,
    /// but its bytes may interleave with one.
    pub fn transmit_sync(&self, bytes: &[u8]) {
        write_polled(&self.registers, bytes);
    }

    /// Turns local loopback (MCR.LOOP, data sheet 8.6.6) on or off: while
    /// on, transmitted bytes come back as received bytes and nothing leaves
    /// the UART. For self-tests of the receive path.
    pub fn set_loopback(&self, enabled: bool) {
        let mcr = &self.registers.mcr;
        if enabled {
            mcr.modify(MCR::LOOP::SET);
        } else {
            mcr.modify(MCR::LOOP::CLEAR);
        }
    }

    /// Services the UART's PLIC interrupt.
    pub fn handle_interrupt(&self) {
        // Reading IIR acknowledges a THR-empty interrupt.
        let _ = self.registers.iir_fcr.get();
        self.service_receive();
        self.service_transmit();
    }

    /// Copies up to one FIFO's worth of bytes from the buffer into THR.
    fn fill_fifo(&self) {
        let regs = &*self.registers;
        if !regs.lsr.is_set(LSR::THRE) {
            return;
        }
        self.tx_buffer.map(|buffer| {
            let end = self.tx_len.get();
            let mut index = self.tx_index.get();
            let mut written = 0;
            while index < end && written < FIFO_DEPTH {
                regs.data.set(buffer[index]);
                index += 1;
                written += 1;
            }
            self.tx_index.set(index);
        });
    }

    fn service_transmit(&self) {
        if !self.registers.lsr.is_set(LSR::THRE) {
            return;
        }
        match self.tx_state.get() {
            TxState::Idle => self.registers.ier.modify(IER::ETBEI::CLEAR),
            TxState::Buffer => {
                if self.tx_index.get() < self.tx_len.get() && !self.tx_abort.get() {
                    self.fill_fifo();
                } else {
                    self.finish_transmit();
                }
            }
            TxState::Word(false) => {
                self.registers.data.set(self.tx_word.get());
                self.tx_state.set(TxState::Word(true));
            }
            TxState::Word(true) => self.finish_transmit(),
        }
    }

    /// Ends the current transmission and calls the client.
    fn finish_transmit(&self) {
        self.registers.ier.modify(IER::ETBEI::CLEAR);
        let state = self.tx_state.replace(TxState::Idle);
        let aborted = self.tx_abort.replace(false);
        let rval = if aborted {
            Err(ErrorCode::CANCEL)
        } else {
            Ok(())
        };
        match state {
            TxState::Idle => {}
            TxState::Buffer => {
                if let Some(buffer) = self.tx_buffer.take() {
                    let sent = self.tx_index.get();
                    self.tx_client
                        .map(|client| client.transmitted_buffer(buffer, sent, rval));
                }
            }
            TxState::Word(_) => {
                self.tx_client.map(|client| client.transmitted_word(rval));
            }
        }
    }

    /// Reads what the FIFO holds into the receive buffer or word.
    fn service_receive(&self) {
        let regs = &*self.registers;
        // At most one FIFO's worth per interrupt (plus one for a byte that
        // arrives meanwhile); the rest raises the interrupt again.
        for _ in 0..=FIFO_DEPTH {
            if self.rx_state.get() == RxState::Idle {
                // Nobody wants data: leave it in the FIFO, stop the
                // interrupt until a receive is started.
                regs.ier.modify(IER::ERBFI::CLEAR);
                return;
            }
            let status = regs.lsr.extract();
            if !status.is_set(LSR::DR) {
                return;
            }
            let byte = regs.data.get();
            let error = if status.is_set(LSR::OE) {
                uart::Error::OverrunError
            } else if status.is_set(LSR::PE) {
                uart::Error::ParityError
            } else if status.is_set(LSR::FE) {
                uart::Error::FramingError
            } else if status.is_set(LSR::BI) {
                uart::Error::BreakError
            } else {
                uart::Error::None
            };
            match self.rx_state.get() {
                RxState::Word => {
                    self.rx_state.set(RxState::Idle);
                    regs.ier.modify(IER::ERBFI::CLEAR);
                    let rval = if error == uart::Error::None {
                        Ok(())
                    } else {
                        Err(ErrorCode::FAIL)
                    };
                    self.rx_client
                        .map(|client| client.received_word(u32::from(byte), rval, error));
                }
                RxState::Buffer => {
                    let index = self.rx_index.get();
                    self.rx_buffer.map(|buffer| buffer[index] = byte);
                    self.rx_index.set(index + 1);
                    if error != uart::Error::None {
                        self.finish_receive(Err(ErrorCode::FAIL), error);
                    } else if index + 1 >= self.rx_len.get() {
                        self.finish_receive(Ok(()), uart::Error::None);
                    }
                }
                RxState::Idle => {}
            }
        }
    }

    fn finish_receive(&self, rval: Result<(), ErrorCode>, error: uart::Error) {
        self.registers.ier.modify(IER::ERBFI::CLEAR);
        let state = self.rx_state.replace(RxState::Idle);
        self.rx_abort.set(false);
        match state {
            RxState::Buffer => {
                if let Some(buffer) = self.rx_buffer.take() {
                    let received = self.rx_index.get();
                    self.rx_client
                        .map(|client| client.received_buffer(buffer, received, rval, error));
                }
            }
            RxState::Word => {
                self.rx_client
                    .map(|client| client.received_word(0, rval, error));
            }
            RxState::Idle => {}
        }
    }
}

impl DeferredCallClient for Uart16550<'_> {
    /// Completes aborted operations.
    fn handle_deferred_call(&self) {
        if self.tx_abort.get() && self.tx_state.get() != TxState::Idle {
            self.finish_transmit();
        }
        if self.rx_abort.get() && self.rx_state.get() != RxState::Idle {
            self.finish_receive(Err(ErrorCode::CANCEL), uart::Error::Aborted);
        }
    }

    fn register(&'static self) {
        self.deferred_call.register(self);
    }
}

impl uart::Configure for Uart16550<'_> {
    fn configure(&self, params: uart::Parameters) -> Result<(), ErrorCode> {
        if params.baud_rate == 0 {
            return Err(ErrorCode::INVAL);
        }
        if params.hw_flow_control {
            return Err(ErrorCode::NOSUPPORT);
        }
        if self.tx_state.get() != TxState::Idle || self.rx_state.get() != RxState::Idle {
            return Err(ErrorCode::BUSY);
        }
        let divisor = self.clock_hz / (16 * params.baud_rate);
        let divisor = u16::try_from(divisor).map_err(|_| ErrorCode::INVAL)?;
        if divisor == 0 {
            return Err(ErrorCode::INVAL);
        }
        let width = match params.width {
            uart::Width::Six => 1,
            uart::Width::Seven => 2,
            uart::Width::Eight => 3,
        };
        let stop = match params.stop_bits {
            uart::StopBits::One => LCR::STB::CLEAR,
            uart::StopBits::Two => LCR::STB::SET,
        };
        let parity = match params.parity {
            uart::Parity::None => LCR::PEN::CLEAR,
            uart::Parity::Odd => LCR::PEN::SET + LCR::EPS::CLEAR,
            uart::Parity::Even => LCR::PEN::SET + LCR::EPS::SET,
        };
        let regs = &*self.registers;
        let ier = regs.ier.get();
        regs.lcr.write(LCR::DLAB::SET);
        let [low, high] = divisor.to_le_bytes();
        regs.data.set(low);
        regs.ier.set(high);
        regs.lcr.write(LCR::WLS.val(width) + stop + parity);
        regs.ier.set(ier);
        Ok(())
    }
}

impl<'a> uart::Transmit<'a> for Uart16550<'a> {
    fn set_transmit_client(&self, client: &'a dyn uart::TransmitClient) {
        self.tx_client.set(client);
    }

    fn transmit_buffer(
        &self,
        tx_buffer: &'static mut [u8],
        tx_len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        if self.tx_state.get() != TxState::Idle {
            return Err((ErrorCode::BUSY, tx_buffer));
        }
        if tx_len == 0 || tx_len > tx_buffer.len() {
            return Err((ErrorCode::SIZE, tx_buffer));
        }
        self.tx_buffer.replace(tx_buffer);
        self.tx_len.set(tx_len);
        self.tx_index.set(0);
        self.tx_state.set(TxState::Buffer);
        self.fill_fifo();
        // The THR-empty interrupt refills the FIFO and, once all is
        // written, reports completion.
        self.registers.ier.modify(IER::ETBEI::SET);
        Ok(())
    }

    fn transmit_word(&self, word: u32) -> Result<(), ErrorCode> {
        if self.tx_state.get() != TxState::Idle {
            return Err(ErrorCode::BUSY);
        }
        self.tx_word.set(word as u8);
        self.tx_state.set(TxState::Word(false));
        self.registers.ier.modify(IER::ETBEI::SET);
        Ok(())
    }

    fn transmit_abort(&self) -> Result<(), ErrorCode> {
        if self.tx_state.get() == TxState::Idle {
            return Ok(());
        }
        // Bytes already in the FIFO still go out; the rest is dropped and
        // the client hears `CANCEL` from the deferred call.
        self.tx_abort.set(true);
        self.deferred_call.set();
        Err(ErrorCode::BUSY)
    }
}

impl<'a> uart::Receive<'a> for Uart16550<'a> {
    fn set_receive_client(&self, client: &'a dyn uart::ReceiveClient) {
        self.rx_client.set(client);
    }

    fn receive_buffer(
        &self,
        rx_buffer: &'static mut [u8],
        rx_len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        if self.rx_state.get() != RxState::Idle {
            return Err((ErrorCode::BUSY, rx_buffer));
        }
        if rx_len == 0 || rx_len > rx_buffer.len() {
            return Err((ErrorCode::SIZE, rx_buffer));
        }
        self.rx_buffer.replace(rx_buffer);
        self.rx_len.set(rx_len);
        self.rx_index.set(0);
        self.rx_state.set(RxState::Buffer);
        self.registers.ier.modify(IER::ERBFI::SET);
        Ok(())
    }

    fn receive_word(&self) -> Result<(), ErrorCode> {
        if self.rx_state.get() != RxState::Idle {
            return Err(ErrorCode::BUSY);
        }
        self.rx_state.set(RxState::Word);
        self.registers.ier.modify(IER::ERBFI::SET);
        Ok(())
    }

    fn receive_abort(&self) -> Result<(), ErrorCode> {
        if self.rx_state.get() == RxState::Idle {
            return Ok(());
        }
        self.registers.ier.modify(IER::ERBFI::CLEAR);
        self.rx_abort.set(true);
        self.deferred_call.set();
        Err(ErrorCode::BUSY)
    }
}
