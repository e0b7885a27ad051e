// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! dma_readonly: a read-only allow gives a device-read-only mapping.
//!
//! Maps one page of RAM from a read-only allow (device read only) and one
//! from a read-write allow (device read/write), attaches, and loads the
//! device's buffer with a second pattern from the read-write page. Then:
//! a device write into the read-only page faults (page fault, write, at
//! its IOVA) and the page keeps its contents; a device read from it
//! works (its pattern arrives in the read-write page).
//!
//! The write comes before any read through the read-only page on purpose:
//! QEMU's IOMMU drops a write to a read-only page whose translation it
//! has cached by an earlier read without recording a fault
//! (`doc/iommu-hil.md`); memory stays unchanged either way, but there
//! would be no fault to show. Exits 0 if every step went as described.
//! Output:
//!
//! ```text
//! dma_readonly: start
//! dma_readonly: mapped read-only page at IOVA 0x20000 -> phys 0x80303000 (device read only)
//! dma_readonly: mapped read-write page at IOVA 0x21000 -> phys 0x80301000 (device read/write)
//! dma_readonly: attached
//! dma_readonly: device buffer loaded from IOVA 0x21000
//! dma_readonly: write to read-only IOVA 0x20000: fault upcall: cause page fault, access write, IOVA 0x20000, hardware cause 15
//! dma_readonly: read-only page unchanged
//! dma_readonly: device read from read-only IOVA 0x20000 works: 256 bytes arrived at IOVA 0x21000
//! dma_readonly: done
//! ```

#![no_std]
#![no_main]

use libtock_lite::dma::{self, Direction, DmaBuffer};
use libtock_lite::iommu::{self, Access, AllowSlot, FaultCause, FaultLog, Slot};
use libtock_lite::{ErrorCode, alarm, println};

/// The DMA device this app drives.
const DEVICE: u8 = 0;
const IOVA_READ_ONLY: usize = 0x0002_0000;
const IOVA_READ_WRITE: usize = 0x0002_1000;
/// Bytes per copy.
const LEN: u16 = 256;
/// How long to wait for a fault upcall.
const FAULT_WAIT_MS: u32 = 1000;
/// Time for the fault records of one copy to be handled.
const SETTLE_MS: u32 = 50;

/// Mapped device read-only at `IOVA_READ_ONLY`.
static READ_ONLY: DmaBuffer<4096> = DmaBuffer::new();
/// Mapped device read/write at `IOVA_READ_WRITE`.
static READ_WRITE: DmaBuffer<4096> = DmaBuffer::new();
static FAULTS: FaultLog = FaultLog::new();

libtock_lite::main!(main);

/// The read-only page's contents.
fn kept(index: usize) -> u8 {
    (index as u8) ^ 0xc3
}

/// What the device buffer is loaded with (what a wrong write would leave).
fn intruder(index: usize) -> u8 {
    (index as u8).wrapping_mul(3).wrapping_add(1)
}

fn step<T>(what: &str, result: Result<T, ErrorCode>) -> Result<T, ErrorCode> {
    result.inspect_err(|error| println!("dma_readonly: FAIL {}: {}", what, error))
}

fn ensure(ok: bool, message: core::fmt::Arguments<'_>) -> Result<(), ErrorCode> {
    if ok {
        Ok(())
    } else {
        println!("dma_readonly: FAIL {}", message);
        Err(ErrorCode::Fail)
    }
}

fn read_only_unchanged() -> Result<(), ErrorCode> {
    match READ_ONLY.first_difference(0..4096, kept) {
        None => Ok(()),
        Some(d) => {
            println!(
                "dma_readonly: FAIL read-only page changed at byte {}: {:#04x}, expected {:#04x}",
                d.index, d.found, d.expected
            );
            Err(ErrorCode::Fail)
        }
    }
}

