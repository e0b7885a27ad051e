// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Random system call sequences against all core capsules (host tests).
//!
//! Several processes issue arbitrary commands, allows and subscribes to the
//! console, low-level debug and alarm drivers (wired as a board does:
//! console and low-level debug share one UART through `virtual_uart`),
//! interleaved with UART and timer completions, typed input, and process
//! restarts and faults. Afterwards every driver must still serve every
//! process: nothing panicked, nothing is wedged, and no write completed
//! more often than it was asked for. This is the capsule side of the
//! design's invariant I7 (any input, in any order, returns an `ErrorCode`).

extern crate std;

use crate::test_fakes::{FakeAlarm, FakeUart};
use crate::virtual_uart::{MuxUart, UartDevice};
use crate::{alarm, console, low_level_debug};
use capsule_test_harness::{Harness, RAM_SIZE, Rng};
use kernel::hil::time::{Alarm, Ticks32};
use kernel::hil::uart::{self, Receive, Transmit};
use kernel::syscall::SyscallReturn;
use kernel::{ErrorCode, FaultPolicy, ProcessId};
use std::vec::Vec;
use std::{boxed::Box, vec};

const CONSOLE: usize = console::DRIVER_NUM;
const LLD: usize = low_level_debug::DRIVER_NUM;
const ALARM: usize = alarm::DRIVER_NUM;
const PROCESSES: usize = 3;

/// Any word.
fn word(rng: &mut Rng) -> usize {
    rng.next_u64() as usize
}

/// Mostly small values, sometimes any word.
fn arg(rng: &mut Rng) -> usize {
    match rng.below(4) {
        0 => word(rng),
        1 => 0,
        _ => rng.below(64),
    }
}

struct Board {
    h: &'static Harness,
    uart: &'static FakeUart,
    alarm: &'static FakeAlarm<Ticks32>,
}

fn board() -> Board {
    let h = Harness::new(PROCESSES);
    let uart: &'static FakeUart = h.leak(FakeUart::new());
    let mux: &'static MuxUart<'static> = h.leak(MuxUart::new(uart));
    uart.set_transmit_client(mux);
    uart.set_receive_client(mux);
    let console_uart: &'static UartDevice<'static> = h.leak(UartDevice::new(mux));
    let debug_uart: &'static UartDevice<'static> = h.leak(UartDevice::new(mux));
    console_uart.setup().unwrap();
    debug_uart.setup().unwrap();
    let buffer = |n: usize| -> &'static mut [u8] { Box::leak(vec![0u8; n].into_boxed_slice()) };
    let console = h.leak(console::Console::new(
        console_uart,
        buffer(8),
        buffer(8),
        h.create_grant(CONSOLE),
    ));
    console_uart.set_transmit_client(console);
    console_uart.set_receive_client(console);
    let lld = h.leak(low_level_debug::LowLevelDebug::new(
        buffer(low_level_debug::BUF_LEN),
        debug_uart,
        h.create_grant(LLD),
    ));
    debug_uart.set_transmit_client(lld);
    let hw_alarm: &'static FakeAlarm<Ticks32> = h.leak(FakeAlarm::new(Ticks32::from(0)));
    let alarm_driver = h.leak(alarm::AlarmDriver::new(hw_alarm, h.create_grant(ALARM)));
    hw_alarm.set_alarm_client(alarm_driver);
    h.add_driver(CONSOLE, console);
    h.add_driver(LLD, lld);
    h.add_driver(ALARM, alarm_driver);
    Board {
        h,
        uart,
        alarm: hw_alarm,
    }
}

/// What the test knows about one process instance.
struct Model {
    pid: ProcessId,
    /// Writes the console accepted (size > 0) plus cancels (size 0).
    writes_asked: usize,
    /// Write-done upcalls seen.
    writes_done: usize,
}

impl Model {
    fn new(pid: ProcessId) -> Self {
        Model {
            pid,
            writes_asked: 0,
            writes_done: 0,
        }
    }
}

fn is_error_in(ret: SyscallReturn, allowed: &[ErrorCode]) -> bool {
    match ret {
        SyscallReturn::Failure(e) => allowed.contains(&e),
        other => other.is_success(),
    }
}

/// Takes `m`'s upcalls, counting console write completions.
fn collect(h: &Harness, m: &mut Model) {
    for u in h.upcalls(m.pid) {
        if u.driver_num == CONSOLE && u.subscribe_num == 1 {
            m.writes_done += 1;
        }
    }
    assert!(
        m.writes_done <= m.writes_asked,
        "more write completions ({}) than writes ({})",
        m.writes_done,
        m.writes_asked
    );
}

