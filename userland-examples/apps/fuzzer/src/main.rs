// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! fuzzer: a hostile process that issues random system calls.
//!
//! It makes `CALLS` system calls, each of a random class (subscribe,
//! command, read-write, read-only and userspace-readable allow, memop,
//! yield-no-wait and unknown yield variants; exit only at the end) to a
//! random driver: the board's (alarm 0x0, console 0x1, low-level debug 0x8,
//! IOMMU 0x10003, DMA 0x10004, RNG 0x40001, block storage 0x50005) or any
//! other number. The arguments are
//! random numbers, forged and stale IOMMU handles, DMA start words, and
//! addresses anywhere: its own RAM and flash and their edges, other apps'
//! RAM slots, the kernel's flash and RAM, app flash, MMIO (UART, PLIC,
//! CLINT, IOMMU, PCI ECAM and window, the test finisher), with lengths from
//! 0 to wrapping. Invariant I7 (`doc/invariants.md`): whatever the
//! arguments, the kernel answers with an error code, never panics and
//! never hurts another process.
//!
//! The calls are deterministic from the seed: the number that ends the
//! app's package name (`rng::seed_of`). The app never dereferences an
//! address it made up: it only hands them to the kernel, and only where
//! the kernel may not turn them against the app itself. So upcall
//! functions are null, its own recording function, or outside its memory;
//! the byte pointer of Yield-NoWait is its own scratch byte or outside its
//! memory; a new break never goes below its static RAM; a read-write
//! allow the kernel could accept lies in `SCRATCH`, which nothing else
//! uses, since drivers write into such buffers (the RNG fills one with
//! random bytes, a console read or a block read would too).
//!
//! What it checks (each failed check is a finding, printed with `FAIL`):
//! every answer is a valid TRD104 return variant; a command to a driver the
//! board does not have fails with `NODEVICE`; an allow of bytes outside its
//! memory, a subscribe of a function outside it and a break outside its
//! block are refused; the scratch byte of Yield-NoWait holds 0 or 1; the
//! memory and flash bounds (memops 2 to 5) never change. Last line:
//! `fuzzer: seed S: N calls, E errors, U upcalls, F findings`, exit 0 if no
//! finding.

#![no_std]
#![no_main]

mod rng;

use core::arch::asm;
use core::cell::UnsafeCell;
use core::hint::black_box;
use core::sync::atomic::{AtomicU32, Ordering};

use libtock_lite::return_variant::SyscallReturn;
use libtock_lite::syscall::{self, class};
use libtock_lite::{
    ErrorCode, alarm, block, console, dma, iommu, low_level_debug, memop, println, rng as random,
};

use rng::Rng;

libtock_lite::main!(main);

/// System calls per run.
const CALLS: u32 = 20_000;
/// The board's drivers.
const BOARD_DRIVERS: [u32; 7] = [
    alarm::DRIVER_NUMBER,
    console::DRIVER_NUMBER,
    low_level_debug::DRIVER_NUMBER,
    iommu::DRIVER_NUMBER,
    dma::DRIVER_NUMBER,
    random::DRIVER_NUMBER,
    block::DRIVER_NUMBER,
];
/// Driver numbers near the board's, none of which the board has.
const ABSENT_DRIVERS: [u32; 6] = [0x2, 0x9, 0x10002, 0x10005, 0x4000_0000, 0xffff_ffff];
/// Start of the app RAM slots (`doc/userland.md`, "Fixed-address slots").
const APP_RAM: usize = 0x8030_0000;
/// Size of an app slot, in flash and in RAM.
const SLOT: usize = 0x1_0000;
/// Slots the apps are linked for.
const SLOTS: usize = 9;
/// Kernel flash, app flash and kernel RAM, in that order, 1 MiB each.
const KERNEL_FLASH: usize = 0x8000_0000;
const APP_FLASH: usize = 0x8010_0000;
const KERNEL_RAM: usize = 0x8020_0000;
const REGION: usize = 0x10_0000;
/// MMIO of QEMU `virt`: test finisher, CLINT, IOMMU, PLIC, UART, PCI ECAM,
/// PCI 32-bit window.
const MMIO: [usize; 7] = [
    0x0010_0000,
    0x0200_0000,
    0x0301_0000,
    0x0c00_0000,
    0x1000_0000,
    0x3000_0000,
    0x4000_0000,
];
/// Allow, subscribe and command numbers worth hitting most: the drivers
/// use 0 to 4, the IOMMU's commands go up to 13.
const SMALL_NUMBERS: u32 = 16;
/// Memop operations: 0 brk, 1 sbrk, 2 to 11 queries and hints, then none.
const MEMOPS: u32 = 14;
const MEMOP_BRK: u32 = 0;
const MEMOP_SBRK: u32 = 1;
/// Yield variants past the three TRD104 defines.
const YIELD_UNKNOWN: u32 = 3;

