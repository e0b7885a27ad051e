// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Unit tests of `console`.

extern crate std;

use super::*;
use crate::test_fakes::FakeUart;
use capsule_test_harness::{Harness, Upcall};
use kernel::syscall::SyscallReturn;
use std::vec::Vec;
use std::{boxed::Box, vec};

fn setup(
    processes: usize,
    buf_size: usize,
) -> (
    &'static Harness,
    &'static FakeUart,
    &'static Console<'static>,
) {
    let h = Harness::new(processes);
    let uart: &'static FakeUart = h.leak(FakeUart::new());
    let tx: &'static mut [u8] = Box::leak(vec![0u8; buf_size].into_boxed_slice());
    let rx: &'static mut [u8] = Box::leak(vec![0u8; buf_size].into_boxed_slice());
    let console = h.leak(Console::new(uart, tx, rx, h.create_grant(DRIVER_NUM)));
    uart::Transmit::set_transmit_client(uart, console);
    uart::Receive::set_receive_client(uart, console);
    h.add_driver(DRIVER_NUM, console);
    (h, uart, console)
}

fn write_done(bytes: usize) -> Upcall {
    Upcall {
        driver_num: DRIVER_NUM,
        subscribe_num: upcall::WRITE_DONE,
        args: (bytes, 0, 0),
        fn_ptr: 0x1000,
        appdata: 7,
    }
}

/// Shares `text` and subscribes; returns nothing.
fn share(h: &Harness, p: ProcessId, text: &[u8]) {
    let addr = h.write_ram(p, 0x100, text);
    assert!(
        h.allow_ro(p, DRIVER_NUM, ro_allow::WRITE, addr, text.len())
            .is_success()
    );
    assert!(
        h.subscribe(p, DRIVER_NUM, upcall::WRITE_DONE, 0x1000, 7)
            .is_success()
    );
}

#[test]
fn exists_and_unknown_commands() {
    let (h, _, _) = setup(1, 64);
    let p = h.spawn("p");
    assert_eq!(h.command(p, DRIVER_NUM, 0, 0, 0), SyscallReturn::Success);
    for cmd in [4, 5, 99, usize::MAX] {
        assert_eq!(
            h.command(p, DRIVER_NUM, cmd, 0, 0),
            SyscallReturn::Failure(ErrorCode::NOSUPPORT)
        );
    }
}

#[test]
fn write_completes_with_its_upcall() {
    let (h, uart, _) = setup(1, 64);
    let p = h.spawn("p");
    share(h, p, b"hello, world\n");
    assert_eq!(h.command(p, DRIVER_NUM, 1, 5, 0), SyscallReturn::Success);
    assert_eq!(h.upcalls(p), vec![]);
    assert_eq!(uart.drain(), 1);
    assert_eq!(uart.wire(), b"hello");
    assert_eq!(h.upcalls(p), vec![write_done(5)]);
    // A size past the buffer writes the whole buffer.
    assert_eq!(h.command(p, DRIVER_NUM, 1, 1000, 0), SyscallReturn::Success);
    uart.drain();
    assert_eq!(uart.wire(), b"hellohello, world\n");
    assert_eq!(h.upcalls(p), vec![write_done(13)]);
}

#[test]
fn long_writes_go_out_in_chunks_and_complete_once() {
    let (h, uart, _) = setup(1, 8);
    let p = h.spawn("p");
    let text: Vec<u8> = (0..50u8).map(|i| b'a' + i % 26).collect();
    share(h, p, &text);
    assert!(h.command(p, DRIVER_NUM, 1, 50, 0).is_success());
    assert_eq!(uart.drain(), 7);
    assert_eq!(uart.wire(), text);
    assert_eq!(h.upcalls(p), vec![write_done(50)]);
}

