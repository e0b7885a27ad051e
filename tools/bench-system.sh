#!/usr/bin/env bash
# Licensed under the Apache License, Version 2.0 or the MIT License.
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# System benchmarks (numbers, never pass/fail):
#   - .text/.data/.bss of the board kernel next to Tock's own qemu_rv32_virt
#   - instructions (minstret) of a null command system call round trip,
#     measured by the syscall_bench app on the board's `bench` build under
#     QEMU with -icount (exact instruction counting)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin="$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin"
target=riscv32imac-unknown-none-elf

bash tools/build.sh kernel >/dev/null
bash tools/apps.sh build >/dev/null

echo "== Kernel size (board qemu_rv32_virt, release) =="
read -r text data bss < <("$bin/llvm-size" -A build/kernel.elf |
    awk '$1 == ".text" {t = $2} $1 == ".rodata" {r = $2} $1 == ".data" {d = $2} $1 == ".bss" {b = $2}
         END {print t + r, d, b}')
printf '%-28s %10s %8s %10s\n' "" ".text(+ro)" ".data" ".bss"
printf '%-28s %10d %8d %10d\n' "this kernel" "$text" "$data" "$bss"
printf '%-28s %10d %8d %10d\n' "Tock qemu_rv32_virt (upstream)" 103980 16 109832
echo "(.bss: process slots, capsule and driver state, IOMMU page pools and queues; the 16 KiB kernel stack is a section of its own)"

echo
echo "== Null command system call round trip =="
mkdir -p build/bench
CARGO_TARGET_DIR=target/bench cargo build -q --release -p qemu_rv32_virt --target "$target" --features bench
"$bin/llvm-objcopy" -O binary "target/bench/$target/release/qemu_rv32_virt" build/bench/kernel.bin
KERNEL_BIN=build/bench/kernel.bin FLASH_IMAGE=build/bench/syscall.bin SKIP_BUILD=1 \
    bash tools/build.sh flash syscall_bench >/dev/null 2>&1
out=$(timeout 120 qemu-system-riscv32 -M virt,iommu-sys=on -m 256M -nographic -monitor none \
    -serial stdio -icount shift=3 -bios build/bench/syscall.bin -device edu -device edu \
    -device virtio-rng-pci,iommu_platform=on,disable-legacy=on \
    -drive file=build/disk.img,if=none,format=raw,id=d0,snapshot=on \
    -device virtio-blk-pci,drive=d0,iommu_platform=on,disable-legacy=on </dev/null || true)
line=$(printf "%s\n" "$out" | grep "syscall_bench: " || true)
if [ -z "$line" ]; then
    printf '%s\n' "$out" >&2
    echo "bench: syscall_bench printed no result" >&2
    exit 1
fi
echo "$line"
echo "(instructions between the app's two rdinstret reads: ecall, trap entry, PMP"
echo " write, dispatch to the console's command 0, return; QEMU -icount shift=3)"

echo
echo "== Kernel RAM of the IOMMU support (targets: context <= 16 B, domain <= 32 B, grant <= 64 B) =="
printf '%s\n' "$out" | grep '^bench: kernel RAM' | sed 's/^bench: //'

