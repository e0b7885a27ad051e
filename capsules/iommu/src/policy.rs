// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The board's policy: who may acquire which context, and the share of
//! each IOMMU instance reserved for each application.
//!
//! Contexts are wired to devices by the board, so only the board can say
//! which application may drive which device. It says so by implementing
//! [`ContextPolicy`], typically by matching the process's package name or
//! its `ShortId` (from the TBF header, fixed by signing or by the board)
//! against a table. [`ShortIdRules`] is such a table for `ShortId`s.
//!
//! Shares are reservations (invariant I5, `doc/invariants.md`): an
//! application never holds more than its share of an instance, an
//! application the policy does not list holds nothing, and the shares of
//! all listed applications fit the instance's pools
//! ([`IommuDriver::setup`](crate::IommuDriver::setup) checks that at
//! boot). So no sequence of calls by any application can take another's
//! share away.

use kernel::ProcessId;
use kernel::process::ShortId;

/// One application's share of one IOMMU instance: what it may hold there
/// at once, reserved for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// Contexts held at once.
    pub contexts: usize,
    /// Domains existing at once.
    pub domains: usize,
    /// Page-table pages charged to the process's domains (each domain's
    /// root included). A `CREATE_DOMAIN` or `MAP` that could take the
    /// process past this is refused before it starts (see
    /// `doc/syscalls/10003_iommu.md`, "Quotas").
    pub pages: usize,
}

impl Quotas {
    /// Nothing: the share of an application a policy does not list.
    pub const NONE: Quotas = Quotas {
        contexts: 0,
        domains: 0,
        pages: 0,
    };

    /// A modest share: two contexts, four domains, sixteen pages.
    pub const DEFAULT: Quotas = Quotas {
        contexts: 2,
        domains: 4,
        pages: 16,
    };

    /// The sum of two shares (saturating).
    pub const fn plus(self, other: Quotas) -> Quotas {
        Quotas {
            contexts: self.contexts.saturating_add(other.contexts),
            domains: self.domains.saturating_add(other.domains),
            pages: self.pages.saturating_add(other.pages),
        }
    }

    /// True if every part of `self` is at most that of `other`.
    pub const fn fits_in(self, other: Quotas) -> bool {
        self.contexts <= other.contexts
            && self.domains <= other.domains
            && self.pages <= other.pages
    }
}

/// Implemented by the board.
pub trait ContextPolicy {
    /// May `process` acquire `context` of IOMMU instance `instance`?
    fn may_use(&self, process: ProcessId, instance: usize, context: usize) -> bool;

    /// The share of `instance` reserved for `process`; `Quotas::NONE` for
    /// a process the policy does not list.
    fn quotas(&self, process: ProcessId, instance: usize) -> Quotas;

    /// The sum of the shares of `instance` the policy reserves, over every
    /// application it lists (each counted once, however many instances of
    /// it run: a restarted process gets its share back only after the old
    /// instance's is revoked). Checked against the pools at boot.
    fn reserved(&self, instance: usize) -> Quotas;
}

/// One rule of [`ShortIdRules`].
#[derive(Clone, Copy, Debug)]
pub struct ShortIdRule {
    /// The application's fixed ShortId (an application without one is
    /// never listed: it could not be given a share of its own).
    pub short_id: u32,
    pub instance: usize,
    pub context: usize,
}

/// A policy from a static table of `ShortId` rules, with one share for
/// every application with a fixed `ShortId` that a rule names.
pub struct ShortIdRules {
    rules: &'static [ShortIdRule],
    quotas: Quotas,
}

impl ShortIdRules {
    pub const fn new(rules: &'static [ShortIdRule], quotas: Quotas) -> ShortIdRules {
        ShortIdRules { rules, quotas }
    }

    /// The distinct fixed ids the rules name for `instance`.
    fn listed(&self, instance: usize) -> impl Iterator<Item = u32> + '_ {
        self.rules
            .iter()
            .enumerate()
            .filter(move |(i, r)| {
                r.instance == instance
                    && !self.rules[..*i]
                        .iter()
                        .any(|e| e.instance == instance && e.short_id == r.short_id)
            })
            .map(|(_, r)| r.short_id)
    }
}

impl ContextPolicy for ShortIdRules {
    fn may_use(&self, process: ProcessId, instance: usize, context: usize) -> bool {
        let id = match process.short_app_id() {
            ShortId::Fixed(id) => Some(id.get()),
            ShortId::LocallyUnique => None,
        };
        id.is_some_and(|id| {
            self.rules
                .iter()
                .any(|r| r.instance == instance && r.context == context && r.short_id == id)
        })
    }

    fn quotas(&self, process: ProcessId, instance: usize) -> Quotas {
        match process.short_app_id() {
            ShortId::Fixed(id) if self.listed(instance).any(|l| l == id.get()) => self.quotas,
            _ => Quotas::NONE,
        }
    }

    fn reserved(&self, instance: usize) -> Quotas {
        self.listed(instance)
            .fold(Quotas::NONE, |sum, _| sum.plus(self.quotas))
    }
}
