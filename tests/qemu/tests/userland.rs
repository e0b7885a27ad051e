// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The `make run` image (tools/build.sh's default apps): all of them finish
//! and QEMU exits 0.

use qemu_tests::{TIMEOUT, boot, image};

#[test]
fn default_apps_run_to_completion() {
    let run = boot(
        &image("default", &["hello", "sleep", "spin_a", "spin_b"]),
        &[],
        TIMEOUT,
    );
    for needle in ["hello: done", "sleep: done", "spin_a: done", "spin_b: done"] {
        run.expect(needle);
    }
    run.expect("All processes finished (0 faulted, 0 exited with a non-zero code).");
    assert!(run.passed());
}
