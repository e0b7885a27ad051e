// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! dma_restart: killed in the middle of a DMA copy, restarted by the board.
//!
//! Acquires the IOMMU context of DMA device 0 (an `edu`), maps a source
//! and a target page, attaches, loads the device's buffer from the source
//! and starts a copy from the device into the target. Before the copy's
//! `DONE` it loads from address 0 on purpose, so the kernel kills it with
//! the copy in flight (QEMU's edu starts a copy 100 ms after it is asked).
//! The board restarts it (`RESTART_ON_FAULT` in
//! `boards/qemu_rv32_virt/src/main.rs`) only once the IOMMU driver has
//! detached the old instance's context and destroyed its domain (I4).
//!
//! An instance cannot tell whether it is the first or a restarted one:
//! every instance does the same, and a test counts the lines. What a new
//! instance can check is that the old one's copy never lands in the
//! memory it inherited: it fills its target page with a marker before it
//! acquires the context, and checks after the acquire, before it maps
//! anything, that the page still holds only the marker.
//!
//! The context is held while a copy is in flight, whoever started it
//! (`doc/syscalls/10004_dma.md`): the old instance's copy still runs,
//! blocked by the IOMMU, after the kernel started the new instance, and
//! until it ends an acquire gets `BUSY`. The app retries every 10 ms, up
//! to a second; any other error, or `BUSY` for longer, it prints and exits
//! with. An acquire that succeeds thus comes after the old copy ended,
//! and the marker check covers the time that copy ran. Output of each
//! instance:
//!
//! ```text
//! dma_restart: start
//! dma_restart: target filled with marker 0xc3
//! dma_restart: acquired context 0: handle 0x0100 after 0 BUSY
//! dma_restart: target still holds only the marker
//! dma_restart: mapped source at IOVA 0x40000, target at IOVA 0x41000
//! dma_restart: attached context to domain
//! dma_restart: device buffer loaded from IOVA 0x40000
//! dma_restart: DMA device -> memory started: 1024 bytes to IOVA 0x41000, faulting now
//! ```
//!
//! then the kernel's fault report (a load access fault at 0x00000000). A
//! restarted instance gets `BUSY` a few times first (`after 9 BUSY`), and
//! a context handle of a later generation (0x0200, 0x0300, ...): the
//! context was freed and handed to the new instance.

#![no_std]
#![no_main]

use core::arch::asm;

use libtock_lite::dma::{self, Direction, DmaBuffer};
use libtock_lite::iommu::{self, AllowSlot, ContextHandle, Slot};
use libtock_lite::{ErrorCode, alarm, println};

/// The DMA device this app drives (context 0 of IOMMU instance 0).
const DEVICE: u8 = 0;
/// Where the source and target pages appear to the device.
const IOVA_SOURCE: usize = 0x0004_0000;
const IOVA_TARGET: usize = 0x0004_1000;
/// Bytes of each copy.
const LEN: u16 = 1024;
/// What the target holds before any copy: never a byte of `pattern`.
const MARKER: u8 = 0xc3;
/// How long to wait between acquires refused `BUSY`, and how many to
/// make: a second, ten times what an edu copy takes (100 ms of virtual
/// time on QEMU).
const RETRY_MS: u32 = 10;
const ATTEMPTS: u32 = 100;

/// Mapped at `IOVA_SOURCE`: what the device's buffer is loaded with.
static SOURCE: DmaBuffer<4096> = DmaBuffer::new();
/// Mapped at `IOVA_TARGET`: where the interrupted copy writes.
static TARGET: DmaBuffer<4096> = DmaBuffer::new();

libtock_lite::main!(main);

/// The source pattern: high bit clear, so never `MARKER`.
fn pattern(index: usize) -> u8 {
    (index as u8).wrapping_mul(5) & 0x7f
}

/// Prints a failure line for an unexpected error and passes it on.
fn step<T>(what: &str, result: Result<T, ErrorCode>) -> Result<T, ErrorCode> {
    result.inspect_err(|error| println!("dma_restart: FAIL {}: {}", what, error))
}

