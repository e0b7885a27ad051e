// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! How the board treats process faults and ends the run: restarts, the
//! apps that exist to fail, the end-of-run report and QEMU's exit status.

use capsules_iommu::IommuStorage;
use kernel::capabilities::ProcessManagementCapability;
use kernel::process::State;
use kernel::{Kernel, ProcessId};
use riscv_iommu::RiscvIommu;
use rv32::dma_fence::RiscvCoherentDmaFence;

use crate::BoardBlockDriver;
use crate::io::kprintln;

/// Apps restarted after a fault, each at most this many times, then
/// stopped; every other app is stopped at its first fault. A restart
/// starts the new instance only once every memory observer (the IOMMU
/// driver) has revoked device access to the old instance's memory (I4).
pub(crate) const RESTART_ON_FAULT: &[(&str, usize)] = &[("dma_restart", 3), ("blk_restart", 3)];
/// Apps that exist to fault: the isolation probes (each reads or jumps
/// outside its memory), `dma_restart` (killed mid-DMA on purpose) and
/// `blk_restart` (killed mid-request on purpose). A fault of any other app
/// fails the run (`EXIT_UNEXPECTED_FAULT`).
const EXPECTED_FAULTS: &[&str] = &[
    "peek",
    "kernel_jump",
    "read_past_flash",
    "read_past_break",
    "dma_restart",
    "blk_restart",
];
/// Apps that exist to exit with a non-zero code: `panic_demo` panics and
/// its panic handler exits with 1. Every other app exits non-zero only at
/// a surprise (libtock-lite's apps at their first `FAIL`), which fails the
/// run (`EXIT_UNEXPECTED_ERROR_EXIT`).
const EXPECTED_ERROR_EXITS: &[&str] = &["panic_demo"];
/// QEMU's exit status when a process faulted unexpectedly (1 is a kernel
/// panic, see `io`).
const EXIT_UNEXPECTED_FAULT: u16 = 2;
/// QEMU's exit status when no process faulted unexpectedly but one exited
/// with an unexpected non-zero code.
const EXIT_UNEXPECTED_ERROR_EXIT: u16 = 3;

/// The process faults of a run.
#[derive(Default)]
pub(crate) struct Faults {
    /// Every fault, restarted instances' included.
    all: usize,
    /// Faults of apps not in `EXPECTED_FAULTS`.
    unexpected: usize,
}

impl Faults {
    /// Counts a fault of the app `name`.
    pub(crate) fn record(&mut self, name: &str) {
        self.all += 1;
        if !EXPECTED_FAULTS.contains(&name) {
            self.unexpected += 1;
        }
    }
}

/// Restarts the faulted `process` if `RESTART_ON_FAULT` names it and it
/// has restarts left, else hands it to the kernel's fault policy (stop).
/// Returns which restart of the app this is (1 for the first), or `None`
/// if it was stopped.
pub(crate) fn handle_fault(
    kernel: &'static Kernel,
    process: ProcessId,
    capability: &dyn ProcessManagementCapability,
) -> Option<usize> {
    let (name, restarts) = kernel.process_map_or_external(
        ("", 0),
        process,
        |p| (p.get_process_name(), p.get_restart_count()),
        capability,
    );
    let limit = RESTART_ON_FAULT
        .iter()
        .find(|(app, _)| *app == name)
        .map_or(0, |&(_, limit)| limit);
    if restarts < limit {
        // The kernel stops the instance and tells the memory observers; the
        // new instance starts when the last of them has revoked.
        kernel.restart(process, capability);
        Some(restarts + 1)
    } else {
        kernel
            .process_faulted(process, capability)
            .then_some(restarts + 1)
    }
}

