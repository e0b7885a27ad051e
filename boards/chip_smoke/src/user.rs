// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! User-mode checks of `rv32::SysCall` and `rv32::pmp`.
//!
//! Tiny user-mode routines live in the `.user_text` section (one PMP
//! read/execute region); their RAM is `.user_ram`, of which the lower half
//! is the process's read/write region (memory start up to the app break)
//! and the upper half plays the grant region. Each check enters one routine
//! through `SysCall::switch_to_process` and compares the returned
//! `ContextSwitchReason` with what the hardware must report.
//!
//! Routines end in an `ecall` with class `CLASS_REACHED` when the
//! instruction before it was *not* stopped, so "Fault expected but
//! SyscallFired(CLASS_REACHED) seen" pinpoints an isolation hole.

use crate::{SmokeChip, fail, run_until};
use core::arch::global_asm;
use core::cell::Cell;
use core::fmt;
use kernel::hil::time::{Alarm, ConvertTicks, Time};
use kernel::platform::chip::Chip;
use kernel::scheduler::SchedulerTimer;
use qemu_rv32_virt_chip::timer::MachineTimer;
use rv32::pmp::{Permissions, PmpConfig, PmpRegion, RAM_REGION};
use rv32::syscall::{R_A0, R_RA, Rv32StoredState};
use rv32::trap::exception;
use rv32::{ContextSwitchReason, SysCall};

/// System-call class the first `ecall` of `user_syscall` uses (command).
const CLASS_COMMAND: u32 = 2;
/// Class `user_syscall`'s second `ecall` uses to echo its return values.
const CLASS_ECHO: u32 = 0x55;
/// Class `user_upcall` uses to report its arguments' sum and `ra`.
const CLASS_UPCALL_DONE: u32 = 0x66;
/// Class a routine uses when its probe instruction was not stopped.
const CLASS_REACHED: u32 = 0x77;

global_asm!(
    r#"
    .section .user_text, "ax"
    .balign 4
    .globl user_syscall
user_syscall:
    li   a0, 1
    li   a1, 2
    li   a2, 3
    li   a3, 4
    li   a4, 2
    ecall
    li   a4, 0x55
    ecall
    unimp

    .balign 4
    .globl user_upcall
user_upcall:
    add  a0, a0, a1
    add  a0, a0, a2
    add  a0, a0, a3
    mv   a1, ra
    li   a4, 0x66
    ecall
    unimp

    .balign 4
    .globl user_load
user_load:
    lw   t0, 0(a0)
    li   a4, 0x77
    ecall
    unimp

    .balign 4
    .globl user_store
user_store:
    sw   a1, 0(a0)
    li   a4, 0x77
    ecall
    unimp

    .balign 4
    .globl user_jump
user_jump:
    jr   a0

    .balign 4
    .globl user_csr
user_csr:
    csrr t0, mstatus
    li   a4, 0x77
    ecall
    unimp

    .balign 4
    .globl user_null_loop
user_null_loop:
    mv   s0, a0
1:  li   a0, 1
    li   a1, 0
    li   a4, 2
    ecall
    addi s0, s0, -1
    bnez s0, 1b
    li   a4, 0x77
    ecall
    unimp

    .balign 4
    .globl user_spin
user_spin:
1:  addi a0, a0, -1
    bnez a0, 1b
    li   a4, 0x77
    ecall
    unimp
"#
);

unsafe extern "C" {
    fn user_syscall();
    fn user_upcall();
    fn user_load();
    fn user_store();
    fn user_jump();
    fn user_csr();
    fn user_spin();
    fn user_null_loop();
    static _suser_text: u8;
    static _euser_text: u8;
    static _suser_ram: u8;
    static _euser_ram: u8;
    static _stext: u8;
    static _sstack: u8;
}

/// A kernel variable the process must not reach.
static KERNEL_SECRET: StaticCell<Cell<u32>> = StaticCell(Cell::new(0x5ec2e7));

