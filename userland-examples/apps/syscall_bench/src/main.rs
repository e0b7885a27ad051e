// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! syscall_bench: instructions retired by system call round trips.
//!
//! Runs only on the board's benchmark build (`tools/bench-system.sh`),
//! which lets user mode read `instret`; on a normal build reading it
//! faults. QEMU counts instructions exactly with `-icount`. Measures:
//!
//! - a null command (console command 0, "exists");
//! - a one-page IOMMU map round trip: libtock-lite's `map`, the MAP
//!   command plus, where MAP does not return "complete" (1), the
//!   yield-wait-for on its DONE upcall (the buffer is allowed beforehand).
//!   On the RISC-V IOMMU MAP completes on return; the driver's deferred
//!   completion of the map then runs at the next wait, inside the unmap
//!   round trip that follows;
//! - a one-page IOMMU unmap round trip: UNMAP plus waiting for DONE, which
//!   comes only after the IOTLB invalidation has completed.
//!
//! Output:
//!
//! ```text
//! syscall_bench: null command round trip: min N, median M instructions (200 calls)
//! syscall_bench: one-page map round trip: min N, median M instructions (50 calls)
//! syscall_bench: one-page unmap round trip (with invalidation): min N, median M instructions (50 calls)
//! ```

#![no_std]
#![no_main]

use libtock_lite::dma::DmaBuffer;
use libtock_lite::iommu::{self, AllowSlot, MapSource, PageRange, Slot};
use libtock_lite::syscall::command;
use libtock_lite::{ErrorCode, println};

/// The console driver; command 0 ("exists") does nothing else.
const CONSOLE: u32 = 0x1;
const EXISTS: u32 = 0;
/// Samples live on the 2 KiB stack: 200 of them take 800 bytes.
const CALLS: usize = 200;
const MAP_CALLS: usize = 50;
/// IOVA page the benchmark maps and unmaps.
const IOVA_PAGE: u32 = 0x40;

static PAGE: DmaBuffer<4096> = DmaBuffer::new();

libtock_lite::main!(main);

/// Reads the low word of `instret` (the counted spans are far below 2^32).
fn instret() -> u32 {
    let value: u32;
    // SAFETY: reading a counter CSR has no side effect; the benchmark
    // build enables it for user mode.
    unsafe { core::arch::asm!("rdinstret {0}", out(reg) value, options(nomem, nostack)) };
    value
}

/// Runs `op` `samples.len()` times; returns (min, median) instructions,
/// the cost of the counter reads themselves subtracted.
fn measure(
    samples: &mut [u32],
    mut op: impl FnMut() -> Result<(), ErrorCode>,
) -> Result<(u32, u32), ErrorCode> {
    let empty = {
        let a = instret();
        let b = instret();
        b.wrapping_sub(a)
    };
    for sample in samples.iter_mut() {
        let before = instret();
        op()?;
        let after = instret();
        *sample = after.wrapping_sub(before).wrapping_sub(empty);
    }
    samples.sort_unstable();
    Ok((samples[0], samples[samples.len() / 2]))
}

fn main() -> Result<(), ErrorCode> {
    let mut samples = [0u32; CALLS];
    let (min, median) = measure(&mut samples, || command(CONSOLE, EXISTS, 0, 0).to_result())?;
    println!(
        "syscall_bench: null command round trip: min {min}, median {median} instructions ({CALLS} calls)"
    );

    let domain = iommu::create_domain(0)?;
    let slot = Slot::new(0).ok_or(ErrorCode::Invalid)?;
    iommu::allow_read_write(slot, &PAGE)?;
    let source = MapSource {
        domain,
        allow: AllowSlot::ReadWrite(slot),
        page_offset: 0,
    };
    let range = PageRange::new(IOVA_PAGE, 1)?;
    let mut map_samples = [0u32; MAP_CALLS];
    let mut unmap_samples = [0u32; MAP_CALLS];
    for i in 0..MAP_CALLS {
        let (map, _) = measure(&mut map_samples[i..i + 1], || iommu::map(source, range))?;
        let (unmap, _) = measure(&mut unmap_samples[i..i + 1], || iommu::unmap(domain, range))?;
        map_samples[i] = map;
        unmap_samples[i] = unmap;
    }
    map_samples.sort_unstable();
    unmap_samples.sort_unstable();
    println!(
        "syscall_bench: one-page map round trip: min {}, median {} instructions ({MAP_CALLS} calls)",
        map_samples[0],
        map_samples[MAP_CALLS / 2]
    );
    println!(
        "syscall_bench: one-page unmap round trip (with invalidation): min {}, median {} instructions ({MAP_CALLS} calls)",
        unmap_samples[0],
        unmap_samples[MAP_CALLS / 2]
    );
    iommu::unallow_read_write(slot)?;
    iommu::destroy_domain(domain)?;
    Ok(())
}
