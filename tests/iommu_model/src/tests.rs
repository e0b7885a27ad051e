// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Unit tests of the model itself, programming it by hand.
//!
//! They pin down the behaviour the driver tests rely on: blocked at reset,
//! the write-1-to-clear and enable side effects, translation with
//! permission checks, caching until invalidation, fault-queue overflow.

use crate::registers::{CQB, CQCSR, CQT, DDTP, FQB, FQCSR, FQH, FQT, IPSR};
use crate::{Access, CommandError, Model};

#[repr(C, align(4096))]
struct Page([u64; 512]);

/// Memory for one test: directory, one table per level, queues, data.
struct Memory {
    pages: Box<[Page; 8]>,
}

const DIRECTORY: usize = 0;
const LEVEL2: usize = 1;
const LEVEL1: usize = 2;
const LEVEL0: usize = 3;
const COMMANDS: usize = 4;
const FAULTS: usize = 5;
const DATA: usize = 6;

impl Memory {
    fn new(model: &mut Model) -> Memory {
        let memory = Memory {
            pages: Box::new([const { Page([0; 512]) }; 8]),
        };
        model.add_ram(memory.address(0), 8 * 4096);
        memory
    }

    fn address(&self, page: usize) -> usize {
        std::ptr::from_ref(&self.pages[page]) as usize
    }

    fn ppn(&self, page: usize) -> u64 {
        self.address(page) as u64 >> 12
    }

    fn set(&mut self, page: usize, index: usize, value: u64) {
        self.pages[page].0[index] = value;
    }
}

/// A model with queues on, device 3 translating through a table that maps
/// IOVA 0x5000 to the data page with `leaf_bits` (V is added).
fn setup(leaf_bits: u64) -> (Model, Memory) {
    let mut model = Model::new();
    let mut memory = Memory::new(&mut model);
    let registers = &model.registers;
    registers.write64(CQB, (memory.ppn(COMMANDS) << 10) | 5);
    registers.write32(CQCSR, 0b11);
    registers.write64(FQB, (memory.ppn(FAULTS) << 10) | 2);
    registers.write32(FQCSR, 0b11);
    // Device context 3 (64 bytes): V, PSCID 9, Sv39 root.
    memory.set(DIRECTORY, 3 * 8, 1);
    memory.set(DIRECTORY, 3 * 8 + 2, 9 << 12);
    memory.set(DIRECTORY, 3 * 8 + 3, (8 << 60) | memory.ppn(LEVEL2));
    memory.set(LEVEL2, 0, (memory.ppn(LEVEL1) << 10) | 1);
    memory.set(LEVEL1, 0, (memory.ppn(LEVEL0) << 10) | 1);
    memory.set(LEVEL0, 5, (memory.ppn(DATA) << 10) | leaf_bits | 1);
    model
        .registers
        .write64(DDTP, (memory.ppn(DIRECTORY) << 10) | 2);
    model.process();
    (model, memory)
}

const READ_WRITE: u64 = 0b1101_0110; // R W U A D

#[test]
fn reset_blocks_everything() {
    let mut model = Model::new();
    let result = model.dma(3, 0x5000, Access::Write, &mut [1; 8]);
    assert_eq!((result.completed, result.faulted), (0, 2));
    assert_eq!(model.stats().faults_dropped, 2, "no fault queue yet");
}

#[test]
fn translation_and_permissions() {
    let (mut model, memory) = setup(READ_WRITE);
    let result = model.dma(3, 0x5010, Access::Write, &mut [7; 8]);
    assert_eq!(result.faulted, 0);
    assert_eq!(memory.pages[DATA].0[2], 0x0707_0707_0707_0707);
    // Another device has no valid context.
    assert_eq!(model.dma(4, 0x5010, Access::Read, &mut [0; 4]).faulted, 1);
    // Unmapped IOVA.
    assert_eq!(model.dma(3, 0x6000, Access::Read, &mut [0; 4]).faulted, 1);
    assert_eq!(model.registers.read32(FQT), 2);
    assert_ne!(model.registers.read32(IPSR) & 0b10, 0, "fip");
}

