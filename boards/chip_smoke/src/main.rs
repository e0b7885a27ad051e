// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Bare-metal smoke test of `rv32` and `qemu_rv32_virt_chip` on QEMU.
//!
//! Run:
//!
//! ```text
//! cargo build -p chip_smoke --target riscv32imac-unknown-none-elf --release
//! timeout 30 qemu-system-riscv32 -M virt,iommu-sys=on -bios none -nographic \
//!     -m 256M -device edu -device edu \
//!     -kernel target/riscv32imac-unknown-none-elf/release/chip_smoke
//! ```
//!
//! It boots through `rv32`'s `_start`, then checks, printing one line per
//! step and ending QEMU through the finisher (status 0 = all passed):
//!
//! 1. UART transmit and receive by interrupt (`hil::uart`, completions from
//!    the PLIC-dispatched UART interrupt; receive through the 16550's local
//!    loopback), and an aborted receive completing with `CANCEL`;
//! 2. an alarm (`hil::time::Alarm`) fires after at least its delay;
//! 3. PCI enumeration: both `edu` devices found, BARs assigned in the
//!    0x4000_0000 window, requester IDs 0x8 and 0x10, the BAR answers,
//!    each device's INTx reaches its PLIC source, and a DMA started through
//!    `hil::dma_device` completes by interrupt (its memory read is blocked
//!    by the IOMMU, still in reset state: ddtp Off);
//! 4. user mode (`user` module): an `ecall` returns `SyscallFired` with the
//!    class and arguments, a return value and an upcall reach the process,
//!    forbidden loads/stores/jumps return `Fault` with `mcause`/`mtval`, and
//!    a spinning process is preempted by the scheduler time slice and then
//!    by the alarm (`Interrupted`), both on the one `mtimecmp`; and, as a
//!    benchmark, `minstret` per system-call round trip (run QEMU with
//!    `-icount shift=3` for it to count instructions: 349 at the time of
//!    writing).

#![no_std]
#![no_main]

mod io;
mod user;

use core::cell::Cell;
use core::fmt::Write;
use io::LineBuffer;
use kernel::ErrorCode;
use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::dma_device::{Direction, DmaDevice, DmaDeviceClient};
use kernel::hil::time::{Alarm, AlarmClient, ConvertTicks, Ticks, Time};
use kernel::hil::uart::{self as uart_hil, Receive, ReceiveClient, Transmit, TransmitClient};
use kernel::platform::chip::Chip;
use kernel::utilities::StaticRef;
use qemu_rv32_virt_chip::QemuRv32VirtChip;
use qemu_rv32_virt_chip::edu::{self, Edu, EduClient};
use qemu_rv32_virt_chip::finisher::Finisher;
use qemu_rv32_virt_chip::pci::{self, PciEcam};
use qemu_rv32_virt_chip::plic::{self, Plic};
use qemu_rv32_virt_chip::timer::{self, MachineTimer};
use qemu_rv32_virt_chip::uart::{self, Uart16550};
use rv32::dma_fence::RiscvCoherentDmaFence;

/// The chip as this test builds it: the two `edu`s serve PCI interrupts.
pub type SmokeChip = QemuRv32VirtChip<'static, (&'static SmokeEdu, &'static SmokeEdu)>;
/// An `edu` driver as this test builds it.
pub type SmokeEdu = Edu<'static, RiscvCoherentDmaFence>;

/// Kernel-loop rounds a step may take before it counts as hung.
const MAX_ROUNDS: usize = 10_000;

/// `kernel::static_init!` (Tock's: each expansion's buffer is handed out
/// once, a second run panics), with `value` built outside the `unsafe`
/// block the kernel's macro must be expanded in.
macro_rules! static_init {
    ($t:ty, $value:expr $(,)?) => {{
        let value: $t = $value;
        // SAFETY: the kernel's macro hands each expansion's buffer out at
        // most once, so this `&'static mut` is the only reference to it.
        unsafe { kernel::static_init!($t, value) }
    }};
}

fn finisher() -> Finisher {
    // SAFETY: FINISHER_BASE is the QEMU virt test finisher's MMIO page.
    Finisher::new(unsafe {
        StaticRef::new(qemu_rv32_virt_chip::finisher::FINISHER_BASE as *const _)
    })
}

/// Fails the run with `code` after printing `what` synchronously.
pub fn fail(what: &str, code: u16) -> ! {
    io::print_sync(format_args!("chip_smoke: FAIL: {what}\n"));
    finisher().fail(code)
}

/// A receive completion: length, result, line error.
type Received = (usize, Result<(), ErrorCode>, uart_hil::Error);

