// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Console syscall driver (0x1): processes write to and read from a UART.
//!
//! Implements Tock's `doc/syscalls/00001_console.md`:
//!
//! - A process shares a buffer with read-only allow 1, optionally subscribes
//!   to upcall 1, and calls command 1 with the number of bytes to write. When
//!   all of them are out, upcall 1 delivers `(bytes written, 0, 0)`.
//! - For input it shares a buffer with read-write allow 1, subscribes to
//!   upcall 2 and calls command 2 with the number of bytes to read; upcall 2
//!   delivers `(status code, bytes read, 0)`. Command 3 aborts its read, and
//!   the bytes received so far arrive through upcall 2.
//!
//! Several processes may write at once. Each process has at most one write
//! outstanding, kept in its grant with a ticket number; the UART has one
//! transmit in flight, and the oldest outstanding write is served next, a
//! kernel-buffer-sized chunk at a time until it is complete. Writes are
//! therefore never interleaved with each other, and every process is served
//! in the order it asked (no process can starve another by writing again).
//! Reads go to one process at a time, as in Tock.
//!
//! Where the doc leaves room, this driver decides (and the tests check):
//!
//! - Command 1 with a size of 0 cancels: an outstanding write that is not on
//!   the wire completes at once with the bytes written so far; one on the
//!   wire completes when its current chunk is done; with no write
//!   outstanding, upcall 1 reports 0 bytes. It always succeeds.
//! - Command 1 with a non-zero size and no buffer shared returns `BUSY`, as
//!   the doc says. A second write while one is outstanding returns `BUSY`.
//! - Command 2 returns `BUSY` with no buffer shared or while another read is
//!   in progress, `INVAL` for a size of 0 or one larger than the kernel's
//!   receive buffer (as Tock). A read held by a process that has died is
//!   aborted so that the next caller can retry.
//! - Command 3 aborts only the caller's own read; it succeeds (doing
//!   nothing) when the caller has no read in progress.
//! - Unknown commands return `NOSUPPORT`.
//!
//! Board wiring: `Console::new(uart, tx_buffer, rx_buffer, grant)`, then
//! `uart.set_transmit_client(console)` and `uart.set_receive_client(console)`.

use core::cell::Cell;

use kernel::grant::{AllowRoCount, AllowRwCount, Grant, GrantKernelData, UpcallCount};
use kernel::hil::uart;
use kernel::processbuffer::{ReadableProcessBuffer, WriteableProcessBuffer};
use kernel::syscall::{CommandReturn, SyscallDriver};
use kernel::utilities::cells::{OptionalCell, TakeCell};
use kernel::{ErrorCode, ProcessId};

/// Syscall driver number.
pub const DRIVER_NUM: usize = crate::driver::NUM::Console as usize;

/// Size of the kernel transmit and receive buffers boards usually give.
pub const DEFAULT_BUF_SIZE: usize = 64;

/// Command numbers.
mod command {
    pub const EXISTS: usize = 0;
    pub const WRITE: usize = 1;
    pub const READ: usize = 2;
    pub const ABORT_READ: usize = 3;
}

/// Upcall numbers.
mod upcall {
    /// A write completed: (bytes written, 0, 0).
    pub const WRITE_DONE: usize = 1;
    /// A read completed: (status code, bytes read, 0).
    pub const READ_DONE: usize = 2;
    /// Slots 0..=2; slot 0 is unused (Tock numbers them from 1).
    pub const COUNT: u8 = 3;
}

/// Read-only allow numbers.
mod ro_allow {
    /// The bytes to write.
    pub const WRITE: usize = 1;
    pub const COUNT: u8 = 2;
}

/// Read-write allow numbers.
mod rw_allow {
    /// Where received bytes go.
    pub const READ: usize = 1;
    pub const COUNT: u8 = 2;
}

/// The console's grant type.
pub type ConsoleGrant = Grant<
    App,
    UpcallCount<{ upcall::COUNT }>,
    AllowRoCount<{ ro_allow::COUNT }>,
    AllowRwCount<{ rw_allow::COUNT }>,
>;