#[test]
fn leaf_without_write_or_dirty_faults_writes() {
    let (mut model, _memory) = setup(0b0101_0010); // R U A
    assert_eq!(model.dma(3, 0x5000, Access::Read, &mut [0; 4]).faulted, 0);
    assert_eq!(model.dma(3, 0x5000, Access::Write, &mut [0; 4]).faulted, 1);
    let (mut model, _memory) = setup(0b0100_0110); // R W A, no U
    assert_eq!(model.dma(3, 0x5000, Access::Read, &mut [0; 4]).faulted, 1);
}

#[test]
fn translations_stay_cached_until_invalidated() {
    let (mut model, mut memory) = setup(READ_WRITE);
    assert_eq!(model.dma(3, 0x5000, Access::Read, &mut [0; 4]).faulted, 0);
    memory.set(LEVEL0, 5, 0);
    assert_eq!(
        model.dma(3, 0x5000, Access::Read, &mut [0; 4]).faulted,
        0,
        "stale"
    );
    // IOTINVAL.VMA for PSCID 9, then the miss walks the cleared table.
    memory.set(COMMANDS, 0, 1 | (9 << 12) | (1 << 32));
    model.registers.write32(CQT, 1);
    model.process();
    assert_eq!(model.stats().iotinval_vma, 1);
    assert_eq!(model.dma(3, 0x5000, Access::Read, &mut [0; 4]).faulted, 1);
}

#[test]
fn fence_writes_completion_and_raises_cip() {
    let (mut model, memory) = setup(READ_WRITE);
    let target = memory.address(DATA) as u64 + 64;
    memory_command(
        &memory,
        0,
        [2 | (1 << 10) | (1 << 11) | (0x1234 << 32), target >> 2],
    );
    model.registers.write32(CQT, 1);
    assert!(!model.interrupt_pending(), "nothing runs before process");
    model.process();
    assert_eq!(memory.pages[DATA].0[8] as u32, 0x1234);
    assert!(model.interrupt_pending());
    // Clearing fence_w_ip, then cip, deasserts it.
    model.registers.write32(CQCSR, 0b11 | (1 << 11));
    model.registers.write32(IPSR, 1);
    assert!(!model.interrupt_pending());
}

fn memory_command(memory: &Memory, index: usize, command: [u64; 2]) {
    let pointer = memory.address(COMMANDS) as *mut u64;
    // SAFETY: `index` < 256 commands fit in the page; the test owns it.
    unsafe {
        pointer.add(2 * index).write_volatile(command[0]);
        pointer.add(2 * index + 1).write_volatile(command[1]);
    }
}

#[test]
fn command_errors_stop_the_queue_until_cleared() {
    let (mut model, memory) = setup(READ_WRITE);
    memory_command(&memory, 0, [3, 0]);
    model.registers.write32(CQT, 1);
    model.inject_command_error(CommandError::Illegal);
    model.process();
    assert_ne!(model.registers.read32(CQCSR) & (1 << 10), 0, "cmd_ill");
    assert_eq!(model.stats().iodir_inval_ddt, 0);
    model.registers.write32(CQCSR, 0b11 | (1 << 10));
    model.process();
    assert_eq!(model.registers.read32(CQCSR) & (1 << 10), 0);
    assert_eq!(model.stats().iodir_inval_ddt, 1);
}

#[test]
fn fault_queue_overflow_sets_fqof_until_cleared() {
    let (mut model, _memory) = setup(READ_WRITE);
    // An 8-entry queue holds 7 records.
    let result = model.dma(3, 0x9000, Access::Read, &mut [0; 40]);
    assert_eq!(result.faulted, 10);
    assert_eq!(model.stats().fault_records, 7);
    assert_ne!(model.registers.read32(FQCSR) & (1 << 9), 0, "fqof");
    model.registers.write32(FQH, 7);
    model.dma(3, 0x9000, Access::Read, &mut [0; 4]);
    assert_eq!(model.stats().fault_records, 7, "dropped while fqof");
    model.registers.write32(FQCSR, 0b11 | (1 << 9));
    model.dma(3, 0x9000, Access::Read, &mut [0; 4]);
    assert_eq!(model.stats().fault_records, 8);
}
