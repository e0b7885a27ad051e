// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! dma_leftover: looks for what the device's last user left in it, each
//! time another app has used it.
//!
//! The attacker half of the test of invariant I8 (device state never
//! crosses owners). Its victims leave their bytes in DMA device 0 (an
//! `edu`) and die with the context held: `dma_secret` loads a 4 KiB
//! secret and exits with a copy in flight; `dma_restart` loads 1024 bytes
//! of its pattern and is killed with a copy in flight, four instances in a
//! row (the board restarts it three times).
//!
//! It waits a little, so that a victim has taken the device first, then
//! keeps acquiring the device's IOMMU context: every millisecond while it
//! is `BUSY` (a victim owns it, its last copy is in flight, or the kernel
//! resets the device for the new owner), every 10 ms while it is free.
//! An acquire that succeeds is a *take-over* if another process acquired
//! the context since this app last held it: the context's handle skipped
//! a generation (the kernel advances it each time the context is freed).
//! Then it maps a page of its own filled with a marker, attaches, copies
//! the whole device buffer into the page (device to memory), counts the
//! bytes equal to a victim's at the same place and the zero bytes, and
//! cleans up. Any victim byte is a leak, and so is any byte the reset
//! should have cleared (QEMU's reset leaves zeros): it prints `FAIL` and
//! exits with an error. An acquire that is no take-over (the device was
//! free and nobody else held it) it releases at once. Once the context
//! has stayed free for a second it ends. Output:
//!
//! ```text
//! dma_leftover: start
//! dma_leftover: acquired context 0: handle 0x0200 after 25 BUSY
//! dma_leftover: device buffer copied to IOVA 0x50000: 0 secret bytes, 4096 zero bytes
//! dma_leftover: done: 1 take-overs, 0 secret bytes
//! ```
//!
//! with the two middle lines once per take-over.

#![no_std]
#![no_main]

use libtock_lite::dma::{self, Direction, DmaBuffer};
use libtock_lite::iommu::{self, AllowSlot, ContextHandle, Geometry, Slot};
use libtock_lite::{ErrorCode, alarm, println};

/// The DMA device this app drives (context 0 of IOMMU instance 0).
const DEVICE: u8 = 0;
/// Where the target page appears to the device.
const IOVA: usize = 0x0005_0000;
/// The whole buffer of `edu`.
const LEN: u16 = 4096;
/// What the target holds before the copy: never a byte of a victim.
const MARKER: u8 = 0x5a;
/// How long to wait before the first acquire, so that a victim acquires
/// first (it does in its first time slice).
const HEAD_START_MS: u32 = 50;
/// Between acquires refused `BUSY`: short, so that after a victim's death
/// this app, not the victim's next instance (which retries every 10 ms),
/// is usually the first to find the device reset and the context free.
const BUSY_RETRY_MS: u32 = 1;
/// Between acquires of a free context.
const FREE_RETRY_MS: u32 = 10;
/// Acquires of a free context in a row (a second) after which it ends:
/// no victim is left.
const FREE_LIMIT: u32 = 100;
/// `BUSY` answers in a row (three seconds, ten times what a victim's
/// copy and the reset take) after which it gives up.
const BUSY_LIMIT: u32 = 3000;
/// Bytes of `dma_restart`'s pattern in the device.
const RESTART_LEN: usize = 1024;

/// Mapped at `IOVA`: where the device buffer is copied to.
static TARGET: DmaBuffer<4096> = DmaBuffer::new();

libtock_lite::main!(main);

/// Byte `index` of `dma_secret`'s secret (the same function as there).
fn secret(index: usize) -> u8 {
    0x80 | ((index as u8).wrapping_mul(7) & 0x7f)
}

/// Byte `index` of `dma_restart`'s source pattern (the same function as
/// there), which it loads into the first `RESTART_LEN` bytes.
fn restart_pattern(index: usize) -> u8 {
    (index as u8).wrapping_mul(5) & 0x7f
}

/// Whether `byte`, at `index` of the device buffer, is what a victim put
/// there. A zero byte is what the reset leaves, so it counts as none.
fn is_victims(index: usize, byte: u8) -> bool {
    byte != 0 && (byte == secret(index) || (index < RESTART_LEN && byte == restart_pattern(index)))
}