/// One outstanding write.
#[derive(Clone, Copy, Debug)]
struct Write {
    /// Bytes to write in total.
    len: usize,
    /// Bytes already transmitted.
    written: usize,
    /// Bytes of the chunk on the wire now (0 if none).
    in_flight: usize,
    /// The process cancelled it while a chunk was on the wire.
    cancelled: bool,
    /// Order of arrival among all writes (the oldest is served first).
    ticket: u64,
}

/// What `transmit_chunk` did.
enum Chunk {
    /// A transmit is in progress.
    Started,
    /// The write could not go on and was completed.
    Completed,
    /// Nothing changed (no transmit buffer, or no write to serve).
    Stuck,
}

/// Per-process console state, in the process's grant.
#[derive(Default)]
pub struct App {
    write: Option<Write>,
    /// Length of the read in progress (if this process holds the receiver).
    read_len: usize,
}

/// The console driver.
pub struct Console<'a> {
    uart: &'a dyn uart::UartData<'a>,
    apps: ConsoleGrant,
    tx_in_progress: OptionalCell<ProcessId>,
    tx_buffer: TakeCell<'static, [u8]>,
    rx_in_progress: OptionalCell<ProcessId>,
    rx_buffer: TakeCell<'static, [u8]>,
    next_ticket: Cell<u64>,
}

