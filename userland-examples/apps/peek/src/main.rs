// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! peek: reads the RAM of another app slot and must be killed by a fault.
//!
//! Process isolation (PMP) must stop a process from reading memory outside
//! its own RAM region. peek picks the first `qemu_rv32_virt` app RAM slot
//! that lies outside its own memory and reads it. Expected: the line
//! `peek: reading 0x80310000` (or another slot) and then a fault report from
//! the kernel; the line `peek: FAIL ...` means isolation is broken.

#![no_std]
#![no_main]

use libtock_lite::{ErrorCode, println, process_info};

/// Process RAM addresses of the fixed-address slots (doc/userland.md).
const SLOT_RAM: [usize; 4] = [0x8030_0000, 0x8031_0000, 0x8033_0000, 0x8038_0000];

libtock_lite::main!(main);

fn main() -> Result<(), ErrorCode> {
    let info = process_info();
    let own = info.memory_start..info.memory_start.saturating_add(info.memory_length);
    let Some(&target) = SLOT_RAM.iter().find(|address| !own.contains(address)) else {
        println!("peek: FAIL every slot is inside own memory {:#010x?}", own);
        return Err(ErrorCode::Fail);
    };
    println!("peek: own RAM {:#010x}..{:#010x}", own.start, own.end);
    println!("peek: reading {:#010x}", target);
    let address = core::ptr::with_exposed_provenance::<u32>(target);
    // SAFETY: `target` lies outside this process's memory and so outside
    // every Rust allocation; a volatile read there aliases nothing the
    // compiler knows. Its intended effect is the access fault that ends the
    // process.
    let value = unsafe { address.read_volatile() };
    println!(
        "peek: FAIL read {:#010x} from {:#010x} without a fault",
        value, target
    );
    Err(ErrorCode::Fail)
}