/// Prints a failure line for an unexpected error and passes it on.
fn step<T>(what: &str, result: Result<T, ErrorCode>) -> Result<T, ErrorCode> {
    result.inspect_err(|error| println!("dma_leftover: FAIL {}: {}", what, error))
}

/// Copies the whole device buffer into `TARGET` through a domain of its
/// own and checks it; returns the victims' bytes found.
fn take_over(
    instance: u32,
    context: ContextHandle,
    geometry: Geometry,
) -> Result<usize, ErrorCode> {
    TARGET.fill(|_| MARKER);
    let domain = step("create_domain", iommu::create_domain(instance))?;
    let range = step(
        "map",
        iommu::map_buffer(
            domain,
            AllowSlot::ReadWrite(Slot::BUFFER_0),
            &TARGET,
            IOVA,
            geometry,
        ),
    )?;
    step("attach", iommu::attach(context, domain))?;
    step(
        "DMA device -> memory",
        dma::copy(DEVICE, Direction::DeviceToMemory, LEN, IOVA),
    )?;
    step("detach", iommu::detach(context))?;
    step("unmap", iommu::unmap(domain, range))?;
    step("destroy_domain", iommu::destroy_domain(domain))?;
    let leaked = (0..usize::from(LEN))
        .filter(|&i| is_victims(i, TARGET.read(i)))
        .count();
    let zeros = (0..usize::from(LEN))
        .filter(|&i| TARGET.read(i) == 0)
        .count();
    println!(
        "dma_leftover: device buffer copied to IOVA {:#x}: {} secret bytes, {} zero bytes",
        IOVA, leaked, zeros
    );
    if leaked != 0 {
        println!(
            "dma_leftover: FAIL the device still held {} bytes of a victim",
            leaked
        );
        return Err(ErrorCode::Fail);
    }
    if zeros != usize::from(LEN) {
        println!(
            "dma_leftover: FAIL the device held {} bytes its reset should have cleared",
            usize::from(LEN) - zeros
        );
        return Err(ErrorCode::Fail);
    }
    Ok(leaked)
}

/// The generation a context slot hands out after `generation` (the
/// kernel's order: 1 to 255, then 1 again).
fn next_generation(generation: u32) -> u32 {
    if generation >= 255 { 1 } else { generation + 1 }
}

fn main() -> Result<(), ErrorCode> {
    println!("dma_leftover: start");
    let device = step("device_info", dma::device_info(DEVICE))?;
    let geometry = step("instance_info", iommu::instance_info(device.instance))?.geometry;
    step("sleep", alarm::sleep_ms(HEAD_START_MS))?;
    // The context's generation when this app last freed it (0: never held;
    // generations start at 1).
    let mut freed: u32 = 0;
    let (mut busy, mut free, mut take_overs, mut leaked) = (0u32, 0u32, 0u32, 0usize);
    while free < FREE_LIMIT {
        match iommu::acquire(device.instance, device.context) {
            Ok(context) => {
                let generation = context.raw() >> 8;
                if generation != next_generation(freed) {
                    println!(
                        "dma_leftover: acquired context {}: handle {:#06x} after {} BUSY",
                        device.context,
                        context.raw(),
                        busy
                    );
                    leaked += take_over(device.instance, context, geometry)?;
                    take_overs += 1;
                    free = 0;
                } else {
                    free += 1;
                }
                busy = 0;
                step("release", iommu::release(context))?;
                freed = generation;
                step("sleep", alarm::sleep_ms(FREE_RETRY_MS))?;
            }
            Err(ErrorCode::Busy) if busy + 1 < BUSY_LIMIT => {
                busy += 1;
                free = 0;
                step("sleep", alarm::sleep_ms(BUSY_RETRY_MS))?;
            }
            Err(error) => {
                println!(
                    "dma_leftover: FAIL acquire of context {}: {} (after {} BUSY)",
                    device.context, error, busy
                );
                return Err(error);
            }
        }
    }
    println!(
        "dma_leftover: done: {} take-overs, {} secret bytes",
        take_overs, leaked
    );
    Ok(())
}
