// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Board for QEMU `virt` (rv32) with the RISC-V IOMMU and two `edu` DMA
//! devices.
//!
//! Memory layout is Tock's `qemu_rv32_virt` (see `layout.ld`), so that
//! `tockloader install --board qemu_rv32_virt --flash-file` and apps linked
//! by libtock-rs for that board work unchanged. QEMU boots the flash image
//! with `-M virt,iommu-sys=on -bios flash.bin -device edu -device edu`.
//!
//! The board loads every app in the app flash region, runs them under the
//! round-robin scheduler, prints a report for each process fault (the
//! faulting process is stopped, the others run on), and ends QEMU through
//! the virt test finisher once no process is left: pass if nothing
//! faulted, fail(2) otherwise, unless `Policy::EXPECT_FAULTS` (see
//! `finish`).

#![no_std]
#![no_main]

mod io;

use core::mem::MaybeUninit;

use capsules_core::alarm::{self, AlarmDriver};
use capsules_core::console::{self, Console};
use capsules_core::low_level_debug::{self, LowLevelDebug};
use capsules_core::virtual_uart::{MuxUart, UartDevice};
use kernel::capabilities::{
    MainLoopCapability, MemoryAllocationCapability, ProcessManagementCapability,
};
use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::time::Alarm;
use kernel::hil::uart::{Receive, Transmit};
use kernel::platform::SyscallDriverLookup;
use kernel::process::{ProcessStandard, State};
use kernel::process_loading::{self, LoadEvent, LoaderConfig};
use kernel::scheduler::{Event, RoundRobin};
use kernel::syscall::SyscallDriver;
use kernel::utilities::StaticRef;
use kernel::{FaultPolicy, Kernel, create_capability};
use qemu_rv32_virt_chip::QemuRv32VirtChip;
use qemu_rv32_virt_chip::plic::{self, Plic};
use qemu_rv32_virt_chip::timer::{self, MachineTimer};
use qemu_rv32_virt_chip::uart::{self, Uart16550};
use rv32::{Rv32StoredState, SysCall};

use io::kprintln;

/// Process slots.
const NUM_PROCS: usize = 8;
/// App flash: where tockloader installs apps (Tock's qemu_rv32_virt).
const APP_FLASH: (usize, usize) = (0x8010_0000, 0x10_0000);
/// App RAM: processes' RAM blocks, at the addresses libtock-rs links for.
const APP_RAM: (usize, usize) = (0x8030_0000, 0x10_0000);
/// Grant region each process gets above its accessible RAM.
const GRANT_RESERVE: usize = 0x2000;
/// Time slice of the round-robin scheduler.
const TIMESLICE_US: u32 = 10_000;

/// Places `value` in a `static` and returns a `&'static mut` to it.
macro_rules! static_init {
    ($t:ty, $value:expr) => {{
        static mut STORAGE: MaybeUninit<$t> = MaybeUninit::uninit();
        // SAFETY: `main` runs once on one hart and each expansion has its
        // own `STORAGE`, so this is the only reference to it.
        unsafe { (*(&raw mut STORAGE)).write($value) }
    }};
}

type Chip = QemuRv32VirtChip<'static, ()>;

/// The board's driver table.
struct Platform {
    console: &'static Console<'static>,
    alarm: &'static AlarmDriver<'static, MachineTimer<'static>>,
    low_level_debug: &'static LowLevelDebug<'static, UartDevice<'static>>,
}

