// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! One RISC-V IOMMU driver over the behavioural model.
//!
//! The memory the driver gets (command and fault queues, directory and
//! page-table pools) is leaked host memory registered with the model, which
//! treats host addresses as physical ones. [`settle`] plays the platform:
//! the model runs its command queue, its interrupt reaches the driver, and
//! deferred calls run, until nothing is pending (bounded).

use std::cell::RefCell;

use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::utilities::StaticRef;
use riscv_iommu::registers::IommuRegisters;
use riscv_iommu::{InterruptVectors, Page, PagePool, QueueMemory, RiscvIommu};
use riscv_iommu_model::Model;
use rv32::dma_fence::RiscvCoherentDmaFence;

/// Contexts of a modelled instance.
pub const CONTEXTS: usize = 2;
/// Domains of a modelled instance.
pub const DOMAINS: usize = 4;
/// Directory pages of a modelled instance.
const DIRECTORY_PAGES: usize = 4;

/// The driver of one modelled instance.
pub type Chip = RiscvIommu<'static, CONTEXTS, DOMAINS, RiscvCoherentDmaFence>;

/// `count` zeroed pages that live until the test process ends.
pub fn leak_pages(count: usize) -> &'static mut [Page] {
    let pages: Vec<Page> = (0..count).map(|_| Page::ZERO).collect();
    Box::leak(pages.into_boxed_slice())
}

/// Queue memory every byte of which is `byte`, as a board's may be before
/// `init`: left over from an earlier boot, or never cleared.
pub fn queue_memory_filled_with(byte: u8) -> &'static mut QueueMemory {
    let queues: &'static mut QueueMemory = Box::leak(Box::new(QueueMemory::ZERO));
    // SAFETY: `QueueMemory` holds only integers, so any bytes are a valid
    // value; the pointer is to exactly one, from a unique reference.
    unsafe { std::ptr::write_bytes(std::ptr::from_mut(queues), byte, 1) };
    queues
}

/// A model and its driver, whose contexts are devices `device_ids`, with
/// `table_pages` page-table pages; registered for deferred calls but not
/// yet initialized.
pub fn instance(device_ids: [u32; CONTEXTS], table_pages: usize) -> (Model, &'static Chip) {
    instance_over(
        device_ids,
        table_pages,
        Box::leak(Box::new(QueueMemory::ZERO)),
    )
}

/// As [`instance`], with `queues` as the driver's queue memory.
pub fn instance_over(
    device_ids: [u32; CONTEXTS],
    table_pages: usize,
    queues: &'static mut QueueMemory,
) -> (Model, &'static Chip) {
    let mut model = Model::new();
    model.add_ram(
        std::ptr::from_mut(queues) as usize,
        size_of::<QueueMemory>(),
    );
    let directory = leak_pages(DIRECTORY_PAGES);
    model.add_ram(directory.as_ptr() as usize, size_of_val(directory));
    let tables = leak_pages(table_pages);
    model.add_ram(tables.as_ptr() as usize, size_of_val(tables));
    // SAFETY: the model is the only DMA master and it reads host memory
    // directly, so it is coherent with the CPU (host build: a compiler
    // fence).
    let fence = unsafe { RiscvCoherentDmaFence::new() };
    // SAFETY: the model's register block is boxed, 4 KiB and 4 KiB-aligned,
    // so it stays put while the model lives; the tests stop using the
    // driver before they drop the model.
    let registers = unsafe { StaticRef::new(model.registers_address() as *const IommuRegisters) };
    let iommu: &'static Chip = Box::leak(Box::new(RiscvIommu::new(
        registers,
        device_ids,
        queues,
        PagePool::new(directory, fence),
        PagePool::new(tables, fence),
        InterruptVectors { civ: 0, fiv: 1 },
        fence,
    )));
    iommu.register();
    (model, iommu)
}

/// Plays the platform for `instances` until nothing is pending.
///
/// Each model runs its command queue and its interrupt reaches its driver;
/// when no interrupt is pending, one deferred call runs. Panics after 1000
/// rounds.
pub fn settle(instances: &[(&RefCell<Model>, &Chip)]) {
    for _ in 0..1000 {
        let mut interrupted = false;
        for (model, chip) in instances {
            model.borrow_mut().process();
            if model.borrow_mut().interrupt_pending() {
                chip.handle_interrupt();
                interrupted = true;
            }
        }
        if interrupted {
            continue;
        }
        if DeferredCall::has_tasks() {
            DeferredCall::service_next_pending();
        } else {
            return;
        }
    }
    panic!("the IOMMU never settled");
}