impl<'a> Console<'a> {
    /// A console over `uart`, with kernel buffers for transmit and receive
    /// (`DEFAULT_BUF_SIZE` bytes each is typical; the receive buffer bounds
    /// the size of one read).
    pub fn new(
        uart: &'a dyn uart::UartData<'a>,
        tx_buffer: &'static mut [u8],
        rx_buffer: &'static mut [u8],
        grant: ConsoleGrant,
    ) -> Console<'a> {
        Console {
            uart,
            apps: grant,
            tx_in_progress: OptionalCell::empty(),
            tx_buffer: TakeCell::new(tx_buffer),
            rx_in_progress: OptionalCell::empty(),
            rx_buffer: TakeCell::new(rx_buffer),
            next_ticket: Cell::new(0),
        }
    }

    fn take_ticket(&self) -> u64 {
        let ticket = self.next_ticket.get();
        self.next_ticket.set(ticket.wrapping_add(1));
        ticket
    }

    /// Ends `app`'s write and tells the process how much was written.
    fn finish_write(app: &mut App, kernel_data: &GrantKernelData) {
        if let Some(write) = app.write.take() {
            // A full task queue drops the upcall; the process can still
            // see the write is over (a new write no longer returns BUSY).
            let _ = kernel_data.schedule_upcall(upcall::WRITE_DONE, (write.written, 0, 0));
        }
    }

    /// Command 1.
    fn command_write(&self, processid: ProcessId, len: usize) -> Result<(), ErrorCode> {
        let ticket = self.take_ticket();
        self.apps.enter(processid, |app, kernel_data| {
            if len == 0 {
                match app.write.as_mut() {
                    Some(write) if write.in_flight > 0 => write.cancelled = true,
                    Some(_) => Self::finish_write(app, kernel_data),
                    None => {
                        let _ = kernel_data.schedule_upcall(upcall::WRITE_DONE, (0, 0, 0));
                    }
                }
                return Ok(());
            }
            if app.write.is_some() {
                return Err(ErrorCode::BUSY);
            }
            let shared = kernel_data
                .get_readonly_processbuffer(ro_allow::WRITE)
                .map_or(0, |buffer| buffer.len());
            if shared == 0 {
                return Err(ErrorCode::BUSY);
            }
            app.write = Some(Write {
                len: len.min(shared),
                written: 0,
                in_flight: 0,
                cancelled: false,
                ticket,
            });
            Ok(())
        })??;
        self.transmit_next();
        Ok(())
    }

    /// Starts the next chunk of the oldest outstanding write, unless a
    /// transmit is in progress. Writes that cannot go on (their buffer
    /// shrank, or the UART refused) are completed and the next one is tried;
    /// each such attempt completes one write, and anything else stops the
    /// loop, so this ends.
    fn transmit_next(&self) {
        while self.tx_in_progress.is_none() {
            let Some(processid) = self.oldest_write() else {
                return;
            };
            match self.transmit_chunk(processid) {
                Chunk::Completed => continue,
                Chunk::Started | Chunk::Stuck => return,
            }
        }
    }

    /// The process with the oldest outstanding write.
    fn oldest_write(&self) -> Option<ProcessId> {
        let mut oldest: Option<(u64, ProcessId)> = None;
        for process_grant in self.apps.iter() {
            let processid = process_grant.processid();
            let ticket = process_grant
                .try_enter(|app, _| app.write.map(|w| w.ticket))
                .flatten();
            if let Some(ticket) = ticket
                && oldest.is_none_or(|(t, _)| ticket < t)
            {
                oldest = Some((ticket, processid));
            }
        }
        oldest.map(|(_, processid)| processid)
    }

    /// Copies the next chunk of `processid`'s write into the transmit buffer
    /// and starts the UART.
    fn transmit_chunk(&self, processid: ProcessId) -> Chunk {
        let Some(buffer) = self.tx_buffer.take() else {
            return Chunk::Stuck;
        };
        let copied = self.apps.enter(processid, |app, kernel_data| {
            let write = app.write.as_mut()?;
            let count = kernel_data
                .get_readonly_processbuffer(ro_allow::WRITE)
                .and_then(|shared| {
                    shared.enter(|data| {
                        // The process may have shared a shorter buffer since
                        // (undefined by the doc): write what is still there.
                        let end = write.len.min(data.len());
                        let Some(chunk) = data.get(write.written..end) else {
                            return 0;
                        };
                        let count = chunk.len().min(buffer.len());
                        for (dst, src) in buffer.iter_mut().zip(chunk.iter()).take(count) {
                            *dst = src.get();
                        }
                        count
                    })
                })
                .unwrap_or(0);
            if count == 0 {
                Self::finish_write(app, kernel_data);
            } else {
                write.in_flight = count;
            }
            Some(count)
        });
        let count = match copied {
            Ok(Some(count)) if count > 0 => count,
            Ok(Some(_)) => {
                self.tx_buffer.replace(buffer);
                return Chunk::Completed;
            }
            // No write, or the grant cannot be entered: nothing changed.
            Ok(None) | Err(_) => {
                self.tx_buffer.replace(buffer);
                return Chunk::Stuck;
            }
        };
        match self.uart.transmit_buffer(buffer, count) {
            Ok(()) => {
                self.tx_in_progress.set(processid);
                Chunk::Started
            }
            Err((_, buffer)) => {
                self.tx_buffer.replace(buffer);
                // The UART will not call back: end the write now with what
                // was written before.
                let _ = self.apps.enter(processid, |app, kernel_data| {
                    if let Some(write) = app.write.as_mut() {
                        write.in_flight = 0;
                    }
                    Self::finish_write(app, kernel_data);
                });
                Chunk::Completed
            }
        }
    }

    /// Command 2.
    fn command_read(&self, processid: ProcessId, len: usize) -> Result<(), ErrorCode> {
        if let Some(holder) = self.rx_in_progress.get() {
            if holder != processid && self.apps.enter(holder, |_, _| ()).is_err() {
                // The reader died: abort its receive; the buffer comes back
                // through `received_buffer` and the caller can retry.
                let _ = self.uart.receive_abort();
            }
            return Err(ErrorCode::BUSY);
        }
        let capacity = self.rx_buffer.map_or(0, |buffer| buffer.len());
        let read_len = self.apps.enter(processid, |app, kernel_data| {
            let shared = kernel_data
                .get_readwrite_processbuffer(rw_allow::READ)
                .map_or(0, |buffer| buffer.len());
            if shared == 0 {
                return Err(ErrorCode::BUSY);
            }
            let read_len = len.min(shared);
            if read_len == 0 || read_len > capacity {
                return Err(ErrorCode::INVAL);
            }
            app.read_len = read_len;
            Ok(read_len)
        })??;
        let buffer = self.rx_buffer.take().ok_or(ErrorCode::BUSY)?;
        self.rx_in_progress.set(processid);
        self.uart
            .receive_buffer(buffer, read_len)
            .map_err(|(error, buffer)| {
                self.rx_buffer.replace(buffer);
                self.rx_in_progress.clear();
                error
            })
    }

    /// Command 3.
    fn command_abort_read(&self, processid: ProcessId) -> Result<(), ErrorCode> {
        // Make sure the caller exists (and has its grant).
        self.apps.enter(processid, |_, _| ())?;
        if self.rx_in_progress.contains(&processid) {
            // The bytes received so far come back through `received_buffer`.
            let _ = self.uart.receive_abort();
        }
        Ok(())
    }
}

