// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Waiting for one upcall of a split-phase operation.
//!
//! Tock drivers are split-phase: a command starts an operation and an upcall
//! reports its end (TRD104 section 4.2). [`wait_for_upcall`] registers a
//! small recording function on the upcall slot, starts the operation, yields
//! until the function has run, and unregisters it again, so that the
//! recording cell on the stack never outlives its subscription.

use core::cell::Cell;
use core::ptr;

use crate::error::ErrorCode;
use crate::syscall;

/// The three values an upcall delivers.
pub type UpcallValues = [usize; 3];

/// How to wait for an upcall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Yield-Wait: give the processor to other processes until it arrives.
    Block,
    /// Loop on Yield-NoWait: keep the processor (unless the kernel preempts
    /// the process) until it arrives. For apps that test preemption.
    Poll,
}

/// Where [`record`] stores the values of the upcall it receives.
type Slot = Cell<Option<UpcallValues>>;

/// The upcall function `wait_for_upcall` registers: stores the values into
/// the [`Slot`] whose address is the application data.
extern "C" fn record(value0: usize, value1: usize, value2: usize, data: usize) {
    let slot = ptr::with_exposed_provenance::<Slot>(data);
    // SAFETY: `data` is the exposed address of the live `Slot` in the frame
    // of `wait_for_upcall`, which unsubscribes before that frame ends.
    unsafe { (*slot).set(Some([value0, value1, value2])) };
}

/// Registers for upcall `number` of `driver`, runs `start` (which issues
/// the command that begins the operation), waits for the upcall the way
/// `wait` says and returns its values. If `start` fails, returns its error
/// without waiting.
pub fn wait_for_upcall(
    driver: u32,
    number: u32,
    wait: Wait,
    start: impl FnOnce() -> Result<(), ErrorCode>,
) -> Result<UpcallValues, ErrorCode> {
    let slot: Slot = Cell::new(None);
    let data = ptr::from_ref(&slot).expose_provenance();
    // SAFETY: `record` only writes `slot`, and `slot` outlives the
    // subscription: every way out of this function below first replaces the
    // upcall by the null upcall, or ends the process.
    unsafe { syscall::subscribe(driver, number, Some(record), data)? };
    let started = start();
    if started.is_ok() {
        while slot.get().is_none() {
            match wait {
                Wait::Block => syscall::yield_wait(),
                Wait::Poll => {
                    syscall::yield_no_wait();
                }
            }
        }
    }
    if syscall::unsubscribe(driver, number).is_err() {
        // The kernel could still call `record` with a dangling address; the
        // only safe way on is not to go on.
        syscall::exit_terminate(ErrorCode::Fail.as_u32());
    }
    started?;
    slot.get().ok_or(ErrorCode::Fail)
}
