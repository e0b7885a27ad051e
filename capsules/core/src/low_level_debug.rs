// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Low-level debug syscall driver (0x8): alert codes and numbers, by command.
//!
//! Implements Tock's `doc/syscalls/00008_low_level_debug.md`. Command 1
//! prints an alert code (1 = app panic, 2 = a statically linked app is not
//! at the flash address it was linked for, which libtock-rs's start-up code
//! reports before exiting), command 2 one number, command 3 two numbers.
//! All three always succeed; the process cannot wait for the output. The
//! lines are exactly Tock's, numbers in hex, the app named by its process
//! identifier (`ProcessId::id()`):
//!
//! ```text
//! LowLevelDebug: App 0x1 alert code 0x2
//! LowLevelDebug: App 0x1 prints 0x2a
//! LowLevelDebug: App 0x1 prints 0x2a 0x7
//! LowLevelDebug: Dropped 0x3 entries for app 0x1
//! LowLevelDebug: grant init failed
//! ```
//!
//! While the UART is busy, entries wait in a small queue in the process's
//! grant (`QUEUE_LEN`). When it is full the last slot becomes a count of
//! dropped entries, as in Tock. Queued entries are printed oldest first
//! across all processes (a ticket per entry), so a chatty process delays
//! the others by at most its own queue. If a process's grant cannot be
//! allocated its entry is lost, and "grant init failed" is printed.
//!
//! Board wiring: `LowLevelDebug::new(buffer, uart, grant)` with a buffer of
//! `BUF_LEN` bytes, then `uart.set_transmit_client(lld)`. Console and
//! low-level debug share a UART through `virtual_uart`.

use core::cell::Cell;
use core::fmt::Write;

use kernel::grant::{AllowRoCount, AllowRwCount, Grant, UpcallCount};
use kernel::hil::uart::{Transmit, TransmitClient};
use kernel::syscall::{CommandReturn, SyscallDriver};
use kernel::utilities::cells::TakeCell;
use kernel::{ErrorCode, ProcessId};

/// Syscall driver number.
pub const DRIVER_NUM: usize = crate::driver::NUM::LowLevelDebug as usize;

/// Command numbers.
mod command {
    pub const EXISTS: usize = 0;
    pub const ALERT_CODE: usize = 1;
    pub const PRINT_1: usize = 2;
    pub const PRINT_2: usize = 3;
}

/// Upcall numbers (none).
mod upcall {
    pub const COUNT: u8 = 0;
}

/// Read-only allow numbers (none).
mod ro_allow {
    pub const COUNT: u8 = 0;
}

/// Read-write allow numbers (none).
mod rw_allow {
    pub const COUNT: u8 = 0;
}

/// Hex digits of a `usize`.
const USIZE_DIGITS: usize = 2 * core::mem::size_of::<usize>();

/// Bytes the transmit buffer needs for the longest line ("Dropped" with
/// two numbers, or "prints" with three).
pub const BUF_LEN: usize = 40 + 3 * USIZE_DIGITS;

/// Entries a process can have waiting.
pub const QUEUE_LEN: usize = 4;

const GRANT_FAILED: &[u8] = b"LowLevelDebug: grant init failed\n";

/// One line to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    /// This many entries were dropped.
    Dropped(usize),
    AlertCode(usize),
    Print1(usize),
    Print2(usize, usize),
}

#[derive(Clone, Copy, Debug)]
struct Queued {
    ticket: u64,
    entry: Entry,
}

/// Per-process queue, in the process's grant.
#[derive(Default)]
pub struct AppData {
    queue: [Option<Queued>; QUEUE_LEN],
}

impl AppData {
    /// Appends `entry`; when full, the last slot counts drops instead.
    fn push(&mut self, ticket: u64, entry: Entry) {
        if let Some(free) = self.queue.iter_mut().find(|q| q.is_none()) {
            *free = Some(Queued { ticket, entry });
            return;
        }
        let last = &mut self.queue[QUEUE_LEN - 1];
        let dropped = match last {
            // One more lost.
            Some(Queued {
                entry: Entry::Dropped(n),
                ..
            }) => n.saturating_add(1),
            // The entry overwritten and this one.
            _ => 2,
        };
        let ticket = last.map_or(ticket, |q| q.ticket);
        *last = Some(Queued {
            ticket,
            entry: Entry::Dropped(dropped),
        });
    }

    fn oldest_ticket(&self) -> Option<u64> {
        self.queue[0].map(|q| q.ticket)
    }

    fn pop(&mut self) -> Option<Entry> {
        let first = self.queue[0].take()?;
        self.queue.rotate_left(1);
        Some(first.entry)
    }
}