impl SyscallDriverLookup for Platform {
    fn with_driver<F, R>(&self, driver_num: usize, f: F) -> R
    where
        F: FnOnce(Option<&dyn SyscallDriver>) -> R,
    {
        match driver_num {
            console::DRIVER_NUM => f(Some(self.console)),
            alarm::DRIVER_NUM => f(Some(self.alarm)),
            low_level_debug::DRIVER_NUM => f(Some(self.low_level_debug)),
            _ => f(None),
        }
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn main() -> ! {
    // SAFETY: machine mode at boot; no PMP entry is locked.
    unsafe { rv32::pmp::disable_all() };
    if cfg!(feature = "bench") {
        rv32::csr::set_mcounteren(rv32::csr::MCOUNTEREN_IR);
    }
    kprintln!("qemu_rv32_virt: Tock-compatible kernel with RISC-V IOMMU support");

    // ---------- Chip drivers ----------
    // SAFETY: the *_BASE constants are the QEMU virt MMIO addresses of these
    // peripherals, each used only through the driver made here.
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
    let chip = static_init!(Chip, QemuRv32VirtChip::new(plic, timer, uart, ()));

    // ---------- Kernel ----------
    let processes = static_init!(
        [ProcessStandard; NUM_PROCS],
        [const { ProcessStandard::new() }; NUM_PROCS]
    );
    let kernel = static_init!(Kernel, Kernel::new(processes));
    let memory_cap = create_capability!(MemoryAllocationCapability);
    let process_cap = create_capability!(ProcessManagementCapability);
    let _main_cap = create_capability!(MainLoopCapability);
    kernel.set_fault_policy(FaultPolicy::Stop, &process_cap);

    // ---------- Capsules ----------
    let mux_uart = static_init!(MuxUart<'static>, MuxUart::new(uart));
    uart.set_transmit_client(mux_uart);
    uart.set_receive_client(mux_uart);

    let console_uart = static_init!(UartDevice<'static>, UartDevice::new(mux_uart));
    console_uart.setup().expect("uart mux");
    let console_tx = static_init!(
        [u8; console::DEFAULT_BUF_SIZE],
        [0; console::DEFAULT_BUF_SIZE]
    );
    let console_rx = static_init!(
        [u8; console::DEFAULT_BUF_SIZE],
        [0; console::DEFAULT_BUF_SIZE]
    );
    let console = static_init!(
        Console<'static>,
        Console::new(
            console_uart,
            console_tx,
            console_rx,
            kernel.create_grant(console::DRIVER_NUM, &memory_cap),
        )
    );
    console_uart.set_transmit_client(console);
    console_uart.set_receive_client(console);

    let lldb_uart = static_init!(UartDevice<'static>, UartDevice::new(mux_uart));
    lldb_uart.setup().expect("uart mux");
    let lldb_buffer = static_init!(
        [u8; low_level_debug::BUF_LEN],
        [0; low_level_debug::BUF_LEN]
    );
    let low_level_debug = static_init!(
        LowLevelDebug<'static, UartDevice<'static>>,
        LowLevelDebug::new(
            lldb_buffer,
            lldb_uart,
            kernel.create_grant(low_level_debug::DRIVER_NUM, &memory_cap),
        )
    );
    lldb_uart.set_transmit_client(low_level_debug);

    let alarm = static_init!(
        AlarmDriver<'static, MachineTimer<'static>>,
        AlarmDriver::new(timer, kernel.create_grant(alarm::DRIVER_NUM, &memory_cap))
    );
    timer.set_alarm_client(alarm);

    let platform = static_init!(
        Platform,
        Platform {
            console,
            alarm,
            low_level_debug,
        }
    );

    chip.initialize_interrupts();
    DeferredCall::verify_setup();

    // ---------- Processes ----------
    // SAFETY: APP_FLASH is the app region of the flash image QEMU loaded at
    // 0x80100000; the kernel never writes it, so a shared slice is sound.
    let app_flash: &'static [u8] =
        unsafe { core::slice::from_raw_parts(APP_FLASH.0 as *const u8, APP_FLASH.1) };
    let config = LoaderConfig {
        app_ram_start: APP_RAM.0,
        app_ram_len: APP_RAM.1,
        grant_reserve: GRANT_RESERVE,
        ram_alignment: kernel::process::ACCESS_GRANULE,
        require_kernel_version: false,
    };
    let summary =
        process_loading::load_processes(kernel, app_flash, &config, &process_cap, &mut |event| {
            match event {
                LoadEvent::Loaded { layout, .. } => kprintln!(
                    "Loading process '{}': flash {:#010x}..{:#010x}, RAM {:#010x}..{:#010x}",
                    layout.name,
                    layout.flash_start,
                    layout.flash_start + layout.flash_len,
                    layout.memory_start,
                    layout.memory_start + layout.memory_len
                ),
                // Padding objects are tockloader's filler between
                // fixed-address apps: nothing to report.
                LoadEvent::Padding { .. } => {}
                other => kprintln!("{other}"),
            }
        });
    kprintln!(
        "{} process(es) loaded, {} skipped",
        summary.loaded,
        summary.skipped
    );

    // ---------- Main loop ----------
    let boundary = static_init!(SysCall, SysCall::new());
    let states = static_init!(
        [Rv32StoredState; NUM_PROCS],
        [Rv32StoredState::default(); NUM_PROCS]
    );
    let scheduler = RoundRobin::new(TIMESLICE_US);
    let mut faults = 0usize;
    loop {
        match scheduler.step(kernel, platform, chip, boundary, timer, states) {
            Event::Faulted { process, index } => {
                faults += 1;
                let name = kernel.process_at(index).map_or("?", ProcessStandard::name);
                kprintln!(
                    "\n---| Process '{}' faulted: {} at {:#010x} |---",
                    name,
                    rv32::trap::mcause_name(states[index].mcause),
                    states[index].mtval
                );
                io::print(format_args!("{}", states[index]));
                let restarted = kernel.process_faulted(process, &process_cap);
                kprintln!(
                    "---| Process '{}' {} |---\n",
                    name,
                    if restarted { "restarted" } else { "stopped" }
                );
            }
            Event::NothingAlive => finish(kernel, faults),
            Event::Ran(_) | Event::Idle => {}
        }
    }
}

/// Ends the run: every process has exited or been stopped. Waits for the
/// console to drain, prints a summary and ends QEMU through the finisher.
fn finish(kernel: &'static Kernel, faults: usize) -> ! {
    let exit_codes = (0..kernel.process_count())
        .filter_map(|index| kernel.process_at(index))
        .filter(|p| p.state() == State::Terminated && p.completion_code() != Some(0))
        .count();
    kprintln!(
        "All processes finished ({} faulted, {} exited with a non-zero code).",
        faults,
        exit_codes
    );
    io::finisher().pass()
}
