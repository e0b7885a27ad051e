// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! spin_a: busy-loops between progress lines without blocking; run
//! together with spin_b to see whether the kernel preempts processes.
//!
//! See the `spin` library for the workload and the expected output.

#![no_std]
#![no_main]

libtock_lite::main!(main);

fn main() {
    spin::run("spin_a");
}