#[test]
fn write_without_a_buffer_is_busy_and_a_second_write_is_busy() {
    let (h, uart, _) = setup(1, 64);
    let p = h.spawn("p");
    assert_eq!(
        h.command(p, DRIVER_NUM, 1, 10, 0),
        SyscallReturn::Failure(ErrorCode::BUSY)
    );
    share(h, p, b"abc");
    assert!(h.command(p, DRIVER_NUM, 1, 3, 0).is_success());
    assert_eq!(
        h.command(p, DRIVER_NUM, 1, 3, 0),
        SyscallReturn::Failure(ErrorCode::BUSY)
    );
    uart.drain();
    assert_eq!(uart.wire(), b"abc");
    assert_eq!(h.upcalls(p), vec![write_done(3)]);
}

#[test]
fn several_processes_are_queued_in_order_and_not_interleaved() {
    let (h, uart, _) = setup(3, 4);
    let a = h.spawn("a");
    let b = h.spawn("b");
    let c = h.spawn("c");
    share(h, c, b"CCCCCC");
    share(h, a, b"AAAAAAAAAA");
    share(h, b, b"BBB");
    // c asks first, then b, then a: served in that order.
    assert!(h.command(c, DRIVER_NUM, 1, 6, 0).is_success());
    assert!(h.command(b, DRIVER_NUM, 1, 3, 0).is_success());
    assert!(h.command(a, DRIVER_NUM, 1, 10, 0).is_success());
    uart.drain();
    assert_eq!(uart.wire(), b"CCCCCCBBBAAAAAAAAAA");
    assert_eq!(h.upcalls(a), vec![write_done(10)]);
    assert_eq!(h.upcalls(b), vec![write_done(3)]);
    assert_eq!(h.upcalls(c), vec![write_done(6)]);
}

#[test]
fn a_process_writing_again_waits_behind_the_others() {
    let (h, uart, _) = setup(2, 4);
    let a = h.spawn("a");
    let b = h.spawn("b");
    share(h, a, b"aa");
    share(h, b, b"bb");
    assert!(h.command(a, DRIVER_NUM, 1, 2, 0).is_success());
    assert!(h.command(b, DRIVER_NUM, 1, 2, 0).is_success());
    assert!(uart.complete_tx()); // a's write done
    assert_eq!(h.upcalls(a), vec![write_done(2)]);
    assert!(h.command(a, DRIVER_NUM, 1, 2, 0).is_success());
    uart.drain();
    assert_eq!(uart.wire(), b"aabbaa");
}

#[test]
fn cancel_with_size_zero() {
    let (h, uart, _) = setup(2, 4);
    let a = h.spawn("a");
    let b = h.spawn("b");
    // Nothing outstanding: an upcall with 0 bytes.
    share(h, a, b"0123456789");
    assert!(h.command(a, DRIVER_NUM, 1, 0, 0).is_success());
    assert_eq!(h.upcalls(a), vec![write_done(0)]);
    // On the wire: completes after the current chunk.
    assert!(h.command(a, DRIVER_NUM, 1, 10, 0).is_success());
    share(h, b, b"bbbb");
    assert!(h.command(b, DRIVER_NUM, 1, 4, 0).is_success());
    assert!(h.command(a, DRIVER_NUM, 1, 0, 0).is_success());
    assert_eq!(h.upcalls(a), vec![]);
    assert!(uart.complete_tx());
    assert_eq!(h.upcalls(a), vec![write_done(4)]);
    // Queued, not on the wire: completes at once.
    share(h, a, b"zz");
    assert!(h.command(a, DRIVER_NUM, 1, 2, 0).is_success());
    assert!(h.command(a, DRIVER_NUM, 1, 0, 0).is_success());
    assert_eq!(h.upcalls(a), vec![write_done(0)]);
    uart.drain();
    assert_eq!(uart.wire(), b"0123bbbb");
    assert_eq!(h.upcalls(b), vec![write_done(4)]);
}

