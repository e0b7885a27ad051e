#!/usr/bin/env bash
# Licensed under the Apache License, Version 2.0 or the MIT License.
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Builds the userland example apps and installs them into a flash image.
#
#   tools/apps.sh build
#       Builds every app of userland-examples/ in release once per
#       fixed-address slot and packs each app's ELFs into build/apps/NAME.tab
#       (elf2tab). The TBFs are named rv32imac.<flash>.<ram>, as libtock-rs
#       names them; tockloader picks the one whose flash slot is free.
#   tools/apps.sh install FLASH_IMAGE APP...
#       Builds, then writes exactly the named apps into FLASH_IMAGE (byte 0 =
#       address 0x80000000, apps from offset 0x100000) with tockloader,
#       replacing any apps already there. Never prompts.
#   tools/apps.sh list FLASH_IMAGE
#       Shows the apps in FLASH_IMAGE and their addresses.
#   tools/apps.sh pack APP NAME
#       Packs the built ELFs of APP once more, as build/apps/NAME.tab named
#       NAME (the fuzzer takes its seed from the number ending its name).
#   tools/apps.sh apps | slots
#       Prints the app names / the slots.
#
# Environment: ELF2TAB, TOCKLOADER (default: the project-local tools that
# tools/setup.sh installs under .tools/), SKIP_BUILD=1 (install only).
# See doc/userland.md for the slots and the process start-up contract.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
workspace="$root/userland-examples"
out="$root/build/apps"
target=riscv32imac-unknown-none-elf
board=qemu_rv32_virt
# Tock architecture name in TBF file names inside a TAB (tockloader matches
# the part before the first dot against the board's architecture).
arch=rv32imac
# Must be at least the STACK_SIZE the apps are linked with (libtock-lite's
# build script, default 0x800): elf2tab adds it to the minimum RAM size.
stack_size=2048

# Fixed-address slots: "<TBF start in flash> <process RAM start>"; the app
# binary starts 0x80 bytes after the TBF start. Slot k is flash
# 0x80100000 + k * 64 KiB with RAM 0x80300000 + k * 64 KiB, k = 0..8. This
# includes the four slots libtock-rs's Targets.mk offers for qemu_rv32_virt
# (k = 0, 1, 3, 8), so our TABs and libtock-rs's fill the same places, and
# adds the others so that up to nine apps fit in one image. Each app must
# stay below 64 KiB of flash and of RAM (grant region included).
slots=()
for k in 0 1 2 3 4 5 6 7 8; do
    slots+=("$(printf '0x%08x 0x%08x' $((0x80100000 + k * 0x10000)) $((0x80300000 + k * 0x10000)))")
done
# Every binary of the userland workspace.
apps=(hello sleep spin_a spin_b peek read_past_flash read_past_break kernel_jump panic_demo syscall_bench dma_demo dma_readonly dma_restart dma_switch dma_thief dma_secret dma_leftover fuzzer victim rng_demo blk_demo blk_thief blk_restart blk_overreach blk_bench)
# The fuzzer's seeds that `tools/apps.sh build` packs (fuzz_1 ...); the
# soak test (tools/soak.sh) packs more.
fuzz_seeds=(1 2 3 4 5 6)

# Kernel memory (bytes) each app asks for in its TBF (elf2tab --kernel-heap):
# room for the grants of the drivers it uses. As on Tock, the kernel carves
# grants from what the TBF's minimum RAM size leaves above the app's break,
# and a grant that does not fit fails with NOMEM. The board prints what each
# process used ("grants used N of M B") when the run ends, and
# tests/qemu checks that every app's figure covers its use.
kernel_heap() {
    case "$1" in
    dma_* | fuzzer) echo 512 ;;
    *) echo 256 ;;
    esac
}

say() { printf 'apps: %s\n' "$*" >&2; }
known() {
    local app
    for app in "${apps[@]}" hello_tight peek_unexpected panic_unexpected; do [ "$app" = "$1" ] && return 0; done
    [[ "$1" =~ ^fuzz_[0-9]+$ ]]
}
die() { say "error: $*"; exit 1; }

tool() {
    # $1 = variable override, $2 = project-local path, $3 = name on PATH.
    if [ -n "$1" ]; then printf '%s\n' "$1"
    elif [ -x "$2" ]; then printf '%s\n' "$2"
    elif command -v "$3" >/dev/null; then command -v "$3"
    else die "$3 not found; run tools/setup.sh"
    fi
}

# Value of symbol $2 in ELF $1, as 0x-prefixed lower-case hex.
symbol() {
    local value
    value=$(readelf -sW "$1" | awk -v name="$2" '$8 == name { print $2; exit }')
    [ -n "$value" ] || die "symbol $2 missing in $1"
    printf '0x%08x\n' "$((16#$value))"
}

# Bytes of the static RAM of ELF $1 (RAM at $2) that elf2tab's minimum RAM
# size does not already count: _initial_break - RAM start, less the stack and
# the writable segments loaded from flash (what elf2tab adds up).
unaccounted_ram() {
    local initial_break segments
    initial_break=$(symbol "$1" _initial_break)
    segments=0
    local size
    for size in $(readelf -lW "$1" | awk '$1 == "LOAD" && $3 != $4 && $7 ~ /W/ { print $6 }'); do
        segments=$((segments + size))
    done
    local need=$((initial_break - $2 - stack_size - segments))
    [ "$need" -ge 0 ] || need=0
    echo "$need"
}