/// Records completions from the UART, the alarm and the `edu`s.
struct Events {
    transmitted: Cell<Option<(usize, Result<(), ErrorCode>)>>,
    received: Cell<Option<Received>>,
    rx_buffer: kernel::utilities::cells::TakeCell<'static, [u8]>,
    alarm_fired: Cell<bool>,
    edu_interrupt: Cell<u32>,
    dma_done: Cell<Option<Result<(), ErrorCode>>>,
    transfer: Cell<Option<(Direction, usize, usize, usize)>>,
    buffer: kernel::utilities::cells::TakeCell<'static, [u8]>,
}

impl TransmitClient for Events {
    fn transmitted_buffer(
        &self,
        tx_buffer: &'static mut [u8],
        tx_len: usize,
        rval: Result<(), ErrorCode>,
    ) {
        self.buffer.replace(tx_buffer);
        self.transmitted.set(Some((tx_len, rval)));
    }
}

impl ReceiveClient for Events {
    fn received_buffer(
        &self,
        rx_buffer: &'static mut [u8],
        rx_len: usize,
        rval: Result<(), ErrorCode>,
        error: uart_hil::Error,
    ) {
        self.rx_buffer.replace(rx_buffer);
        self.received.set(Some((rx_len, rval, error)));
    }
}

impl DmaDeviceClient for Events {
    fn transfer_done(
        &self,
        direction: Direction,
        device_offset: usize,
        iova: usize,
        len: usize,
        result: Result<(), ErrorCode>,
    ) {
        if result.is_ok() {
            self.transfer
                .set(Some((direction, device_offset, iova, len)));
        }
    }
}

impl AlarmClient for Events {
    fn alarm(&self) {
        self.alarm_fired.set(true);
    }
}

impl EduClient for Events {
    fn dma_done(&self, result: Result<(), ErrorCode>) {
        self.dma_done.set(Some(result));
    }

    fn interrupt(&self, status: u32) {
        self.edu_interrupt.set(status);
    }
}

/// Runs the kernel loop (service interrupts, deferred calls, sleep) until
/// `done()` or `MAX_ROUNDS` rounds.
pub fn run_until(chip: &SmokeChip, done: impl Fn() -> bool) -> bool {
    for _ in 0..MAX_ROUNDS {
        if done() {
            return true;
        }
        if chip.has_pending_interrupts() {
            chip.service_pending_interrupts();
        } else if DeferredCall::has_tasks() {
            DeferredCall::service_next_pending();
        } else {
            chip.sleep();
        }
    }
    done()
}

