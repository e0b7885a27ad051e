// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The `make run` image (tools/build.sh's default apps): all of them finish
//! and QEMU exits 0.

use qemu_tests::{TIMEOUT, boot, image};

#[test]
fn default_apps_run_to_completion() {
    let apps = [
        "hello",
        "sleep",
        "spin_a",
        "spin_b",
        "dma_demo",
        "dma_thief",
        "rng_demo",
        "blk_demo",
        "blk_thief",
    ];
    let run = boot(&image("default", &apps), &[], TIMEOUT);
    for app in apps {
        run.expect(&format!("Process '{app}' exited with code 0"));
    }
    run.expect("9 process(es) loaded, 0 skipped")
        .expect("dma_demo: round trip verified")
        .expect(
            "dma_demo: fault upcall: context 0x0100, cause page fault, access write, IOVA 0x12000",
        )
        .expect("dma_demo: memory unchanged after the fault")
        .expect("dma_thief: done: 231 refusals, nothing taken")
        .expect("rng_demo: the two draws differ and neither is all zero")
        .expect("blk_demo: wrote 3 sectors from my buffer, read 3 back into another: verified")
        .expect("blk_thief: 6 requests outside my range refused: INVAL")
        .expect("All processes finished (0 faulted, 0 exited with a non-zero code).");
    run.expect_pass();
}
