// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The Tock-compatible system on QEMU: apps installed with tockloader run,
//! are preempted, and are isolated; malformed TBFs are reported and skipped.
//! The board ends the run with pass only if every fault and non-zero exit
//! code came from an app that exists to fault or fail.

use qemu_tests::{TIMEOUT, boot, image};

#[test]
fn hello_prints_and_the_board_ends_through_the_finisher() {
    let run = boot(&image("hello", &["hello"]), &[], TIMEOUT);
    run.expect("Loading process 'hello': flash 0x80100000")
        .expect("hello: Hello from Tock userland!")
        .expect("hello: done")
        .expect("Process 'hello' exited with code 0")
        .expect("All processes finished (0 faulted, 0 exited with a non-zero code).");
    run.expect_pass();
}

#[test]
fn timer_app_ticks_in_order_and_yield_wait_for_works() {
    let run = boot(&image("sleep", &["sleep"]), &[], TIMEOUT);
    run.expect("sleep: alarm at 10000000 Hz")
        .expect("sleep: wait-for ok")
        .expect("sleep: done");
    let ticks: Vec<usize> = (1..=5)
        .map(|i| {
            run.line_of(&format!("sleep: tick {i}/5"))
                .expect("missing tick")
        })
        .collect();
    assert!(
        ticks.windows(2).all(|w| w[0] < w[1]),
        "ticks out of order:\n{}",
        run.output
    );
    run.expect_pass();
}

#[test]
fn two_spinning_apps_are_preempted_and_interleave() {
    let run = boot(&image("spin", &["spin_a", "spin_b"]), &[], TIMEOUT);
    run.expect("spin_a: done").expect("spin_b: done");
    // Neither app yields between rounds, so B can only print before A is
    // done if the kernel preempted A.
    let a_done = run.line_of("spin_a: done").unwrap();
    let b_done = run.line_of("spin_b: done").unwrap();
    let a_first = run.line_of("spin_a: round 1/5").unwrap();
    let b_first = run.line_of("spin_b: round 1/5").unwrap();
    assert!(
        b_first < a_done && a_first < b_done,
        "no interleaving:\n{}",
        run.output
    );
    run.expect_pass();
}

#[test]
fn reading_another_process_faults_and_the_others_run_on() {
    let run = boot(&image("peek", &["hello", "peek", "spin_a"]), &[], TIMEOUT);
    run.expect("---| Process 'peek' faulted: load access fault at 0x80300000 |---")
        .expect("mcause: 0x00000005 (load access fault)  mtval: 0x80300000")
        .expect("---| Process 'peek' stopped |---")
        .expect("spin_a: done")
        .expect("hello: done")
        .expect_absent("peek: read succeeded")
        .expect("All processes finished (1 faulted");
    run.expect_pass();
}

#[test]
fn jumping_into_the_kernel_faults_and_the_others_run_on() {
    let run = boot(&image("kjump", &["kernel_jump", "hello"]), &[], TIMEOUT);
    run.expect("kernel_jump: jumping to 0x80000000")
        .expect("---| Process 'kernel_jump' faulted: instruction access fault at 0x80000000 |---")
        .expect("---| Process 'kernel_jump' stopped |---")
        .expect("hello: done")
        .expect("All processes finished (1 faulted");
    run.expect_pass();
}

#[test]
fn a_malformed_tbf_is_reported_and_skipped_and_the_rest_load() {
    let path = image("malformed", &["hello", "sleep"]);
    let mut bytes = std::fs::read(&path).unwrap();
    // Corrupt the checksum word (offset 12) of the first app's TBF header.
    let first_app = 0x10_0000;
    bytes[first_app + 12] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let run = boot(&path, &[], TIMEOUT);
    run.expect("tbf: malformed header at 0x80100000: ")
        .expect(", skipped")
        .expect("Loading process 'sleep'")
        .expect("sleep: done")
        .expect_absent("hello: Hello");
    run.expect_pass();
}

#[test]
fn a_panicking_app_reports_through_low_level_debug_and_exits_non_zero() {
    let run = boot(&image("panic", &["panic_demo", "hello"]), &[], TIMEOUT);
    // The first process gets identifier 0, as on Tock.
    run.expect("LowLevelDebug: App 0x0 alert code 0x1")
        .expect("Process 'panic_demo' exited with code 1")
        .expect("Process 'hello' exited with code 0")
        .expect("All processes finished (0 faulted, 1 exited with a non-zero code).");
    run.expect_pass();
}

