#!/usr/bin/env bash
# Licensed under the Apache License, Version 2.0 or the MIT License.
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Builds the pieces of a bootable image:
#   tools/build.sh kernel          the board kernel -> build/kernel.elf, .bin
#   tools/build.sh apps            every example app -> build/apps/*.tab
#   tools/build.sh flash [APP...]  kernel + the named apps (default: the
#                                  `make run` set) installed with tockloader
#                                  into build/flash.bin (or $FLASH_IMAGE),
#                                  and the disk image
#   tools/build.sh variant NAME FEATURES
#                                  the board kernel with cargo FEATURES
#                                  (e.g. "bench block-bounce") ->
#                                  build/kernels/NAME.bin (target/NAME)
#   tools/build.sh disk            the virtio-blk disk -> build/disk.img
#                                  (made once, kept across runs)
# QEMU boots build/flash.bin with -bios: byte 0 is address 0x80000000 (the
# kernel), apps start at offset 0x100000 (0x80100000), as on Tock's
# qemu_rv32_virt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=riscv32imac-unknown-none-elf
bin="$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin"
mkdir -p build

# The apps `make run` shows, in install order.
default_apps=(hello sleep spin_a spin_b dma_demo dma_thief rng_demo blk_demo blk_thief)
# The disk QEMU's virtio-blk serves: raw, 1024 sectors of 512 bytes (the
# board gives each block app 64 of them).
disk_image=build/disk.img
disk_bytes=$((512 * 1024))

build_kernel() {
    cargo build -q --release -p qemu_rv32_virt --target "$target"
    cp "target/$target/release/qemu_rv32_virt" build/kernel.elf
    "$bin/llvm-objcopy" -O binary build/kernel.elf build/kernel.bin
    local size
    size=$(stat -c %s build/kernel.bin)
    if [ "$size" -gt $((0x100000)) ]; then
        echo "build: kernel image is $size bytes, more than the 1 MiB kernel slot" >&2
        exit 1
    fi
}

build_variant() {
    local name=$1 features=$2
    mkdir -p build/kernels
    CARGO_TARGET_DIR="target/$name" cargo build -q --release -p qemu_rv32_virt \
        --target "$target" --features "$features"
    "$bin/llvm-objcopy" -O binary "target/$name/$target/release/qemu_rv32_virt" \
        "build/kernels/$name.bin"
}

build_disk() {
    # Kept if it exists: it is the disk, and apps may have written to it.
    if [ -f "$disk_image" ] && [ "$(stat -c %s "$disk_image")" -eq "$disk_bytes" ]; then
        return
    fi
    # Made under a name of its own and renamed into place, so that builds
    # running at once (the QEMU tests) never see a half-made disk or make
    # it twice over a file another QEMU has open.
    local fresh="$disk_image.$$"
    if command -v qemu-img >/dev/null; then
        qemu-img create -q -f raw "$fresh" "$disk_bytes"
    else
        dd if=/dev/zero of="$fresh" bs=512 count=$((disk_bytes / 512)) status=none
    fi
    mv -f "$fresh" "$disk_image"
}

build_flash() {
    build_disk
    # SKIP_BUILD=1: reuse build/kernel.bin and build/apps (tests build once).
    if [ "${SKIP_BUILD:-}" != 1 ]; then build_kernel; fi
    local image="${FLASH_IMAGE:-build/flash.bin}"
    # Kernel slot (1 MiB, zero padded) then an empty app region; tockloader
    # fills the app region. KERNEL_BIN picks another kernel (the benchmark
    # build).
    cp "${KERNEL_BIN:-build/kernel.bin}" "$image"
    truncate -s $((0x100000)) "$image"
    if [ "$#" -gt 0 ]; then
        bash tools/apps.sh install "$image" "$@" >&2
    fi
}

case "${1:-}" in
    kernel) build_kernel ;;
    apps) bash tools/apps.sh build ;;
    disk) build_disk ;;
    variant)
        [ "$#" -eq 3 ] || { echo "usage: tools/build.sh variant NAME FEATURES" >&2; exit 2; }
        build_variant "$2" "$3"
        ;;
    flash)
        shift
        if [ "$#" -eq 0 ]; then set -- "${default_apps[@]}"; fi
        build_flash "$@"
        ;;
    *)
        echo "usage: tools/build.sh kernel | apps | disk | variant NAME FEATURES | flash [APP...]" >&2
        exit 2
        ;;
esac
