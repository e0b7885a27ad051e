// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! dma_thief: tries to use what is not its own, and is refused every time.
//!
//! Meant to run next to `dma_demo`, which owns DMA device 0's context
//! while it runs. After a short sleep (so that `dma_demo` has acquired the
//! context), the thief:
//!
//! 1. tries to acquire that context (refused: `BUSY`, or `RESERVE` if the
//!    board's policy does not let it);
//! 2. tries to start a copy on device 0 (refused: `RESERVE`);
//! 3. guesses context and domain handles (every slot with the first
//!    generations, and garbage values) and uses each with every command
//!    that names an object, except its own domain's handle: all `INVAL`,
//!    so it can neither use nor observe `dma_demo`'s objects;
//! 4. maps more than it allowed: more pages than the buffer holds, pages
//!    past its end, an empty slot, a slot that does not exist, a buffer
//!    with no whole page: all `INVAL`; one page inside its buffer maps,
//!    which shows the refusals are about the bounds;
//! 5. allows memory that is not its own (another app's RAM, the kernel)
//!    to the IOMMU driver: the kernel refuses (`INVAL`).
//!
//! Exits 0 if everything was refused, non-zero if anything succeeded.
//! Output (next to `dma_demo` in slot 0, as on our board):
//!
//! ```text
//! dma_thief: start
//! dma_thief: acquire of context 0 (in use by another app) refused: BUSY
//! dma_thief: DMA on device 0 refused: RESERVE
//! dma_thief: own domain handle 0x0101
//! dma_thief: 28 guessed handles refused: 222 commands, all INVAL
//! dma_thief: map of 2 pages from a 1-page allow refused: INVAL
//! dma_thief: map of the page after its allowed buffer refused: INVAL
//! dma_thief: map from an empty allow slot refused: INVAL
//! dma_thief: map from allow slot 5 (no such slot) refused: INVAL
//! dma_thief: map of a 100-byte allow (no whole page) refused: INVAL
//! dma_thief: control: 1 page inside its own buffer maps (phys 0x80311000)
//! dma_thief: allow of another app's RAM at 0x80300000 refused: INVAL
//! dma_thief: allow of kernel memory at 0x80000000 refused: INVAL
//! dma_thief: done: 231 refusals, nothing taken
//! ```

#![no_std]
#![no_main]

use libtock_lite::dma::{self, Direction, DmaBuffer};
use libtock_lite::iommu::{
    self, AllowSlot, ContextHandle, DomainHandle, MapSource, PageRange, Slot,
};
use libtock_lite::{ErrorCode, alarm, memop, println, syscall};

/// The device `dma_demo` drives.
const DEVICE: u8 = 0;
/// Time for `dma_demo` to acquire its context first.
const HEAD_START_MS: u32 = 100;
/// An IOVA `dma_demo` maps (its source page).
const DEMO_IOVA: usize = 0x0001_0000;
/// Where the thief maps its own page.
const OWN_IOVA_PAGE: u32 = 0x40;
/// Start of app RAM slot 0 and its size; the kernel's RAM start.
const APP_RAM_SLOT_0: usize = 0x8030_0000;
const APP_RAM_SLOT_SIZE: usize = 0x1_0000;
const KERNEL_START: usize = 0x8000_0000;

/// Its own page: one page, allowed read-write.
static MINE: DmaBuffer<4096> = DmaBuffer::new();
/// Less than a page, read-only.
static SMALL: [u8; 100] = [0x42; 100];

libtock_lite::main!(main);

fn step<T>(what: &str, result: Result<T, ErrorCode>) -> Result<T, ErrorCode> {
    result.inspect_err(|error| println!("dma_thief: FAIL {}: {}", what, error))
}

/// Counts refusals; an attempt that was not refused as expected fails.
struct Refusals(u32);

impl Refusals {
    /// `result` must be one of the `expected` errors; prints the line
    /// `what refused: ERROR` if `print`.
    fn check<T: core::fmt::Debug>(
        &mut self,
        what: core::fmt::Arguments<'_>,
        result: Result<T, ErrorCode>,
        expected: &[ErrorCode],
        print: bool,
    ) -> Result<ErrorCode, ErrorCode> {
        match result {
            Err(error) if expected.contains(&error) => {
                self.0 += 1;
                if print {
                    println!("dma_thief: {} refused: {}", what, error);
                }
                Ok(error)
            }
            other => {
                println!(
                    "dma_thief: FAIL {}: {:?}, expected one of {:?}",
                    what, other, expected
                );
                Err(ErrorCode::Fail)
            }
        }
    }
}

