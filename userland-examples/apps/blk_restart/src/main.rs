// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! blk_restart: killed with a block read in flight, restarted by the
//! board (`RESTART_ON_FAULT`, three restarts).
//!
//! The block storage driver maps the app's buffer for the device for one
//! request. When the app faults mid-request, the kernel domain unmaps it,
//! the invalidation completed and the device reset, before the app's
//! memory goes to the next instance (I4). What the next instance can
//! check is that the old instance's read never lands in the memory it
//! inherited: it fills its target page with a marker first, waits, and
//! checks that the page still holds only the marker.
//!
//! Every instance does the same; sector 0 of the app's range counts the
//! instances, so that the fourth, which the board would not restart,
//! ends instead of faulting (and sets the count back to 0):
//!
//! 1. fill the target page with the marker;
//! 2. read the count `n` from sector 0 and write `n + 1` (or 0 for the
//!    last instance) back, through another buffer;
//! 3. write a pattern into sectors 8..16 (what the killed read would
//!    bring);
//! 4. wait 50 ms and check that the target page holds only the marker;
//! 5. instances 1 to 3: start a read of sectors 8..16 into the target page
//!    and load from address 0 at once (the kernel kills the instance);
//!    instance 4: print the summary and exit 0.
//!
//! ```text
//! blk_restart: instance 1: target still holds only the marker
//! blk_restart: instance 1: starting a read of 8 sectors, then faulting
//! ...
//! blk_restart: instance 4: target still holds only the marker
//! blk_restart: done: 3 instances killed mid-read, no device write reached the next
//! ```

#![no_std]
#![no_main]

use core::arch::asm;

use libtock_lite::block::{self, SECTORS_PER_PAGE, Sectors};
use libtock_lite::{ErrorCode, alarm, println};

libtock_lite::main!(main);

/// What the target page holds until a device write lands in it.
const MARKER: u8 = 0xc3;
/// What the killed reads would bring: never the marker.
const PATTERN: u8 = 0x5a;
/// The sector counting the instances, and the sectors read when killed.
const COUNT_SECTOR: usize = 0;
const DATA_SECTOR: usize = 8;
/// Instances the board runs: the first and three restarts.
const INSTANCES: u32 = 4;

static mut TARGET: Sectors = Sectors::ZERO;
static mut SCRATCH: Sectors = Sectors::ZERO;

fn fail(what: &str, error: ErrorCode) -> ErrorCode {
    println!("blk_restart: FAIL {}: {:?}", what, error);
    error
}

fn main() -> Result<(), ErrorCode> {
    let target = core::ptr::addr_of_mut!(TARGET);
    // SAFETY: the only references to the two pages, in this
    // single-threaded program; `target` is only used again through the
    // raw pointer once the read is started.
    let (target_page, scratch) = unsafe { (&mut *target, &mut *core::ptr::addr_of_mut!(SCRATCH)) };
    target_page.0.fill(MARKER);

    block::read(COUNT_SECTOR, 1, scratch).map_err(|e| fail("read of the count", e))?;
    let killed = u32::from_le_bytes([scratch.0[0], scratch.0[1], scratch.0[2], scratch.0[3]]);
    let instance = killed % INSTANCES + 1;
    let next = if instance == INSTANCES { 0 } else { instance };
    scratch.0[..4].copy_from_slice(&next.to_le_bytes());
    block::write(COUNT_SECTOR, 1, scratch).map_err(|e| fail("write of the count", e))?;

    scratch.0.fill(PATTERN);
    block::write(DATA_SECTOR, SECTORS_PER_PAGE, scratch).map_err(|e| fail("write", e))?;

    alarm::sleep_ms(50).map_err(|e| fail("sleep", e))?;
    if target_page.0.iter().any(|&byte| byte != MARKER) {
        println!("blk_restart: FAIL instance {instance}: the target page changed");
        return Err(ErrorCode::Fail);
    }
    println!("blk_restart: instance {instance}: target still holds only the marker");

    if instance == INSTANCES {
        println!(
            "blk_restart: done: {} instances killed mid-read, no device write reached the next",
            INSTANCES - 1
        );
        return Ok(());
    }
    // Printed first: the console write yields, and the read must still be
    // in flight when the fault comes.
    println!(
        "blk_restart: instance {instance}: starting a read of {} sectors, then faulting",
        SECTORS_PER_PAGE
    );
    // SAFETY: the page is not touched again by this instance, which the
    // kernel kills below while the device may still write it.
    unsafe { block::start_read(DATA_SECTOR, SECTORS_PER_PAGE, target) }
        .map_err(|e| fail("start of the read", e))?;
    // SAFETY: the load is meant to fault and end the process; it reads no
    // memory that Rust knows of. Should it not fault, the loop keeps the
    // process from going on.
    unsafe {
        asm!("lw {value}, 0(zero)", value = out(reg) _, options(nostack, readonly));
    }
    println!("blk_restart: FAIL load from address 0 did not fault");
    loop {
        let _ = alarm::sleep_ms(1000);
    }
}