/// Printable bytes the console may be asked to write (most console
/// writes come from here, so the run's output stays readable).
static TEXT: [u8; 256] = [b'~'; 256];
/// Bytes of `SCRATCH`.
const SCRATCH_LEN: usize = 1024;

/// The only memory of its own the fuzzer shares read-write: drivers may
/// write into it at any time until the run's clean-up, so no Rust code
/// reads or writes it; only its address is taken.
struct Scratch(UnsafeCell<[u8; SCRATCH_LEN]>);

// SAFETY: no code of the app accesses the bytes; only the kernel does,
// on behalf of drivers, while they are allowed.
unsafe impl Sync for Scratch {}

static SCRATCH: Scratch = Scratch(UnsafeCell::new([0; SCRATCH_LEN]));

/// Upcalls the kernel delivered to `record`.
static UPCALLS: AtomicU32 = AtomicU32::new(0);

/// The upcall function the fuzzer subscribes: counts and returns.
extern "C" fn record(_: usize, _: usize, _: usize, _: usize) {
    UPCALLS.fetch_add(1, Ordering::Relaxed);
}

/// The process's own memory, as memops 2 to 5 reported it at the start.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Bounds {
    memory_start: usize,
    memory_end: usize,
    flash_start: usize,
    flash_end: usize,
}

impl Bounds {
    fn query() -> Result<Bounds, ErrorCode> {
        Ok(Bounds {
            memory_start: memop::ram_start()?,
            memory_end: memop::ram_end()?,
            flash_start: memop::flash_start()?,
            flash_end: memop::flash_end()?,
        })
    }

    /// Whether any byte of `[address, address + length)` (empty: the
    /// address itself) is in the process's RAM block or flash.
    fn touches_own(&self, address: usize, length: usize) -> bool {
        let end = address.saturating_add(length.max(1));
        (address < self.memory_end && end > self.memory_start)
            || (address < self.flash_end && end > self.flash_start)
    }
}

struct Fuzzer {
    rng: Rng,
    bounds: Bounds,
    /// The break at the start (end of the static RAM): never go below it.
    floor: usize,
    calls: u32,
    errors: u32,
    findings: u32,
}

impl Fuzzer {
    fn finding(&mut self, what: &str, call: u32, value: usize) {
        self.findings += 1;
        println!("fuzzer: FAIL call {}: {} ({:#x})", call, what, value);
    }

    /// Counts the answer and checks its shape.
    fn answer(&mut self, result: SyscallReturn) -> SyscallReturn {
        self.calls += 1;
        match result {
            SyscallReturn::Invalid(registers) => {
                self.finding("no valid return variant", self.calls, registers[0] as usize)
            }
            SyscallReturn::Failure(_)
            | SyscallReturn::FailureU32(..)
            | SyscallReturn::FailureU32U32(..)
            | SyscallReturn::FailureU64(..) => self.errors += 1,
            _ => {}
        }
        result
    }

    fn driver(&mut self) -> u32 {
        match self.rng.below(10) {
            0 => self.rng.pick(&ABSENT_DRIVERS),
            1 => self.rng.next_u32(),
            _ => self.rng.pick(&BOARD_DRIVERS),
        }
    }

    fn number(&mut self) -> u32 {
        if self.rng.chance(90) {
            self.rng.below(SMALL_NUMBERS)
        } else {
            self.rng.next_u32()
        }
    }

