// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Bare-metal QEMU test of `chips/riscv_iommu` through `kernel::hil::iommu`,
//! with two `edu` devices as real DMA masters, and the IOMMU benchmark.
//!
//! Run (tools/bench.sh adds `-icount shift=3` for the benchmark numbers):
//!
//! ```text
//! cargo build -p iommu_qemu --target riscv32imac-unknown-none-elf --release
//! timeout 60 qemu-system-riscv32 -M virt,iommu-sys=on -bios none -nographic \
//!     -m 256M -device edu -device edu \
//!     -kernel target/riscv32imac-unknown-none-elf/release/iommu_qemu
//! ```
//!
//! No processes: `main` brings up the platform RISC-V IOMMU at 0x0301_0000
//! (`RiscvIommu::init`, every context blocking), finds both `edu`s with
//! `PciEcam` (requester ids 0x8 and 0x10 are the IOMMU's contexts 0 and
//! 1), then runs the scenarios of `scenarios.rs` and the benchmark of
//! `bench.rs`. IOMMU operations and their callbacks go through the HIL
//! only; a bounded poll loop (`rig.rs`) services the chip's interrupts
//! (the IOMMU's wired vectors at PLIC 0x24.., the `edu` INTx lines) and
//! deferred calls. The run ends through the virt test finisher: pass, or
//! fail(code) at the first failed check (the code names the check).

#![no_std]
#![no_main]

mod bench;
mod buffers;
mod events;
mod io;
mod rig;
mod scenarios;

use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::iommu::{Attach, Faults, Fence, Geometry, Map};
use kernel::hil::time::Alarm;
use kernel::utilities::StaticRef;
use qemu_rv32_virt_chip::QemuRv32VirtChip;
use qemu_rv32_virt_chip::edu::{self, Edu};
use qemu_rv32_virt_chip::pci::{self, PciEcam};
use qemu_rv32_virt_chip::plic::{self, Plic};
use qemu_rv32_virt_chip::timer::{self, MachineTimer};
use qemu_rv32_virt_chip::uart::{self, Uart16550};
use rig::{DmaWatch, Events, Iommu, IommuInterrupts, Rig, TestChip, TestEdu};
use riscv_iommu::registers::IommuRegisters;
use riscv_iommu::{InterruptVectors, Page, PagePool, QueueMemory, RiscvIommu};
use rv32::dma_fence::RiscvCoherentDmaFence;

/// MMIO base of QEMU virt's platform IOMMU (`iommu-sys=on`).
const IOMMU_MMIO_BASE: usize = 0x0301_0000;
/// Requester ids of the two `edu`s on bus 0 (00:01.0 and 00:02.0).
const EDU_REQUESTER_IDS: [u16; 2] = [0x8, 0x10];
/// Pages for the device directory (one 1LVL page covers ids below 64).
const DIRECTORY_PAGES: usize = 2;
/// Pages for the domains' Sv39 tables.
pub const TABLE_PAGES: usize = 32;

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

// Memory the IOMMU reads and writes, too large to build on the 16 KiB
// stack: zero-initialized `static`s (in .bss), each handed out exactly
// once, in `main`.
static mut QUEUES: QueueMemory = QueueMemory::ZERO;
static mut DIRECTORY: [Page; DIRECTORY_PAGES] = [Page::ZERO; DIRECTORY_PAGES];
static mut TABLES: [Page; TABLE_PAGES] = [Page::ZERO; TABLE_PAGES];

