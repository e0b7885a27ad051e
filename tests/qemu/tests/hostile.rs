// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Hostile apps on the board: several `fuzzer` instances (each packed
//! under `fuzz_<seed>`) issue 20,000 random system calls each, of every
//! class, to every driver of the board and others, with forged handles
//! and addresses anywhere, next to apps that must not notice: `victim`
//! keeps checking a patterned buffer, `dma_demo` does its DMA round trip
//! and faults, `dma_restart` is killed mid-DMA and restarted. The kernel
//! must not panic, no app may fault unexpectedly (the board fails the run
//! if one does), and each fuzzer must finish with no finding of its own
//! checks. `make soak` (tools/soak.sh) runs the same images over many
//! more seeds.

use qemu_tests::{Run, TIMEOUT, boot, image};

/// System calls per fuzzer (`CALLS` in `userland-examples/apps/fuzzer`).
const CALLS: u64 = 20_000;

/// Checks what every hostile run must show: no kernel panic, each
/// fuzzer's summary with all its calls and no finding, no `FAIL` line.
fn expect_survived(run: &Run, seeds: &[u32]) {
    run.expect_absent("Kernel panic")
        .expect_absent(": FAIL")
        .expect_absent("Run failed");
    for seed in seeds {
        let prefix = format!("fuzzer: seed {seed}: {CALLS} calls, ");
        let line = run
            .output
            .lines()
            .find(|line| line.contains(&prefix))
            .unwrap_or_else(|| panic!("no summary of seed {seed}:\n{}", run.output));
        assert!(
            line.ends_with(", 0 findings"),
            "seed {seed}: {line}\n{}",
            run.output
        );
        run.expect(&format!("Process 'fuzz_{seed}' exited with code 0"));
    }
}

#[test]
fn fuzzers_next_to_a_victim_and_dma_demo_change_nothing_of_theirs() {
    let seeds = [1, 2, 3];
    let run = boot(
        &image(
            "hostile-victim",
            &["dma_demo", "victim", "fuzz_1", "fuzz_2", "fuzz_3"],
        ),
        &[],
        TIMEOUT,
    );
    expect_survived(&run, &seeds);
    run.expect("victim: 400 checks of 8192 bytes, memory intact")
        .expect("victim: done")
        .expect("dma_demo: round trip verified: 512 bytes arrived, the rest of the page untouched")
        .expect("dma_demo: memory unchanged after the fault")
        .expect("dma_demo: done")
        .expect("Process 'victim' exited with code 0")
        .expect("Process 'dma_demo' exited with code 0")
        .expect("All processes finished (0 faulted, 0 exited with a non-zero code).");
    run.expect_pass();
}

#[test]
fn fuzzers_during_kill_mid_dma_cycles_leave_the_restarts_and_the_other_device_intact() {
    let seeds = [4, 5];
    let run = boot(
        &image(
            "hostile-restart",
            &["dma_restart", "dma_switch", "fuzz_4", "fuzz_5"],
        ),
        &[],
        TIMEOUT,
    );
    expect_survived(&run, &seeds);
    // Four instances killed mid-DMA: three restarts, then stopped; each
    // restarted instance found its target untouched by the old copy.
    assert_eq!(
        run.count("---| Process 'dma_restart' faulted: load access fault at 0x00000000 |---"),
        4,
        "{}",
        run.output
    );
    assert_eq!(
        run.count("dma_restart: target still holds only the marker"),
        4,
        "{}",
        run.output
    );
    run.expect("---| Process 'dma_restart' restarted (restart 3) |---")
        .expect("---| Process 'dma_restart' stopped |---")
        .expect("dma_switch: done")
        .expect("Process 'dma_switch' exited with code 0")
        .expect("All processes finished (4 faulted, 0 exited with a non-zero code).");
    run.expect_pass();
}