    /// An address anywhere the fuzzer should not be able to reach, or in
    /// its own memory.
    fn address(&mut self) -> usize {
        let own = self.bounds;
        let rng = &mut self.rng;
        match rng.below(12) {
            0 => own.memory_start + rng.offset(own.memory_end - own.memory_start),
            1 => rng.pick(&[
                own.memory_start.wrapping_sub(4),
                own.memory_start,
                self.floor,
                own.memory_end - 4,
                own.memory_end,
            ]),
            2 => own.flash_start + rng.offset(own.flash_end - own.flash_start),
            3 => rng.pick(&[
                own.flash_start.wrapping_sub(4),
                own.flash_end - 1,
                own.flash_end,
            ]),
            4 => TEXT.as_ptr() as usize + rng.offset(TEXT.len()),
            5 => APP_RAM + rng.offset(SLOTS) * SLOT + rng.offset(SLOT),
            6 => APP_FLASH + rng.offset(REGION),
            7 => KERNEL_RAM + rng.offset(REGION),
            8 => KERNEL_FLASH + rng.offset(REGION),
            9 => rng.pick(&MMIO) + rng.offset(0x1000),
            10 => rng.pick(&[0, 4, 0xffff_fffc, 0x8000_0000]),
            _ => rng.next_u32() as usize,
        }
    }

    /// A length for a buffer at `address`.
    fn length(&mut self, address: usize) -> usize {
        let rng = &mut self.rng;
        match rng.below(8) {
            0 => 0,
            1 => 1 + rng.offset(8),
            2 => 1 + rng.offset(256),
            3 => 1 + rng.offset(4096),
            4 => self.bounds.memory_end.wrapping_sub(address),
            5 => self.bounds.memory_end.wrapping_sub(address).wrapping_add(1),
            6 => rng.pick(&[0x8000_0000, usize::MAX, 0usize.wrapping_sub(address)]),
            _ => rng.next_u32() as usize,
        }
    }

    /// A command argument: a number, a forged or stale handle (generation
    /// in bits 8 and up, slot below), a DMA start word or an address.
    fn argument(&mut self) -> usize {
        let rng = &mut self.rng;
        match rng.below(6) {
            0 => rng.offset(16),
            1 => (rng.offset(6) << 8) | rng.offset(10),
            2 => {
                let direction = rng.below(3);
                (rng.offset(0x1_0000) << 16) | ((direction as usize) << 8) | rng.offset(4)
            }
            3 => self.address(),
            _ => rng.next_u32() as usize,
        }
    }

    fn command(&mut self) {
        let driver = self.driver();
        let command = self.number();
        let (argument0, argument1) = (self.argument(), self.argument());
        let result = self.answer(syscall::command(driver, command, argument0, argument1));
        if !BOARD_DRIVERS.contains(&driver) && result != SyscallReturn::Failure(ErrorCode::NoDevice)
        {
            self.finding("command to an absent driver", self.calls, driver as usize);
        }
    }

    fn subscribe(&mut self) {
        let driver = self.driver();
        let number = self.number();
        let recorder = record as *const () as usize;
        let function = match self.rng.below(4) {
            0 => 0,
            1 => recorder,
            _ => self.address(),
        };
        let outside = function != 0 && function != recorder;
        if outside && self.bounds.touches_own(function, 2) {
            // Inside its own memory the kernel would call it.
            return;
        }
        let data = self.argument();
        // SAFETY: `function` is null, `record` (sound to call in any yield)
        // or outside this process's memory, where the kernel refuses it.
        let result = self.answer(unsafe {
            raw(
                class::SUBSCRIBE,
                [driver as usize, number as usize, function, data],
            )
        });
        if outside && is_success(result) {
            self.finding(
                "subscribe of a function outside the process",
                self.calls,
                function,
            );
        }
    }

