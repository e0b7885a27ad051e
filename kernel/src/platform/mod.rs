// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Interfaces between the kernel and a board (Tock's `kernel::platform`).

pub mod chip;
pub mod dma_fence;

use crate::syscall::SyscallDriver;

/// Maps driver numbers to the capsules that serve them (the board's table).
pub trait SyscallDriverLookup {
    /// Calls `f` with the driver for `driver_num`, or `None` if there is none.
    fn with_driver<F, R>(&self, driver_num: usize, f: F) -> R
    where
        F: FnOnce(Option<&dyn SyscallDriver>) -> R;
}