#[test]
fn a_dead_writer_does_not_wedge_the_console() {
    let (h, uart, _) = setup(2, 4);
    let a = h.spawn("a");
    let b = h.spawn("b");
    share(h, a, b"aaaaaaaa");
    share(h, b, b"bb");
    assert!(h.command(a, DRIVER_NUM, 1, 8, 0).is_success());
    assert!(h.command(b, DRIVER_NUM, 1, 2, 0).is_success());
    h.exit(a, 0);
    uart.drain();
    // a's chunk on the wire finishes; the rest of a's write is dropped.
    assert_eq!(uart.wire(), b"aaaabb");
    assert_eq!(h.upcalls(b), vec![write_done(2)]);
    // A restarted process starts with no write outstanding.
    let b2 = h.restart(b);
    share(h, b2, b"x");
    assert!(h.command(b2, DRIVER_NUM, 1, 1, 0).is_success());
    uart.drain();
    assert_eq!(h.upcalls(b2), vec![write_done(1)]);
}

#[test]
fn uart_refusing_a_transmit_completes_the_write_and_serves_the_next() {
    let (h, uart, _) = setup(2, 4);
    let a = h.spawn("a");
    let b = h.spawn("b");
    share(h, a, b"aaaaaa");
    share(h, b, b"bb");
    assert!(h.command(a, DRIVER_NUM, 1, 6, 0).is_success());
    assert!(h.command(b, DRIVER_NUM, 1, 2, 0).is_success());
    uart.refuse_tx.set(Some(ErrorCode::OFF));
    assert!(uart.complete_tx());
    assert_eq!(h.upcalls(a), vec![write_done(4)]);
    uart.drain();
    assert_eq!(uart.wire(), b"aaaabb");
    assert_eq!(h.upcalls(b), vec![write_done(2)]);
}

#[test]
fn shrinking_the_buffer_mid_write_ends_it_without_panic() {
    let (h, uart, _) = setup(1, 4);
    let p = h.spawn("p");
    share(h, p, b"0123456789");
    assert!(h.command(p, DRIVER_NUM, 1, 10, 0).is_success());
    let addr = h.ram_start(p) + 0x100;
    assert!(
        h.allow_ro(p, DRIVER_NUM, ro_allow::WRITE, addr, 6)
            .is_success()
    );
    uart.drain();
    assert_eq!(uart.wire(), b"012345");
    assert_eq!(h.upcalls(p), vec![write_done(6)]);
    // Unshared entirely.
    assert!(
        h.allow_ro(p, DRIVER_NUM, ro_allow::WRITE, addr, 10)
            .is_success()
    );
    assert!(h.command(p, DRIVER_NUM, 1, 10, 0).is_success());
    assert!(
        h.allow_ro(p, DRIVER_NUM, ro_allow::WRITE, 0, 0)
            .is_success()
    );
    uart.drain();
    assert_eq!(h.upcalls(p), vec![write_done(4)]);
}

fn read_done(status: usize, bytes: usize) -> Upcall {
    Upcall {
        driver_num: DRIVER_NUM,
        subscribe_num: upcall::READ_DONE,
        args: (status, bytes, 0),
        fn_ptr: 0x2000,
        appdata: 0,
    }
}

fn share_read(h: &Harness, p: ProcessId, len: usize) -> usize {
    let addr = h.ram_start(p) + 0x400;
    assert!(
        h.allow_rw(p, DRIVER_NUM, rw_allow::READ, addr, len)
            .is_success()
    );
    assert!(
        h.subscribe(p, DRIVER_NUM, upcall::READ_DONE, 0x2000, 0)
            .is_success()
    );
    addr
}

#[test]
fn read_fills_the_buffer_and_upcalls() {
    let (h, uart, _) = setup(1, 16);
    let p = h.spawn("p");
    share_read(h, p, 8);
    assert_eq!(h.command(p, DRIVER_NUM, 2, 3, 0), SyscallReturn::Success);
    uart.type_input(b"xyz", uart::Error::None);
    assert_eq!(h.read_ram(p, 0x400, 3), b"xyz");
    assert_eq!(h.upcalls(p), vec![read_done(0, 3)]);
}

