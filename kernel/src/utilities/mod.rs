// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Utility types, under the paths Tock's kernel crate gives them.

mod static_ref;
pub use self::static_ref::StaticRef;

pub mod cells;
pub mod dma_slice;
pub mod static_init;

/// Register access, re-exported from `tock-registers` exactly as Tock's
/// kernel does, so `kernel::utilities::registers::register_structs!` works.
pub mod registers {
    pub use tock_registers::fields::{Field, FieldValue};
    pub use tock_registers::interfaces;
    pub use tock_registers::registers::InMemoryRegister;
    pub use tock_registers::registers::{Aliased, ReadOnly, ReadWrite, WriteOnly};
    pub use tock_registers::{LocalRegisterCopy, RegisterLongName};
    pub use tock_registers::{register_bitfields, register_structs};
}
