// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The board's IOMMU policy: which apps may use the IOMMU, with which
//! `edu` contexts, and the share of the instance reserved for each (I5).

use capsules_iommu::{ContextPolicy, Quotas};
use kernel::capabilities::ProcessManagementCapability;
use kernel::{Kernel, ProcessId, create_capability};

use crate::{IOMMU_DOMAINS, IOMMU_TABLE_PAGES};

/// One app of the board's IOMMU policy.
pub(crate) struct IommuApp {
    /// Its package name.
    name: &'static str,
    /// The edu contexts it may acquire (context i = edu i). A context
    /// listed for several apps goes to whichever acquires it first.
    contexts: &'static [usize],
    /// Its share of the IOMMU, reserved for it (I5).
    share: Quotas,
}

/// The board's IOMMU policy: DMA is offered to these apps only; every
/// other app gets nothing (`RESERVE`). Each app's share of domains and
/// table pages is reserved for it: the shares add up to no more than the
/// pools (checked below at compile time, and by `IommuDriver::setup` at
/// boot), so no app, listed or not, can take another's share.
pub(crate) const IOMMU_APPS: &[IommuApp] = &[
    IommuApp {
        name: "dma_demo",
        contexts: &[0, 1],
        share: share(1, 1, 4),
    },
    IommuApp {
        name: "dma_readonly",
        contexts: &[0],
        share: share(1, 1, 4),
    },
    IommuApp {
        name: "dma_restart",
        contexts: &[0],
        share: share(1, 1, 4),
    },
    IommuApp {
        name: "dma_switch",
        contexts: &[0, 1],
        share: share(1, 2, 8),
    },
    IommuApp {
        name: "dma_thief",
        contexts: &[0, 1],
        share: share(1, 1, 4),
    },
    // The two halves of the test of I8: the second takes edu 0 after
    // the first left a secret in it.
    IommuApp {
        name: "dma_secret",
        contexts: &[0],
        share: share(1, 1, 3),
    },
    IommuApp {
        name: "dma_leftover",
        contexts: &[0],
        share: share(1, 1, 3),
    },
];

/// The benchmark build's IOMMU app: `syscall_bench` times a map and an
/// unmap round trip in a domain of its own. Only `--features bench` lists
/// it, and grows the pools by its share.
const BENCH_IOMMU_APPS: &[IommuApp] = if cfg!(feature = "bench") {
    &[IommuApp {
        name: "syscall_bench",
        contexts: &[],
        share: share(0, 1, 3),
    }]
} else {
    &[]
};
pub(crate) const BENCH_IOMMU_SHARE: Quotas = if cfg!(feature = "bench") {
    share(0, 1, 3)
} else {
    share(0, 0, 0)
};

/// A share: contexts held at once, domains, table pages (a domain's root
/// and, per map, a table per GiB and per 2 MiB region it first maps into).
const fn share(contexts: usize, domains: usize, pages: usize) -> Quotas {
    Quotas {
        contexts,
        domains,
        pages,
    }
}

/// The sum of the shares `IOMMU_APPS` and `BENCH_IOMMU_APPS` reserve.
const fn iommu_reserved() -> Quotas {
    let mut sum = share(0, 0, 0);
    let mut i = 0;
    while i < IOMMU_APPS.len() {
        sum = sum.plus(IOMMU_APPS[i].share);
        i += 1;
    }
    let mut i = 0;
    while i < BENCH_IOMMU_APPS.len() {
        sum = sum.plus(BENCH_IOMMU_APPS[i].share);
        i += 1;
    }
    sum
}

/// What the kernel's domains take of the same pools. virtio-rng's: one
/// domain slot and three table pages (root, one level-1 and one level-0
/// table for the two pages at `RNG_QUEUE_IOVA`). virtio-blk's: one domain
/// slot and four table pages (root, one level-1 table, a level-0 table
/// for the pages at `BLK_QUEUE_IOVA` and one for the request window,
/// which maps at most the 64 sectors of an app's range). Their contexts
/// are not ones the system call driver offers, so they count no context.
pub(crate) const KERNEL_IOMMU_SHARE: Quotas = share(0, 1, 3).plus(share(0, 1, 4));

/// Everything reserved in the instance: the apps' shares and the
/// kernel's. `EduPolicy::reserved` reports this sum, so that
/// `IommuDriver::setup`, run before the kernel domain is created, checks
/// the apps' shares and the kernel's together against the full pools.
const fn iommu_all_reserved() -> Quotas {
    iommu_reserved().plus(KERNEL_IOMMU_SHARE)
}

const _: () = assert!(
    iommu_all_reserved().domains <= IOMMU_DOMAINS
        && iommu_all_reserved().pages <= IOMMU_TABLE_PAGES,
    "IOMMU_APPS and the kernel reserve more domains or table pages than the IOMMU has"
);

/// The IOMMU policy of `IOMMU_APPS`, by package name.
pub(crate) struct EduPolicy {
    pub(crate) kernel: &'static Kernel,
}

impl EduPolicy {
    /// The entry of `process` in `IOMMU_APPS`, if listed.
    fn app(&self, process: ProcessId) -> Option<&'static IommuApp> {
        let capability = create_capability!(ProcessManagementCapability);
        let name =
            self.kernel
                .process_map_or_external("", process, |p| p.get_process_name(), &capability);
        IOMMU_APPS
            .iter()
            .chain(BENCH_IOMMU_APPS)
            .find(|app| app.name == name)
    }
}

impl ContextPolicy for EduPolicy {
    fn may_use(&self, process: ProcessId, instance: usize, context: usize) -> bool {
        instance == 0
            && self
                .app(process)
                .is_some_and(|app| app.contexts.contains(&context))
    }

    fn quotas(&self, process: ProcessId, instance: usize) -> Quotas {
        match self.app(process) {
            Some(app) if instance == 0 => app.share,
            _ => Quotas::NONE,
        }
    }

    fn reserved(&self, instance: usize) -> Quotas {
        if instance == 0 {
            iommu_all_reserved()
        } else {
            Quotas::NONE
        }
    }
}