fn main() -> Result<(), ErrorCode> {
    println!("dma_readonly: start");
    let device = step("device_info", dma::device_info(DEVICE))?;
    let geometry = step("instance_info", iommu::instance_info(device.instance))?.geometry;
    let context = step("acquire", iommu::acquire(device.instance, device.context))?;
    let domain = step("create_domain", iommu::create_domain(device.instance))?;

    READ_ONLY.fill(kept);
    READ_WRITE.fill(intruder);
    let read_only = step(
        "map read-only",
        iommu::map_buffer(
            domain,
            AllowSlot::ReadOnly(Slot::BUFFER_0),
            &READ_ONLY,
            IOVA_READ_ONLY,
            geometry,
        ),
    )?;
    let translation = step("translate", iommu::translate(domain, IOVA_READ_ONLY))?;
    ensure(
        translation.is_some_and(|t| t.read && !t.write && t.phys == READ_ONLY.as_mut_ptr() as u64),
        format_args!("read-only page translates to {:?}", translation),
    )?;
    println!(
        "dma_readonly: mapped read-only page at IOVA {:#x} -> phys {:#x} (device read only)",
        IOVA_READ_ONLY,
        READ_ONLY.as_mut_ptr() as usize
    );
    let read_write = step(
        "map read-write",
        iommu::map_buffer(
            domain,
            AllowSlot::ReadWrite(Slot::BUFFER_0),
            &READ_WRITE,
            IOVA_READ_WRITE,
            geometry,
        ),
    )?;
    println!(
        "dma_readonly: mapped read-write page at IOVA {:#x} -> phys {:#x} (device read/write)",
        IOVA_READ_WRITE,
        READ_WRITE.as_mut_ptr() as usize
    );
    step("subscribe to faults", FAULTS.subscribe())?;
    step("attach", iommu::attach(context, domain))?;
    println!("dma_readonly: attached");

    step(
        "load the device buffer",
        dma::copy(DEVICE, Direction::MemoryToDevice, LEN, IOVA_READ_WRITE),
    )?;
    println!(
        "dma_readonly: device buffer loaded from IOVA {:#x}",
        IOVA_READ_WRITE
    );

    // The device writes into the read-only page: refused.
    step(
        "DMA into the read-only page",
        dma::copy(DEVICE, Direction::DeviceToMemory, LEN, IOVA_READ_ONLY),
    )?;
    let Some(fault) = step("waiting for the fault", FAULTS.wait(FAULT_WAIT_MS))? else {
        println!(
            "dma_readonly: FAIL no fault upcall within {} ms",
            FAULT_WAIT_MS
        );
        return Err(ErrorCode::Fail);
    };
    println!(
        "dma_readonly: write to read-only IOVA {:#x}: fault upcall: cause {}, access {}, IOVA {:#x}, hardware cause {}",
        IOVA_READ_ONLY,
        fault.cause.name(),
        fault.access.name(),
        fault.iova,
        fault.hardware_cause
    );
    ensure(
        fault.context == context
            && fault.cause == FaultCause::PageFault
            && fault.access == Access::Write
            && (IOVA_READ_ONLY..IOVA_READ_ONLY + usize::from(LEN)).contains(&fault.iova),
        format_args!("unexpected fault {:?}", fault),
    )?;
    read_only_unchanged()?;
    println!("dma_readonly: read-only page unchanged");
    step("sleep", alarm::sleep_ms(SETTLE_MS))?;
    step("fault_ack", iommu::fault_ack(context))?;

    // The device reads the read-only page: allowed.
    READ_WRITE.fill(|_| 0);
    step(
        "DMA from the read-only page",
        dma::copy(DEVICE, Direction::MemoryToDevice, LEN, IOVA_READ_ONLY),
    )?;
    step(
        "DMA into the read-write page",
        dma::copy(DEVICE, Direction::DeviceToMemory, LEN, IOVA_READ_WRITE),
    )?;
    let len = usize::from(LEN);
    let difference = READ_WRITE.first_difference(0..4096, |i| if i < len { kept(i) } else { 0 });
    ensure(
        difference.is_none(),
        format_args!("read-write page after the copy: {:?}", difference),
    )?;
    read_only_unchanged()?;
    let late = step("waiting for faults", FAULTS.wait(SETTLE_MS))?;
    ensure(
        late.is_none(),
        format_args!("fault after the read: {:?}", late),
    )?;
    println!(
        "dma_readonly: device read from read-only IOVA {:#x} works: {} bytes arrived at IOVA {:#x}",
        IOVA_READ_ONLY, LEN, IOVA_READ_WRITE
    );

    step("detach", iommu::detach(context))?;
    step("unmap", iommu::unmap(domain, read_only))?;
    step("unmap", iommu::unmap(domain, read_write))?;
    step("destroy_domain", iommu::destroy_domain(domain))?;
    step("release", iommu::release(context))?;
    println!("dma_readonly: done");
    Ok(())
}