/// A `Cell` in a `static`: single hart, single thread.
struct StaticCell<T>(T);

// SAFETY: the test runs on one hart with no threads or interrupt handlers
// that touch it.
unsafe impl<T> Sync for StaticCell<T> {}

impl<T> core::ops::Deref for StaticCell<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn address(routine: unsafe extern "C" fn()) -> u32 {
    routine as usize as u32
}

/// The process: its PMP configuration and saved registers.
struct Process {
    boundary: SysCall,
    pmp: PmpConfig,
    state: Rv32StoredState,
    app_break: u32,
}

impl Process {
    /// Enters at `routine(args)` with a fresh stack and runs to the next
    /// trap.
    fn start(&mut self, routine: unsafe extern "C" fn(), args: [u32; 4]) -> ContextSwitchReason {
        self.boundary
            .initialize_process(&mut self.state, self.app_break as usize);
        self.boundary
            .set_function_call(&mut self.state, address(routine) as usize, args);
        self.resume()
    }

    /// Runs the process from its saved state to its next trap.
    fn resume(&mut self) -> ContextSwitchReason {
        // SAFETY: machine mode, no locked entries; the entries only limit
        // user mode.
        unsafe { rv32::pmp::write_registers(&self.pmp.registers()) };
        // SAFETY: machine mode with mstatus.MIE clear (start.rs), mtvec is
        // `_start_trap`, and the PMP was just set for this process.
        unsafe { self.boundary.switch_to_process(&mut self.state) }
    }
}

/// Checks `got` against `want`, printing both on a mismatch.
fn expect(step: &str, got: ContextSwitchReason, want: ContextSwitchReason, code: u16) {
    if got != want {
        crate::io::print_sync(format_args!(
            "chip_smoke: user: {step}: got {got:?}, want {want:?}\n"
        ));
        fail(step, code);
    }
}

/// Fails with the unexpected `got`.
fn unexpected(step: &str, got: ContextSwitchReason, code: u16) -> ! {
    crate::io::print_sync(format_args!(
        "chip_smoke: user: {step}: unexpected {got:?}\n"
    ));
    fail(step, code)
}

fn fault(mcause: u32, mtval: u32) -> ContextSwitchReason {
    ContextSwitchReason::Fault { mcause, mtval }
}

