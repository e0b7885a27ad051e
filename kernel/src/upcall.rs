// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Upcall identifiers and errors (Tock's `kernel::upcall`).

/// Names one upcall slot: a driver and a subscribe number.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct UpcallId {
    pub driver_num: usize,
    pub subscribe_num: usize,
}

/// Why an upcall could not be scheduled.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum UpcallError {
    /// The subscribe number is not below the grant's upcall count.
    InvalidSubscribeNum,
    /// The process's task queue is full; the upcall was dropped.
    QueueFull,
    /// The process is not alive, or another kernel-internal error.
    KernelError,
}
