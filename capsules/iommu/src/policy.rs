// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The board's policy: who may acquire which context, and quotas.
//!
//! Contexts are wired to devices by the board, so only the board can say
//! which application may drive which device. It says so by implementing
//! [`ContextPolicy`], typically by matching the process's package name or
//! its `ShortId` (from the TBF header, fixed by signing or by the board)
//! against a table. [`ShortIdRules`] is such a table for `ShortId`s.

use kernel::ProcessId;
use kernel::process::ShortId;

/// Per-process limits (invariant I5, `doc/invariants.md`): one process can
/// never hold more than these, whatever the pools still hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// Contexts held at once.
    pub contexts: usize,
    /// Domains existing at once.
    pub domains: usize,
    /// Page-table pages charged to the process's domains. A map is refused
    /// once the process is at its quota; one map may take the process over
    /// it by at most the table pages that one map needs (see
    /// `doc/syscalls/10003_iommu.md`, "Quotas").
    pub pages: usize,
}

impl Quotas {
    /// A modest default: two contexts, four domains, sixteen pages.
    pub const DEFAULT: Quotas = Quotas {
        contexts: 2,
        domains: 4,
        pages: 16,
    };
}

/// Implemented by the board.
pub trait ContextPolicy {
    /// May `process` acquire `context` of IOMMU instance `instance`?
    fn may_use(&self, process: ProcessId, instance: usize, context: usize) -> bool;

    /// The limits of `process`.
    fn quotas(&self, process: ProcessId) -> Quotas {
        let _ = process;
        Quotas::DEFAULT
    }
}

/// One rule of [`ShortIdRules`].
#[derive(Clone, Copy, Debug)]
pub struct ShortIdRule {
    /// The application's fixed ShortId; `None` matches any process.
    pub short_id: Option<u32>,
    pub instance: usize,
    pub context: usize,
}

/// A policy from a static table of `ShortId` rules, with one quota for all.
pub struct ShortIdRules {
    rules: &'static [ShortIdRule],
    quotas: Quotas,
}

impl ShortIdRules {
    pub const fn new(rules: &'static [ShortIdRule], quotas: Quotas) -> ShortIdRules {
        ShortIdRules { rules, quotas }
    }
}

impl ContextPolicy for ShortIdRules {
    fn may_use(&self, process: ProcessId, instance: usize, context: usize) -> bool {
        let id = match process.short_app_id() {
            ShortId::Fixed(id) => Some(id.get()),
            ShortId::LocallyUnique => None,
        };
        self.rules.iter().any(|r| {
            r.instance == instance
                && r.context == context
                && (r.short_id.is_none() || r.short_id == id)
        })
    }

    fn quotas(&self, _process: ProcessId) -> Quotas {
        self.quotas
    }
}