#[test]
fn read_errors() {
    let (h, uart, _) = setup(2, 16);
    let p = h.spawn("p");
    let q = h.spawn("q");
    // No buffer: BUSY (doc).
    assert_eq!(
        h.command(p, DRIVER_NUM, 2, 3, 0),
        SyscallReturn::Failure(ErrorCode::BUSY)
    );
    share_read(h, p, 32);
    // Size 0 and larger than the kernel buffer: INVAL.
    assert_eq!(
        h.command(p, DRIVER_NUM, 2, 0, 0),
        SyscallReturn::Failure(ErrorCode::INVAL)
    );
    assert_eq!(
        h.command(p, DRIVER_NUM, 2, 17, 0),
        SyscallReturn::Failure(ErrorCode::INVAL)
    );
    assert!(h.command(p, DRIVER_NUM, 2, 4, 0).is_success());
    // One reader at a time.
    share_read(h, q, 4);
    assert_eq!(
        h.command(q, DRIVER_NUM, 2, 4, 0),
        SyscallReturn::Failure(ErrorCode::BUSY)
    );
    assert_eq!(
        h.command(p, DRIVER_NUM, 2, 4, 0),
        SyscallReturn::Failure(ErrorCode::BUSY)
    );
    // A line error reports FAIL and no bytes.
    uart.type_input(b"ab", uart::Error::FramingError);
    assert_eq!(h.upcalls(p), vec![read_done(ErrorCode::FAIL as usize, 0)]);
    assert!(h.command(q, DRIVER_NUM, 2, 4, 0).is_success());
}

#[test]
fn abort_only_touches_the_callers_read() {
    let (h, uart, _) = setup(2, 16);
    let p = h.spawn("p");
    let q = h.spawn("q");
    share_read(h, p, 4);
    assert!(h.command(p, DRIVER_NUM, 2, 4, 0).is_success());
    // q aborting does nothing to p's read.
    assert_eq!(h.command(q, DRIVER_NUM, 3, 0, 0), SyscallReturn::Success);
    assert_eq!(h.upcalls(p), vec![]);
    assert!(uart.rx.is_some());
    assert_eq!(h.command(p, DRIVER_NUM, 3, 0, 0), SyscallReturn::Success);
    assert_eq!(h.upcalls(p), vec![read_done(ErrorCode::CANCEL as usize, 0)]);
}

#[test]
fn a_dead_readers_receive_is_aborted_for_the_next() {
    let (h, _uart, _) = setup(2, 16);
    let p = h.spawn("p");
    let q = h.spawn("q");
    share_read(h, p, 4);
    assert!(h.command(p, DRIVER_NUM, 2, 4, 0).is_success());
    h.exit(p, 0);
    share_read(h, q, 4);
    assert_eq!(
        h.command(q, DRIVER_NUM, 2, 4, 0),
        SyscallReturn::Failure(ErrorCode::BUSY)
    );
    assert!(h.command(q, DRIVER_NUM, 2, 4, 0).is_success());
}

#[test]
fn received_bytes_are_bounded_by_the_process_buffer() {
    let (h, uart, console) = setup(1, 16);
    let p = h.spawn("p");
    share_read(h, p, 8);
    assert!(h.command(p, DRIVER_NUM, 2, 8, 0).is_success());
    // The process shrinks its buffer while the read is in progress.
    let addr = h.ram_start(p) + 0x400;
    assert!(
        h.allow_rw(p, DRIVER_NUM, rw_allow::READ, addr, 2)
            .is_success()
    );
    uart.type_input(b"12345678", uart::Error::None);
    assert_eq!(h.read_ram(p, 0x400, 3), b"12\0");
    assert_eq!(h.upcalls(p), vec![read_done(ErrorCode::SIZE as usize, 2)]);
    // A buggy UART reporting more bytes than asked cannot overflow.
    assert!(
        h.allow_rw(p, DRIVER_NUM, rw_allow::READ, addr, 8)
            .is_success()
    );
    assert!(h.command(p, DRIVER_NUM, 2, 1, 0).is_success());
    let buffer = uart.rx.take().unwrap();
    uart::ReceiveClient::received_buffer(console, buffer, 100, Ok(()), uart::Error::None);
    assert_eq!(h.upcalls(p), vec![read_done(ErrorCode::SIZE as usize, 1)]);
}
