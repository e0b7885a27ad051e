// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The command queue, the completion word and the fault queue.
//!
//! RISC-V IOMMU spec 1.0 section 3.1 (command queue: the driver writes
//! commands at its tail and publishes `cqt`; the IOMMU advances `cqh`),
//! section 3.2 (fault queue: the IOMMU writes records at `fqt`, the driver
//! consumes from `fqh`), registers 5.15 and 5.16 (`cqcsr`, `fqcsr`: error
//! and overflow bits), and 6.5 (interrupt handling). Queue memory is the
//! board's `QueueMemory`, accessed only through raw pointers with volatile
//! 32-bit accesses because the IOMMU reads and writes it behind Rust's back.

use crate::commands::{Command, FaultRecord};
use crate::iommu::{
    COMMAND_QUEUE_ENTRIES, FAULT_QUEUE_ENTRIES, MAX_RECOVERIES, QueueMemory, RiscvIommu, State,
};
use crate::registers::{cqcsr, fqcsr};
use kernel::hil::iommu::{ContextId, Fault};
use kernel::platform::dma_fence::DmaFence;
use kernel::utilities::registers::interfaces::{Readable, Writeable};

impl<const CONTEXTS: usize, const DOMAINS: usize, F: DmaFence>
    RiscvIommu<'_, CONTEXTS, DOMAINS, F>
{
    pub(crate) fn queue_memory(&self) -> *mut QueueMemory {
        self.queues.as_ptr()
    }

    pub(crate) fn completion_address(&self) -> u64 {
        // SAFETY: only computes an address inside `QueueMemory`.
        unsafe { core::ptr::addr_of!((*self.queue_memory()).completion) as u64 }
    }

    /// The completion word, for the DMA fence.
    pub(crate) fn completion_word(&self) -> *mut [u32] {
        // SAFETY: only computes an address inside `QueueMemory`.
        let word = unsafe { core::ptr::addr_of_mut!((*self.queue_memory()).completion) };
        core::ptr::slice_from_raw_parts_mut(word.cast::<u32>(), 1)
    }

    /// The command queue, for the DMA fence.
    fn command_queue(&self) -> *mut [u64] {
        // SAFETY: only computes an address inside `QueueMemory`.
        unsafe { core::ptr::addr_of_mut!((*self.queue_memory()).command_queue) }
    }

    /// The fault queue, for the DMA fence.
    fn fault_queue(&self) -> *mut [u64] {
        // SAFETY: only computes an address inside `QueueMemory`.
        unsafe { core::ptr::addr_of_mut!((*self.queue_memory()).fault_queue) }
    }

    /// The last sequence number the hardware has written.
    pub(crate) fn completed(&self) -> u32 {
        // SAFETY: the completion word is inside the driver's
        // `QueueMemory`; the IOMMU writes it, so it is read volatile.
        unsafe {
            core::ptr::addr_of!((*self.queue_memory()).completion)
                .cast::<u32>()
                .read_volatile()
        }
    }

    /// Sets the completion word to the newest sequence number issued, so
    /// that it reports as complete nothing the IOMMU has not run. Until
    /// then it holds whatever the board's queue memory held: a value an
    /// earlier boot's IOMMU wrote, or garbage, which `reached` would take
    /// for the completion of sequence numbers not yet executed. Called
    /// with the command queue off, so the IOMMU does not write the word.
    pub(crate) fn reset_completion(&self) {
        // SAFETY: the completion word is inside the driver's
        // `QueueMemory`, which no Rust reference covers; the IOMMU may
        // read or write it, so it is written volatile.
        unsafe {
            core::ptr::addr_of_mut!((*self.queue_memory()).completion)
                .cast::<u32>()
                .write_volatile(self.issued.get());
        }
    }

    /// The newest sequence number handed to the hardware.
    pub(crate) fn issued(&self) -> u32 {
        self.issued.get()
    }

    /// Whether `count` commands plus a fence fit in the command queue.
    pub(crate) fn has_room(&self, count: usize) -> bool {
        let mask = COMMAND_QUEUE_ENTRIES as u32 - 1;
        let used = self.tail.get().wrapping_sub(self.registers.cqh.get()) & mask;
        (COMMAND_QUEUE_ENTRIES as u32 - 1 - used) as usize > count
    }

    /// Commands written so far (benchmarks).
    pub fn commands_written(&self) -> usize {
        self.commands_written.get()
    }

    pub(crate) fn command_words(&self, index: usize) -> *mut u32 {
        let index = index % COMMAND_QUEUE_ENTRIES;
        // SAFETY: `index` < COMMAND_QUEUE_ENTRIES, so the offset stays
        // inside the command queue of `QueueMemory`.
        unsafe {
            core::ptr::addr_of_mut!((*self.queue_memory()).command_queue)
                .cast::<u64>()
                .add(2 * index)
                .cast::<u32>()
        }
    }

    pub(crate) fn write_command_at(&self, index: usize, command: &Command) {
        let words = self.command_words(index);
        for (i, doubleword) in command.0.iter().enumerate() {
            // SAFETY: the four words of entry `index` are in the command
            // queue, which only the driver writes (the IOMMU reads it).
            unsafe {
                words.add(2 * i).write_volatile(*doubleword as u32);
                words
                    .add(2 * i + 1)
                    .write_volatile((*doubleword >> 32) as u32);
            }
        }
    }

    pub(crate) fn read_command(&self, index: usize) -> Command {
        let words = self.command_words(index);
        let mut command = Command([0; 2]);
        for (i, doubleword) in command.0.iter_mut().enumerate() {
            // SAFETY: as in `write_command_at`.
            let (low, high) = unsafe {
                (
                    words.add(2 * i).read_volatile(),
                    words.add(2 * i + 1).read_volatile(),
                )
            };
            *doubleword = u64::from(low) | (u64::from(high) << 32);
        }
        command
    }

    pub(crate) fn write_command(&self, command: &Command) {
        self.write_command_at(self.tail.get() as usize, command);
        self.tail
            .set((self.tail.get() + 1) & (COMMAND_QUEUE_ENTRIES as u32 - 1));
        self.commands_written.set(self.commands_written.get() + 1);
    }

    pub(crate) fn write_fence(&self, sequence: u32) {
        self.write_command(&Command::iofence_c(
            self.completion_address(),
            sequence,
            true,
        ));
    }

    /// Queues `commands` and an `IOFENCE.C`, releases the command queue to
    /// the IOMMU and publishes the new tail; returns the sequence number
    /// the fence's completion writes. The caller checked `has_room`, and
    /// released any table or directory page the commands are about.
    pub(crate) fn submit(&self, commands: &[Command]) -> u32 {
        let sequence = self.issued.get().wrapping_add(1);
        for command in commands {
            self.write_command(command);
        }
        self.write_fence(sequence);
        self.issued.set(sequence);
        self.fence.release(self.command_queue());
        self.registers.cqt.set(self.tail.get());
        sequence
    }

    pub(crate) fn service_command_queue(&self) {
        if self.state.get() != State::Running {
            return;
        }
        let csr = self.registers.cqcsr.extract();
        if csr.is_set(cqcsr::cmd_ill) || csr.is_set(cqcsr::cmd_to) || csr.is_set(cqcsr::cqmf) {
            self.recover_command_queue(csr.is_set(cqcsr::cmd_ill));
        } else if csr.is_set(cqcsr::fence_w_ip) {
            self.registers
                .cqcsr
                .write(cqcsr::cqen::SET + cqcsr::cie::SET + cqcsr::fence_w_ip::SET);
        }
    }

    /// Recovers from `cmd_ill`, `cmd_to` or `cqmf` (spec 5.15). The queue
    /// stopped with `cqh` at the failing command and every later command
    /// still queued. An illegal command is replaced by the broadest legal
    /// command of its kind (an invalidation of everything, or a fence
    /// without a completion write), so nothing it was meant to invalidate
    /// stays cached; then the error bits are cleared and the IOMMU resumes
    /// at `cqh`, re-executing a command that timed out or faulted. The
    /// fences already queued complete the outstanding operations. After
    /// `MAX_RECOVERIES` failures without progress, the instance fails:
    /// outstanding operations complete with `FAIL`, new ones get `OFF`.
    pub(crate) fn recover_command_queue(&self, illegal: bool) {
        let attempts = self.recoveries.get() + 1;
        self.recoveries.set(attempts);
        if attempts > MAX_RECOVERIES {
            return self.fail();
        }
        if illegal {
            let head = self.registers.cqh.get() as usize;
            let failed = self.read_command(head);
            self.write_command_at(head, &failed.broadened());
        }
        self.fence.release(self.command_queue());
        self.registers.cqcsr.write(
            cqcsr::cqen::SET
                + cqcsr::cie::SET
                + cqcsr::cmd_ill::SET
                + cqcsr::cmd_to::SET
                + cqcsr::cqmf::SET
                + cqcsr::fence_w_ip::SET,
        );
        // Some IOMMUs (QEMU) look at the queue only when `cqt` is written:
        // writing the same tail again makes them resume.
        self.registers.cqt.set(self.tail.get());
    }

    /// Gives up on the command queue: turns it off, which also silences
    /// its interrupt. Faults are still reported.
    pub(crate) fn fail(&self) {
        self.state.set(State::Failed);
        self.registers
            .cqcsr
            .write(cqcsr::cqen::CLEAR + cqcsr::cie::CLEAR);
        self.deferred_call.set();
    }

    /// Clears `fqof` and `fqmf` (spec 5.16: no record is written while
    /// either is set); returns whether records were lost.
    pub(crate) fn clear_fault_queue_errors(&self) -> bool {
        let csr = self.registers.fqcsr.extract();
        let lost = csr.is_set(fqcsr::fqof) || csr.is_set(fqcsr::fqmf);
        if lost {
            self.registers
                .fqcsr
                .write(fqcsr::fqen::SET + fqcsr::fie::SET + fqcsr::fqof::SET + fqcsr::fqmf::SET);
        }
        lost
    }

    /// Reports every fault record in the queue (spec 3.2), at most one
    /// queue's worth per call.
    pub(crate) fn drain_faults(&self) {
        let mask = FAULT_QUEUE_ENTRIES as u32 - 1;
        for _ in 0..FAULT_QUEUE_ENTRIES {
            let head = self.registers.fqh.get() & mask;
            if head == self.registers.fqt.get() & mask {
                break;
            }
            // `fqt` is past the record: the IOMMU wrote it.
            self.fence.acquire(self.fault_queue());
            let record = self.read_fault_record(head as usize);
            self.registers.fqh.set((head + 1) & mask);
            self.report(record);
        }
    }

    pub(crate) fn read_fault_record(&self, index: usize) -> FaultRecord {
        let mut words = [0u64; 4];
        // SAFETY: `index` < FAULT_QUEUE_ENTRIES, so the record is inside
        // the fault queue of `QueueMemory`; the IOMMU wrote it before
        // advancing `fqt`, and it is read volatile.
        unsafe {
            let record = core::ptr::addr_of!((*self.queue_memory()).fault_queue)
                .cast::<u64>()
                .add(4 * index)
                .cast::<u32>();
            for (i, word) in words.iter_mut().enumerate() {
                let low = record.add(2 * i).read_volatile();
                let high = record.add(2 * i + 1).read_volatile();
                *word = u64::from(low) | (u64::from(high) << 32);
            }
        }
        FaultRecord::decode(words)
    }

    pub(crate) fn report(&self, record: FaultRecord) {
        let context = self
            .device_ids
            .iter()
            .position(|&id| id == record.device_id)
            .map(ContextId);
        let fault = Fault {
            context,
            cause: record.fault_cause(),
            raw_cause: record.cause,
            iova: record.iotval,
            access: record.access(),
        };
        self.fault_client.map(|client| client.fault(fault));
    }
}
