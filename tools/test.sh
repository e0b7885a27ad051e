#!/usr/bin/env bash
# Licensed under the Apache License, Version 2.0 or the MIT License.
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# `make test`: every test, in three stages.
#   1. host tests of the workspace's default members: kernel, arch, chips,
#      capsules (with the capsule harness, the mock IOMMU and the RISC-V
#      IOMMU behavioural model), property tests
#   2. build the board kernel and every example app
#   3. QEMU integration tests (tests/qemu): boot images with apps installed
#      by tockloader, each run with a timeout, ending through the virt test
#      finisher
# Prints the counts of each stage and a total "N passed, N failed" line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p build
log=build/test-logs
mkdir -p "$log"

counts() {
    # Sums cargo's "test result: ... N passed; M failed" lines of a log.
    awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
         END { printf "%d %d\n", p, f }' "$1"
}

status=0
echo "== stage 1: host tests =="
if ! cargo test --no-fail-fast 2>&1 | tee "$log/host.log"; then status=1; fi
# The userland library's own host tests (a workspace of its own).
if ! (cd userland-examples && cargo test --no-fail-fast --target x86_64-unknown-linux-gnu -p libtock-lite) 2>&1 | tee -a "$log/host.log"; then status=1; fi
read -r host_pass host_fail < <(counts "$log/host.log")
echo "host tests: $host_pass passed, $host_fail failed"

echo "== stage 2: build the board and the apps =="
bash tools/build.sh kernel
bash tools/build.sh disk
bash tools/apps.sh build
# The bare-metal IOMMU driver test image (tests/qemu/tests/iommu_driver.rs).
CARGO_TARGET_DIR=build/iommu_qemu-target cargo build -q --release -p iommu_qemu --target riscv32imac-unknown-none-elf

echo "== stage 3: QEMU tests =="
# Two QEMU instances at a time: the machine has two cores.
if ! cargo test --no-fail-fast -p qemu-tests -- --test-threads=2 2>&1 | tee "$log/qemu.log"; then status=1; fi
read -r qemu_pass qemu_fail < <(counts "$log/qemu.log")
echo "QEMU tests: $qemu_pass passed, $qemu_fail failed"

total_pass=$((host_pass + qemu_pass))
total_fail=$((host_fail + qemu_fail))
if [ "$status" -ne 0 ] && [ "$total_fail" -eq 0 ]; then
    # A build error or crash counts as a failure even with no failed test.
    total_fail=1
fi
echo
echo "$total_pass passed, $total_fail failed"
exit "$status"