    fn allow(&mut self) {
        let class = self.rng.pick(&[
            class::ALLOW_READ_WRITE,
            class::ALLOW_READ_ONLY,
            class::ALLOW_USERSPACE_READABLE,
        ]);
        let driver = self.driver();
        let number = self.number();
        let mut address = self.address();
        let mut length = self.length(address);
        let printed = driver == console::DRIVER_NUMBER
            && number == console::allow_ro::WRITE
            && class == class::ALLOW_READ_ONLY;
        if printed && (self.bounds.touches_own(address, length) || self.rng.chance(75)) {
            // The console prints what this slot holds: only `TEXT`, never
            // the app's own strings (its `FAIL` lines among them).
            let start = self.rng.offset(TEXT.len());
            address = TEXT.as_ptr() as usize + start;
            length = self.rng.offset(TEXT.len() - start + 1);
        }
        let writable = class != class::ALLOW_READ_ONLY;
        if writable && length > 0 && self.own_allowable(class, address, length) {
            // The kernel would accept it, and a driver may write there:
            // only into `SCRATCH`.
            let start = self.rng.offset(SCRATCH_LEN);
            address = SCRATCH.0.get() as usize + start;
            length = 1 + self.rng.offset(SCRATCH_LEN - start);
        }
        // SAFETY: no live Rust object is written by the kernel: a
        // read-write allow it accepts is empty or lies in `SCRATCH`, which
        // no code of the app touches (one it should refuse is a finding
        // below); read-only allows it never writes.
        let result =
            self.answer(unsafe { raw(class, [driver as usize, number as usize, address, length]) });
        if length > 0 && is_success(result) && !self.own_allowable(class, address, length) {
            self.finding("allow outside the process's memory", self.calls, address);
        }
    }

    /// Whether the kernel may accept `[address, address + length)` in an
    /// allow of `class`: RAM below the break, or flash for read-only.
    fn own_allowable(&mut self, class: u32, address: usize, length: usize) -> bool {
        let Some(end) = address.checked_add(length) else {
            return false;
        };
        let ram = address >= self.bounds.memory_start && end <= self.current_break();
        let flash = address >= self.bounds.flash_start && end <= self.bounds.flash_end;
        ram || (class == class::ALLOW_READ_ONLY && flash)
    }

    fn current_break(&mut self) -> usize {
        // SAFETY: sbrk(0) moves nothing.
        match unsafe { syscall::memop(MEMOP_SBRK, 0) } {
            SyscallReturn::SuccessU32(address) => address as usize,
            _ => 0,
        }
    }

    fn memop(&mut self) {
        let operation = self.rng.below(MEMOPS);
        let (argument, target) = match operation {
            MEMOP_BRK => {
                let target = self.address();
                (target, target)
            }
            MEMOP_SBRK => {
                // sbrk takes a signed increment from the current break.
                let target = self.address();
                (target.wrapping_sub(self.current_break()), target)
            }
            _ => (self.argument(), self.floor),
        };
        if target < self.floor && target >= self.bounds.memory_start {
            // Below its static RAM the app would lose its own variables.
            return;
        }
        // SAFETY: a break at or above `floor` keeps every variable of the
        // app; one below the block is refused.
        let result = self.answer(unsafe { syscall::memop(operation, argument) });
        let moved = operation == MEMOP_BRK || operation == MEMOP_SBRK;
        let inside = target >= self.bounds.memory_start && target <= self.bounds.memory_end;
        if moved && is_success(result) && !inside {
            self.finding(
                "break moved outside the process's block",
                self.calls,
                target,
            );
        }
    }

    fn yield_call(&mut self) {
        let mut scratch: u8 = 0xaa;
        if self.rng.chance(80) {
            let pointer = if self.rng.chance(50) {
                core::ptr::from_mut(&mut scratch) as usize
            } else {
                self.address()
            };
            if pointer != core::ptr::from_mut(&mut scratch) as usize
                && self.bounds.touches_own(pointer, 1)
            {
                return;
            }
            self.calls += 1;
            // SAFETY: the byte is `scratch`, or outside this process's
            // memory, where the kernel must not write; an upcall runs only
            // `record`.
            unsafe { yield_raw(0, pointer) };
            let byte = black_box(scratch);
            if byte != 0xaa && byte > 1 {
                self.finding(
                    "yield-no-wait wrote neither 0 nor 1",
                    self.calls,
                    byte.into(),
                );
            }
        } else {
            let variant = YIELD_UNKNOWN + self.rng.below(8);
            // SAFETY: an unknown variant runs no upcall and writes nothing.
            self.answer(unsafe { yield_raw(variant, 0) });
        }
    }

    fn step(&mut self) {
        match self.rng.below(8) {
            0 | 1 => self.command(),
            2 => self.subscribe(),
            3 | 4 => self.allow(),
            5 => self.memop(),
            _ => self.yield_call(),
        }
    }
}

