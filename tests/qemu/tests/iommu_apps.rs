// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The IOMMU and DMA example apps (`userland-examples/apps/dma_*`) on the
//! board: processes drive the IOMMU (0x10003) and edu DMA (0x10004)
//! drivers through libtock-lite, with real DMA by QEMU's `edu` through
//! QEMU's riscv-iommu.
//!
//! Each app checks its own results (the bytes in its buffers, the fault
//! upcalls, the refusals) and exits non-zero at the first surprise; these
//! tests assert its lines, in order, that no line says `FAIL`, that every
//! process exited with code 0 (`dma_restart` faults on purpose: its test
//! counts the faults and restarts instead), and that the board ended
//! through the finisher with pass.

use qemu_tests::{Run, TIMEOUT, boot, image};

/// Boots an image with `apps` and checks every process exited with 0.
fn run_clean(name: &str, apps: &[&str]) -> Run {
    let run = boot(&image(name, apps), &[], TIMEOUT);
    for app in apps {
        run.expect(&format!("Process '{app}' exited with code 0"));
    }
    run.expect("All processes finished (0 faulted, 0 exited with a non-zero code).")
        .expect_absent(": FAIL");
    run.expect_pass();
    run
}

/// Asserts each of `lines` appears, each after the one before.
fn expect_in_order(run: &Run, lines: &[&str]) {
    let mut previous: Option<(usize, &str)> = None;
    for line in lines {
        let at = run
            .line_of(line)
            .unwrap_or_else(|| panic!("expected {line:?} in QEMU output:\n{}", run.output));
        if let Some((before, earlier)) = previous {
            assert!(
                at > before,
                "{line:?} came before {earlier:?}:\n{}",
                run.output
            );
        }
        previous = Some((at, line));
    }
}

/// The value after `prefix` on its line, up to the next comma or the end.
fn field<'a>(run: &'a Run, prefix: &str) -> &'a str {
    let line = run
        .output
        .lines()
        .find(|l| l.contains(prefix))
        .unwrap_or_else(|| panic!("expected {prefix:?} in QEMU output:\n{}", run.output));
    let rest = &line[line.find(prefix).unwrap() + prefix.len()..];
    rest.split(',').next().unwrap().trim()
}

#[test]
fn dma_into_a_mapped_buffer_arrives_and_dma_outside_the_mappings_faults_to_the_owner_and_changes_nothing()
 {
    let run = run_clean("iommu_dma_demo", &["dma_demo"]);
    let context = field(&run, "dma_demo: acquired context 0: handle ");
    expect_in_order(
        &run,
        &[
            "dma_demo: start",
            "dma_demo: device 0: IOMMU instance 0, context 0, 4096-byte buffer",
            "dma_demo: acquired context 0: handle 0x",
            "dma_demo: created domain: handle 0x",
            "dma_demo: mapped source at IOVA 0x10000 -> phys 0x",
            "dma_demo: mapped destination at IOVA 0x11000 -> phys 0x",
            "dma_demo: IOVA 0x12000 is not mapped",
            "dma_demo: holds 1/1 contexts, 1/1 domains, 3/4 table pages",
            "dma_demo: attached context to domain",
            "dma_demo: DMA memory -> device: 512 bytes from IOVA 0x10000 done",
            "dma_demo: DMA device -> memory: 512 bytes to IOVA 0x11000 done",
            "dma_demo: round trip verified: 512 bytes arrived, the rest of the page untouched",
            "dma_demo: DMA device -> memory: 64 bytes to unmapped IOVA 0x12000 done",
            // The fault names the app's own context, the cause, the
            // access and the IOVA (RISC-V IOMMU cause 15: write page fault).
            &format!(
                "dma_demo: fault upcall: context {context}, cause page fault, access write, IOVA 0x12000, hardware cause 15"
            ),
            "dma_demo: memory unchanged after the fault",
            "dma_demo: fault acknowledged (",
            "dma_demo: detached: DMA to IOVA 0x11000 blocked (hardware cause ",
            "dma_demo: cleaned up",
            "dma_demo: done",
        ],
    );
    // QEMU records one fault per 4 bytes: 16 for the 64-byte copy, the
    // first as the upcall, the others counted until acknowledged (the app
    // waits 50 ms first; a record handled later would come as an upcall).
    let counted = field(&run, "dma_demo: fault acknowledged (");
    let counted: u32 = counted
        .trim_end_matches(" more counted)")
        .parse()
        .unwrap_or_else(|_| panic!("count in {counted:?}:\n{}", run.output));
    assert!(
        (1..=15).contains(&counted),
        "{counted} faults counted:\n{}",
        run.output
    );
}