impl SyscallDriver for Console<'_> {
    /// - 0: driver exists.
    /// - 1: write `arg1` bytes of read-only allow 1 (0 cancels).
    /// - 2: read up to `arg1` bytes into read-write allow 1.
    /// - 3: abort the caller's read.
    fn command(
        &self,
        command_num: usize,
        arg1: usize,
        _arg2: usize,
        processid: ProcessId,
    ) -> CommandReturn {
        let result = match command_num {
            command::EXISTS => Ok(()),
            command::WRITE => self.command_write(processid, arg1),
            command::READ => self.command_read(processid, arg1),
            command::ABORT_READ => self.command_abort_read(processid),
            _ => Err(ErrorCode::NOSUPPORT),
        };
        CommandReturn::from(result)
    }

    fn allocate_grant(&self, processid: ProcessId) -> Result<(), kernel::process::Error> {
        self.apps.enter(processid, |_, _| {})
    }
}

impl uart::TransmitClient for Console<'_> {
    fn transmitted_buffer(
        &self,
        buffer: &'static mut [u8],
        tx_len: usize,
        rval: Result<(), ErrorCode>,
    ) {
        self.tx_buffer.replace(buffer);
        if let Some(processid) = self.tx_in_progress.take() {
            // If the process died meanwhile its grant is gone: nothing to do.
            let _ = self.apps.enter(processid, |app, kernel_data| {
                let Some(write) = app.write.as_mut() else {
                    return;
                };
                write.written += tx_len.min(write.in_flight);
                write.in_flight = 0;
                if rval.is_err() || write.cancelled || write.written >= write.len {
                    Self::finish_write(app, kernel_data);
                }
            });
        }
        self.transmit_next();
    }
}

impl uart::ReceiveClient for Console<'_> {
    fn received_buffer(
        &self,
        buffer: &'static mut [u8],
        rx_len: usize,
        rval: Result<(), ErrorCode>,
        error: uart::Error,
    ) {
        if let Some(processid) = self.rx_in_progress.take() {
            let received = buffer.get(..rx_len).unwrap_or(buffer);
            let _ = self.apps.enter(processid, |app, kernel_data| {
                let wanted = core::mem::take(&mut app.read_len);
                let (status, count) = match error {
                    uart::Error::None | uart::Error::Aborted => {
                        let copied = kernel_data
                            .get_readwrite_processbuffer(rw_allow::READ)
                            .and_then(|shared| {
                                shared.mut_enter(|data| {
                                    let count = received.len().min(data.len()).min(wanted);
                                    for (dst, src) in data.iter().zip(received).take(count) {
                                        dst.set(*src);
                                    }
                                    count
                                })
                            });
                        match copied {
                            // The buffer went away (process state changed).
                            Err(_) => (Err(ErrorCode::NOMEM), 0),
                            // Bytes were received that did not fit.
                            Ok(count) if count < received.len() => (Err(ErrorCode::SIZE), count),
                            Ok(count) => (rval, count),
                        }
                    }
                    _ => (Err(ErrorCode::FAIL), 0),
                };
                let _ = kernel_data.schedule_upcall(
                    upcall::READ_DONE,
                    (kernel::errorcode::into_statuscode(status), count, 0),
                );
            });
        }
        self.rx_buffer.replace(buffer);
    }
}

#[cfg(test)]
#[path = "console_tests.rs"]
mod tests;