/// Benchmark build: the kernel RAM that each IOMMU context, domain and
/// process costs, measured on the types the board instantiates (a size
/// difference of one more element, so every field and padding counts).
pub(crate) fn print_ram_costs() {
    use core::mem::size_of;
    let driver_context = size_of::<RiscvIommu<'static, 3, 8, RiscvCoherentDmaFence>>()
        - size_of::<RiscvIommu<'static, 2, 8, RiscvCoherentDmaFence>>();
    let driver_domain = size_of::<RiscvIommu<'static, 2, 9, RiscvCoherentDmaFence>>()
        - size_of::<RiscvIommu<'static, 2, 8, RiscvCoherentDmaFence>>();
    let capsule_context = size_of::<IommuStorage<3, 8, 8>>() - size_of::<IommuStorage<2, 8, 8>>();
    let capsule_domain = size_of::<IommuStorage<2, 9, 8>>() - size_of::<IommuStorage<2, 8, 8>>();
    let capsule_process = size_of::<IommuStorage<2, 8, 9>>() - size_of::<IommuStorage<2, 8, 8>>();
    kprintln!(
        "bench: kernel RAM per IOMMU context: {} B (driver {} + capsule {})",
        driver_context + capsule_context,
        driver_context,
        capsule_context
    );
    kprintln!(
        "bench: kernel RAM per IOMMU domain: {} B (driver {} + capsule {})",
        driver_domain + capsule_domain,
        driver_domain,
        capsule_domain
    );
    kprintln!(
        "bench: kernel RAM per process: IOMMU grant {} B, DMA grant {} B, revocation slot {} B",
        capsules_iommu::IommuGrant::SIZE,
        capsules_iommu::dma::DmaGrant::SIZE,
        capsule_process
    );
}

/// Ends the run: every process has exited or been stopped. Prints how
/// each ended and a summary, and ends QEMU through the finisher: pass
/// unless a fault or a non-zero exit code was unexpected.
pub(crate) fn finish(
    kernel: &'static Kernel,
    faults: Faults,
    block: Option<&BoardBlockDriver>,
    capability: &dyn ProcessManagementCapability,
) -> ! {
    if cfg!(feature = "bench")
        && let Some(block) = block
    {
        kprintln!(
            "bench: block storage: {} bytes copied by the CPU ({} path)",
            block.bytes_copied(),
            if cfg!(feature = "block-bounce") {
                "bounce"
            } else {
                "zero-copy"
            }
        );
    }
    let mut exit_codes = 0;
    let mut unexpected_exit_codes = 0;
    kernel.process_each_capability(capability, |process| {
        let name = process.get_process_name();
        match (process.get_state(), process.get_completion_code()) {
            (State::Terminated, Some(Some(code))) => {
                kprintln!("Process '{}' exited with code {}", name, code);
                if code != 0 {
                    exit_codes += 1;
                    if !EXPECTED_ERROR_EXITS.contains(&name) {
                        unexpected_exit_codes += 1;
                    }
                }
            }
            (State::Faulted, _) => kprintln!("Process '{}' faulted", name),
            (state, _) => kprintln!("Process '{}' ended: {:?}", name, state),
        }
        // What the app asked for as kernel memory (its TBF's minimum RAM
        // size less what it brk'd to) and what its grants took of it.
        let addresses = process.get_addresses();
        kprintln!(
            "Process '{}' grants used {} of {} B",
            name,
            addresses.sram_end - addresses.sram_grant_start,
            addresses.sram_end - addresses.sram_app_brk
        );
    });
    kprintln!(
        "All processes finished ({} faulted, {} exited with a non-zero code).",
        faults.all,
        exit_codes
    );
    if faults.unexpected == 0 && unexpected_exit_codes == 0 {
        crate::io::finisher().pass()
    }
    kprintln!(
        "Run failed: {} unexpected fault(s), {} unexpected non-zero exit code(s).",
        faults.unexpected,
        unexpected_exit_codes
    );
    if faults.unexpected > 0 {
        crate::io::finisher().fail(EXIT_UNEXPECTED_FAULT)
    } else {
        crate::io::finisher().fail(EXIT_UNEXPECTED_ERROR_EXIT)
    }
}