fn is_success(result: SyscallReturn) -> bool {
    !matches!(
        result,
        SyscallReturn::Failure(_)
            | SyscallReturn::FailureU32(..)
            | SyscallReturn::FailureU32U32(..)
            | SyscallReturn::FailureU64(..)
            | SyscallReturn::Invalid(_)
    )
}

/// A non-yield system call with any arguments.
///
/// # Safety
///
/// The caller upholds the memory contract of `class` for these arguments
/// (libtock-lite's `syscall` module states them).
unsafe fn raw(class: u32, arguments: [usize; 4]) -> SyscallReturn {
    let [mut a0, mut a1, mut a2, mut a3] = arguments;
    // SAFETY: TRD104: the kernel changes only a0..a3; the caller vouched
    // for the memory the arguments name.
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") a0,
            inlateout("a1") a1,
            inlateout("a2") a2,
            inlateout("a3") a3,
            in("a4") class,
            options(nostack, preserves_flags),
        );
    }
    SyscallReturn::decode([a0 as u32, a1 as u32, a2 as u32, a3 as u32])
}

/// A yield of any variant with `pointer` in a1.
///
/// # Safety
///
/// Any byte the kernel may write at `pointer` is the caller's to lose, and
/// every upcall function subscribed is sound to call now.
unsafe fn yield_raw(variant: u32, pointer: usize) -> SyscallReturn {
    let (a0, a1, a2, a3): (usize, usize, usize, usize);
    // SAFETY: the caller upholds the contract above; an upcall is a C
    // function call, so the C ABI's caller-saved registers are clobbered.
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") variant as usize => a0,
            inlateout("a1") pointer => a1,
            lateout("a2") a2,
            lateout("a3") a3,
            in("a4") class::YIELD,
            clobber_abi("C"),
        );
    }
    SyscallReturn::decode([a0 as u32, a1 as u32, a2 as u32, a3 as u32])
}

/// Takes back what the run left with the drivers, so that the summary can
/// be printed: upcalls, buffers, a pending alarm and console read.
fn clean_up() {
    for driver in BOARD_DRIVERS {
        for number in 0..SMALL_NUMBERS {
            let _ = syscall::unsubscribe(driver, number);
            // SAFETY: null buffers share no memory.
            unsafe {
                let _ = syscall::allow_read_only(driver, number, core::ptr::null(), 0);
                let _ = syscall::allow_read_write(driver, number, core::ptr::null_mut(), 0);
            }
        }
    }
    let _ = syscall::command(alarm::DRIVER_NUMBER, alarm::command::STOP, 0, 0);
    let _ = syscall::command(console::DRIVER_NUMBER, console::command::ABORT_READ, 0, 0);
}

/// Prints `line`, retrying while a console write the run started is
/// still under way.
fn print_retrying(arguments: core::fmt::Arguments<'_>) {
    for _ in 0..50 {
        if console::print_fmt(arguments).is_ok() {
            return;
        }
        let _ = alarm::sleep_ms(10);
    }
}

fn main() -> Result<(), ErrorCode> {
    let bounds = Bounds::query()?;
    let mut name = [0u8; rng::NAME_LIMIT];
    let name_length = rng::package_name(bounds.flash_start, &mut name);
    let seed = rng::seed_of(&name[..name_length]);
    let mut fuzzer = Fuzzer {
        rng: Rng::new(seed),
        bounds,
        floor: 0,
        calls: 0,
        errors: 0,
        findings: 0,
    };
    fuzzer.floor = fuzzer.current_break();
    println!("fuzzer: seed {}: {} calls", seed, CALLS);
    // Allocates the alarm's grant now, while there is room: the run may
    // move the break up to the grant region, and the summary needs it.
    alarm::sleep_ms(1)?;
    while fuzzer.calls < CALLS {
        fuzzer.step();
    }
    if Bounds::query() != Ok(bounds) {
        fuzzer.finding("memory bounds changed", fuzzer.calls, 0);
    }
    clean_up();
    let _ = alarm::sleep_ms(20);
    print_retrying(format_args!(
        "fuzzer: seed {}: {} calls, {} errors, {} upcalls, {} findings\n",
        seed,
        fuzzer.calls,
        fuzzer.errors,
        UPCALLS.load(Ordering::Relaxed),
        fuzzer.findings
    ));
    if fuzzer.findings == 0 {
        Ok(())
    } else {
        Err(ErrorCode::Fail)
    }
}
