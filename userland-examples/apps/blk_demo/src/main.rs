// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! blk_demo: writes a pattern into three sectors of its own range of the
//! disk (driver 0x50005), reads them back into another buffer and checks
//! them. The device moves the data straight between the disk and the
//! app's page-aligned buffers, each mapped in the device's IOMMU domain
//! for one request. Exits 0, or with FAIL after a `blk_demo: FAIL` line.
//!
//! ```text
//! blk_demo: 64 sectors of 512 bytes are mine
//! blk_demo: wrote 3 sectors from my buffer, read 3 back into another: verified
//! ```

#![no_std]
#![no_main]

use libtock_lite::block::{self, SECTOR_SIZE, Sectors};
use libtock_lite::{ErrorCode, println};

libtock_lite::main!(main);

const COUNT: usize = 3;

static mut SOURCE: Sectors = Sectors::ZERO;
static mut DESTINATION: Sectors = Sectors::ZERO;

fn fail(what: &str, error: ErrorCode) -> ErrorCode {
    println!("blk_demo: FAIL {}: {:?}", what, error);
    error
}

fn main() -> Result<(), ErrorCode> {
    if !block::exists() {
        println!("blk_demo: FAIL no block storage driver");
        return Err(ErrorCode::NoDevice);
    }
    let (size, count) = block::info().map_err(|e| fail("info", e))?;
    println!("blk_demo: {} sectors of {} bytes are mine", count, size);
    // SAFETY: the only references to the buffers, in this single-threaded
    // program's main.
    let (source, destination) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(SOURCE),
            &mut *core::ptr::addr_of_mut!(DESTINATION),
        )
    };
    for (index, byte) in source.0.iter_mut().enumerate() {
        *byte = (index as u8).wrapping_mul(31) ^ 0xa5;
    }
    let written = block::write(1, COUNT, source).map_err(|e| fail("write", e))?;
    let read = block::read(1, COUNT, destination).map_err(|e| fail("read", e))?;
    let bytes = COUNT * SECTOR_SIZE;
    if written != COUNT || read != COUNT || source.0[..bytes] != destination.0[..bytes] {
        println!("blk_demo: FAIL the sectors read back differ");
        return Err(ErrorCode::Fail);
    }
    println!(
        "blk_demo: wrote {} sectors from my buffer, read {} back into another: verified",
        written, read
    );
    Ok(())
}
