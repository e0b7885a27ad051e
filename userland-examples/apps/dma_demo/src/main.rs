// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! dma_demo: a device DMAs into this app's memory through the IOMMU, and
//! nowhere else.
//!
//! Acquires the IOMMU context of DMA device 0 (an `edu`), creates a
//! domain, maps two of its own pages (source and destination) read-write
//! at IOVAs and attaches the context. The device copies a pattern from
//! the source IOVA into its own buffer and back out to the destination
//! IOVA; the app checks the bytes arrived. Then it aims a copy at an IOVA
//! that is not mapped: the IOMMU refuses it, the app's fault upcall
//! reports cause, IOVA and access, and no byte of its memory changed.
//! After detaching, a copy to a mapped IOVA is blocked (and reported) too;
//! QEMU records such device-context faults as reads at IOVA 0 whatever
//! the access was, and the line shows what was reported.
//! Exits 0 if every step went as described, non-zero otherwise. Output:
//!
//! ```text
//! dma_demo: start
//! dma_demo: device 0: IOMMU instance 0, context 0, 4096-byte buffer
//! dma_demo: instance 0: 2 contexts, usable mask 0x3, 4096-byte pages, 38-bit IOVAs
//! dma_demo: acquired context 0: handle 0x0100
//! dma_demo: created domain: handle 0x0100
//! dma_demo: mapped source at IOVA 0x10000 -> phys 0x80304000 (device read/write)
//! dma_demo: mapped destination at IOVA 0x11000 -> phys 0x80301000 (device read/write)
//! dma_demo: IOVA 0x12000 is not mapped
//! dma_demo: holds 1/1 contexts, 1/2 domains, 3/6 table pages
//! dma_demo: attached context to domain
//! dma_demo: DMA memory -> device: 512 bytes from IOVA 0x10000 done
//! dma_demo: DMA device -> memory: 512 bytes to IOVA 0x11000 done
//! dma_demo: round trip verified: 512 bytes arrived, the rest of the page untouched
//! dma_demo: DMA device -> memory: 64 bytes to unmapped IOVA 0x12000 done
//! dma_demo: fault upcall: context 0x0100, cause page fault, access write, IOVA 0x12000, hardware cause 15
//! dma_demo: memory unchanged after the fault
//! dma_demo: fault acknowledged (15 more counted)
//! dma_demo: detached: DMA to IOVA 0x11000 blocked (hardware cause 258, as read at IOVA 0x0), memory unchanged
//! dma_demo: cleaned up
//! dma_demo: done
//! ```

#![no_std]
#![no_main]

use libtock_lite::dma::{self, Direction, DmaBuffer};
use libtock_lite::iommu::{
    self, Access, AllowSlot, ContextHandle, FaultCause, FaultLog, Geometry, Slot,
};
use libtock_lite::{ErrorCode, alarm, println};

/// The DMA device this app drives.
const DEVICE: u8 = 0;
/// Where the source and destination pages appear to the device.
const IOVA_SOURCE: usize = 0x0001_0000;
const IOVA_DESTINATION: usize = 0x0001_1000;
/// The page after the destination: never mapped.
const IOVA_UNMAPPED: usize = 0x0001_2000;
/// Bytes of the round trip.
const LEN: u16 = 512;
/// Bytes of the refused copies (QEMU's IOMMU records one fault per 4).
const FAULT_LEN: u16 = 64;
/// How long to wait for a fault upcall.
const FAULT_WAIT_MS: u32 = 1000;
/// Time for the fault records of one copy to be handled.
const SETTLE_MS: u32 = 50;
/// What the destination and the canary hold before any copy.
const DESTINATION_FILL: u8 = 0xee;
const CANARY_FILL: u8 = 0xa5;

/// Mapped at `IOVA_SOURCE`.
static SOURCE: DmaBuffer<4096> = DmaBuffer::new();
/// Mapped at `IOVA_DESTINATION`.
static DESTINATION: DmaBuffer<4096> = DmaBuffer::new();
/// Never allowed, never mapped: no copy may ever change it.
static CANARY: DmaBuffer<4096> = DmaBuffer::new();
/// Receives the fault upcalls.
static FAULTS: FaultLog = FaultLog::new();

libtock_lite::main!(main);

/// The source pattern.
fn pattern(index: usize) -> u8 {
    (index as u8).wrapping_mul(7) ^ 0x5a
}

/// Prints a failure line for an unexpected error and passes it on.
fn step<T>(what: &str, result: Result<T, ErrorCode>) -> Result<T, ErrorCode> {
    result.inspect_err(|error| println!("dma_demo: FAIL {}: {}", what, error))
}

