// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Capabilities: zero-sized proofs that the holder may call a privileged
//! kernel function (Tock's `kernel::capabilities`).
//!
//! They are `unsafe` traits
//! so only code allowed to use `unsafe` (boards, tests) can implement them;
//! capsules, with `#![forbid(unsafe_code)]`, cannot forge one.

/// May create grants (`Kernel::create_grant`).
///
/// # Safety
///
/// Implement only in trusted code (a board or a test) that is entitled to
/// the privilege.
pub unsafe trait MemoryAllocationCapability {}

/// May create `ProcessId`s outside the kernel crate.
///
/// # Safety
///
/// Implement only in trusted code (a board or a test) that is entitled to
/// the privilege.
pub unsafe trait ExternalProcessCapability {}

/// May load, stop, restart and fault processes.
///
/// # Safety
///
/// Implement only in trusted code (a board or a test) that is entitled to
/// the privilege.
pub unsafe trait ProcessManagementCapability {}

/// May run the kernel main loop.
///
/// # Safety
///
/// Implement only in trusted code (a board or a test) that is entitled to
/// the privilege.
pub unsafe trait MainLoopCapability {}

/// Creates a zero-sized type implementing the given capabilities.
///
/// ```ignore
/// let cap = create_capability!(capabilities::MemoryAllocationCapability);
/// ```
#[macro_export]
macro_rules! create_capability {
    ($($T:ty),+ $(,)?) => {{
        #[allow(dead_code)]
        struct Cap;
        $(
            // SAFETY: only boards and tests (which may use `unsafe`) can
            // expand this macro, which is what the capability system relies on.
            unsafe impl $T for Cap {}
        )*
        Cap
    }};
}