/// The address the app printed after `now reading`, as QEMU's fault report
/// writes it.
fn edge_read(run: &qemu_tests::Run, app: &str) -> String {
    let prefix = format!("{app}: read 0x");
    let line = run
        .output
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line:\n{}", run.output));
    line.rsplit(' ').next().unwrap().to_string()
}

#[test]
fn a_process_reads_its_last_flash_byte_and_faults_one_past_it() {
    let run = boot(
        &image("flash-edge", &["read_past_flash", "hello"]),
        &[],
        TIMEOUT,
    );
    let edge = edge_read(&run, "read_past_flash");
    // The PMP region ends where Tock's ends: the TBF object's end rounded
    // up to 4 bytes, not a page.
    run.expect(&format!(
        "---| Process 'read_past_flash' faulted: load access fault at {edge} |---"
    ))
    .expect_absent("read_past_flash: FAIL")
    .expect("hello: done");
    run.expect_pass();
}

#[test]
fn a_process_reads_its_last_byte_below_the_break_and_faults_at_it() {
    let run = boot(
        &image("break-edge", &["read_past_break", "hello"]),
        &[],
        TIMEOUT,
    );
    let edge = edge_read(&run, "read_past_break");
    run.expect(&format!(
        "---| Process 'read_past_break' faulted: load access fault at {edge} |---"
    ))
    .expect_absent("read_past_break: FAIL")
    .expect("hello: done");
    run.expect_pass();
}

#[test]
fn an_app_that_asks_for_too_little_kernel_memory_gets_no_grants() {
    // hello packed with --kernel-heap 0: as on Tock, nothing is left above
    // its break for grants, so the console cannot allocate its grant and
    // hello prints nothing (libtock-lite's println drops the NOMEM).
    let run = boot(&image("tight", &["hello_tight", "sleep"]), &[], TIMEOUT);
    run.expect("Loading process 'hello_tight'")
        .expect("Process 'hello_tight' exited with code 0")
        .expect("Process 'hello_tight' grants used 0 of ")
        .expect_absent("hello: Hello")
        .expect("sleep: done");
    run.expect_pass();
}

#[test]
fn an_unexpected_fault_fails_the_run() {
    // peek under another name: the board expects faults only from the apps
    // that exist to fault, so this one ends QEMU with fail(2).
    let run = boot(
        &image("unexpected-fault", &["peek_unexpected", "hello"]),
        &[],
        TIMEOUT,
    );
    run.expect("---| Process 'peek_unexpected' faulted: load access fault at ")
        .expect("hello: done")
        .expect("All processes finished (1 faulted, 0 exited with a non-zero code).")
        .expect("Run failed: 1 unexpected fault(s), 0 unexpected non-zero exit code(s).");
    assert_eq!(run.exit_code, Some(2), "{}", run.output);
}

#[test]
fn an_unexpected_non_zero_exit_code_fails_the_run() {
    // panic_demo under another name: its exit code 1 ends QEMU with fail(3).
    let run = boot(
        &image("unexpected-exit", &["panic_unexpected", "hello"]),
        &[],
        TIMEOUT,
    );
    run.expect("Process 'panic_unexpected' exited with code 1")
        .expect("All processes finished (0 faulted, 1 exited with a non-zero code).")
        .expect("Run failed: 0 unexpected fault(s), 1 unexpected non-zero exit code(s).");
    assert_eq!(run.exit_code, Some(3), "{}", run.output);
}

#[test]
fn the_page_granular_pmp_option_runs_the_apps_and_still_confines_them() {
    // The board option that rounds PMP ends up to 4 KiB pages (faster
    // under QEMU, off by default): processes' blocks end on pages, so a
    // break at the end of what an app asked for stays in its block, and
    // another process's memory is still out of reach.
    let image = qemu_tests::variant_image(
        "page-granular-pmp",
        "page-granular-pmp",
        &["hello", "sleep", "peek"],
    );
    let run = boot(&image, &[], TIMEOUT);
    run.expect("hello: done")
        .expect("sleep: done")
        .expect("---| Process 'peek' faulted: load access fault at 0x80300000 |---")
        .expect("Process 'hello' grants used ");
    run.expect_pass();
}
