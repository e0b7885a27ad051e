// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! dma_leftover: looks for what the device's last user left in it.
//!
//! The attacker half of the test of invariant I8 (device state never
//! crosses owners); `dma_secret` is the other half. It waits a little, so
//! that `dma_secret` has taken DMA device 0 (an `edu`) first, then
//! acquires that device's IOMMU context, retrying every 10 ms while it is
//! `BUSY`: while `dma_secret` owns it, while its last copy is in flight
//! after it exited, and while the kernel resets the device for the new
//! owner. Then it maps a page of its own filled with a marker, attaches,
//! copies the whole device buffer into the page (device to memory), and
//! counts the bytes equal to `dma_secret`'s secret at the same place.
//! Any is a leak: it prints `FAIL` and exits with an error. Output:
//!
//! ```text
//! dma_leftover: start
//! dma_leftover: acquired context 0: handle 0x0200 after 25 BUSY
//! dma_leftover: device buffer copied to IOVA 0x50000: 0 secret bytes, 4096 zero bytes
//! dma_leftover: done
//! ```

#![no_std]
#![no_main]

use libtock_lite::dma::{self, Direction, DmaBuffer};
use libtock_lite::iommu::{self, AllowSlot, ContextHandle, Slot};
use libtock_lite::{ErrorCode, alarm, println};

/// The DMA device this app drives (context 0 of IOMMU instance 0).
const DEVICE: u8 = 0;
/// Where the target page appears to the device.
const IOVA: usize = 0x0005_0000;
/// The whole buffer of `edu`.
const LEN: u16 = 4096;
/// What the target holds before the copy: never a byte of the secret.
const MARKER: u8 = 0x5a;
/// How long to wait before the first acquire, so that `dma_secret`
/// acquires first (it does in its first time slice).
const HEAD_START_MS: u32 = 50;
/// How long to wait between acquires refused `BUSY`, and how many to make:
/// three seconds, ten times what `dma_secret`'s copies and the reset take
/// (100 ms of virtual time each on QEMU's edu).
const RETRY_MS: u32 = 10;
const ATTEMPTS: u32 = 300;

/// Mapped at `IOVA`: where the device buffer is copied to.
static TARGET: DmaBuffer<4096> = DmaBuffer::new();

libtock_lite::main!(main);

/// Byte `index` of `dma_secret`'s secret (the same function as there).
fn secret(index: usize) -> u8 {
    0x80 | ((index as u8).wrapping_mul(7) & 0x7f)
}

/// Prints a failure line for an unexpected error and passes it on.
fn step<T>(what: &str, result: Result<T, ErrorCode>) -> Result<T, ErrorCode> {
    result.inspect_err(|error| println!("dma_leftover: FAIL {}: {}", what, error))
}

/// Acquires `context`, retrying while it is `BUSY`; returns the handle and
/// how many times it was refused.
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
                    "dma_leftover: FAIL acquire of context {}: {} (after {} BUSY)",
                    context, error, busy
                );
                return Err(error);
            }
        }
    }
}

fn main() -> Result<(), ErrorCode> {
    println!("dma_leftover: start");
    let device = step("device_info", dma::device_info(DEVICE))?;
    let geometry = step("instance_info", iommu::instance_info(device.instance))?.geometry;
    TARGET.fill(|_| MARKER);
    step("sleep", alarm::sleep_ms(HEAD_START_MS))?;
    let (context, busy) = acquire(device.instance, device.context)?;
    println!(
        "dma_leftover: acquired context {}: handle {:#06x} after {} BUSY",
        device.context,
        context.raw(),
        busy
    );
    let domain = step("create_domain", iommu::create_domain(device.instance))?;
    step(
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
    let leaked = (0..usize::from(LEN))
        .filter(|&i| TARGET.read(i) == secret(i))
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
            "dma_leftover: FAIL the device still held {} bytes of the secret",
            leaked
        );
        return Err(ErrorCode::Fail);
    }
    println!("dma_leftover: done");
    Ok(())
}
