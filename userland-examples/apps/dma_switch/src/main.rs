// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! dma_switch: one context switched on the fly between two domains.
//!
//! Drives DMA device 1 (the second `edu`, context 1), so that it can run
//! next to `dma_demo` (device 0) with both devices copying at once.
//! Domains A and B both map the same IOVA (`TARGET`), A to buffer A and B
//! to buffer B; both map a shared source page read-only at `SOURCE`. The
//! app attaches the context to A, then switches it to B (an attach while
//! attached, never passing through bypass), then back to A. In each round
//! the device copies a new pattern from `SOURCE` and writes it to
//! `TARGET`: it must land in the buffer of the domain the context is on
//! at that moment, and the other buffer must keep what it had. Exits 0 if
//! every round went so. Output:
//!
//! ```text
//! dma_switch: start
//! dma_switch: domain A maps IOVA 0x31000 -> phys 0x80303000, domain B maps it -> phys 0x80304000
//! dma_switch: round 1: attached to domain A, DMA to IOVA 0x31000 landed in buffer A, buffer B unchanged
//! dma_switch: round 2: switched to domain B, DMA to IOVA 0x31000 landed in buffer B, buffer A unchanged
//! dma_switch: round 3: switched to domain A, DMA to IOVA 0x31000 landed in buffer A, buffer B unchanged
//! dma_switch: done
//! ```

#![no_std]
#![no_main]

use libtock_lite::dma::{self, Direction, DmaBuffer};
use libtock_lite::iommu::{self, AllowSlot, DomainHandle, FaultLog, Geometry, PageRange, Slot};
use libtock_lite::{ErrorCode, println};

/// The DMA device this app drives (`dma_demo` drives device 0).
const DEVICE: u8 = 1;
/// The source page, read-only in both domains.
const IOVA_SOURCE: usize = 0x0003_0000;
/// The same IOVA, a different buffer in each domain.
const IOVA_TARGET: usize = 0x0003_1000;
/// Bytes per copy.
const LEN: u16 = 1024;
/// How long to wait for unexpected faults after the rounds.
const SETTLE_MS: u32 = 50;

static SOURCE: DmaBuffer<4096> = DmaBuffer::new();
static BUFFER_A: DmaBuffer<4096> = DmaBuffer::new();
static BUFFER_B: DmaBuffer<4096> = DmaBuffer::new();
static FAULTS: FaultLog = FaultLog::new();

libtock_lite::main!(main);

/// The pattern of round `round`; never all zero.
fn pattern(round: u8, index: usize) -> u8 {
    (index as u8).wrapping_add(round.wrapping_mul(0x31)) | 1
}

fn step<T>(what: &str, result: Result<T, ErrorCode>) -> Result<T, ErrorCode> {
    result.inspect_err(|error| println!("dma_switch: FAIL {}: {}", what, error))
}

fn ensure(ok: bool, message: core::fmt::Arguments<'_>) -> Result<(), ErrorCode> {
    if ok {
        Ok(())
    } else {
        println!("dma_switch: FAIL {}", message);
        Err(ErrorCode::Fail)
    }
}

/// One domain with the shared source and its own target buffer.
struct Side {
    name: &'static str,
    domain: DomainHandle,
    buffer: &'static DmaBuffer<4096>,
    source: PageRange,
    target: PageRange,
    /// The round whose pattern the buffer holds (0: still zero).
    holds: u8,
}

impl Side {
    fn new(
        name: &'static str,
        instance: u32,
        buffer: &'static DmaBuffer<4096>,
        geometry: Geometry,
    ) -> Result<Side, ErrorCode> {
        let domain = step("create_domain", iommu::create_domain(instance))?;
        let source = step(
            "map source",
            iommu::map_buffer(
                domain,
                AllowSlot::ReadOnly(Slot::BUFFER_0),
                &SOURCE,
                IOVA_SOURCE,
                geometry,
            ),
        )?;
        let target = step(
            "map target",
            iommu::map_buffer(
                domain,
                AllowSlot::ReadWrite(Slot::BUFFER_0),
                buffer,
                IOVA_TARGET,
                geometry,
            ),
        )?;
        Ok(Side {
            name,
            domain,
            buffer,
            source,
            target,
            holds: 0,
        })
    }

    /// Checks the buffer holds its round's pattern (first `LEN` bytes) and
    /// zeros after it.
    fn check(&self) -> Result<(), ErrorCode> {
        let len = usize::from(LEN);
        let holds = self.holds;
        let expected = |i: usize| {
            if holds == 0 || i >= len {
                0
            } else {
                pattern(holds, i)
            }
        };
        let difference = self.buffer.first_difference(0..4096, expected);
        ensure(
            difference.is_none(),
            format_args!(
                "buffer {} (round {} pattern expected): {:?}",
                self.name, holds, difference
            ),
        )
    }

    fn teardown(&self) -> Result<(), ErrorCode> {
        step("unmap source", iommu::unmap(self.domain, self.source))?;
        step("unmap target", iommu::unmap(self.domain, self.target))?;
        step("destroy_domain", iommu::destroy_domain(self.domain))
    }
}

fn main() -> Result<(), ErrorCode> {
    println!("dma_switch: start");
    let device = step("device_info", dma::device_info(DEVICE))?;
    let geometry = step("instance_info", iommu::instance_info(device.instance))?.geometry;
    let context = step("acquire", iommu::acquire(device.instance, device.context))?;
    let mut sides = [
        Side::new("A", device.instance, &BUFFER_A, geometry)?,
        Side::new("B", device.instance, &BUFFER_B, geometry)?,
    ];
    let mut phys = [0u64; 2];
    for (side, phys) in sides.iter().zip(phys.iter_mut()) {
        let translation = step("translate", iommu::translate(side.domain, IOVA_TARGET))?;
        *phys = translation.map_or(0, |t| t.phys);
        ensure(
            *phys == side.buffer.as_mut_ptr() as u64,
            format_args!("domain {} translates to {:?}", side.name, translation),
        )?;
    }
    println!(
        "dma_switch: domain A maps IOVA {:#x} -> phys {:#x}, domain B maps it -> phys {:#x}",
        IOVA_TARGET, phys[0], phys[1]
    );
    step("subscribe to faults", FAULTS.subscribe())?;

    for (round, on) in [(1u8, 0usize), (2, 1), (3, 0)] {
        SOURCE.fill(|i| pattern(round, i));
        step("attach", iommu::attach(context, sides[on].domain))?;
        step(
            "DMA memory -> device",
            dma::copy(DEVICE, Direction::MemoryToDevice, LEN, IOVA_SOURCE),
        )?;
        step(
            "DMA device -> memory",
            dma::copy(DEVICE, Direction::DeviceToMemory, LEN, IOVA_TARGET),
        )?;
        sides[on].holds = round;
        for side in &sides {
            side.check()?;
        }
        let other = &sides[1 - on];
        println!(
            "dma_switch: round {}: {} domain {}, DMA to IOVA {:#x} landed in buffer {}, buffer {} unchanged",
            round,
            if round == 1 {
                "attached to"
            } else {
                "switched to"
            },
            sides[on].name,
            IOVA_TARGET,
            sides[on].name,
            other.name
        );
    }
    let fault = step("waiting for faults", FAULTS.wait(SETTLE_MS))?;
    ensure(
        fault.is_none(),
        format_args!("unexpected fault {:?}", fault),
    )?;

    step("detach", iommu::detach(context))?;
    for side in &sides {
        side.teardown()?;
    }
    step("release", iommu::release(context))?;
    println!("dma_switch: done");
    Ok(())
}
