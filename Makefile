# Licensed under the Apache License, Version 2.0 or the MIT License.
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# The two commands of the README:
#   make run    build the kernel and the example apps, install the apps with
#               tockloader, boot QEMU, show the IOMMU at work, exit 0 when
#               every app has finished
#   make test   every test: host unit/capsule/property tests, then QEMU runs
# Both install what they need first (tools/setup.sh, idempotent).

.PHONY: run test setup kernel apps flash lint bench soak clean

run: setup
	@bash tools/run.sh

test: setup
	@bash tools/test.sh

setup:
	@bash tools/setup.sh

# Pieces, for development.
kernel: setup
	@bash tools/build.sh kernel

apps: setup
	@bash tools/build.sh apps

flash: setup
	@bash tools/build.sh flash

lint: setup
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy -p qemu_rv32_virt -p chip_smoke -p iommu_qemu --target riscv32imac-unknown-none-elf -- -D warnings
	cd userland-examples && cargo fmt --all -- --check && cargo clippy -- -D warnings

bench: setup
	@bash tools/bench-system.sh
	@bash tools/bench.sh
	@bash tools/bench-block.sh

# Hostile apps over many fuzzer seeds and kill-mid-DMA cycles (minutes).
soak: setup
	@bash tools/soak.sh

clean:
	cargo clean
	rm -rf build userland-examples/target
