// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Random numbers for processes: Tock's RNG system call driver (0x40001).
//!
//! The system call interface is Tock's, so that libtock-rs's and
//! libtock-c's RNG libraries work unchanged:
//!
//! - command 0: the driver exists;
//! - command 1 (`arg1` = n): fill the first n bytes of the read-write allow
//!   0 buffer with random bytes (fewer if the buffer is shorter); the
//!   process is told with upcall 0, `(0, bytes filled, 0)`;
//! - allow read-write 0: the buffer; subscribe 0: the upcall.
//!
//! The bytes come from any `hil::rng::Rng` (here a virtio-rng device behind
//! the IOMMU). The driver asks it for randomness while some process waits
//! and serves the waiting processes in slot order, one at a time, as
//! randomness arrives; it copies into each process's buffer, so processes
//! never share memory with the generator.

use core::cell::Cell;

use kernel::grant::{AllowRoCount, AllowRwCount, Grant, UpcallCount};
use kernel::hil::rng::{Client, Continue, Rng};
use kernel::processbuffer::WriteableProcessBuffer;
use kernel::syscall::{CommandReturn, SyscallDriver};
use kernel::{ErrorCode, ProcessId};

use crate::driver;

/// Syscall driver number.
pub const DRIVER_NUM: usize = driver::NUM::Rng as usize;

/// Upcall numbers.
mod upcall {
    /// Randomness delivered: `(0, bytes filled, 0)`.
    pub const DONE: usize = 0;
    pub const COUNT: u8 = 1;
}

/// Read-write allow numbers.
mod rw_allow {
    /// The buffer random bytes are written to.
    pub const BUFFER: usize = 0;
    pub const COUNT: u8 = 1;
}

/// Command numbers.
mod command {
    pub const EXISTS: usize = 0;
    pub const GET: usize = 1;
}

/// A process's request.
#[derive(Default)]
pub struct App {
    /// Bytes still to fill.
    remaining: usize,
    /// Bytes filled so far (the next one goes here).
    filled: usize,
}

pub type RngGrant =
    Grant<App, UpcallCount<{ upcall::COUNT }>, AllowRoCount<0>, AllowRwCount<{ rw_allow::COUNT }>>;

/// The RNG system call driver over generator `R`.
pub struct RngDriver<'a, R: Rng<'a>> {
    rng: &'a R,
    apps: RngGrant,
    /// A `get` is outstanding on the generator.
    requested: Cell<bool>,
}

impl<'a, R: Rng<'a>> RngDriver<'a, R> {
    pub fn new(rng: &'a R, apps: RngGrant) -> Self {
        RngDriver {
            rng,
            apps,
            requested: Cell::new(false),
        }
    }

    /// Asks the generator for randomness unless a request is outstanding.
    fn request(&self) {
        if !self.requested.get() && self.rng.get().is_ok() {
            self.requested.set(true);
        }
    }
}

impl<'a, R: Rng<'a>> SyscallDriver for RngDriver<'a, R> {
    fn command(&self, command_num: usize, n: usize, _: usize, process: ProcessId) -> CommandReturn {
        match command_num {
            command::EXISTS => CommandReturn::success(),
            command::GET => {
                let started = self.apps.enter(process, |app, _| {
                    app.remaining = n;
                    app.filled = 0;
                });
                match started {
                    Ok(()) => {
                        self.request();
                        CommandReturn::success()
                    }
                    Err(error) => CommandReturn::failure(error.into()),
                }
            }
            _ => CommandReturn::failure(ErrorCode::NOSUPPORT),
        }
    }

    fn allocate_grant(&self, process: ProcessId) -> Result<(), kernel::process::Error> {
        self.apps.enter(process, |_, _| ())
    }
}