/// Runs every user-mode check; `print` reports progress.
pub fn run(
    chip: &SmokeChip,
    timer: &MachineTimer<'static>,
    alarm_fired: &Cell<bool>,
    print: &mut dyn FnMut(fmt::Arguments),
) {
    // Linker-script symbols: only their addresses are taken.
    let (text_start, text_end) = (
        &raw const _suser_text as usize,
        &raw const _euser_text as usize,
    );
    let (ram_start, ram_end) = (
        &raw const _suser_ram as usize,
        &raw const _euser_ram as usize,
    );
    let (kernel_text, kernel_stack) = (&raw const _stext as usize, &raw const _sstack as usize);
    // The lower half of the user RAM is the process's; the upper half,
    // above the break, stands for its grant region.
    let app_break = ram_start + (ram_end - ram_start) / 2;
    let Ok(pmp) = PmpConfig::for_process(text_start, text_end, ram_start, app_break) else {
        fail("user PMP configuration", 20);
    };
    let mut process = Process {
        boundary: SysCall::new(),
        pmp,
        state: Rv32StoredState::default(),
        app_break: app_break as u32,
    };

    // ---------- System call: decode, return values, pc advance ----------
    let reason = process.start(user_syscall, [0; 4]);
    expect(
        "ecall",
        reason,
        ContextSwitchReason::SyscallFired {
            class: CLASS_COMMAND,
            args: [1, 2, 3, 4],
        },
        21,
    );
    process
        .boundary
        .set_syscall_return(&mut process.state, [128, 7, 8, 9]);
    let reason = process.resume();
    expect(
        "syscall return",
        reason,
        ContextSwitchReason::SyscallFired {
            class: CLASS_ECHO,
            args: [128, 7, 8, 9],
        },
        22,
    );
    print(format_args!(
        "chip_smoke: user: ecall -> SyscallFired(class 2, [1, 2, 3, 4]); return values delivered\n"
    ));

    // ---------- Upcall: function call with ra = interrupted pc ----------
    let resume_pc = process.state.pc;
    process.boundary.set_function_call(
        &mut process.state,
        address(user_upcall) as usize,
        [10, 20, 30, 40],
    );
    if process.state.regs[R_RA] != resume_pc {
        fail("upcall ra", 23);
    }
    let reason = process.resume();
    let ContextSwitchReason::SyscallFired {
        class: CLASS_UPCALL_DONE,
        args,
    } = reason
    else {
        unexpected("upcall", reason, 24);
    };
    if args[0] != 100 || args[1] != resume_pc {
        fail("upcall arguments or ra", 25);
    }
    print(format_args!(
        "chip_smoke: user: upcall ran with a0..a3 and ra = {resume_pc:#010x}\n"
    ));

    // ---------- Own memory works ----------
    let inside = (app_break - 4) as u32;
    let reason = process.start(user_store, [inside, 0xabcd, 0, 0]);
    expect(
        "store inside RAM region",
        reason,
        ContextSwitchReason::SyscallFired {
            class: CLASS_REACHED,
            args: [inside, 0xabcd, 0, 0],
        },
        26,
    );
    // SAFETY: `inside` is in .user_ram, which nothing in the kernel uses.
    let stored = unsafe { core::ptr::read_volatile(inside as *const u32) };
    if stored != 0xabcd {
        fail("user store did not land", 27);
    }
    let reason = process.start(user_load, [text_start as u32, 0, 0, 0]);
    if !matches!(
        reason,
        ContextSwitchReason::SyscallFired {
            class: CLASS_REACHED,
            ..
        }
    ) {
        unexpected("load own flash", reason, 28);
    }

    // ---------- Isolation faults ----------
    let secret = KERNEL_SECRET.as_ptr() as u32;
    let checks: [(&str, unsafe extern "C" fn(), u32, ContextSwitchReason); 8] = [
        (
            "load kernel text",
            user_load,
            kernel_text as u32,
            fault(exception::LOAD_ACCESS_FAULT, kernel_text as u32),
        ),
        (
            "load kernel data",
            user_load,
            secret,
            fault(exception::LOAD_ACCESS_FAULT, secret),
        ),
        (
            "store kernel data",
            user_store,
            secret,
            fault(exception::STORE_ACCESS_FAULT, secret),
        ),
        (
            "store kernel stack",
            user_store,
            kernel_stack as u32,
            fault(exception::STORE_ACCESS_FAULT, kernel_stack as u32),
        ),
        (
            "store grant region",
            user_store,
            app_break as u32,
            fault(exception::STORE_ACCESS_FAULT, app_break as u32),
        ),
        (
            "load grant region",
            user_load,
            app_break as u32 + 0x100,
            fault(exception::LOAD_ACCESS_FAULT, app_break as u32 + 0x100),
        ),
        (
            "store own flash",
            user_store,
            text_start as u32,
            fault(exception::STORE_ACCESS_FAULT, text_start as u32),
        ),
        (
            "jump into kernel",
            user_jump,
            kernel_text as u32,
            fault(exception::INSTRUCTION_ACCESS_FAULT, kernel_text as u32),
        ),
    ];
    for (index, (step, routine, target, want)) in checks.into_iter().enumerate() {
        let reason = process.start(routine, [target, 0xdead, 0, 0]);
        expect(step, reason, want, 30 + index as u16);
        print(format_args!(
            "chip_smoke: user: {step} at {target:#010x} -> {reason:?}\n"
        ));
    }
    if KERNEL_SECRET.get() != 0x5ec2e7 {
        fail("kernel data changed by user mode", 40);
    }
    let reason = process.start(user_csr, [0; 4]);
    if !matches!(
        reason,
        ContextSwitchReason::Fault {
            mcause: exception::ILLEGAL_INSTRUCTION,
            ..
        }
    ) {
        unexpected("csr access", reason, 41);
    }
    print(format_args!(
        "chip_smoke: user: csrr mstatus -> {reason:?}\n"
    ));

    // ---------- Preemption: time slice, then alarm, share mtimecmp ----------
    alarm_fired.set(false);
    timer.set_alarm(timer.now(), timer.ticks_from_ms(30));
    SchedulerTimer::start(timer, 1_000);
    let reason = process.start(user_spin, [u32::MAX, 0, 0, 0]);
    expect(
        "slice preemption",
        reason,
        ContextSwitchReason::Interrupted,
        42,
    );
    if process.state.mcause != 0x8000_0007 || !chip.has_pending_interrupts() {
        fail("preemption was not the machine timer", 43);
    }
    chip.service_pending_interrupts();
    if !SchedulerTimer::has_expired(timer) || alarm_fired.get() || !timer.is_armed() {
        fail("slice expiry must not fire the alarm", 44);
    }
    SchedulerTimer::reset(timer);
    let first = u32::MAX - process.state.regs[R_A0];
    // The preempted process resumes where it was and is preempted again,
    // this time by the alarm.
    let reason = process.resume();
    expect(
        "alarm preemption",
        reason,
        ContextSwitchReason::Interrupted,
        45,
    );
    if !run_until(chip, || alarm_fired.get()) {
        fail("alarm after preemption", 46);
    }
    let second = u32::MAX - process.state.regs[R_A0];
    if second <= first {
        fail("resumed process did not continue", 47);
    }
    print(format_args!(
        "chip_smoke: user: spinning process preempted by the 1 ms slice after {first} iterations, resumed, then by the 30 ms alarm after {second}\n"
    ));

    // ---------- Cost of a system-call round trip (benchmark, not a test) ----------
    // QEMU counts instructions in minstret only with `-icount` (e.g.
    // `-icount shift=3`); otherwise minstret follows the host's cycle counter.
    const ROUND_TRIPS: u32 = 100;
    let mut reason = process.start(user_null_loop, [ROUND_TRIPS, 0, 0, 0]);
    let before = rv32::csr::minstret();
    let mut calls = 0;
    while let ContextSwitchReason::SyscallFired {
        class: CLASS_COMMAND,
        ..
    } = reason
    {
        calls += 1;
        if calls > ROUND_TRIPS {
            break;
        }
        process
            .boundary
            .set_syscall_return(&mut process.state, [128, 0, 0, 0]);
        reason = process.resume();
    }
    let instructions = rv32::csr::minstret() - before;
    if calls != ROUND_TRIPS
        || !matches!(
            reason,
            ContextSwitchReason::SyscallFired {
                class: CLASS_REACHED,
                ..
            }
        )
    {
        unexpected("null system calls", reason, 51);
    }
    print(format_args!(
        "chip_smoke: user: {} minstret per ecall round trip (PMP write, switch, decode, return; instructions only with -icount)\n",
        instructions / u64::from(ROUND_TRIPS)
    ));

    // ---------- A moved break moves the region ----------
    let lower = app_break - 0x100;
    if process.pmp.update_app_break(lower).is_err() {
        fail("update_app_break", 50);
    }
    let reason = process.start(user_store, [lower as u32, 0, 0, 0]);
    expect(
        "store above lowered break",
        reason,
        fault(exception::STORE_ACCESS_FAULT, lower as u32),
        46,
    );
    let Ok(region) = PmpRegion::new(ram_start, app_break, Permissions::ReadWriteOnly) else {
        fail("region", 49);
    };
    let _ = process.pmp.set_region(RAM_REGION, region);
    print(format_args!(
        "chip_smoke: user: lowered app break -> {reason:?}\n"
    ));
}