#[test]
fn a_device_write_into_a_read_only_mapping_faults_and_changes_nothing_and_a_device_read_works() {
    let run = run_clean("iommu_dma_readonly", &["dma_readonly"]);
    expect_in_order(
        &run,
        &[
            "dma_readonly: start",
            "dma_readonly: mapped read-only page at IOVA 0x20000 -> phys 0x",
            "dma_readonly: mapped read-write page at IOVA 0x21000 -> phys 0x",
            "dma_readonly: attached",
            "dma_readonly: device buffer loaded from IOVA 0x21000",
            "dma_readonly: write to read-only IOVA 0x20000: fault upcall: cause page fault, access write, IOVA 0x20000, hardware cause 15",
            "dma_readonly: read-only page unchanged",
            "dma_readonly: device read from read-only IOVA 0x20000 works: 256 bytes arrived at IOVA 0x21000",
            "dma_readonly: done",
        ],
    );
    run.expect("(device read only)");
}

#[test]
fn a_context_switched_between_two_domains_lands_each_dma_in_the_current_domains_buffer() {
    let run = run_clean("iommu_dma_switch", &["dma_switch"]);
    let a = field(&run, "domain A maps IOVA 0x31000 -> phys ");
    let b = field(&run, "domain B maps it -> phys ");
    assert_ne!(a, b, "one IOVA, two domains, two buffers:\n{}", run.output);
    expect_in_order(
        &run,
        &[
            "dma_switch: start",
            "dma_switch: round 1: attached to domain A, DMA to IOVA 0x31000 landed in buffer A, buffer B unchanged",
            "dma_switch: round 2: switched to domain B, DMA to IOVA 0x31000 landed in buffer B, buffer A unchanged",
            "dma_switch: round 3: switched to domain A, DMA to IOVA 0x31000 landed in buffer A, buffer B unchanged",
            "dma_switch: done",
        ],
    );
}

#[test]
fn a_thief_is_refused_another_apps_context_guessed_handles_and_memory_beyond_its_allows() {
    let run = run_clean("iommu_dma_thief", &["dma_demo", "dma_thief"]);
    expect_in_order(
        &run,
        &[
            "dma_thief: start",
            "dma_thief: acquire of context 0 (in use by another app) refused: BUSY",
            "dma_thief: DMA on device 0 refused: RESERVE",
            "dma_thief: own domain handle 0x",
            "guessed handles refused: ",
            "dma_thief: map of 2 pages from a 1-page allow refused: INVAL",
            "dma_thief: map of the page after its allowed buffer refused: INVAL",
            "dma_thief: map from an empty allow slot refused: INVAL",
            "dma_thief: map from allow slot 5 (no such slot) refused: INVAL",
            "dma_thief: map of a 100-byte allow (no whole page) refused: INVAL",
            "dma_thief: control: 1 page inside its own buffer maps (phys 0x",
            "dma_thief: allow of another app's RAM at 0x80300000 refused: INVAL",
            "dma_thief: allow of kernel memory at 0x80000000 refused: INVAL",
            "dma_thief: done: ",
        ],
    );
    run.expect("commands, all INVAL");
    // The thief's guesses included the victim's real handles (slot 0 of
    // each table, first generation) while the victim was using them, and
    // the victim's DMA still went exactly where it mapped it.
    for prefix in [
        "dma_demo: acquired context 0: handle ",
        "dma_demo: created domain: handle ",
    ] {
        let handle = field(&run, prefix);
        let handle = u32::from_str_radix(handle.trim_start_matches("0x"), 16).unwrap();
        let (slot, generation) = (handle & 0xff, handle >> 8);
        assert!(
            slot < 8 && (1..=3).contains(&generation),
            "victim handle {handle:#x} is not among the thief's guesses:\n{}",
            run.output
        );
    }
    let thief_start = run.line_of("dma_thief: own domain handle").unwrap();
    let victim_done = run.line_of("dma_demo: done").unwrap();
    assert!(
        thief_start < victim_done,
        "the thief ran after the victim had finished:\n{}",
        run.output
    );
    expect_in_order(
        &run,
        &[
            "dma_demo: attached context to domain",
            "dma_demo: round trip verified",
            "dma_demo: memory unchanged after the fault",
            "dma_demo: done",
        ],
    );
}

#[test]
fn two_apps_dma_through_the_two_edu_contexts_at_once_each_within_its_own_domains() {
    // dma_switch drives edu 1 (context 1) while dma_demo drives edu 0
    // (context 0) and dma_thief attacks both: every copy of each app must
    // land in its own buffers (each app checks its bytes), and the one
    // refused copy faults to the app that made it.
    let run = run_clean(
        "iommu_dma_together",
        &["dma_demo", "dma_switch", "dma_thief"],
    );
    for line in [
        "dma_demo: round trip verified",
        "dma_demo: fault upcall: context 0x",
        "dma_demo: memory unchanged after the fault",
        "dma_demo: done",
        "dma_switch: round 3: switched to domain A, DMA to IOVA 0x31000 landed in buffer A, buffer B unchanged",
        "dma_switch: done",
        "dma_thief: acquire of context 0 (in use by another app) refused: BUSY",
        "dma_thief: done: ",
    ] {
        run.expect(line);
    }
    assert_eq!(run.count("fault upcall"), 1, "{}", run.output);
    // The copies overlapped: dma_switch's first round ended before
    // dma_demo's last copy.
    let switch_first = run.line_of("dma_switch: round 1:").unwrap();
    let demo_last = run.line_of("dma_demo: detached:").unwrap();
    assert!(switch_first < demo_last, "no overlap:\n{}", run.output);
}

