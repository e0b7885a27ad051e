#!/usr/bin/env bash
# Licensed under the Apache License, Version 2.0 or the MIT License.
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# `make run`: builds the kernel and the example apps, installs the apps into
# build/flash.bin with tockloader, and boots it on QEMU with two edu devices,
# a virtio-rng device and a virtio-blk device serving build/disk.img.
# The board ends QEMU through the virt test finisher once no process is left
# to run; QEMU's exit status (0 = pass) is this script's. A watchdog stops a
# run that hangs (RUN_TIMEOUT seconds, default 300).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash tools/build.sh flash "$@"
echo "run: booting build/flash.bin on qemu-system-riscv32 -M virt,iommu-sys=on (two edu devices, virtio-rng, virtio-blk on build/disk.img)" >&2
exec timeout --foreground "${RUN_TIMEOUT:-300}" \
    qemu-system-riscv32 -M virt,iommu-sys=on -m 256M -nographic -monitor none -serial stdio \
    -bios build/flash.bin -device edu -device edu \
    -device virtio-rng-pci,iommu_platform=on,disable-legacy=on \
    -drive file=build/disk.img,if=none,format=raw,id=d0 \
    -device virtio-blk-pci,drive=d0,iommu_platform=on,disable-legacy=on </dev/null