/// Sends `line` through the interrupt-driven UART and waits for the
/// completion.
fn print_by_interrupt(
    chip: &SmokeChip,
    uart: &Uart16550,
    events: &Events,
    line: core::fmt::Arguments,
) {
    let Some(buffer) = events.buffer.take() else {
        fail("transmit buffer missing", 2);
    };
    let mut writer = LineBuffer::new(buffer);
    let _ = writer.write_fmt(line);
    let (buffer, len) = writer.into_inner();
    events.transmitted.set(None);
    if let Err((_, buffer)) = uart.transmit_buffer(buffer, len) {
        events.buffer.replace(buffer);
        fail("transmit_buffer refused", 3);
    }
    if !run_until(chip, || events.transmitted.get().is_some()) {
        fail("no transmit completion", 4);
    }
    if events.transmitted.get() != Some((len, Ok(()))) {
        fail("transmit completion mismatch", 5);
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn main() -> ! {
    // SAFETY: machine mode at boot, no PMP entry is locked with -bios none.
    unsafe { rv32::pmp::disable_all() };
    io::print_sync(format_args!("chip_smoke: boot\n"));

    // ---------- Drivers ----------
    // SAFETY: the *_BASE constants are the QEMU virt MMIO addresses of these
    // peripherals, used by nothing else in this program.
    let (plic_regs, clint_regs, uart_regs) = unsafe {
        (
            StaticRef::new(plic::PLIC_BASE as *const _),
            StaticRef::new(timer::CLINT_BASE as *const _),
            StaticRef::new(uart::UART0_BASE as *const _),
        )
    };
    let plic = static_init!(Plic, Plic::new(plic_regs));
    let timer = static_init!(MachineTimer<'static>, MachineTimer::new(clint_regs));
    let uart = static_init!(
        Uart16550<'static>,
        Uart16550::new(uart_regs, uart::UART0_CLOCK_HZ)
    );
    uart.register();
    let events = static_init!(
        Events,
        Events {
            transmitted: Cell::new(None),
            received: Cell::new(None),
            rx_buffer: kernel::utilities::cells::TakeCell::new(static_init!([u8; 8], [0; 8])),
            alarm_fired: Cell::new(false),
            edu_interrupt: Cell::new(0),
            dma_done: Cell::new(None),
            transfer: Cell::new(None),
            buffer: kernel::utilities::cells::TakeCell::new(static_init!([u8; 160], [0; 160])),
        }
    );
    uart.set_transmit_client(events);
    uart.set_receive_client(events);
    timer.set_alarm_client(events);

    // ---------- PCI: find and enable both edu devices ----------
    // SAFETY: QEMU virt's ECAM and 32-bit PCI window, used only here.
    let ecam =
        unsafe { PciEcam::new(pci::ECAM_BASE, pci::MMIO_WINDOW_BASE, pci::MMIO_WINDOW_SIZE) };
    let mut devices = [None; 2];
    for (index, slot) in devices.iter_mut().enumerate() {
        let Some(address) = ecam.find(edu::EDU_VENDOR_ID, edu::EDU_DEVICE_ID, index) else {
            fail("edu device missing (run with -device edu -device edu)", 6);
        };
        match ecam.enable_device(address) {
            Ok(device) => *slot = Some(device),
            Err(_) => fail("enable_device", 7),
        }
    }
    let [Some(device0), Some(device1)] = devices else {
        fail("edu devices", 7);
    };
    let make_edu = |device: &pci::PciDevice| -> &'static SmokeEdu {
        let Some(bar0) = device.bars[0] else {
            fail("edu BAR0 unassigned", 8);
        };
        // SAFETY: BAR0 of an enabled edu. With iommu-sys=on the IOMMU
        // blocks all its DMA (ddtp Off), so it reaches no RAM: its DMA
        // memory is empty. QEMU virt's DMA is cache-coherent.
        let edu = unsafe {
            Edu::new(
                StaticRef::new(bar0.base as *const _),
                device.plic_interrupt(),
                RiscvCoherentDmaFence::new(),
                core::ptr::from_mut::<[u8]>(&mut []),
            )
        };
        static_init!(SmokeEdu, edu)
    };
    let edu0 = make_edu(&device0);
    let edu1 = make_edu(&device1);
    edu0.set_edu_client(events);
    edu1.set_edu_client(events);

    let chip: &'static SmokeChip = static_init!(
        SmokeChip,
        QemuRv32VirtChip::new(plic, timer, uart, (edu0, edu1))
    );
    chip.initialize_interrupts();
    DeferredCall::verify_setup();

    // ---------- 1. UART by interrupt ----------
    print_by_interrupt(
        chip,
        uart,
        events,
        format_args!("chip_smoke: uart: interrupt-driven transmit ok\n"),
    );

    // Receive by interrupt, through the UART's local loopback.
    let Some(rx_buffer) = events.rx_buffer.take() else {
        fail("receive buffer missing", 6);
    };
    uart.set_loopback(true);
    if uart.receive_buffer(rx_buffer, 4).is_err() {
        fail("receive_buffer refused", 6);
    }
    let Some(tx_buffer) = events.buffer.take() else {
        fail("transmit buffer missing", 6);
    };
    tx_buffer[..4].copy_from_slice(b"ping");
    events.transmitted.set(None);
    if uart.transmit_buffer(tx_buffer, 4).is_err() {
        fail("loopback transmit refused", 6);
    }
    let done = run_until(chip, || {
        events.transmitted.get().is_some() && events.received.get().is_some()
    });
    uart.set_loopback(false);
    let echoed = events
        .rx_buffer
        .map_or(false, |buffer| &buffer[..4] == b"ping");
    if !done || events.received.get() != Some((4, Ok(()), uart_hil::Error::None)) || !echoed {
        fail("loopback receive", 7);
    }
    // An aborted receive completes with CANCEL from the deferred call.
    events.received.set(None);
    let Some(rx_buffer) = events.rx_buffer.take() else {
        fail("receive buffer missing", 8);
    };
    if uart.receive_buffer(rx_buffer, 8).is_err() || uart.receive_abort() != Err(ErrorCode::BUSY) {
        fail("receive_abort", 8);
    }
    if !run_until(chip, || events.received.get().is_some())
        || events.received.get() != Some((0, Err(ErrorCode::CANCEL), uart_hil::Error::Aborted))
    {
        fail("aborted receive did not complete with CANCEL", 9);
    }
    print_by_interrupt(
        chip,
        uart,
        events,
        format_args!("chip_smoke: uart: interrupt-driven receive (loopback) and abort ok\n"),
    );

    // ---------- 2. Alarm ----------
    let start = timer.now();
    let delay = timer.ticks_from_ms(20);
    timer.set_alarm(start, delay);
    if !timer.is_armed() || !run_until(chip, || events.alarm_fired.get()) {
        fail("alarm did not fire", 10);
    }
    let elapsed = timer.now().wrapping_sub(start);
    if elapsed < delay || timer.is_armed() {
        fail("alarm fired early or stayed armed", 11);
    }
    print_by_interrupt(
        chip,
        uart,
        events,
        format_args!(
            "chip_smoke: alarm: fired after {} us (asked 20000 us)\n",
            timer.ticks_to_us(elapsed)
        ),
    );

    // ---------- 3. PCI ----------
    ecam.for_each_function(|address, vendor, device| {
        io::print_sync(format_args!(
            "chip_smoke: pci: 00:{:02x}.{} {:04x}:{:04x} rid {:#06x}\n",
            address.device,
            address.function,
            vendor,
            device,
            address.requester_id()
        ));
    });
    for (index, (device, edu)) in [(&device0, edu0), (&device1, edu1)].into_iter().enumerate() {
        let bar0 = device.bars[0].unwrap_or(pci::Bar { base: 0, size: 0 });
        print_by_interrupt(
            chip,
            uart,
            events,
            format_args!(
                "chip_smoke: edu{}: rid {:#06x} bar0 {:#010x} size {:#x} intx plic {:#x} id {:#010x}\n",
                index,
                device.requester_id(),
                bar0.base,
                bar0.size,
                device.plic_interrupt().unwrap_or(0),
                edu.identification()
            ),
        );
        if edu.identification() != edu::EDU_IDENTIFICATION || !edu.is_alive(0x1234_5678) {
            fail("edu BAR0 does not answer", 12);
        }
        if !(pci::MMIO_WINDOW_BASE..pci::MMIO_WINDOW_BASE + pci::MMIO_WINDOW_SIZE)
            .contains(&bar0.base)
        {
            fail("edu BAR0 outside the PCI window", 13);
        }
        events.edu_interrupt.set(0);
        let bits = 0x1 << index;
        if edu.raise_interrupt(bits).is_err()
            || !run_until(chip, || events.edu_interrupt.get() == bits)
        {
            fail("edu INTx did not arrive", 14);
        }
    }
    if device0.requester_id() != 0x8 || device1.requester_id() != 0x10 {
        fail("unexpected requester ids", 15);
    }
    print_by_interrupt(
        chip,
        uart,
        events,
        format_args!("chip_smoke: pci: both edu INTx lines reach the PLIC\n"),
    );

    // edu DMA: the device reads 64 bytes at IOVA 0x1000 into its buffer. With iommu-sys=on
    // and no device directory yet (ddtp Off) the IOMMU blocks the read; the
    // device still finishes and raises its completion interrupt, which is
    // what this checks. Nothing is written anywhere.
    if edu0.start_dma(edu::DmaDirection::FromRam, 0x1000, 0, 0x1001) != Err(ErrorCode::INVAL)
        || edu0.start_dma(edu::DmaDirection::FromRam, 0x1000_0000, 0, 4) != Err(ErrorCode::INVAL)
    {
        fail("edu DMA argument checks", 16);
    }
    events.dma_done.set(None);
    DmaDevice::set_client(edu1, events);
    // Through the generic `hil::dma_device` interface the DMA capsule uses.
    if DmaDevice::start(edu1, Direction::MemoryToDevice, 0x40, 0x1000, 64).is_err()
        || DmaDevice::start(edu1, Direction::MemoryToDevice, 0, 0x1000, 64) != Err(ErrorCode::BUSY)
    {
        fail("edu start_dma", 17);
    }
    let started = timer.now();
    if !run_until(chip, || events.dma_done.get().is_some()) || edu1.is_busy() {
        fail("edu DMA completion interrupt", 18);
    }
    if events.transfer.get() != Some((Direction::MemoryToDevice, 0x40, 0x1000, 64)) {
        fail("edu transfer_done arguments", 19);
    }
    let took = timer.ticks_to_ms(timer.now().wrapping_sub(started));
    print_by_interrupt(
        chip,
        uart,
        events,
        format_args!(
            "chip_smoke: edu1: DMA (hil::dma_device) completion by interrupt after {took} ms\n"
        ),
    );

    // ---------- 4. User mode ----------
    user::run(chip, timer, &events.alarm_fired, &mut |line| {
        print_by_interrupt(chip, uart, events, line)
    });

    print_by_interrupt(chip, uart, events, format_args!("chip_smoke: PASS\n"));
    finisher().pass()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    io::print_sync(format_args!("chip_smoke: panic: {info}\n"));
    finisher().fail(100)
}
