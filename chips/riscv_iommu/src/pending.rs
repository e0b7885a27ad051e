// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Outstanding operations, completed in the order they were started.
//!
//! Each split-phase HIL operation waits for a sequence number: the
//! `IOFENCE.C` that follows its commands writes that number to the
//! completion word (RISC-V IOMMU spec 1.0 section 3.1.2). Operations that
//! need no command (a map, a fence) wait for the newest number already
//! issued, so callbacks keep the order of the calls. The ring is bounded;
//! when it is full, calls return `BUSY` before changing anything.

use core::cell::Cell;
use kernel::ErrorCode;
use kernel::hil::iommu::{ContextId, DomainId};

/// What completes when the hardware reaches a sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `map_done`.
    Map {
        domain: DomainId,
        iova: usize,
        len: usize,
    },
    /// `unmap_done`.
    Unmap {
        domain: DomainId,
        iova: usize,
        len: usize,
    },
    /// `attach_done`; `previous` is the domain switched away from.
    Attach {
        context: ContextId,
        domain: DomainId,
        previous: Option<DomainId>,
    },
    /// `detach_done`.
    Detach {
        context: ContextId,
        previous: DomainId,
    },
    /// `fence_done`.
    Fence,
    /// No callback: the invalidation of a destroyed domain's PSCID; the
    /// PSCID is not given to a new domain until it completed.
    Release { pscid: u32 },
}

impl Operation {
    /// Whether this operation still involves `domain`.
    pub fn uses(&self, domain: DomainId) -> bool {
        match *self {
            Operation::Map { domain: d, .. } | Operation::Unmap { domain: d, .. } => d == domain,
            Operation::Attach {
                domain: d,
                previous,
                ..
            } => d == domain || previous == Some(domain),
            Operation::Detach { previous, .. } => previous == domain,
            Operation::Release { .. } => false,
            Operation::Fence => false,
        }
    }
}

/// An operation and the sequence number it waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    pub sequence: u32,
    pub operation: Operation,
}

/// Whether the hardware, having completed `completed`, has also completed
/// `sequence` (numbers wrap; they are never more than 2^31 apart).
pub fn reached(completed: u32, sequence: u32) -> bool {
    (completed.wrapping_sub(sequence) as i32) >= 0
}

/// A FIFO of at most `N` outstanding operations.
pub struct PendingRing<const N: usize> {
    entries: [Cell<Option<Pending>>; N],
    head: Cell<usize>,
    len: Cell<usize>,
}

impl<const N: usize> Default for PendingRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> PendingRing<N> {
    pub const fn new() -> Self {
        PendingRing {
            entries: [const { Cell::new(None) }; N],
            head: Cell::new(0),
            len: Cell::new(0),
        }
    }

    pub fn is_full(&self) -> bool {
        self.len.get() == N
    }

    pub fn is_empty(&self) -> bool {
        self.len.get() == 0
    }

    /// Appends; `BUSY` if full.
    pub fn push(&self, pending: Pending) -> Result<(), ErrorCode> {
        if self.is_full() {
            return Err(ErrorCode::BUSY);
        }
        self.entries[(self.head.get() + self.len.get()) % N].set(Some(pending));
        self.len.set(self.len.get() + 1);
        Ok(())
    }

    /// Removes and returns the oldest entry if `ready` says so.
    pub fn pop_if(&self, ready: impl Fn(&Pending) -> bool) -> Option<Pending> {
        if self.is_empty() {
            return None;
        }
        let slot = &self.entries[self.head.get()];
        let pending = slot.get()?;
        if !ready(&pending) {
            return None;
        }
        slot.set(None);
        self.head.set((self.head.get() + 1) % N);
        self.len.set(self.len.get() - 1);
        Some(pending)
    }

    /// Whether the invalidation of PSCID `pscid` is still outstanding.
    pub fn releases(&self, pscid: u32) -> bool {
        self.entries.iter().any(|entry| {
            entry
                .get()
                .is_some_and(|p| p.operation == Operation::Release { pscid })
        })
    }

    /// Whether any outstanding operation involves `domain`.
    pub fn uses(&self, domain: DomainId) -> bool {
        self.entries
            .iter()
            .any(|entry| entry.get().is_some_and(|p| p.operation.uses(domain)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_bounded_and_ordered() {
        let ring: PendingRing<2> = PendingRing::new();
        let fence = |sequence| Pending {
            sequence,
            operation: Operation::Fence,
        };
        ring.push(fence(1)).unwrap();
        ring.push(fence(2)).unwrap();
        assert_eq!(ring.push(fence(3)), Err(ErrorCode::BUSY));
        assert_eq!(ring.pop_if(|p| reached(1, p.sequence)), Some(fence(1)));
        assert_eq!(ring.pop_if(|p| reached(1, p.sequence)), None);
        ring.push(fence(3)).unwrap();
        assert_eq!(ring.pop_if(|_| true), Some(fence(2)));
        assert_eq!(ring.pop_if(|_| true), Some(fence(3)));
        assert!(ring.is_empty());
    }

    #[test]
    fn sequence_numbers_wrap() {
        assert!(reached(5, 5));
        assert!(reached(2, u32::MAX));
        assert!(!reached(u32::MAX, 2));
    }

    #[test]
    fn uses_finds_domains() {
        let ring: PendingRing<4> = PendingRing::new();
        ring.push(Pending {
            sequence: 1,
            operation: Operation::Detach {
                context: ContextId(0),
                previous: DomainId(3),
            },
        })
        .unwrap();
        assert!(ring.uses(DomainId(3)));
        assert!(!ring.uses(DomainId(1)));
    }
}