/// Handle values to guess: every slot of the first three generations, and
/// values no handle has (0, generation 0, all ones, bits above 15).
fn guesses() -> impl Iterator<Item = u32> {
    let issued =
        (1..=3u32).flat_map(|generation| (0..8u32).map(move |slot| slot | generation << 8));
    issued.chain([0x0000, 0x00ff, 0xffff, 0x1_0100, u32::MAX])
}

/// Step 3: every command that names a context or domain, with every
/// guessed handle but its own domain's.
fn guess_handles(refusals: &mut Refusals, own: DomainHandle) -> Result<(), ErrorCode> {
    let invalid = &[ErrorCode::Invalid];
    let range = PageRange::new((DEMO_IOVA >> 12) as u32, 1)?;
    let (before, mut guessed) = (refusals.0, 0);
    for raw in guesses().filter(|&raw| raw != own.raw()) {
        guessed += 1;
        let context = ContextHandle::from_raw(raw);
        let domain = DomainHandle::from_raw(raw);
        refusals.check(
            format_args!("release {:#x}", raw),
            iommu::release(context),
            invalid,
            false,
        )?;
        refusals.check(
            format_args!("detach {:#x}", raw),
            iommu::detach(context),
            invalid,
            false,
        )?;
        refusals.check(
            format_args!("fault_ack {:#x}", raw),
            iommu::fault_ack(context),
            invalid,
            false,
        )?;
        refusals.check(
            format_args!("attach {:#x} to own domain", raw),
            iommu::attach(context, own),
            invalid,
            false,
        )?;
        refusals.check(
            format_args!("translate in {:#x}", raw),
            iommu::translate(domain, DEMO_IOVA),
            invalid,
            false,
        )?;
        refusals.check(
            format_args!("unmap in {:#x}", raw),
            iommu::unmap(domain, range),
            invalid,
            false,
        )?;
        refusals.check(
            format_args!("destroy {:#x}", raw),
            iommu::destroy_domain(domain),
            invalid,
            false,
        )?;
        // The map word holds 16 bits of handle; wider guesses cannot be
        // expressed in it (the library refuses them before any call).
        if raw <= 0xffff {
            let source = MapSource {
                domain,
                allow: AllowSlot::ReadWrite(Slot::BUFFER_0),
                page_offset: 0,
            };
            refusals.check(
                format_args!("map into {:#x}", raw),
                iommu::map(source, PageRange::new(OWN_IOVA_PAGE, 1)?),
                invalid,
                false,
            )?;
        }
    }
    println!(
        "dma_thief: {} guessed handles refused: {} commands, all INVAL",
        guessed,
        refusals.0 - before
    );
    Ok(())
}

/// Step 4: maps beyond what it allowed (its page is in read-write slot
/// 0), then one page that is inside.
fn map_beyond(refusals: &mut Refusals, domain: DomainHandle) -> Result<(), ErrorCode> {
    let invalid = &[ErrorCode::Invalid];
    let map = |allow: AllowSlot, page_offset: u8, pages: u32| {
        let source = MapSource {
            domain,
            allow,
            page_offset,
        };
        iommu::map(source, PageRange::new(OWN_IOVA_PAGE, pages)?)
    };
    let read_write = AllowSlot::ReadWrite(Slot::BUFFER_0);
    refusals.check(
        format_args!("map of 2 pages from a 1-page allow"),
        map(read_write, 0, 2),
        invalid,
        true,
    )?;
    refusals.check(
        format_args!("map of the page after its allowed buffer"),
        map(read_write, 1, 1),
        invalid,
        true,
    )?;
    refusals.check(
        format_args!("map from an empty allow slot"),
        map(AllowSlot::ReadWrite(Slot::BUFFER_1), 0, 1),
        invalid,
        true,
    )?;
    let no_such_slot = Slot::new(5).ok_or(ErrorCode::Fail)?;
    refusals.check(
        format_args!("map from allow slot 5 (no such slot)"),
        map(AllowSlot::ReadWrite(no_such_slot), 0, 1),
        invalid,
        true,
    )?;
    step(
        "allow read-only",
        iommu::allow_read_only_bytes(Slot::BUFFER_0, &SMALL),
    )?;
    refusals.check(
        format_args!("map of a {}-byte allow (no whole page)", SMALL.len()),
        map(AllowSlot::ReadOnly(Slot::BUFFER_0), 0, 1),
        invalid,
        true,
    )?;
    step("unallow", iommu::unallow_read_only(Slot::BUFFER_0))?;

    // The control: the same call within bounds works.
    step("map inside its own buffer", map(read_write, 0, 1))?;
    step("unallow", iommu::unallow_read_write(Slot::BUFFER_0))?;
    let iova = (OWN_IOVA_PAGE as usize) << 12;
    let translation = step("translate", iommu::translate(domain, iova))?;
    let phys = MINE.as_mut_ptr() as u64;
    if translation.is_none_or(|t| t.phys != phys) {
        println!(
            "dma_thief: FAIL its own page translates to {:?}, expected {:#x}",
            translation, phys
        );
        return Err(ErrorCode::Fail);
    }
    println!(
        "dma_thief: control: 1 page inside its own buffer maps (phys {:#x})",
        phys
    );
    step(
        "unmap",
        iommu::unmap(domain, PageRange::new(OWN_IOVA_PAGE, 1)?),
    )
}