/// Fails with `message` unless `ok`.
fn ensure(ok: bool, message: core::fmt::Arguments<'_>) -> Result<(), ErrorCode> {
    if ok {
        Ok(())
    } else {
        println!("dma_demo: FAIL {}", message);
        Err(ErrorCode::Fail)
    }
}

/// Checks every buffer still holds what it held after the round trip.
fn memory_unchanged() -> Result<(), ErrorCode> {
    let len = usize::from(LEN);
    let checks = [
        ("source", SOURCE.first_difference(0..4096, pattern)),
        (
            "destination",
            DESTINATION.first_difference(0..4096, |i| {
                if i < len {
                    pattern(i)
                } else {
                    DESTINATION_FILL
                }
            }),
        ),
        ("canary", CANARY.first_difference(0..4096, |_| CANARY_FILL)),
    ];
    for (name, difference) in checks {
        if let Some(d) = difference {
            println!(
                "dma_demo: FAIL {} changed at byte {}: {:#04x}, expected {:#04x}",
                name, d.index, d.found, d.expected
            );
            return Err(ErrorCode::Fail);
        }
    }
    Ok(())
}

/// Maps `buffer` read-write at `iova` and checks the translation.
fn map(
    domain: iommu::DomainHandle,
    slot: Slot,
    buffer: &'static DmaBuffer<4096>,
    iova: usize,
    geometry: Geometry,
    name: &str,
) -> Result<iommu::PageRange, ErrorCode> {
    let range = step(
        name,
        iommu::map_buffer(domain, AllowSlot::ReadWrite(slot), buffer, iova, geometry),
    )?;
    let translation = step("translate", iommu::translate(domain, iova))?;
    let phys = buffer.as_mut_ptr() as u64;
    ensure(
        translation.is_some_and(|t| t.phys == phys && t.read && t.write),
        format_args!(
            "{} at IOVA {:#x}: translates to {:?}",
            name, iova, translation
        ),
    )?;
    println!(
        "dma_demo: mapped {} at IOVA {:#x} -> phys {:#x} (device read/write)",
        name, iova, phys
    );
    Ok(range)
}

/// The copies through the attached context, the refused one, and the
/// blocked one after detaching.
fn transfers(context: ContextHandle) -> Result<(), ErrorCode> {
    step(
        "DMA memory -> device",
        dma::copy(DEVICE, Direction::MemoryToDevice, LEN, IOVA_SOURCE),
    )?;
    println!(
        "dma_demo: DMA memory -> device: {} bytes from IOVA {:#x} done",
        LEN, IOVA_SOURCE
    );
    step(
        "DMA device -> memory",
        dma::copy(DEVICE, Direction::DeviceToMemory, LEN, IOVA_DESTINATION),
    )?;
    println!(
        "dma_demo: DMA device -> memory: {} bytes to IOVA {:#x} done",
        LEN, IOVA_DESTINATION
    );
    memory_unchanged()?;
    let unexpected = step("waiting for faults", FAULTS.wait(SETTLE_MS))?;
    ensure(
        unexpected.is_none(),
        format_args!("fault during the round trip: {:?}", unexpected),
    )?;
    println!(
        "dma_demo: round trip verified: {} bytes arrived, the rest of the page untouched",
        LEN
    );

    // A copy outside the mappings: the device does not know, the IOMMU does.
    step(
        "DMA to the unmapped IOVA",
        dma::copy(DEVICE, Direction::DeviceToMemory, FAULT_LEN, IOVA_UNMAPPED),
    )?;
    println!(
        "dma_demo: DMA device -> memory: {} bytes to unmapped IOVA {:#x} done",
        FAULT_LEN, IOVA_UNMAPPED
    );
    let Some(fault) = step("waiting for the fault", FAULTS.wait(FAULT_WAIT_MS))? else {
        println!("dma_demo: FAIL no fault upcall within {} ms", FAULT_WAIT_MS);
        return Err(ErrorCode::Fail);
    };
    println!(
        "dma_demo: fault upcall: context {:#06x}, cause {}, access {}, IOVA {:#x}, hardware cause {}",
        fault.context.raw(),
        fault.cause.name(),
        fault.access.name(),
        fault.iova,
        fault.hardware_cause
    );
    let fault_end = IOVA_UNMAPPED + usize::from(FAULT_LEN);
    ensure(
        fault.context == context
            && fault.cause == FaultCause::PageFault
            && fault.access == Access::Write
            && (IOVA_UNMAPPED..fault_end).contains(&fault.iova),
        format_args!("unexpected fault {:?}", fault),
    )?;
    memory_unchanged()?;
    println!("dma_demo: memory unchanged after the fault");
    // Let the IOMMU's interrupt drain the copy's remaining records before
    // acknowledging, so that none of them arrives as a fault later on.
    step("sleep", alarm::sleep_ms(SETTLE_MS))?;
    let more = step("fault_ack", iommu::fault_ack(context))?;
    println!("dma_demo: fault acknowledged ({} more counted)", more);

    // Detached, the context blocks everything, mapped IOVAs included.
    step("detach", iommu::detach(context))?;
    step(
        "DMA while detached",
        dma::copy(
            DEVICE,
            Direction::DeviceToMemory,
            FAULT_LEN,
            IOVA_DESTINATION,
        ),
    )?;
    let Some(blocked) = step("waiting for the fault", FAULTS.wait(FAULT_WAIT_MS))? else {
        println!(
            "dma_demo: FAIL no fault upcall for a DMA while detached within {} ms",
            FAULT_WAIT_MS
        );
        return Err(ErrorCode::Fail);
    };
    ensure(
        blocked.context == context && blocked.cause == FaultCause::Blocked,
        format_args!("unexpected fault while detached {:?}", blocked),
    )?;
    memory_unchanged()?;
    println!(
        "dma_demo: detached: DMA to IOVA {:#x} {} (hardware cause {}, as {} at IOVA {:#x}), memory unchanged",
        IOVA_DESTINATION,
        blocked.cause.name(),
        blocked.hardware_cause,
        blocked.access.name(),
        blocked.iova
    );
    step("fault_ack", iommu::fault_ack(context)).map(|_| ())
}