build() {
    local elf2tab
    elf2tab=$(tool "${ELF2TAB:-}" "$root/.tools/cargo/bin/elf2tab" elf2tab)
    command -v readelf >/dev/null || die "readelf (binutils) not found"
    mkdir -p "$out"
    local slot flash ram dir app elf
    for slot in "${slots[@]}"; do
        read -r flash ram <<<"$slot"
        say "building for flash $flash, RAM $ram"
        # One target directory per slot, so that switching slots does not
        # relink everything on every run. Run from the workspace: cargo reads
        # .cargo/config.toml (linker script, static relocation) from the
        # current directory, not from the manifest's.
        (cd "$workspace" && USERLAND_FLASH=$flash USERLAND_RAM=$ram \
            cargo build --quiet --release --bins --target "$target" \
            --target-dir "$workspace/target/slot-$flash")
        dir="$out/elf/$arch.$flash.$ram"
        mkdir -p "$dir"
        for app in "${apps[@]}"; do
            elf="$workspace/target/slot-$flash/$target/release/$app"
            [ -f "$elf" ] || die "no ELF for $app at $elf"
            # Guard against a stale link: the ELF must be for this slot.
            [ "$(symbol "$elf" _sram_origin)" = "$(printf '0x%08x' "$ram")" ] ||
                die "$app: _sram_origin is not $ram"
            [ "$(symbol "$elf" _flash_origin)" = "$(printf '0x%08x' "$((flash + 0x80))")" ] ||
                die "$app: _flash_origin is not $flash + 0x80"
            cp "$elf" "$dir/$app.elf"
        done
    done
    for app in "${apps[@]}"; do
        pack "$app" "$app" "$(kernel_heap "$app")"
    done
    # hello packed with no kernel memory at all: its grants cannot be
    # allocated, so it prints nothing (tests/qemu pins this, as on Tock).
    pack hello hello_tight 0
    # peek and panic_demo under names the board does not expect to fault
    # or to exit non-zero: each fails the run (tests/qemu pins this).
    pack peek peek_unexpected "$(kernel_heap peek)"
    pack panic_demo panic_unexpected "$(kernel_heap panic_demo)"
    local seed
    for seed in "${fuzz_seeds[@]}"; do
        pack fuzzer "fuzz_$seed" "$(kernel_heap fuzzer)"
    done
}

# Packs the ELFs of app $1 (every slot) into build/apps/$2.tab, named $2,
# asking for $3 bytes of kernel memory.
pack() {
    local app=$1 name=$2 kernel_memory=$3 inputs=() flash ram
    for slot in "${slots[@]}"; do
        read -r flash ram <<<"$slot"
        inputs+=("$out/elf/$arch.$flash.$ram/$app.elf,$arch.$flash.$ram")
    done
    # elf2tab's minimum RAM size is the RAM segments it finds, the stack,
    # --app-heap and --kernel-heap. The app's start-up code brk's to
    # _initial_break (stack, .data, .bss and alignment padding that no
    # segment covers), so --app-heap is set to what the segments and the
    # stack do not account for: the TBF then asks for exactly the app's
    # static RAM plus its kernel memory. The layout is the same in every
    # slot; the first slot's ELF is measured.
    read -r flash ram <<<"${slots[0]}"
    local app_heap
    app_heap=$(unaccounted_ram "$out/elf/$arch.$flash.$ram/$app.elf" "$ram")
    "$elf2tab" --deterministic --kernel-major 2 --kernel-minor 0 \
        -n "$name" -o "$out/$name.tab" --stack "$stack_size" \
        --app-heap "$app_heap" --kernel-heap "$kernel_memory" \
        "${inputs[@]}" >/dev/null
    say "wrote build/apps/$name.tab"
}

install() {
    [ $# -ge 2 ] || die "usage: tools/apps.sh install FLASH_IMAGE APP..."
    local flash_image=$1 tockloader app
    shift
    tockloader=$(tool "${TOCKLOADER:-}" "$root/.tools/venv/bin/tockloader" tockloader)
    [ -f "$flash_image" ] || die "no flash image $flash_image (build the kernel first)"
    for app in "$@"; do
        known "$app" || die "unknown app $app (known: ${apps[*]})"
    done
    [ "${SKIP_BUILD:-0}" = 1 ] || build
    local tabs=()
    for app in "$@"; do
        [ -f "$out/$app.tab" ] || die "missing $out/$app.tab"
        tabs+=("$out/$app.tab")
    done
    # Every argument explicit (board, flash file, existing TAB paths) and no
    # stdin: tockloader asks questions only when one of those is missing,
    # and with stdin closed a question fails instead of hanging.
    # --erase: the image ends up with exactly these apps.
    "$tockloader" install --board "$board" --flash-file "$flash_image" \
        --erase "${tabs[@]}" </dev/null
}

list() {
    [ $# -eq 1 ] || die "usage: tools/apps.sh list FLASH_IMAGE"
    local tockloader
    tockloader=$(tool "${TOCKLOADER:-}" "$root/.tools/venv/bin/tockloader" tockloader)
    "$tockloader" list --verbose --board "$board" --flash-file "$1" </dev/null
}

command=${1:-build}
[ $# -eq 0 ] || shift
case "$command" in
build) build ;;
install) install "$@" ;;
pack)
    [ $# -eq 2 ] || die "usage: tools/apps.sh pack APP NAME"
    elf2tab=$(tool "${ELF2TAB:-}" "$root/.tools/cargo/bin/elf2tab" elf2tab)
    pack "$1" "$2" "$(kernel_heap "$1")"
    ;;
list) list "$@" ;;
apps) printf '%s\n' "${apps[@]}" ;;
slots) printf '%s\n' "${slots[@]}" ;;
*) die "unknown command $command (build, install, pack, list, apps, slots)" ;;
esac