/// The low-level debug driver's grant type.
pub type LowLevelDebugGrant = Grant<
    AppData,
    UpcallCount<{ upcall::COUNT }>,
    AllowRoCount<{ ro_allow::COUNT }>,
    AllowRwCount<{ rw_allow::COUNT }>,
>;

/// The low-level debug driver.
pub struct LowLevelDebug<'u, U: Transmit<'u>> {
    /// The transmit buffer while the UART is idle.
    buffer: TakeCell<'static, [u8]>,
    uart: &'u U,
    apps: LowLevelDebugGrant,
    /// Some entry was lost because a grant could not be allocated.
    grant_failed: Cell<bool>,
    next_ticket: Cell<u64>,
}

/// Writes into a byte buffer, dropping what does not fit.
struct BufferWriter<'b> {
    buffer: &'b mut [u8],
    used: usize,
}

impl Write for BufferWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.buffer.len() - self.used;
        let n = s.len().min(room);
        self.buffer[self.used..self.used + n].copy_from_slice(&s.as_bytes()[..n]);
        self.used += n;
        Ok(())
    }
}

/// Formats `entry` of app `app` into `buffer` as Tock does; returns the
/// length.
fn format_entry(app: usize, entry: Entry, buffer: &mut [u8]) -> usize {
    let mut w = BufferWriter { buffer, used: 0 };
    // `BufferWriter` never fails; it truncates (BUF_LEN avoids that).
    let _ = match entry {
        Entry::Dropped(n) => writeln!(w, "LowLevelDebug: Dropped {n:#x} entries for app {app:#x}"),
        Entry::AlertCode(code) => writeln!(w, "LowLevelDebug: App {app:#x} alert code {code:#x}"),
        Entry::Print1(a) => writeln!(w, "LowLevelDebug: App {app:#x} prints {a:#x}"),
        Entry::Print2(a, b) => writeln!(w, "LowLevelDebug: App {app:#x} prints {a:#x} {b:#x}"),
    };
    w.used
}

impl<'u, U: Transmit<'u>> LowLevelDebug<'u, U> {
    /// A driver printing through `uart` with `buffer` (`BUF_LEN` bytes or
    /// more; a shorter one truncates lines).
    pub fn new(
        buffer: &'static mut [u8],
        uart: &'u U,
        grant: LowLevelDebugGrant,
    ) -> LowLevelDebug<'u, U> {
        LowLevelDebug {
            buffer: TakeCell::new(buffer),
            uart,
            apps: grant,
            grant_failed: Cell::new(false),
            next_ticket: Cell::new(0),
        }
    }

    fn push_entry(&self, entry: Entry, processid: ProcessId) {
        match self.buffer.take() {
            // Idle: nothing is queued (see `print_next`), print at once.
            Some(buffer) => {
                let len = format_entry(processid.id(), entry, buffer);
                self.transmit_or_continue(buffer, len);
            }
            None => {
                let ticket = self.next_ticket.get();
                self.next_ticket.set(ticket.wrapping_add(1));
                if self
                    .apps
                    .enter(processid, |app, _| app.push(ticket, entry))
                    .is_err()
                {
                    self.grant_failed.set(true);
                }
            }
        }
    }

    /// Starts a transmit; if the UART refuses, the line is lost and the
    /// next one is tried.
    fn transmit_or_continue(&self, buffer: &'static mut [u8], len: usize) {
        if let Err((_, buffer)) = self.uart.transmit_buffer(buffer, len) {
            self.print_next(buffer);
        }
    }

    /// Prints the next waiting line with `buffer`, or keeps the buffer if
    /// nothing waits. Each refused transmit consumes one line, so this ends.
    fn print_next(&self, mut buffer: &'static mut [u8]) {
        loop {
            let len = if self.grant_failed.take() {
                let n = GRANT_FAILED.len().min(buffer.len());
                buffer[..n].copy_from_slice(&GRANT_FAILED[..n]);
                n
            } else {
                match self.pop_oldest() {
                    Some((app, entry)) => format_entry(app, entry, buffer),
                    None => {
                        self.buffer.replace(buffer);
                        return;
                    }
                }
            };
            match self.uart.transmit_buffer(buffer, len) {
                Ok(()) => return,
                Err((_, returned)) => buffer = returned,
            }
        }
    }

    /// Removes the oldest waiting entry of any process: (app id, entry).
    fn pop_oldest(&self) -> Option<(usize, Entry)> {
        let mut oldest: Option<(u64, ProcessId)> = None;
        for process_grant in self.apps.iter() {
            let processid = process_grant.processid();
            let ticket = process_grant
                .try_enter(|app, _| app.oldest_ticket())
                .flatten();
            if let Some(ticket) = ticket
                && oldest.is_none_or(|(t, _)| ticket < t)
            {
                oldest = Some((ticket, processid));
            }
        }
        let (_, processid) = oldest?;
        let entry = self.apps.enter(processid, |app, _| app.pop()).ok()??;
        Some((processid.id(), entry))
    }
}

