#!/usr/bin/env bash
# Licensed under the Apache License, Version 2.0 or the MIT License.
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Block storage benchmark (numbers, never pass/fail): instructions
# (minstret, QEMU -icount) per 4 KiB (8-sector) read into a process's
# buffer, measured by the blk_bench app, and the bytes the CPU copied
# (BlockDriver::bytes_copied, printed by the board at the end of the run),
# for the zero-copy path (the board's default) and the bounce variant
# (feature block-bounce), both on the board's `bench` build.
# Targets: zero-copy at most half the instructions of bounce, 0 bytes copied.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash tools/apps.sh build >/dev/null 2>&1
bash tools/build.sh disk

# Boots kernel variant $1 (features $2) with blk_bench; prints
# "<median> <min> <bytes copied>".
measure() {
    local name=$1 features=$2 out line copied
    bash tools/build.sh variant "$name" "$features"
    KERNEL_BIN="build/kernels/$name.bin" FLASH_IMAGE="build/bench/$name.bin" SKIP_BUILD=1 \
        bash tools/build.sh flash blk_bench >/dev/null 2>&1
    out=$(timeout 120 qemu-system-riscv32 -M virt,iommu-sys=on -m 256M -nographic -monitor none \
        -serial stdio -icount shift=3 -bios "build/bench/$name.bin" -device edu -device edu \
        -device virtio-rng-pci,iommu_platform=on,disable-legacy=on \
        -drive file=build/disk.img,if=none,format=raw,id=d0,snapshot=on \
        -device virtio-blk-pci,drive=d0,iommu_platform=on,disable-legacy=on </dev/null || true)
    line=$(printf '%s\n' "$out" | grep '^blk_bench: 4 KiB' || true)
    copied=$(printf '%s\n' "$out" | sed -n 's/^bench: block storage: \([0-9]*\) bytes copied.*/\1/p')
    if [ -z "$line" ] || [ -z "$copied" ]; then
        printf '%s\n' "$out" >&2
        echo "bench: blk_bench ($name) printed no result" >&2
        exit 1
    fi
    printf '%s %s %s\n' \
        "$(printf '%s\n' "$line" | sed 's/.*median \([0-9]*\).*/\1/')" \
        "$(printf '%s\n' "$line" | sed 's/.*min \([0-9]*\),.*/\1/')" \
        "$copied"
}

mkdir -p build/bench
read -r zero_median zero_min zero_copied < <(measure bench bench)
read -r bounce_median bounce_min bounce_copied < <(measure bench-bounce "bench block-bounce")

echo "== Block storage: one 4 KiB (8-sector) read into a process buffer (virtio-blk behind the IOMMU) =="
printf '%-12s %14s %14s %22s\n' "path" "median instr" "min instr" "bytes copied (run)"
printf '%-12s %14d %14d %22d\n' "zero-copy" "$zero_median" "$zero_min" "$zero_copied"
printf '%-12s %14d %14d %22d\n' "bounce" "$bounce_median" "$bounce_min" "$bounce_copied"
echo "zero-copy / bounce (median): $(awk -v z="$zero_median" -v b="$bounce_median" 'BEGIN { printf "%.2f", z / b }')" \
    "(target <= 0.50; bytes copied by the CPU on the zero-copy path: target 0)"
echo "(blk_bench: 40 reads, each timed from before libtock-lite's block::read to after it:"
echo " allow, command, the kernel's work and the device's interrupt, Yield-WaitFor, unallow;"
echo " minstret counts every privilege level; QEMU -icount shift=3; the run's bytes copied"
echo " include blk_bench's one 4 KiB write)"
