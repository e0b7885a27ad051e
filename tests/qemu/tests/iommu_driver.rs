// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The RISC-V IOMMU driver on QEMU's own riscv-iommu, with real `edu` DMA.
//!
//! Boots `boards/iommu_qemu` (a bare-metal image: no processes) and checks
//! that every one of its scenarios passed on QEMU: a translated DMA round
//! trip; unmapped and read-only accesses fault and leave memory untouched;
//! a detached context blocks; a context switched between two domains on
//! the fly; a fault flood overflows the fault queue and the driver
//! recovers; the two devices are isolated. The image checks each result
//! itself and ends through the finisher (pass, or fail(code) at the first
//! failure); this test asserts the lines and the pass.
//!
//! `tools/test.sh` does not build the image, so the first test to need it
//! builds it once: `cargo build --release -p iommu_qemu` into its own
//! target directory (`build/iommu_qemu-target`, so it never waits for the
//! lock of the `cargo test` that runs this), then `llvm-objcopy -O binary`
//! to `build/test-images/iommu_qemu.bin`, which QEMU boots with `-bios` as
//! it does the board's flash images.

use qemu_tests::{Run, TIMEOUT, boot, root};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const TARGET: &str = "riscv32imac-unknown-none-elf";

/// The scenario lines, each with the check that must have passed.
const SCENARIOS: [&str; 6] = [
    "iommu_qemu: [a] translated DMA round trip: pass",
    "iommu_qemu: [b] unmapped and read-only accesses fault: pass",
    "iommu_qemu: [c] detached context blocks: pass",
    "iommu_qemu: [d] context switched between two domains on the fly: pass",
    "iommu_qemu: [e] fault flood overflows the fault queue and the driver recovers: pass",
    "iommu_qemu: [f] the two devices are isolated: pass",
];

/// `llvm-objcopy` of the toolchain's llvm-tools component.
fn objcopy() -> PathBuf {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(root())
        .output()
        .expect("cannot run rustc");
    assert!(sysroot.status.success(), "rustc --print sysroot failed");
    let sysroot = String::from_utf8(sysroot.stdout).expect("sysroot is UTF-8");
    Path::new(sysroot.trim()).join("lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-objcopy")
}

/// Builds the image once per test process; returns its flat binary.
fn image() -> &'static Path {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let root = root();
        let target_dir = root.join("build/iommu_qemu-target");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "-p", "iommu_qemu", "--target", TARGET])
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(&root)
            .stdin(Stdio::null())
            .status()
            .expect("cannot run cargo");
        assert!(status.success(), "building iommu_qemu failed");
        let elf = target_dir.join(TARGET).join("release/iommu_qemu");
        let dir = root.join("build/test-images");
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("iommu_qemu.bin");
        let status = Command::new(objcopy())
            .args(["-O", "binary"])
            .arg(&elf)
            .arg(&bin)
            .status()
            .expect("cannot run llvm-objcopy (rustup component add llvm-tools)");
        assert!(status.success(), "llvm-objcopy failed");
        bin
    })
}

/// The image's one run, shared by the tests below (it is deterministic,
/// and booting it once keeps `make test` short).
fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    let run = RUN.get_or_init(|| boot(image(), &[], TIMEOUT));
    assert!(
        run.exit_code.is_some(),
        "QEMU timed out after {:?}:\n{}",
        run.elapsed,
        run.output
    );
    run
}

#[test]
fn every_scenario_passes_on_qemu_and_the_image_ends_through_the_finisher() {
    let run = run();
    run.expect("iommu_qemu: IOMMU at 0x3010000 up: contexts 2 (edu0 requester id 0x8, edu1 0x10)");
    for line in SCENARIOS {
        run.expect(line);
    }
    let order: Vec<usize> = SCENARIOS
        .iter()
        .map(|line| run.line_of(line).unwrap())
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "scenarios out of order:\n{}",
        run.output
    );
    run.expect("iommu_qemu: teardown: pass")
        .expect("iommu_qemu: PASS")
        .expect_absent("FAIL")
        .expect_absent("panic");
    run.expect_pass();
}

#[test]
fn faults_carry_context_cause_and_iova_and_the_flood_is_recovered() {
    let run = run();
    // Page faults: one record per 4 bytes of a 64-byte DMA, every one for
    // context 0 with the exact first IOVA (checked by the image).
    run.expect("write to read-only IOVA 0x12000: 16 write page-fault records")
        .expect("read of unmapped 0x13000: 16 read page-fault records and the device read zeros")
        .expect("RAM unchanged");
    // The flood fills the 128-entry queue (127 records), the loss is
    // reported, and a single fault afterwards is one record again.
    run.expect("records delivered, faults_lost reported")
        .expect("then a 4-byte faulting write gave 1 record");
    // Isolation: faults of edu1 are reported for context 1.
    run.expect("blocked records for context 1")
        .expect("page-fault records for context 1");
    run.expect_pass();
}

#[test]
fn the_benchmark_prints_its_numbers() {
    // Not a test of speed or of the targets (tools/bench.sh reports those,
    // with -icount): only that the benchmark runs and prints its lines.
    let run = run();
    for pages in [1, 64, 512] {
        run.expect(&format!("iommu_qemu: bench: map pages={pages} cold/page="));
    }
    assert_eq!(
        run.count("iommu_qemu: bench: map pages="),
        3,
        "{}",
        run.output
    );
    run.expect("iommu_qemu: bench: commands attach=");
    run.expect_pass();
}