#[unsafe(no_mangle)]
pub extern "C" fn main() -> ! {
    // SAFETY: machine mode at boot, no PMP entry is locked with -bios none
    // or a flat -bios image.
    unsafe { rv32::pmp::disable_all() };
    say!("boot");

    // ---------- Chip drivers ----------
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
    let events = static_init!(Events, Events::new());
    timer.set_alarm_client(events);

    // ---------- PCI: both edu devices ----------
    // SAFETY: QEMU virt's ECAM and 32-bit PCI window, used only here.
    let ecam =
        unsafe { PciEcam::new(pci::ECAM_BASE, pci::MMIO_WINDOW_BASE, pci::MMIO_WINDOW_SIZE) };
    let mut device_ids = [0u32; 2];
    let mut drivers: [Option<TestEdu>; 2] = [None, None];
    for (index, driver) in drivers.iter_mut().enumerate() {
        let Some(address) = ecam.find(edu::EDU_VENDOR_ID, edu::EDU_DEVICE_ID, index) else {
            io::fail(
                format_args!("edu{index} missing (run with -device edu -device edu)"),
                2,
            );
        };
        let device = match ecam.enable_device(address) {
            Ok(device) => device,
            Err(error) => io::fail(format_args!("enable_device edu{index}: {error:?}"), 3),
        };
        if device.requester_id() != EDU_REQUESTER_IDS[index] {
            io::fail(
                format_args!(
                    "edu{index} has requester id {:#x}, want {:#x} (keep both on bus 0, slots 1 and 2)",
                    device.requester_id(),
                    EDU_REQUESTER_IDS[index]
                ),
                4,
            );
        }
        let Some(bar0) = device.bars[0] else {
            io::fail(format_args!("edu{index} BAR0 unassigned"), 5);
        };
        // SAFETY: BAR0 of an enabled edu. Its DMA is translated by the
        // platform IOMMU, which blocks it (ddtp Off at reset, then every
        // context invalid after `init`) until this program attaches its
        // context to a domain it built, and it maps only the DMA pages
        // into those domains. QEMU virt's DMA is cache-coherent.
        *driver = Some(unsafe {
            Edu::new(
                StaticRef::new(bar0.base as *const _),
                device.plic_interrupt(),
                RiscvCoherentDmaFence::new(),
                buffers::dma_memory(),
            )
        });
        device_ids[index] = u32::from(device.requester_id());
    }
    let [Some(driver0), Some(driver1)] = drivers else {
        io::fail(format_args!("edu devices"), 5);
    };
    // One `static_init!` per device: each expansion has one storage.
    let edu0 = static_init!(TestEdu, driver0);
    let edu1 = static_init!(TestEdu, driver1);
    let watch0 = static_init!(DmaWatch, DmaWatch::new());
    let watch1 = static_init!(DmaWatch, DmaWatch::new());
    edu0.set_edu_client(watch0);
    edu1.set_edu_client(watch1);

    // ---------- IOMMU ----------
    let (queues, directory, tables) = (&raw mut QUEUES, &raw mut DIRECTORY, &raw mut TABLES);
    // SAFETY: `main` runs once, so these are the only references ever made
    // to the three statics; the driver keeps them for the rest of the run.
    let (queues, directory, tables) = unsafe { (&mut *queues, &mut *directory, &mut *tables) };
    // SAFETY: the platform IOMMU's 4 KiB register page on QEMU virt with
    // iommu-sys=on, used only by this driver.
    let iommu_regs = unsafe { StaticRef::new(IOMMU_MMIO_BASE as *const IommuRegisters) };
    // SAFETY: QEMU virt's DMA, the IOMMU's table walks and queue accesses
    // included, is cache-coherent.
    let fence = unsafe { RiscvCoherentDmaFence::new() };
    let iommu: &'static Iommu = static_init!(
        Iommu,
        RiscvIommu::new(
            iommu_regs,
            device_ids,
            queues,
            PagePool::new(directory, fence),
            PagePool::new(tables, fence),
            InterruptVectors { civ: 0, fiv: 1 },
            fence,
        )
    );
    iommu.register();
    Map::set_client(iommu, events);
    Attach::set_client(iommu, events);
    Fence::set_client(iommu, events);
    Faults::set_client(iommu, events);
    let iommu_interrupts = static_init!(IommuInterrupts, IommuInterrupts::new(iommu));

    let chip: &'static TestChip = static_init!(
        TestChip,
        QemuRv32VirtChip::new(plic, timer, uart, (edu0, (edu1, iommu_interrupts)))
    );
    chip.initialize_interrupts();
    DeferredCall::verify_setup();

    if let Err(error) = iommu_init(iommu) {
        io::fail(format_args!("RiscvIommu::init -> {error:?}"), 6);
    }
    say!(
        "IOMMU at {IOMMU_MMIO_BASE:#x} up: contexts {} (edu0 requester id {:#x}, edu1 {:#x}), {} domains, {} table pages, Sv39",
        iommu.context_count(),
        device_ids[0],
        device_ids[1],
        iommu.domain_count(),
        iommu.free_pages()
    );

    let rig = Rig::new(chip, iommu, [edu0, edu1], [watch0, watch1], timer, events);
    // Let init's invalidation complete before the first scenario.
    rig.fence(7);

    // ---------- Scenarios, then the benchmark ----------
    scenarios::run(&rig);
    bench::run(&rig);
    io::pass()
}

/// `RiscvIommu::init`, kept out of line so the driver's code stays in a
/// symbol of its own for the benchmark's size count (tools/bench.sh counts
/// this wrapper as driver code).
#[inline(never)]
fn iommu_init(iommu: &Iommu) -> Result<(), kernel::ErrorCode> {
    iommu.init()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    io::fail(format_args!("panic: {info}"), 250)
}
