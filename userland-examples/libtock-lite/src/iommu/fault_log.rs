// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Receiving `FAULT` upcalls: a static log the upcall function fills.
//!
//! The driver sends at most one fault upcall per context until the owner
//! acknowledges it ([`super::fault_ack`]), so the log keeps the latest
//! one. Fault records are read when the IOMMU's interrupt is handled,
//! which may be before or after the DMA driver reports the copy done, so
//! [`FaultLog::wait`] waits for one with a time limit.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use super::DRIVER_NUMBER;
use super::abi::{Fault, upcall};
use crate::alarm;
use crate::error::ErrorCode;
use crate::syscall;

/// Sleep between checks while waiting for a fault.
const WAIT_STEP_MS: u32 = 10;

/// The latest fault upcall, and how many arrived.
pub struct FaultLog {
    pending: AtomicBool,
    first: AtomicUsize,
    iova: AtomicUsize,
    hardware_cause: AtomicUsize,
    received: AtomicU32,
}

/// The upcall function: records into the `FaultLog` whose address is the
/// application data.
extern "C" fn record(first: usize, iova: usize, hardware_cause: usize, data: usize) {
    let log = core::ptr::with_exposed_provenance::<FaultLog>(data);
    // SAFETY: `data` is the exposed address of a `&'static FaultLog`
    // (`FaultLog::subscribe`), valid for the rest of the program.
    let log = unsafe { &*log };
    log.first.store(first, Ordering::Relaxed);
    log.iova.store(iova, Ordering::Relaxed);
    log.hardware_cause.store(hardware_cause, Ordering::Relaxed);
    log.received.fetch_add(1, Ordering::Relaxed);
    log.pending.store(true, Ordering::Release);
}

impl FaultLog {
    /// An empty log.
    pub const fn new() -> FaultLog {
        FaultLog {
            pending: AtomicBool::new(false),
            first: AtomicUsize::new(0),
            iova: AtomicUsize::new(0),
            hardware_cause: AtomicUsize::new(0),
            received: AtomicU32::new(0),
        }
    }

    /// Registers this log for the `FAULT` upcalls of every context the
    /// process owns. Upcalls run only inside yield.
    pub fn subscribe(&'static self) -> Result<(), ErrorCode> {
        let data = core::ptr::from_ref(self).expose_provenance();
        // SAFETY: `record` only touches the atomics of `*self`, which is
        // `'static`, so the call is sound in every later yield.
        unsafe { syscall::subscribe(DRIVER_NUMBER, upcall::FAULT, Some(record), data) }
    }

    /// The fault recorded since the last `take`, if any.
    pub fn take(&self) -> Option<Fault> {
        if !self.pending.swap(false, Ordering::Acquire) {
            return None;
        }
        Some(Fault::decode(
            self.first.load(Ordering::Relaxed),
            self.iova.load(Ordering::Relaxed),
            self.hardware_cause.load(Ordering::Relaxed),
        ))
    }

    /// Fault upcalls received so far.
    pub fn received(&self) -> u32 {
        self.received.load(Ordering::Relaxed)
    }

    /// Waits up to about `timeout_ms` for a fault upcall (running pending
    /// upcalls, then sleeping in steps of 10 ms) and takes it. `Ok(None)`
    /// if none arrived in time.
    pub fn wait(&self, timeout_ms: u32) -> Result<Option<Fault>, ErrorCode> {
        let mut waited = 0;
        loop {
            if let Some(fault) = self.take() {
                return Ok(Some(fault));
            }
            if syscall::yield_no_wait() {
                continue;
            }
            if waited >= timeout_ms {
                return Ok(None);
            }
            alarm::sleep_ms(WAIT_STEP_MS)?;
            waited += WAIT_STEP_MS;
        }
    }
}

impl Default for FaultLog {
    fn default() -> Self {
        FaultLog::new()
    }
}

/// Stops fault upcalls (they are then dropped by the kernel).
pub fn unsubscribe_faults() -> Result<(), ErrorCode> {
    syscall::unsubscribe(DRIVER_NUMBER, upcall::FAULT)
}