#[test]
fn an_app_killed_mid_dma_is_restarted_only_after_revocation_and_the_old_copy_never_lands() {
    // dma_restart starts a copy into its own memory and faults before it
    // ends; the board restarts it three times (RESTART_ON_FAULT), then
    // stops it. dma_switch runs next to it on the other edu.
    let run = boot(
        &image("iommu_dma_restart", &["dma_restart", "dma_switch"]),
        &[],
        TIMEOUT,
    );
    // Each instance's lines, then the kernel's report of its fault and
    // what the board did: restart, restart, restart, stop.
    let mut expected = Vec::new();
    for instance in 1..=4 {
        expected.extend([
            "dma_restart: start".to_string(),
            "dma_restart: target filled with marker 0xc3".to_string(),
            "dma_restart: acquired context 0: handle 0x".to_string(),
            "dma_restart: target still holds only the marker".to_string(),
            "dma_restart: mapped source at IOVA 0x40000, target at IOVA 0x41000".to_string(),
            "dma_restart: attached context to domain".to_string(),
            "dma_restart: device buffer loaded from IOVA 0x40000".to_string(),
            "dma_restart: DMA device -> memory started: 1024 bytes to IOVA 0x41000, faulting now"
                .to_string(),
            "---| Process 'dma_restart' faulted: load access fault at 0x00000000 |---".to_string(),
            if instance < 4 {
                format!("---| Process 'dma_restart' restarted (restart {instance}) |---")
            } else {
                "---| Process 'dma_restart' stopped |---".to_string()
            },
        ]);
    }
    let lifecycle: Vec<&str> = run
        .output
        .lines()
        .filter(|l| l.starts_with("dma_restart: ") || l.starts_with("---| Process 'dma_restart'"))
        .collect();
    assert_eq!(
        lifecycle.len(),
        expected.len(),
        "{lifecycle:#?}\n{}",
        run.output
    );
    for (line, prefix) in lifecycle.iter().zip(&expected) {
        assert!(
            line.starts_with(prefix.as_str()),
            "{line:?} where {prefix:?} was expected:\n{}",
            run.output
        );
    }

    // Every acquire succeeded, each with the context's handle of a new
    // generation: revocation freed the context and it went to the new
    // instance. The first instance found it free; each restarted one was
    // refused BUSY first, because the killed instance's copy was still in
    // flight (it ran, blocked, after the restart) and holds the context
    // until it ends.
    let acquires: Vec<(u32, u32)> = run
        .output
        .lines()
        .filter_map(|l| l.strip_prefix("dma_restart: acquired context 0: handle 0x"))
        .map(|rest| {
            let (handle, busy) = rest
                .strip_suffix(" BUSY")
                .and_then(|r| r.split_once(" after "))
                .unwrap_or_else(|| panic!("acquire line {rest:?}:\n{}", run.output));
            (
                u32::from_str_radix(handle, 16).unwrap(),
                busy.parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(acquires.len(), 4, "{}", run.output);
    assert_eq!(acquires[0].1, 0, "first acquire refused:\n{}", run.output);
    for pair in acquires.windows(2) {
        let ((before, _), (after, busy)) = (pair[0], pair[1]);
        assert!(
            after & 0xff == before & 0xff && after >> 8 > before >> 8,
            "handle {after:#x} after {before:#x}:\n{}",
            run.output
        );
        assert!(
            busy >= 1,
            "a restarted instance found the context free: the copy was not in flight:\n{}",
            run.output
        );
    }
    run.expect_absent("dma_restart: acquire of context 0 failed")
        .expect_absent(": FAIL");

    // The other app was not disturbed, and the board ended through the
    // finisher, counting the four faults.
    expect_in_order(
        &run,
        &[
            "dma_switch: round 1: attached to domain A, DMA to IOVA 0x31000 landed in buffer A, buffer B unchanged",
            "dma_switch: round 2: switched to domain B, DMA to IOVA 0x31000 landed in buffer B, buffer A unchanged",
            "dma_switch: round 3: switched to domain A, DMA to IOVA 0x31000 landed in buffer A, buffer B unchanged",
            "dma_switch: done",
        ],
    );
    run.expect("Process 'dma_restart' faulted")
        .expect("Process 'dma_switch' exited with code 0")
        .expect("All processes finished (4 faulted, 0 exited with a non-zero code).");
    run.expect_pass();
}

#[test]
fn i8_an_app_that_takes_the_device_after_another_exited_mid_dma_reads_none_of_its_secret() {
    // dma_secret loads a 4 KiB secret into edu 0's buffer and exits with a
    // copy out of the device in flight, releasing nothing; dma_leftover
    // then acquires context 0 and copies the whole device buffer into its
    // own memory. The kernel resets the device before it hands the context
    // over: dma_leftover finds no byte of the secret, only zeros.
    let run = run_clean("iommu_dma_leftover", &["dma_secret", "dma_leftover"]);
    expect_in_order(
        &run,
        &[
            "dma_secret: acquired context 0: handle 0x",
            "dma_secret: device buffer loaded with 4096 secret bytes from IOVA 0x50000",
            "dma_secret: DMA device -> memory started, exiting without cleanup",
            "dma_leftover: acquired context 0: handle 0x",
            "dma_leftover: device buffer copied to IOVA 0x50000: 0 secret bytes, 4096 zero bytes",
            "dma_leftover: done",
        ],
    );
    // The context changed hands: a handle of a later generation, after
    // BUSY while dma_secret owned it, while its last copy ran and while
    // the device was reset (about 100 ms of virtual time each).
    let secret = field(&run, "dma_secret: acquired context 0: handle 0x");
    let (leftover, busy) = field(&run, "dma_leftover: acquired context 0: handle 0x")
        .split_once(" after ")
        .unwrap_or_else(|| panic!("acquire line:\n{}", run.output));
    let secret = u32::from_str_radix(secret, 16).unwrap();
    let leftover = u32::from_str_radix(leftover, 16).unwrap();
    assert!(
        leftover & 0xff == secret & 0xff && leftover >> 8 > secret >> 8,
        "handle {leftover:#x} after {secret:#x}:\n{}",
        run.output
    );
    let busy: u32 = busy.trim_end_matches(" BUSY").parse().unwrap();
    assert!(busy >= 1, "the context was never BUSY:\n{}", run.output);
}

#[test]
fn i8_across_kill_cycles_each_take_over_of_the_device_finds_it_reset_and_none_of_the_secret() {
    // dma_restart loads its pattern into edu 0 and is killed with a copy
    // out of the device in flight, four instances in a row (three
    // restarts). dma_leftover takes context 0 whenever another process
    // held it since its own last turn, copies the whole device buffer into
    // its memory and checks it, then releases; a restarted dma_restart may
    // win the context first, so not every kill gives a take-over, but the
    // last one always does.
    let run = boot(
        &image("iommu_dma_take_over", &["dma_restart", "dma_leftover"]),
        &[],
        TIMEOUT,
    );
    let fault = "---| Process 'dma_restart' faulted: load access fault at 0x00000000 |---";
    assert_eq!(run.count(fault), 4, "{}", run.output);
    run.expect("---| Process 'dma_restart' restarted (restart 3) |---")
        .expect("---| Process 'dma_restart' stopped |---")
        .expect_absent(": FAIL");

    // Each take-over follows a kill since the one before, with a handle of
    // a later generation than the killed instance's, and reads only zeros.
    let acquired = "dma_leftover: acquired context 0: handle 0x";
    let copied = "dma_leftover: device buffer copied to IOVA 0x50000: ";
    let mut killed_since = false;
    let mut victim_generation = 0;
    let mut take_overs = 0;
    for line in run.output.lines() {
        if line.starts_with(fault) {
            killed_since = true;
        } else if let Some(rest) = line.strip_prefix("dma_restart: acquired context 0: handle 0x") {
            victim_generation = u32::from_str_radix(&rest[..4], 16).unwrap() >> 8;
        } else if let Some(rest) = line.strip_prefix(acquired) {
            let generation = u32::from_str_radix(&rest[..4], 16).unwrap() >> 8;
            assert!(
                killed_since && generation > victim_generation,
                "take-over {line:?} without a kill before it:\n{}",
                run.output
            );
            killed_since = false;
            take_overs += 1;
        } else if let Some(rest) = line.strip_prefix(copied) {
            assert_eq!(rest, "0 secret bytes, 4096 zero bytes", "{}", run.output);
        }
    }
    assert!(take_overs >= 1, "no take-over:\n{}", run.output);
    assert_eq!(run.count(copied), take_overs, "{}", run.output);
    run.expect(&format!(
        "dma_leftover: done: {take_overs} take-overs, 0 secret bytes"
    ))
    .expect("Process 'dma_leftover' exited with code 0")
    .expect("All processes finished (4 faulted, 0 exited with a non-zero code).");
    run.expect_pass();
}
