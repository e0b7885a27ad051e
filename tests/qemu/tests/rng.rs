// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The RNG driver (0x40001) over virtio-rng behind the IOMMU: the board
//! brings the device up in the kernel's own IOMMU context and domain, and
//! `rng_demo` gets random bytes through Tock's RNG interface.

use qemu_tests::{Run, TIMEOUT, boot, image};

/// The hex bytes `rng_demo` printed for draw `number`.
fn draw(run: &Run, number: usize) -> Vec<u8> {
    let prefix = format!("rng_demo: draw {number}: 16 random bytes: ");
    let line = run
        .output
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {prefix:?} in QEMU output:\n{}", run.output));
    let hex = line.trim();
    assert_eq!(hex.len(), 32, "draw {number}: {hex:?}");
    (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn rng_demo_gets_random_bytes_from_virtio_rng_behind_the_iommu() {
    let image = image("rng", &["rng_demo"]);
    let run = boot(&image, &[], TIMEOUT);
    run.expect(
        "IOMMU 0x03010000: context 2 = virtio-rng requester id 0x0018, kernel-owned, blocking",
    )
    .expect("virtio-rng: ready behind IOMMU context 2: queue at IOVA 0x10000000, buffer at IOVA 0x10001000")
    .expect("rng_demo: the two draws differ and neither is all zero")
    .expect("Process 'rng_demo' exited with code 0")
    .expect_absent("FAIL");
    run.expect_pass();
    let (first, second) = (draw(&run, 1), draw(&run, 2));
    assert_ne!(first, second);
    assert_ne!(first, [0; 16]);
    // Another boot draws other bytes: they come from the device, not from
    // anything fixed in the image.
    let again = boot(&image, &[], TIMEOUT);
    again.expect_pass();
    assert_ne!(draw(&again, 1), first);
}

#[test]
fn rng_and_edu_dma_share_the_iommu() {
    // The apps' contexts are still the edus (their contexts 0 and 1) while
    // the kernel holds the virtio-rng context and a domain of its own.
    let run = boot(&image("rng_dma", &["rng_demo", "dma_demo"]), &[], TIMEOUT);
    run.expect("dma_demo: instance 0: 2 contexts, usable mask 0x3")
        .expect("dma_demo: round trip verified")
        .expect("rng_demo: the two draws differ and neither is all zero")
        .expect("Process 'dma_demo' exited with code 0")
        .expect("Process 'rng_demo' exited with code 0");
    run.expect_pass();
}