/// Step 5: shares memory that is not its own.
fn allow_foreign(refusals: &mut Refusals) -> Result<(), ErrorCode> {
    let own = step("ram_start", memop::ram_start())?;
    let other_app = if own == APP_RAM_SLOT_0 {
        APP_RAM_SLOT_0 + APP_RAM_SLOT_SIZE
    } else {
        APP_RAM_SLOT_0
    };
    // SAFETY: the program never reads or writes the memory at
    // `other_app`, so whatever the kernel did with it could not break the
    // program's own memory; the call exists to be refused. Should the
    // kernel accept it, the share is revoked at once below.
    let shared = unsafe {
        syscall::allow_read_write(
            iommu::DRIVER_NUMBER,
            0,
            other_app as *mut u8,
            APP_RAM_SLOT_SIZE / 16,
        )
    };
    if shared.is_ok() {
        let _ = iommu::unallow_read_write(Slot::BUFFER_0);
    }
    refusals.check(
        format_args!("allow of another app's RAM at {:#x}", other_app),
        shared,
        &[ErrorCode::Invalid],
        true,
    )?;
    // SAFETY: as above: the kernel's memory is never touched by the program.
    let shared = unsafe {
        syscall::allow_read_only(iommu::DRIVER_NUMBER, 0, KERNEL_START as *const u8, 4096)
    };
    if shared.is_ok() {
        let _ = iommu::unallow_read_only(Slot::BUFFER_0);
    }
    refusals.check(
        format_args!("allow of kernel memory at {:#x}", KERNEL_START),
        shared,
        &[ErrorCode::Invalid],
        true,
    )?;
    Ok(())
}

fn main() -> Result<(), ErrorCode> {
    println!("dma_thief: start");
    step("sleep", alarm::sleep_ms(HEAD_START_MS))?;
    let mut refusals = Refusals(0);
    let device = step("device_info", dma::device_info(DEVICE))?;

    let acquired = iommu::acquire(device.instance, device.context);
    if let Ok(context) = acquired {
        // Not in use: give it back at once so the app it belongs to can
        // have it, and fail: this run was meant to show the refusal.
        let _ = iommu::release(context);
    }
    refusals.check(
        format_args!(
            "acquire of context {} (in use by another app)",
            device.context
        ),
        acquired,
        &[ErrorCode::Busy, ErrorCode::Reserve],
        true,
    )?;
    let started = dma::start(DEVICE, Direction::DeviceToMemory, 64, DEMO_IOVA);
    if started.is_ok() {
        let _ = dma::wait_done(Direction::DeviceToMemory, 64);
    }
    refusals.check(
        format_args!("DMA on device {}", DEVICE),
        started,
        &[ErrorCode::Reserve],
        true,
    )?;

    let domain = step("create_domain", iommu::create_domain(device.instance))?;
    println!("dma_thief: own domain handle {:#06x}", domain.raw());
    // Allowed before the guesses, so that a guessed map is refused for the
    // handle and not for an empty slot.
    step("allow", iommu::allow_read_write(Slot::BUFFER_0, &MINE))?;
    guess_handles(&mut refusals, domain)?;
    map_beyond(&mut refusals, domain)?;
    step("destroy_domain", iommu::destroy_domain(domain))?;
    allow_foreign(&mut refusals)?;
    println!("dma_thief: done: {} refusals, nothing taken", refusals.0);
    Ok(())
}
