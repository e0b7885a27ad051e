// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Bring-up over queue memory the board did not clear.
//!
//! The driver learns that commands ran from the completion word its
//! `IOFENCE.C` commands write (RISC-V IOMMU spec 1.0 section 3.1.2). A
//! value left in that word before `init` (by an earlier boot, or garbage)
//! must not pass for a completion: an operation reported complete before
//! its invalidation ran breaks I4. Here the model never runs its command
//! queue until the test says so, so any callback before that is a lie.

use std::cell::RefCell;

use iommu_test_support::driver_rig::{Event, Recorder};
use iommu_test_support::on_model::{self, Chip};
use kernel::deferred_call::DeferredCall;
use kernel::hil::iommu::{Attach, ContextId, Domains, Faults, Fence};
use riscv_iommu_model::Model;

/// Byte patterns for the queue memory.
///
/// As a completion word, 0x01010101 and 0x5a5a5a5a are ahead of every
/// sequence number the driver issues first (as an earlier boot's value
/// would be); 0xa5a5a5a5 and 0xffffffff are behind.
const PATTERNS: [u8; 4] = [0x01, 0x5a, 0xa5, 0xff];

/// A driver over queue memory filled with `byte`, initialized, with a
/// recording client; the model has run nothing.
fn initialized_over_garbage(byte: u8) -> (RefCell<Model>, &'static Chip, &'static Recorder) {
    let queues = on_model::queue_memory_filled_with(byte);
    let (model, iommu) = on_model::instance_over([8, 9], 4, queues);
    let client: &'static Recorder = Box::leak(Box::default());
    Attach::set_client(iommu, client);
    Fence::set_client(iommu, client);
    Faults::set_client(iommu, client);
    iommu.init().unwrap();
    (RefCell::new(model), iommu, client)
}

/// Runs deferred calls only (bounded): the IOMMU executes nothing.
fn run_deferred_calls() {
    for _ in 0..100 {
        if !DeferredCall::has_tasks() {
            return;
        }
        DeferredCall::service_next_pending();
    }
    panic!("deferred calls never stopped");
}

#[test]
fn stale_completion_word_completes_nothing_before_the_iommu_runs() {
    for byte in PATTERNS {
        let (model, iommu, client) = initialized_over_garbage(byte);
        let domain = iommu.create_domain().unwrap();
        iommu.attach(ContextId(0), domain).unwrap();
        iommu.fence().unwrap();
        run_deferred_calls();
        assert_eq!(model.borrow().stats().commands, 0);
        assert_eq!(
            client.take(),
            vec![],
            "queue memory of {byte:#04x}: completion reported before any command ran"
        );
        on_model::settle(&[(&model, iommu)]);
        assert_eq!(
            client.take(),
            vec![
                Event::AttachDone(ContextId(0), domain, Ok(())),
                Event::FenceDone(Ok(())),
            ],
            "queue memory of {byte:#04x}"
        );
        // From then on the word holds what the IOMMU wrote.
        iommu.detach(ContextId(0)).unwrap();
        run_deferred_calls();
        assert_eq!(client.take(), vec![]);
        on_model::settle(&[(&model, iommu)]);
        assert_eq!(client.take(), vec![Event::DetachDone(ContextId(0), Ok(()))]);
    }
}

#[test]
fn garbage_queues_neither_fault_nor_execute() {
    for byte in PATTERNS {
        let (model, iommu, client) = initialized_over_garbage(byte);
        on_model::settle(&[(&model, iommu)]);
        let stats = model.borrow().stats();
        // init's two invalidations and their fence, nothing left over in
        // the command queue; no record read from the fault queue.
        assert_eq!(stats.commands, 3, "queue memory of {byte:#04x}");
        assert_eq!(stats.iofence_c, 1, "queue memory of {byte:#04x}");
        assert_eq!(client.take(), vec![], "queue memory of {byte:#04x}");
    }
}