/// Fails unless the target holds only the marker.
fn target_untouched(when: &str) -> Result<(), ErrorCode> {
    match TARGET.first_difference(0..4096, |_| MARKER) {
        None => Ok(()),
        Some(d) => {
            println!(
                "dma_restart: FAIL target changed {}: byte {} is {:#04x}",
                when, d.index, d.found
            );
            Err(ErrorCode::Fail)
        }
    }
}

/// Ends the process with a load access fault: address 0 is outside
/// every memory region the kernel gives a process.
fn fault() -> ! {
    // SAFETY: the load is meant to fault and end the process; it reads
    // no memory that Rust knows of. Should it not fault, the loop keeps
    // the process from going on, and its time slice ends it.
    unsafe {
        asm!("lw {value}, 0(zero)", value = out(reg) _, options(nostack, readonly));
    }
    println!("dma_restart: FAIL load from address 0 did not fault");
    loop {
        let _ = alarm::sleep_ms(1000);
    }
}

/// Acquires `context`, retrying while it is `BUSY`; returns the handle and
/// how many times it was refused. Prints and returns any other error, or
/// `BUSY` after `ATTEMPTS` refusals.
fn acquire(instance: u32, context: u32) -> Result<(ContextHandle, u32), ErrorCode> {
    let mut busy = 0;
    loop {
        match iommu::acquire(instance, context) {
            Ok(handle) => return Ok((handle, busy)),
            Err(ErrorCode::Busy) if busy + 1 < ATTEMPTS => {
                busy += 1;
                step("sleep", alarm::sleep_ms(RETRY_MS))?;
            }
            Err(error) => {
                println!(
                    "dma_restart: acquire of context {} failed: {} (after {} BUSY)",
                    context, error, busy
                );
                return Err(error);
            }
        }
    }
}

fn main() -> Result<(), ErrorCode> {
    println!("dma_restart: start");
    let device = step("device_info", dma::device_info(DEVICE))?;
    let geometry = step("instance_info", iommu::instance_info(device.instance))?.geometry;
    SOURCE.fill(pattern);
    TARGET.fill(|_| MARKER);
    println!("dma_restart: target filled with marker {:#04x}", MARKER);

    let (context, busy) = acquire(device.instance, device.context)?;
    println!(
        "dma_restart: acquired context {}: handle {:#06x} after {} BUSY",
        device.context,
        context.raw(),
        busy
    );
    target_untouched("before it was mapped")?;
    println!("dma_restart: target still holds only the marker");

    let domain = step("create_domain", iommu::create_domain(device.instance))?;
    step(
        "map source",
        iommu::map_buffer(
            domain,
            AllowSlot::ReadWrite(Slot::BUFFER_0),
            &SOURCE,
            IOVA_SOURCE,
            geometry,
        ),
    )?;
    step(
        "map target",
        iommu::map_buffer(
            domain,
            AllowSlot::ReadWrite(Slot::BUFFER_1),
            &TARGET,
            IOVA_TARGET,
            geometry,
        ),
    )?;
    println!(
        "dma_restart: mapped source at IOVA {:#x}, target at IOVA {:#x}",
        IOVA_SOURCE, IOVA_TARGET
    );
    step("attach", iommu::attach(context, domain))?;
    println!("dma_restart: attached context to domain");
    step(
        "DMA memory -> device",
        dma::copy(DEVICE, Direction::MemoryToDevice, LEN, IOVA_SOURCE),
    )?;
    println!(
        "dma_restart: device buffer loaded from IOVA {:#x}",
        IOVA_SOURCE
    );
    target_untouched("before the copy into it")?;

    // The copy begins 100 ms after this returns; the fault comes first.
    step(
        "DMA device -> memory",
        dma::start(DEVICE, Direction::DeviceToMemory, LEN, IOVA_TARGET),
    )?;
    println!(
        "dma_restart: DMA device -> memory started: {} bytes to IOVA {:#x}, faulting now",
        LEN, IOVA_TARGET
    );
    fault()
}
