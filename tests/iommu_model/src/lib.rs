// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Behavioural model of a RISC-V IOMMU 1.0 for host tests.
//!
//! The model owns a 4 KiB register block in host memory; a driver under
//! test gets a pointer to it and programs it as it would the hardware.
//! Host memory stands for physical RAM: host addresses are physical
//! addresses, but only ranges registered with [`Model::add_ram`] are
//! reachable, so a wrong address is a modelled access fault, never a wild
//! host access. Nothing runs concurrently: the test calls
//! [`Model::process`] to let the IOMMU consume its command queue and
//! [`Model::dma`] to make a device access memory through it.
//!
//! Modelled (spec sections in each module): the register interface with
//! its write-1-to-clear bits (`registers`), the command queue with
//! `IOTINVAL.VMA`, `IOFENCE.C`, `IODIR.INVAL_DDT`, errors `cmd_ill`,
//! `cmd_to`, `cqmf` (`commands`), the device directory walk, device-context
//! checks and an Sv39 walk with permission checks, behind a device-context
//! cache and an IOTLB tagged by PSCID that keep stale entries until
//! invalidated (`translate`), and the fault queue with overflow (`faults`).
//!
//! Differences from the spec, on purpose: registers change only when the
//! test calls the model, `busy` bits never read 1, and `ipsr` carries a
//! custom marker bit so that every driver write to it is seen.

mod commands;
mod faults;
mod memory;
mod registers;
#[cfg(test)]
mod tests;
mod translate;

pub use crate::memory::Ram;
pub use crate::registers::RegisterBlock;

use std::collections::HashMap;

/// `capabilities` of the modelled IOMMU: version 1.0, Sv32/39/48/57,
/// `MSI_FLAT` (64-byte device contexts), both interrupt kinds, PAS 34;
/// the value QEMU 10.0.2 reports.
pub const CAPABILITIES: u64 = 0x0000_0062_e2cf_0f10;

/// A command-queue error to inject into the next command the model fetches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// `cqcsr.cmd_ill`: the command is illegal.
    Illegal,
    /// `cqcsr.cmd_to`: the command timed out.
    Timeout,
    /// `cqcsr.cqmf`: fetching the command faulted.
    MemoryFault,
}

/// Direction of a DMA access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// What a DMA did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DmaResult {
    /// 4-byte units that went through.
    pub completed: usize,
    /// 4-byte units that faulted (each makes one fault record, as on QEMU).
    pub faulted: usize,
}

/// Counters, for tests and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub commands: usize,
    pub iotinval_vma: usize,
    pub iodir_inval_ddt: usize,
    pub iofence_c: usize,
    pub iotlb_hits: usize,
    pub page_walks: usize,
    pub fault_records: usize,
    pub faults_dropped: usize,
}

/// A cached device context (only valid ones are cached, spec 2.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DeviceContext {
    pscid: u32,
    fsc: u64,
}

/// A cached leaf translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TlbEntry {
    size: u64,
    phys: u64,
    pte: u64,
}

/// One modelled IOMMU.
pub struct Model {
    registers: Box<RegisterBlock>,
    ram: Ram,
    cq: registers::QueueState,
    fq: registers::QueueState,
    cqcsr: registers::Csr,
    fqcsr: registers::Csr,
    ipsr: u32,
    ipsr_written: u32,
    device_contexts: HashMap<u32, DeviceContext>,
    iotlb: HashMap<(u32, u64), TlbEntry>,
    injected: Option<CommandError>,
    stats: Stats,
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

impl Model {
    /// A model at reset: `ddtp` Off (all DMA faults), queues off.
    pub fn new() -> Model {
        let model = Model {
            registers: Box::new(RegisterBlock::ZERO),
            ram: Ram::default(),
            cq: registers::QueueState::default(),
            fq: registers::QueueState::default(),
            cqcsr: registers::Csr::default(),
            fqcsr: registers::Csr::default(),
            ipsr: 0,
            ipsr_written: 0,
            device_contexts: HashMap::new(),
            iotlb: HashMap::new(),
            injected: None,
            stats: Stats::default(),
        };
        model
            .registers
            .write64(registers::CAPABILITIES, CAPABILITIES);
        model
    }

    /// The register block, for the driver (a 4 KiB-aligned 4 KiB block).
    pub fn registers_address(&self) -> usize {
        std::ptr::from_ref::<RegisterBlock>(&self.registers) as usize
    }

    /// Makes `[address, address + len)` of host memory reachable as RAM.
    /// The caller keeps it alive as long as the model may touch it.
    pub fn add_ram(&mut self, address: usize, len: usize) {
        self.ram.add(address, len);
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Makes the next fetched command fail with `error`.
    pub fn inject_command_error(&mut self, error: CommandError) {
        self.injected = Some(error);
    }

    /// Whether the IOMMU asserts an interrupt (`ipsr.cip` or `ipsr.fip`).
    pub fn interrupt_pending(&mut self) -> bool {
        self.sync_registers();
        self.ipsr & (registers::IPSR_CIP | registers::IPSR_FIP) != 0
    }

    /// Number of translations cached in the IOTLB.
    pub fn iotlb_entries(&self) -> usize {
        self.iotlb.len()
    }

    /// Lets the IOMMU consume its command queue.
    pub fn process(&mut self) {
        self.sync_registers();
        self.run_commands();
        self.update_interrupts();
    }

    /// Device `device_id` reads `data.len()` bytes at `iova` into `data`,
    /// or writes `data` there, 4 bytes at a time through the IOMMU.
    /// Faulting units make fault records; a faulting read gives zeros.
    pub fn dma(&mut self, device_id: u32, iova: u64, access: Access, data: &mut [u8]) -> DmaResult {
        self.sync_registers();
        let mut result = DmaResult::default();
        for (unit, chunk) in data.chunks_mut(4).enumerate() {
            let address = iova + 4 * unit as u64;
            let outcome = self
                .translate(device_id, address, access)
                .and_then(|phys| self.copy(phys, access, chunk));
            match outcome {
                Ok(()) => result.completed += 1,
                Err(cause) => {
                    if access == Access::Read {
                        chunk.fill(0);
                    }
                    self.record_fault(device_id, address, access, cause);
                    result.faulted += 1;
                }
            }
        }
        self.update_interrupts();
        result
    }

    fn copy(&self, phys: u64, access: Access, chunk: &mut [u8]) -> Result<(), u32> {
        let copied = match access {
            Access::Read => self.ram.read_bytes(phys, chunk),
            Access::Write => self.ram.write_bytes(phys, chunk),
        };
        copied.ok_or(match access {
            Access::Read => faults::LOAD_ACCESS_FAULT,
            Access::Write => faults::STORE_ACCESS_FAULT,
        })
    }
}
