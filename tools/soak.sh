#!/usr/bin/env bash
# Licensed under the Apache License, Version 2.0 or the MIT License.
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# `make soak`: the hostile-app runs of tests/qemu/tests/hostile.rs over
# many fuzzer seeds, and the kill-mid-DMA cycle over many images.
#
#   tools/soak.sh [SEEDS]
#
# Packs the fuzzer once per seed 1..SEEDS (default 200, or $SOAK_SEEDS) as
# fuzz_<seed> and boots images of three seeds each, alternating two kinds:
#   victim   dma_demo victim fuzz_a fuzz_b fuzz_c
#   restart  dma_restart dma_switch dma_leftover fuzz_a fuzz_b fuzz_c
# (dma_restart is killed mid-DMA and restarted three times by the board:
# four kill cycles per image; after a kill dma_leftover takes edu 0 over
# when it wins the context, and must read none of what dma_restart left
# in it, invariant I8). The fuzzers reach the RNG (virtio-rng) and block
# storage (virtio-blk) drivers too. Two QEMU runs at a time, each with a
# timeout. A finding is any image where the kernel panicked, QEMU did not
# end with pass, a fuzzer did not print its summary or found something,
# a take-over read a byte of the secret or no take-over happened, or an
# app next to the fuzzers did not finish as it does alone. Prints the
# figures (seeds, system calls, kill cycles, take-overs, secret bytes
# read, findings); exit 1 on a finding. Logs: build/soak/<image>.log.
# SKIP_BUILD=1 reuses the kernel and apps built before.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seeds=${1:-${SOAK_SEEDS:-200}}
per_image=3
timeout_s=${SOAK_TIMEOUT:-120}
out=build/soak
rm -rf "$out"
mkdir -p "$out"

if [ "${SKIP_BUILD:-}" != 1 ]; then
    bash tools/build.sh kernel
    bash tools/apps.sh build
fi
# One at a time: elf2tab writes each input's TBF next to its ELF, so two
# packs of the fuzzer at once can mix their package names in one TAB
# (tockloader then refuses it: "Different names inside the same TAB?").
for seed in $(seq 1 "$seeds"); do
    bash tools/apps.sh pack fuzzer "fuzz_$seed" 2>/dev/null
done
echo "soak: packed $seeds fuzzer seeds" >&2

# Boots image $1 (apps $2...) and keeps its console in $out/$1.log and
# QEMU's exit status in $out/$1.status. Two runs at a time share
# build/disk.img, so each writes only to a temporary overlay (snapshot=on).
run_image() {
    local name=$1
    shift
    FLASH_IMAGE="$out/$name.bin" SKIP_BUILD=1 bash tools/build.sh flash "$@" >/dev/null 2>&1
    local status=0
    timeout "$timeout_s" qemu-system-riscv32 -M virt,iommu-sys=on -m 256M -nographic \
        -monitor none -serial stdio -bios "$out/$name.bin" -device edu -device edu \
        -device virtio-rng-pci,iommu_platform=on,disable-legacy=on \
        -drive file=build/disk.img,if=none,format=raw,id=d0,snapshot=on \
        -device virtio-blk-pci,drive=d0,iommu_platform=on,disable-legacy=on \
        </dev/null >"$out/$name.log" 2>&1 || status=$?
    echo "$status" >"$out/$name.status"
    rm -f "$out/$name.bin"
}

images=()
seed=1
index=0
while [ "$seed" -le "$seeds" ]; do
    fuzzers=()
    while [ "${#fuzzers[@]}" -lt "$per_image" ] && [ "$seed" -le "$seeds" ]; do
        fuzzers+=("fuzz_$seed")
        seed=$((seed + 1))
    done
    if [ $((index % 2)) -eq 0 ]; then
        name="victim-$index"
        apps=(dma_demo victim "${fuzzers[@]}")
    else
        name="restart-$index"
        apps=(dma_restart dma_switch dma_leftover "${fuzzers[@]}")
    fi
    images+=("$name")
    # Two at a time: the machine has two cores.
    while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n || true; done
    run_image "$name" "${apps[@]}" &
    index=$((index + 1))
done
wait

calls=0
errors=0
summaries=0
kills=0
take_overs=0
secret_bytes=0
findings=0
finding() {
    findings=$((findings + 1))
    echo "soak: FINDING in $1: $2 (log: $out/$1.log)"
}
for name in "${images[@]}"; do
    log="$out/$name.log"
    status=$(cat "$out/$name.status")
    [ "$status" = 0 ] || finding "$name" "QEMU exit status $status"
    if grep -aq "Kernel panic" "$log"; then finding "$name" "kernel panic"; fi
    if grep -aq ": FAIL" "$log"; then finding "$name" "$(grep -a -m1 ': FAIL' "$log")"; fi
    for fuzzer in $(grep -ao "Loading process 'fuzz_[0-9]*'" "$log" | grep -o "fuzz_[0-9]*"); do
        line=$(grep -a -m1 "fuzzer: seed ${fuzzer#fuzz_}: .* findings" "$log" || true)
        if [ -z "$line" ]; then
            finding "$name" "$fuzzer printed no summary"
            continue
        fi
        read -r n e f < <(sed -E 's/.*: ([0-9]+) calls, ([0-9]+) errors, [0-9]+ upcalls, ([0-9]+) findings.*/\1 \2 \3/' <<<"$line")
        calls=$((calls + n))
        errors=$((errors + e))
        summaries=$((summaries + 1))
        [ "$f" = 0 ] || finding "$name" "$fuzzer: $f findings"
    done
    case "$name" in
    victim-*)
        grep -aq "victim: done" "$log" || finding "$name" "victim did not finish"
        grep -aq "dma_demo: done" "$log" || finding "$name" "dma_demo did not finish"
        ;;
    restart-*)
        cycles=$(grep -ac "Process 'dma_restart' faulted: load access fault at 0x00000000" "$log" || true)
        kills=$((kills + cycles))
        [ "$cycles" = 4 ] || finding "$name" "$cycles kill cycles, not 4"
        intact=$(grep -ac "dma_restart: target still holds only the marker" "$log" || true)
        [ "$intact" = 4 ] || finding "$name" "$intact of 4 restarted targets intact"
        grep -aq "dma_switch: done" "$log" || finding "$name" "dma_switch did not finish"
        taken=$(grep -ac "dma_leftover: device buffer copied to IOVA" "$log" || true)
        take_overs=$((take_overs + taken))
        [ "$taken" -ge 1 ] || finding "$name" "no take-over of edu 0"
        for read in $(grep -ao "dma_leftover: device buffer copied to IOVA 0x[0-9a-f]*: [0-9]* secret" "$log" |
            sed -E 's/.*: ([0-9]+) secret/\1/'); do
            secret_bytes=$((secret_bytes + read))
            [ "$read" = 0 ] || finding "$name" "a take-over read $read secret bytes"
        done
        grep -aq "dma_leftover: done: $taken take-overs, 0 secret bytes" "$log" ||
            finding "$name" "dma_leftover did not finish"
        ;;
    esac
done

echo "soak: ${#images[@]} images, $summaries of $seeds seeds, $calls system calls ($errors refused), $kills kill cycles, $take_overs take-overs ($secret_bytes secret bytes read), $findings findings"
[ "$findings" -eq 0 ]