fn random_step(b: &Board, rng: &mut Rng, models: &mut [Model]) {
    let h = b.h;
    let i = rng.below(models.len());
    let pid = models[i].pid;
    let start = h.ram_start(pid);
    match rng.below(14) {
        0 | 1 => {
            // Share something (often valid, sometimes not) for writing.
            let len = rng.below(40);
            let addr = if rng.below(5) == 0 {
                word(rng)
            } else {
                h.write_ram(pid, 0x100, &[b'a' + i as u8; 40]);
                start + 0x100
            };
            let _ = h.allow_ro(pid, CONSOLE, rng.below(3), addr, len);
        }
        2 => {
            let addr = start + rng.below(RAM_SIZE);
            let _ = h.allow_rw(pid, CONSOLE, rng.below(3), addr, arg(rng));
        }
        3 => {
            let _ = h.subscribe(
                pid,
                [CONSOLE, ALARM, LLD][rng.below(3)],
                rng.below(4),
                0x1000,
                i,
            );
        }
        4..=6 => {
            let command = [0, 1, 1, 1, 2, 3, 4, word(rng)][rng.below(8)];
            let r2 = arg(rng);
            let ret = h.command(pid, CONSOLE, command, r2, arg(rng));
            assert!(
                is_error_in(
                    ret,
                    &[
                        ErrorCode::BUSY,
                        ErrorCode::INVAL,
                        ErrorCode::NOSUPPORT,
                        ErrorCode::NOMEM
                    ]
                ),
                "console {command} {r2}: {ret:?}"
            );
            if command == 1 && ret.is_success() {
                models[i].writes_asked += 1;
            }
        }
        7 => {
            let ret = h.command(pid, LLD, rng.below(5), word(rng), word(rng));
            assert!(is_error_in(ret, &[ErrorCode::NOSUPPORT]), "{ret:?}");
        }
        8 => {
            let ret = h.command(pid, ALARM, rng.below(8), arg(rng), arg(rng));
            assert!(
                is_error_in(ret, &[ErrorCode::ALREADY, ErrorCode::NOSUPPORT]),
                "{ret:?}"
            );
        }
        9 | 10 => {
            b.uart.complete_tx();
        }
        11 => {
            if b.uart.rx.is_some() {
                let error = [uart::Error::None, uart::Error::OverrunError][rng.below(2)];
                b.uart.type_input(b"typed input", error);
            }
        }
        12 => b.alarm.advance(rng.below(100) as u32),
        _ => {
            // The process ends and starts over as a new instance.
            collect(h, &mut models[i]);
            let new_pid = if rng.below(2) == 0 {
                h.restart(pid)
            } else {
                h.fault(pid, FaultPolicy::Restart(usize::MAX))
            };
            models[i] = Model::new(new_pid);
        }
    }
    collect(h, &mut models[i]);
}

/// After the storm: every process can still write, print and sleep.
fn check_everything_still_works(b: &Board, models: &mut [Model]) {
    let h = b.h;
    b.uart.drain();
    for m in models.iter_mut() {
        // Cancel whatever is left, then write a known line.
        assert!(h.command(m.pid, CONSOLE, 1, 0, 0).is_success());
        m.writes_asked += 1;
        b.uart.drain();
        collect(h, m);
        let line = std::format!("process {:x} ok\n", m.pid.id());
        let addr = h.write_ram(m.pid, 0x800, line.as_bytes());
        assert!(h.allow_ro(m.pid, CONSOLE, 1, addr, line.len()).is_success());
        assert!(h.subscribe(m.pid, CONSOLE, 1, 0x1000, 0).is_success());
        let wire_before = b.uart.wire().len();
        assert_eq!(
            h.command(m.pid, CONSOLE, 1, line.len(), 0),
            SyscallReturn::Success
        );
        m.writes_asked += 1;
        b.uart.drain();
        let wire = b.uart.wire();
        assert_eq!(&wire[wire_before..], line.as_bytes());
        let done_before = m.writes_done;
        collect(h, m);
        assert_eq!(m.writes_done, done_before + 1);
        // Low-level debug prints.
        assert!(h.command(m.pid, LLD, 2, 0x5a, 0).is_success());
        b.uart.drain();
        let text = std::string::String::from_utf8_lossy(&b.uart.wire()).into_owned();
        assert!(
            text.ends_with(&std::format!(
                "LowLevelDebug: App {:#x} prints 0x5a\n",
                m.pid.id()
            )),
            "{}",
            &text[text.len().saturating_sub(200)..]
        );
        // The alarm fires.
        assert!(h.subscribe(m.pid, ALARM, 0, 0x2000, 0).is_success());
        assert!(h.command(m.pid, ALARM, 5, 10, 0).is_success());
        b.alarm.advance(10);
        let fired = h
            .upcalls(m.pid)
            .iter()
            .filter(|u| u.driver_num == ALARM)
            .count();
        assert_eq!(fired, 1);
    }
}

#[test]
fn random_syscalls_from_several_processes_never_wedge_the_capsules() {
    for seed in 1..=20u64 {
        let b = board();
        let mut models: Vec<Model> = (0..PROCESSES)
            .map(|_| Model::new(b.h.spawn("app")))
            .collect();
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut completed = 0;
        for _ in 0..2_000 {
            random_step(&b, &mut rng, &mut models);
            completed += models.iter().map(|m| m.writes_done).sum::<usize>();
        }
        // The storm did exercise the console (not only errors).
        assert!(completed > 0, "seed {seed}: no write ever completed");
        assert!(b.uart.wire().len() > 100, "seed {seed}");
        check_everything_still_works(&b, &mut models);
    }
}
