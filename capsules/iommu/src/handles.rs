// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Handles: the context and domain ids processes hold, with a generation.
//!
//! A handle names one slot of the context table or of the domain table
//! (`table`) *and* the generation of that slot's current owner. Every time
//! a slot is freed (release, destroy, revocation) its generation advances,
//! so a handle kept after release no longer matches and is refused, even
//! once the slot has a new owner (who receives a different handle).
//!
//! Encoding, as a process sees it (16 bits; upper bits of the register
//! must be 0):
//!
//! ```text
//!  15            8 7             0
//! | generation    | slot index    |
//! ```
//!
//! Generation 0 is never used, so 0 is never a valid handle. With 8 bits a
//! handle kept across 255 reuses of its slot would match again; that
//! handle would still name a slot owned by the same process only if the
//! process owns it again, so it can never reach another process's object
//! (ownership is checked on every use, `table::Tables::context`).

/// A handle value as given to or received from a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle {
    index: u8,
    generation: u8,
}

impl Handle {
    /// The first generation a slot hands out.
    pub const FIRST_GENERATION: u8 = 1;

    /// The handle of slot `index` at `generation` (never 0).
    pub(crate) fn new(index: u8, generation: u8) -> Handle {
        Handle { index, generation }
    }

    /// Decodes a process-supplied register. `None` if bits above 15 are
    /// set or the generation is 0: such a value never names anything.
    pub fn from_register(raw: usize) -> Option<Handle> {
        if raw > 0xffff {
            return None;
        }
        let handle = Handle {
            index: (raw & 0xff) as u8,
            generation: (raw >> 8) as u8,
        };
        (handle.generation != 0).then_some(handle)
    }

    /// The value given to the process.
    pub fn to_register(self) -> u32 {
        u32::from(self.index) | u32::from(self.generation) << 8
    }

    /// The slot this handle names.
    pub fn index(self) -> usize {
        usize::from(self.index)
    }

    /// The generation this handle was issued with.
    pub fn generation(self) -> u8 {
        self.generation
    }
}

/// The generation after `generation`: wraps past 255 to 1, skipping 0.
pub(crate) fn next_generation(generation: u8) -> u8 {
    match generation.wrapping_add(1) {
        0 => Handle::FIRST_GENERATION,
        g => g,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let h = Handle::new(7, 3);
        assert_eq!(h.to_register(), 0x0307);
        assert_eq!(Handle::from_register(0x0307), Some(h));
        assert_eq!(Handle::from_register(0), None);
        assert_eq!(Handle::from_register(0x00ff), None);
        assert_eq!(Handle::from_register(0x1_0307), None);
        assert_eq!(Handle::from_register(usize::MAX), None);
    }

    #[test]
    fn generation_skips_zero() {
        assert_eq!(next_generation(1), 2);
        assert_eq!(next_generation(255), 1);
    }
}
