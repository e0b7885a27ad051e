// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! blk_overreach: a device DMA past the request's mapping is faulted by
//! the IOMMU and contained.
//!
//! Runs on the board's test build `block-overreach`, whose block device
//! asks virtio-blk to move one page more than a read at the first sector
//! of this app's range maps: the device's DMA runs from the request's
//! window onto the IOVA just past it, which nothing maps. The app's buffer
//! is followed in its memory by a guard page, the page a device without an
//! IOMMU would write next.
//!
//! 1. write a pattern at sector 0; fill the buffer and the guard page
//!    with markers;
//! 2. start a one-page read at sector 0 and wait 200 ms; the request
//!    either ended (`wait_done` returns its status) or the device still
//!    holds it (then abort it: the driver resets the device, `Cancel`);
//! 3. check that the first sector arrived in the buffer and that the
//!    guard page holds only its marker;
//! 4. write and read back a page at sector 8 (not overreached): the
//!    device serves requests on.
//!
//! QEMU's virtio-blk writes the page the window maps, has each write past
//! it faulted by the IOMMU (the board prints the first fault of the page,
//! at the window's IOVA + 4 KiB) and still reports the request done:
//!
//! ```text
//! blk_overreach: overreaching read at sector 0 ended: Ok(8)
//! blk_overreach: my buffer holds the sectors, the page past it is untouched
//! blk_overreach: the device serves requests on: 8 sectors verified
//! ```
//!
//! On a normal build the read at sector 0 is an ordinary one, with the
//! same output.

#![no_std]
#![no_main]

use libtock_lite::block::{self, SECTORS_PER_PAGE, Sectors};
use libtock_lite::{ErrorCode, alarm, println};

libtock_lite::main!(main);

const BUFFER_MARKER: u8 = 0x11;
const GUARD_MARKER: u8 = 0x22;
const PATTERN: u8 = 0x77;
/// The sector whose reads the test build overreaches, and one it does not.
const OVERREACHED_SECTOR: usize = 0;
const PLAIN_SECTOR: usize = 8;

/// The request's buffer and, right after it, the guard page.
#[repr(C)]
struct Pages {
    buffer: Sectors,
    guard: Sectors,
}

static mut PAGES: Pages = Pages {
    buffer: Sectors::ZERO,
    guard: Sectors::ZERO,
};
static mut SCRATCH: Sectors = Sectors::ZERO;

fn fail(what: &str, error: ErrorCode) -> ErrorCode {
    println!("blk_overreach: FAIL {}: {:?}", what, error);
    error
}

fn main() -> Result<(), ErrorCode> {
    let pages = core::ptr::addr_of_mut!(PAGES);
    // SAFETY: the only references to the statics in this single-threaded
    // program; the buffer is reached only through the raw pointer while
    // the read may be in flight, and the guard page is only read.
    let (guard, scratch) = unsafe {
        (*pages).buffer.0.fill(BUFFER_MARKER);
        (*pages).guard.0.fill(GUARD_MARKER);
        (
            &*core::ptr::addr_of!((*pages).guard),
            &mut *core::ptr::addr_of_mut!(SCRATCH),
        )
    };

    scratch.0.fill(PATTERN);
    block::write(OVERREACHED_SECTOR, SECTORS_PER_PAGE, scratch).map_err(|e| fail("write", e))?;
    // SAFETY: the buffer is not touched until the request has ended.
    unsafe {
        block::start_read(
            OVERREACHED_SECTOR,
            SECTORS_PER_PAGE,
            core::ptr::addr_of_mut!((*pages).buffer),
        )
    }
    .map_err(|e| fail("start of the read", e))?;
    alarm::sleep_ms_wait_for(200).map_err(|e| fail("sleep", e))?;
    match block::abort() {
        // The device still held it: stopped, DONE follows with CANCEL.
        Ok(()) => {}
        // It ended: its DONE is queued.
        Err(ErrorCode::Invalid) => {}
        Err(error) => return Err(fail("abort", error)),
    }
    let ended = block::wait_done();
    println!(
        "blk_overreach: overreaching read at sector {} ended: {:?}",
        OVERREACHED_SECTOR, ended
    );
    // SAFETY: a null buffer shares no memory; the request has ended.
    if unsafe {
        libtock_lite::syscall::allow_read_write(block::DRIVER_NUMBER, 0, core::ptr::null_mut(), 0)
    }
    .is_err()
    {
        return Err(fail("unshare", ErrorCode::Fail));
    }
    if guard.0.iter().any(|&byte| byte != GUARD_MARKER) {
        println!("blk_overreach: FAIL the page past my buffer changed");
        return Err(ErrorCode::Fail);
    }
    // SAFETY: the request has ended and the buffer is no longer shared.
    let buffer = unsafe { &(*pages).buffer };
    let arrived = buffer.0.iter().all(|&byte| byte == PATTERN);
    if ended.is_ok() && !arrived {
        println!("blk_overreach: FAIL the read succeeded but the sectors did not arrive");
        return Err(ErrorCode::Fail);
    }
    println!(
        "blk_overreach: my buffer {}, the page past it is untouched",
        if arrived {
            "holds the sectors"
        } else {
            "kept its marker"
        }
    );

    scratch.0.fill(PATTERN);
    block::write(PLAIN_SECTOR, SECTORS_PER_PAGE, scratch).map_err(|e| fail("write", e))?;
    scratch.0.fill(0);
    let read = block::read(PLAIN_SECTOR, SECTORS_PER_PAGE, scratch).map_err(|e| fail("read", e))?;
    if scratch.0.iter().any(|&byte| byte != PATTERN) {
        println!("blk_overreach: FAIL the sectors read back differ");
        return Err(ErrorCode::Fail);
    }
    println!(
        "blk_overreach: the device serves requests on: {} sectors verified",
        read
    );
    Ok(())
}