impl<'u, U: Transmit<'u>> SyscallDriver for LowLevelDebug<'u, U> {
    /// - 0: driver exists.
    /// - 1: print alert code `arg1`.
    /// - 2: print `arg1`.
    /// - 3: print `arg1` and `arg2`.
    fn command(
        &self,
        command_num: usize,
        arg1: usize,
        arg2: usize,
        processid: ProcessId,
    ) -> CommandReturn {
        let entry = match command_num {
            command::EXISTS => return CommandReturn::success(),
            command::ALERT_CODE => Entry::AlertCode(arg1),
            command::PRINT_1 => Entry::Print1(arg1),
            command::PRINT_2 => Entry::Print2(arg1, arg2),
            _ => return CommandReturn::failure(ErrorCode::NOSUPPORT),
        };
        self.push_entry(entry, processid);
        CommandReturn::success()
    }

    fn allocate_grant(&self, processid: ProcessId) -> Result<(), kernel::process::Error> {
        self.apps.enter(processid, |_, _| {})
    }
}

impl<'u, U: Transmit<'u>> TransmitClient for LowLevelDebug<'u, U> {
    fn transmitted_buffer(
        &self,
        tx_buffer: &'static mut [u8],
        _tx_len: usize,
        _rval: Result<(), ErrorCode>,
    ) {
        self.print_next(tx_buffer);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::test_fakes::FakeUart;
    use capsule_test_harness::Harness;
    use kernel::syscall::SyscallReturn;
    use std::string::String;
    use std::{boxed::Box, vec};

    fn setup(
        processes: usize,
    ) -> (
        &'static Harness,
        &'static FakeUart,
        &'static LowLevelDebug<'static, FakeUart>,
    ) {
        let h = Harness::new(processes);
        let uart: &'static FakeUart = h.leak(FakeUart::new());
        let buffer: &'static mut [u8] = Box::leak(vec![0u8; BUF_LEN].into_boxed_slice());
        let lld = h.leak(LowLevelDebug::new(buffer, uart, h.create_grant(DRIVER_NUM)));
        kernel::hil::uart::Transmit::set_transmit_client(uart, lld);
        h.add_driver(DRIVER_NUM, lld);
        (h, uart, lld)
    }

    fn output(uart: &FakeUart) -> String {
        uart.drain();
        String::from_utf8(uart.wire()).unwrap()
    }

    #[test]
    fn lines_are_tocks() {
        let (h, uart, _) = setup(1);
        let p = h.spawn("p");
        let id = p.id();
        assert_eq!(h.command(p, DRIVER_NUM, 0, 0, 0), SyscallReturn::Success);
        assert_eq!(h.command(p, DRIVER_NUM, 1, 2, 0), SyscallReturn::Success);
        assert_eq!(h.command(p, DRIVER_NUM, 2, 0x2a, 0), SyscallReturn::Success);
        assert_eq!(
            h.command(p, DRIVER_NUM, 3, 0xdead, 7),
            SyscallReturn::Success
        );
        assert_eq!(
            output(uart),
            std::format!(
                "LowLevelDebug: App {id:#x} alert code 0x2\n\
                 LowLevelDebug: App {id:#x} prints 0x2a\n\
                 LowLevelDebug: App {id:#x} prints 0xdead 0x7\n"
            )
        );
        assert_eq!(
            h.command(p, DRIVER_NUM, 4, 0, 0),
            SyscallReturn::Failure(ErrorCode::NOSUPPORT)
        );
    }

    #[test]
    fn libtock_rs_location_check_alert_works_before_anything_else() {
        // libtock-rs's start-up: the first system call may be this one,
        // with no grant allocated yet.
        let (h, uart, _) = setup(1);
        let p = h.spawn("app");
        assert_eq!(h.command(p, DRIVER_NUM, 1, 2, 0), SyscallReturn::Success);
        assert_eq!(
            output(uart),
            std::format!("LowLevelDebug: App {:#x} alert code 0x2\n", p.id())
        );
    }

    #[test]
    fn the_longest_lines_fit_the_buffer() {
        let mut buffer = [0u8; BUF_LEN];
        for entry in [
            Entry::Dropped(usize::MAX),
            Entry::Print2(usize::MAX, usize::MAX),
            Entry::AlertCode(usize::MAX),
        ] {
            let n = format_entry(usize::MAX, entry, &mut buffer);
            assert_eq!(buffer[n - 1], b'\n', "{entry:?}");
        }
        // A short buffer truncates instead of panicking.
        let mut small = [0u8; 10];
        assert_eq!(format_entry(1, Entry::Print1(1), &mut small), 10);
    }

    #[test]
    fn full_queue_counts_drops() {
        let (h, uart, _) = setup(1);
        let p = h.spawn("p");
        let id = p.id();
        // The first goes out at once; 4 wait; 3 more are dropped.
        for i in 0..8 {
            assert!(h.command(p, DRIVER_NUM, 2, i, 0).is_success());
        }
        let expected = std::format!(
            "LowLevelDebug: App {id:#x} prints 0x0\n\
             LowLevelDebug: App {id:#x} prints 0x1\n\
             LowLevelDebug: App {id:#x} prints 0x2\n\
             LowLevelDebug: App {id:#x} prints 0x3\n\
             LowLevelDebug: Dropped 0x4 entries for app {id:#x}\n"
        );
        assert_eq!(output(uart), expected);
    }

    #[test]
    fn several_processes_are_printed_in_order() {
        let (h, uart, _) = setup(3);
        let a = h.spawn("a");
        let b = h.spawn("b");
        let c = h.spawn("c");
        assert!(h.command(c, DRIVER_NUM, 2, 1, 0).is_success());
        assert!(h.command(b, DRIVER_NUM, 2, 2, 0).is_success());
        assert!(h.command(c, DRIVER_NUM, 2, 3, 0).is_success());
        assert!(h.command(a, DRIVER_NUM, 2, 4, 0).is_success());
        assert!(h.command(b, DRIVER_NUM, 2, 5, 0).is_success());
        let order: std::vec::Vec<(usize, usize)> = output(uart)
            .lines()
            .map(|l| {
                let w: std::vec::Vec<&str> = l.split(' ').collect();
                let parse = |s: &str| usize::from_str_radix(&s[2..], 16).unwrap();
                (parse(w[2]), parse(w[4]))
            })
            .collect();
        assert_eq!(
            order,
            vec![
                (c.id(), 1),
                (b.id(), 2),
                (c.id(), 3),
                (a.id(), 4),
                (b.id(), 5)
            ]
        );
    }

    #[test]
    fn a_refused_transmit_loses_one_line_only() {
        let (h, uart, _) = setup(1);
        let p = h.spawn("p");
        assert!(h.command(p, DRIVER_NUM, 2, 1, 0).is_success());
        assert!(h.command(p, DRIVER_NUM, 2, 2, 0).is_success());
        assert!(h.command(p, DRIVER_NUM, 2, 3, 0).is_success());
        uart.refuse_tx.set(Some(ErrorCode::FAIL));
        let out = output(uart);
        assert!(out.contains("prints 0x1\n") && !out.contains("prints 0x2\n"));
        assert!(out.contains("prints 0x3\n"), "{out}");
        // Idle again: the next line goes straight out.
        uart.refuse_tx.set(Some(ErrorCode::FAIL));
        assert!(h.command(p, DRIVER_NUM, 2, 4, 0).is_success());
        assert!(h.command(p, DRIVER_NUM, 2, 5, 0).is_success());
        assert!(output(uart).ends_with("prints 0x5\n"));
    }

    #[test]
    fn entries_of_a_dead_process_are_dropped() {
        let (h, uart, _) = setup(2);
        let a = h.spawn("a");
        let b = h.spawn("b");
        assert!(h.command(a, DRIVER_NUM, 2, 1, 0).is_success());
        assert!(h.command(a, DRIVER_NUM, 2, 2, 0).is_success());
        assert!(h.command(b, DRIVER_NUM, 2, 3, 0).is_success());
        h.exit(a, 0);
        let out = output(uart);
        assert!(out.contains("prints 0x1\n") && !out.contains("prints 0x2\n"));
        assert!(out.contains("prints 0x3\n"));
    }

    #[test]
    fn a_grant_that_cannot_be_allocated_is_reported() {
        let (h, uart, _) = setup(1);
        let p = h.spawn("p");
        // Leave no room for grants: move the break to the top of RAM.
        let top = h.ram_start(p) + capsule_test_harness::RAM_SIZE;
        assert!(h.memop(p, 0, top).is_success());
        assert!(h.command(p, DRIVER_NUM, 2, 1, 0).is_success());
        assert!(h.command(p, DRIVER_NUM, 2, 2, 0).is_success());
        assert_eq!(
            output(uart),
            std::format!(
                "LowLevelDebug: App {:#x} prints 0x1\nLowLevelDebug: grant init failed\n",
                p.id()
            )
        );
    }
}
