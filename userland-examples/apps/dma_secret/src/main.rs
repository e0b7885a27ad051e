// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! dma_secret: leaves a secret in a DMA device for the next app to find.
//!
//! The victim half of the test of invariant I8 (device state never
//! crosses owners); `dma_leftover` is the other half. Acquires the IOMMU
//! context of DMA device 0 (an `edu`), maps a 4 KiB page filled with a
//! secret, attaches, and loads the whole device buffer from it (memory to
//! device). Then it starts a copy out of the device and exits at once,
//! with the copy in flight and without releasing anything: the kernel
//! takes the context and the domain back, and the copy runs on, blocked.
//!
//! Every secret byte has its high bit set, so it is never 0 and never
//! `dma_leftover`'s marker; byte `i` is `secret(i)` in both apps. Output:
//!
//! ```text
//! dma_secret: start
//! dma_secret: acquired context 0: handle 0x0100
//! dma_secret: device buffer loaded with 4096 secret bytes from IOVA 0x50000
//! dma_secret: DMA device -> memory started, exiting without cleanup
//! ```

#![no_std]
#![no_main]

use libtock_lite::dma::{self, Direction, DmaBuffer};
use libtock_lite::iommu::{self, AllowSlot, Slot};
use libtock_lite::{ErrorCode, println};

/// The DMA device this app drives (context 0 of IOMMU instance 0).
const DEVICE: u8 = 0;
/// Where the secret page appears to the device.
const IOVA: usize = 0x0005_0000;
/// The whole buffer of `edu`.
const LEN: u16 = 4096;

/// The secret, mapped at `IOVA`.
static SECRET: DmaBuffer<4096> = DmaBuffer::new();

libtock_lite::main!(main);

/// Byte `index` of the secret (the same function as `dma_leftover`'s).
fn secret(index: usize) -> u8 {
    0x80 | ((index as u8).wrapping_mul(7) & 0x7f)
}

/// Prints a failure line for an unexpected error and passes it on.
fn step<T>(what: &str, result: Result<T, ErrorCode>) -> Result<T, ErrorCode> {
    result.inspect_err(|error| println!("dma_secret: FAIL {}: {}", what, error))
}

fn main() -> Result<(), ErrorCode> {
    println!("dma_secret: start");
    let device = step("device_info", dma::device_info(DEVICE))?;
    let geometry = step("instance_info", iommu::instance_info(device.instance))?.geometry;
    SECRET.fill(secret);
    let context = step("acquire", iommu::acquire(device.instance, device.context))?;
    println!(
        "dma_secret: acquired context {}: handle {:#06x}",
        device.context,
        context.raw()
    );
    let domain = step("create_domain", iommu::create_domain(device.instance))?;
    step(
        "map",
        iommu::map_buffer(
            domain,
            AllowSlot::ReadWrite(Slot::BUFFER_0),
            &SECRET,
            IOVA,
            geometry,
        ),
    )?;
    step("attach", iommu::attach(context, domain))?;
    step(
        "DMA memory -> device",
        dma::copy(DEVICE, Direction::MemoryToDevice, LEN, IOVA),
    )?;
    println!(
        "dma_secret: device buffer loaded with {} secret bytes from IOVA {:#x}",
        LEN, IOVA
    );
    step(
        "DMA device -> memory",
        dma::start(DEVICE, Direction::DeviceToMemory, LEN, IOVA),
    )?;
    println!("dma_secret: DMA device -> memory started, exiting without cleanup");
    Ok(())
}
