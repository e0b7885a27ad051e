#!/usr/bin/env bash
# Licensed under the Apache License, Version 2.0 or the MIT License.
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Installs, idempotently and without asking, everything `make run` and
# `make test` need on a fresh Debian bookworm machine:
#   - the riscv32imac-unknown-none-elf Rust target and llvm-tools (rustup)
#   - QEMU >= 10 (qemu-system-misc from bookworm-backports; bookworm's own
#     7.2 has no RISC-V IOMMU)
#   - tockloader (PyPI) in a project-local virtualenv: .tools/venv
#   - elf2tab (crates.io) in a project-local install root: .tools/cargo
# Each step is skipped when what it installs is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tools="$root/.tools"
mkdir -p "$tools"
export DEBIAN_FRONTEND=noninteractive

say() { printf 'setup: %s\n' "$*"; }

# --- Rust target -----------------------------------------------------------
if ! rustup target list --installed | grep -qx riscv32imac-unknown-none-elf; then
    say "adding Rust target riscv32imac-unknown-none-elf"
    rustup target add riscv32imac-unknown-none-elf
fi

# llvm-objcopy/objdump/size, to turn the kernel ELF into a flash image and
# to measure section sizes.
if [ ! -x "$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-objcopy" ]; then
    say "adding Rust component llvm-tools"
    rustup component add llvm-tools
fi

# --- QEMU >= 10 ------------------------------------------------------------
qemu_major() {
    qemu-system-riscv32 --version 2>/dev/null | sed -n 's/.*version \([0-9]*\)\..*/\1/p' | head -n1
}
if [ "$(qemu_major || true)" = "" ] || [ "$(qemu_major)" -lt 10 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo -n"
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        say "adding Debian suite bookworm-backports"
        $sudo tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    say "installing qemu-system-misc from bookworm-backports"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq -t bookworm-backports qemu-system-misc >/dev/null
fi
say "$(qemu-system-riscv32 --version | head -n1)"

# --- tockloader --------------------------------------------------------------
if [ ! -x "$tools/venv/bin/tockloader" ]; then
    say "installing tockloader into .tools/venv"
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install -q --disable-pip-version-check tockloader
fi
say "tockloader $("$tools/venv/bin/tockloader" --version 2>&1 | tail -n1)"

# --- elf2tab -----------------------------------------------------------------
if [ ! -x "$tools/cargo/bin/elf2tab" ]; then
    say "installing elf2tab into .tools/cargo"
    cargo install -q --locked --root "$tools/cargo" elf2tab
fi
say "$("$tools/cargo/bin/elf2tab" --version 2>&1 | head -n1)"