fn main() -> Result<(), ErrorCode> {
    println!("dma_demo: start");
    ensure(
        iommu::exists() && dma::exists(),
        format_args!("IOMMU (0x10003) or DMA (0x10004) driver missing"),
    )?;
    let device = step("device_info", dma::device_info(DEVICE))?;
    println!(
        "dma_demo: device {}: IOMMU instance {}, context {}, {}-byte buffer",
        DEVICE, device.instance, device.context, device.buffer_len
    );
    ensure(
        device.buffer_len >= u32::from(LEN),
        format_args!("device buffer of {} bytes", device.buffer_len),
    )?;
    let instance = step("instance_info", iommu::instance_info(device.instance))?;
    let geometry = instance.geometry;
    println!(
        "dma_demo: instance {}: {} contexts, usable mask {:#x}, {}-byte pages, {}-bit IOVAs",
        device.instance,
        instance.contexts,
        instance.usable,
        geometry.page_size(),
        geometry.iova_bits
    );
    ensure(
        geometry.page_size() <= dma::PAGE_ALIGN && instance.may_use(device.context),
        format_args!("context {} not usable or pages too big", device.context),
    )?;

    let context = step("acquire", iommu::acquire(device.instance, device.context))?;
    println!(
        "dma_demo: acquired context {}: handle {:#06x}",
        device.context,
        context.raw()
    );
    let domain = step("create_domain", iommu::create_domain(device.instance))?;
    println!("dma_demo: created domain: handle {:#06x}", domain.raw());

    SOURCE.fill(pattern);
    DESTINATION.fill(|_| DESTINATION_FILL);
    CANARY.fill(|_| CANARY_FILL);
    let source = map(
        domain,
        Slot::BUFFER_0,
        &SOURCE,
        IOVA_SOURCE,
        geometry,
        "source",
    )?;
    let destination = map(
        domain,
        Slot::BUFFER_1,
        &DESTINATION,
        IOVA_DESTINATION,
        geometry,
        "destination",
    )?;
    let unmapped = step("translate", iommu::translate(domain, IOVA_UNMAPPED))?;
    ensure(
        unmapped.is_none(),
        format_args!("IOVA {:#x} translates to {:?}", IOVA_UNMAPPED, unmapped),
    )?;
    println!("dma_demo: IOVA {:#x} is not mapped", IOVA_UNMAPPED);
    let quotas = step("info", iommu::info(device.instance))?;
    let pages = step("pages", iommu::pages(device.instance))?;
    ensure(
        quotas.contexts_held == 1 && quotas.domains == 1 && pages.charged > 0,
        format_args!("usage {:?} {:?}", quotas, pages),
    )?;
    println!(
        "dma_demo: holds {}/{} contexts, {}/{} domains, {}/{} table pages",
        quotas.contexts_held,
        quotas.context_quota,
        quotas.domains,
        quotas.domain_quota,
        pages.charged,
        pages.quota
    );

    step("subscribe to faults", FAULTS.subscribe())?;
    step("attach", iommu::attach(context, domain))?;
    println!("dma_demo: attached context to domain");
    transfers(context)?;

    step("unmap source", iommu::unmap(domain, source))?;
    step("unmap destination", iommu::unmap(domain, destination))?;
    step("destroy_domain", iommu::destroy_domain(domain))?;
    step("release", iommu::release(context))?;
    step("unsubscribe", iommu::unsubscribe_faults())?;
    println!("dma_demo: cleaned up");
    println!("dma_demo: done");
    Ok(())
}
