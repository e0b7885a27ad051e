// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! read_past_break: reads the last byte below its break, then the byte at
//! its break (rounded up to the PMP granule), which must fault.
//!
//! Expected: `read_past_break: read 0x..; now reading 0x...` and then the
//! kernel's fault report (load access fault at that address).

#![no_std]
#![no_main]

use libtock_lite::{ErrorCode, memop};

libtock_lite::main!(main);

fn main() -> Result<(), ErrorCode> {
    mpu_edges::read_edge("read_past_break", "RAM", memop::app_break()?)
}