impl<'a, R: Rng<'a>> Client for RngDriver<'a, R> {
    fn randomness_available(
        &self,
        randomness: &mut dyn Iterator<Item = u32>,
        _error: Result<(), ErrorCode>,
    ) -> Continue {
        // Bytes of the current word not yet handed out, low byte first.
        let mut word = [0u8; 4];
        let mut left_in_word = 0;
        let mut exhausted = false;
        for grant in self.apps.iter() {
            if exhausted {
                break;
            }
            grant.enter(|app, kernel_data| {
                if app.remaining == 0 {
                    return;
                }
                let written = kernel_data
                    .get_readwrite_processbuffer(rw_allow::BUFFER)
                    .and_then(|buffer| {
                        buffer.mut_enter(|bytes| {
                            // Never past the buffer (it may have shrunk
                            // since the command: a new allow).
                            let end = app.filled.saturating_add(app.remaining).min(bytes.len());
                            let mut at = app.filled.min(end);
                            while at < end {
                                if left_in_word == 0 {
                                    let Some(next) = randomness.next() else {
                                        exhausted = true;
                                        break;
                                    };
                                    word = next.to_le_bytes();
                                    left_in_word = 4;
                                }
                                bytes[at].set(word[4 - left_in_word]);
                                left_in_word -= 1;
                                at += 1;
                            }
                            (at, end)
                        })
                    });
                match written {
                    Ok((at, end)) if at < end => {
                        app.remaining -= at - app.filled;
                        app.filled = at;
                    }
                    Ok((at, _)) => {
                        app.remaining = 0;
                        app.filled = at;
                        let _ = kernel_data.schedule_upcall(upcall::DONE, (0, at, 0));
                    }
                    // No buffer any more: the request ends with what it has.
                    Err(_) => {
                        app.remaining = 0;
                        let _ = kernel_data.schedule_upcall(upcall::DONE, (0, app.filled, 0));
                    }
                }
            });
        }
        let waiting = self
            .apps
            .iter()
            .any(|g| g.enter(|app, _| app.remaining > 0));
        if waiting {
            Continue::More
        } else {
            self.requested.set(false);
            Continue::Done
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use capsule_test_harness::Harness;
    use std::vec;
    use std::vec::Vec;

    /// A generator that hands out the words the test gives it.
    struct FakeRng {
        requested: Cell<usize>,
    }

    impl<'a> Rng<'a> for FakeRng {
        fn get(&self) -> Result<(), ErrorCode> {
            self.requested.set(self.requested.get() + 1);
            Ok(())
        }
        fn cancel(&self) -> Result<(), ErrorCode> {
            Ok(())
        }
        fn set_client(&'a self, _client: &'a dyn Client) {}
    }

    fn setup(processes: usize) -> (&'static Harness, &'static RngDriver<'static, FakeRng>) {
        let h = Harness::new(processes);
        let rng = h.leak(FakeRng {
            requested: Cell::new(0),
        });
        let driver = h.leak(RngDriver::new(rng, h.create_grant(DRIVER_NUM)));
        h.add_driver(DRIVER_NUM, driver);
        (h, driver)
    }

    fn deliver(driver: &RngDriver<'_, FakeRng>, words: &[u32]) -> Continue {
        driver.randomness_available(&mut words.iter().copied(), Ok(()))
    }

    fn done(h: &Harness, p: ProcessId) -> Vec<(usize, usize, usize)> {
        h.upcalls(p).into_iter().map(|u| u.args).collect()
    }

    #[test]
    fn fills_the_requested_bytes_across_deliveries_then_calls_back() {
        let (h, driver) = setup(1);
        let p = h.spawn("p");
        let buf = h.ram_start(p) + 0x100;
        assert!(h.allow_rw(p, DRIVER_NUM, 0, buf, 16).is_success());
        assert!(h.subscribe(p, DRIVER_NUM, 0, 0x40, 0).is_success());
        assert!(h.command(p, DRIVER_NUM, 1, 6, 0).is_success());
        assert_eq!(driver.rng.requested.get(), 1);
        // 4 of 6 bytes: more wanted, no upcall yet.
        assert_eq!(deliver(driver, &[0x0403_0201]), Continue::More);
        assert!(done(h, p).is_empty());
        assert_eq!(deliver(driver, &[0x0807_0605, 0xffff_ffff]), Continue::Done);
        assert_eq!(done(h, p), vec![(0, 6, 0)]);
        assert_eq!(h.read_ram(p, 0x100, 8), vec![1, 2, 3, 4, 5, 6, 0, 0]);
    }

    #[test]
    fn a_request_longer_than_the_buffer_fills_the_buffer() {
        let (h, driver) = setup(1);
        let p = h.spawn("p");
        let buf = h.ram_start(p) + 0x100;
        assert!(h.allow_rw(p, DRIVER_NUM, 0, buf, 3).is_success());
        assert!(h.command(p, DRIVER_NUM, 1, 100, 0).is_success());
        assert_eq!(deliver(driver, &[0x0403_0201]), Continue::Done);
        assert_eq!(done(h, p), vec![(0, 3, 0)]);
        assert_eq!(h.read_ram(p, 0x100, 4), vec![1, 2, 3, 0]);
    }

    #[test]
    fn two_processes_each_get_their_own_bytes() {
        let (h, driver) = setup(2);
        let p = h.spawn("p");
        let q = h.spawn("q");
        for pid in [p, q] {
            let buf = h.ram_start(pid) + 0x100;
            assert!(h.allow_rw(pid, DRIVER_NUM, 0, buf, 4).is_success());
            assert!(h.command(pid, DRIVER_NUM, 1, 4, 0).is_success());
        }
        // One outstanding request on the generator for both.
        assert_eq!(driver.rng.requested.get(), 1);
        assert_eq!(deliver(driver, &[0x0403_0201, 0x0807_0605]), Continue::Done);
        assert_eq!(h.read_ram(p, 0x100, 4), vec![1, 2, 3, 4]);
        assert_eq!(h.read_ram(q, 0x100, 4), vec![5, 6, 7, 8]);
        assert_eq!(done(h, p), vec![(0, 4, 0)]);
        assert_eq!(done(h, q), vec![(0, 4, 0)]);
    }

    #[test]
    fn no_buffer_ends_the_request_with_nothing_and_unknown_commands_are_refused() {
        let (h, driver) = setup(1);
        let p = h.spawn("p");
        assert!(h.command(p, DRIVER_NUM, 0, 0, 0).is_success());
        assert!(h.command(p, DRIVER_NUM, 1, 8, 0).is_success());
        assert_eq!(deliver(driver, &[1, 2]), Continue::Done);
        assert_eq!(done(h, p), vec![(0, 0, 0)]);
        assert_eq!(
            h.command(p, DRIVER_NUM, 2, 0, 0),
            kernel::syscall::SyscallReturn::Failure(ErrorCode::NOSUPPORT)
        );
    }
}
