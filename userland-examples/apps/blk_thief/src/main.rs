// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! blk_thief: tries to read and write sectors outside its own range of
//! the disk (driver 0x50005): past its end, straddling it, and at sectors
//! so large they overflow. Every request must be refused before it
//! reaches the device. Exits 0, or with FAIL after a `blk_thief: FAIL`
//! line.
//!
//! ```text
//! blk_thief: 64 sectors are mine
//! blk_thief: 6 requests outside my range refused: INVAL
//! ```

#![no_std]
#![no_main]

use libtock_lite::block::{self, Sectors};
use libtock_lite::{ErrorCode, println};

libtock_lite::main!(main);

static mut BUFFER: Sectors = Sectors::ZERO;

fn main() -> Result<(), ErrorCode> {
    let (_, count) = block::info().inspect_err(|e| {
        println!("blk_thief: FAIL info: {:?}", e);
    })?;
    println!("blk_thief: {} sectors are mine", count);
    // SAFETY: the only reference to the buffer.
    let buffer = unsafe { &mut *core::ptr::addr_of_mut!(BUFFER) };
    let attempts = [(count, 1), (count - 1, 2), (usize::MAX, 2)];
    let mut refused = 0;
    for (sector, sectors) in attempts {
        for write in [false, true] {
            let result = if write {
                block::write(sector, sectors, buffer)
            } else {
                block::read(sector, sectors, buffer)
            };
            match result {
                Err(ErrorCode::Invalid) => refused += 1,
                other => {
                    println!(
                        "blk_thief: FAIL {} of sectors {}+{}: {:?}",
                        if write { "write" } else { "read" },
                        sector,
                        sectors,
                        other
                    );
                    return Err(ErrorCode::Fail);
                }
            }
        }
    }
    println!(
        "blk_thief: {} requests outside my range refused: INVAL",
        refused
    );
    Ok(())
}
