// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The IOMMU system call driver (0x10003): construction and dispatch.
//!
//! The commands that change state live in `context_ops.rs` and
//! `domain_ops.rs`, revocation in `revocation.rs`, fault routing in
//! `faults.rs`. The ABI is specified in `doc/syscalls/10003_iommu.md`.
//!
//! Every command either fails with an `ErrorCode` and changes nothing, or
//! succeeds. `MAP`, `UNMAP`, `ATTACH` and `DETACH` succeed when the
//! operation has *started*; it has finished when the `DONE` upcall arrives,
//! which comes only after the IOMMU confirmed the invalidation (so after
//! an `UNMAP`'s `DONE` no device reaches the pages any more). The one
//! exception: on an instance that caches no invalid entries, `MAP` is
//! complete when it returns, says so (success with the value 1), and no
//! `DONE` follows (`domain_ops.rs`).

use core::cell::Cell;

use kernel::capabilities::ProcessManagementCapability;
use kernel::grant::{AllowRoCount, AllowRwCount, Grant, UpcallCount};
use kernel::hil::iommu::{Attach, Faults, Fence, Map};
use kernel::syscall::{CommandReturn, SyscallDriver};
use kernel::utilities::cells::OptionalCell;
use kernel::{ErrorCode, Kernel, ProcessId};

use crate::ownership::DeviceHandover;

use crate::policy::{ContextPolicy, Quotas};
use crate::port::InstancePort;
use crate::table::Tables;

/// Driver number of the IOMMU system call driver
/// (`doc/syscalls/10003_iommu.md`).
///
/// Not an entry of Tock's `capsules_core::driver::NUM`: Tock lists there
/// only the drivers in its tree, and a capsule outside it keeps its number
/// itself. This crate also depends on the kernel alone, not on
/// `capsules-core`. If the driver is merged into Tock, the number joins
/// `NUM` in the kernel-service range (after `ProcessInfo = 0x10002`) and
/// this becomes `driver::NUM::Iommu as usize`.
pub const DRIVER_NUM: usize = 0x10003;

/// Upcall numbers (subscribe).
pub mod upcall {
    /// A device access through a context the process owns faulted.
    /// Arguments: (context handle | cause << 16 | access << 24, IOVA,
    /// hardware cause code).
    pub const FAULT: usize = 0;
    /// `MAP`, `UNMAP`, `ATTACH` or `DETACH` finished (not for a `MAP` that
    /// returned 1, complete on return). Arguments: (status: 0 or an
    /// `ErrorCode`, command number, domain or context handle).
    pub const DONE: usize = 1;
    /// Number of upcalls.
    pub const COUNT: u8 = 2;
}

/// Read-only allow numbers: buffers a device may only read.
pub mod ro_allow {
    pub const BUFFER_0: usize = 0;
    pub const BUFFER_1: usize = 1;
    /// Number of read-only allows.
    pub const COUNT: u8 = 2;
}

/// Read-write allow numbers: buffers a device may read and write.
pub mod rw_allow {
    pub const BUFFER_0: usize = 0;
    pub const BUFFER_1: usize = 1;
    /// Number of read-write allows.
    pub const COUNT: u8 = 2;
}

/// Command numbers.
pub mod command {
    pub const EXISTS: usize = 0;
    pub const INFO: usize = 1;
    pub const INFO_INSTANCE: usize = 2;
    pub const INFO_PAGES: usize = 3;
    pub const ACQUIRE: usize = 4;
    pub const RELEASE: usize = 5;
    pub const CREATE_DOMAIN: usize = 6;
    pub const DESTROY_DOMAIN: usize = 7;
    pub const MAP: usize = 8;
    pub const UNMAP: usize = 9;
    pub const TRANSLATE: usize = 10;
    pub const ATTACH: usize = 11;
    pub const DETACH: usize = 12;
    pub const FAULT_ACK: usize = 13;
}

/// The driver's grant: no per-process data of its own (ownership lives in
/// the static tables), two upcalls, two allows of each kind.
pub type IommuGrant = Grant<
    (),
    UpcallCount<{ upcall::COUNT }>,
    AllowRoCount<{ ro_allow::COUNT }>,
    AllowRwCount<{ rw_allow::COUNT }>,
>;

/// The IOMMU system call driver.
pub struct IommuDriver<'a> {
    pub(crate) apps: IommuGrant,
    pub(crate) ports: &'a [InstancePort<'a>],
    pub(crate) tables: Tables<'a>,
    pub(crate) policy: &'a dyn ContextPolicy,
    pub(crate) kernel: &'static Kernel,
    pub(crate) capability: &'a dyn ProcessManagementCapability,
    /// The process `process_memory_revoked` is being called for: its
    /// completion is returned to the kernel, not reported (`revocation.rs`).
    pub(crate) observing: Cell<Option<ProcessId>>,
    /// Consecutive revocation rounds that could make no progress.
    pub(crate) stalled_rounds: Cell<u8>,
    /// Faults of devices that are no context of the board.
    pub(crate) stray_faults: Cell<usize>,
    /// Faults of a context's device made on behalf of someone other than
    /// its owner (`faults.rs`): reported to nobody.
    pub(crate) handover_faults: Cell<usize>,
    /// The capsule that drives the devices behind the contexts, if any
    /// (`ownership.rs`).
    pub(crate) device: OptionalCell<&'a dyn DeviceHandover>,
    /// Maps reported complete on return whose later `map_done` was an
    /// error (`domain_ops.rs`, `settled_map`).
    pub(crate) late_map_failures: Cell<usize>,
}

impl<'a> IommuDriver<'a> {
    /// Builds the driver over `ports` (instance `i` at position `i`) and
    /// numbers their contexts into the context table, instance by
    /// instance. Contexts beyond the table's size cannot be acquired.
    /// Call [`IommuDriver::setup`] once the driver has its final address.
    pub fn new(
        apps: IommuGrant,
        ports: &'a [InstancePort<'a>],
        tables: Tables<'a>,
        policy: &'a dyn ContextPolicy,
        kernel: &'static Kernel,
        capability: &'a dyn ProcessManagementCapability,
    ) -> IommuDriver<'a> {
        let mut slots = 0..tables.contexts.len();
        for port in ports {
            for context in 0..port.iommu.context_count().min(usize::from(u16::MAX)) {
                let Some(slot) = slots.next() else { break };
                tables.update_context(slot, |e| {
                    e.instance = port.index as u8;
                    e.context = context as u16;
                });
            }
        }
        IommuDriver {
            apps,
            ports,
            tables,
            policy,
            kernel,
            capability,
            observing: Cell::new(None),
            stalled_rounds: Cell::new(0),
            stray_faults: Cell::new(0),
            handover_faults: Cell::new(0),
            device: OptionalCell::empty(),
            late_map_failures: Cell::new(0),
        }
    }

    /// Registers the driver as the client of every instance.
    ///
    /// Then checks the policy against the pools (invariant I5): on each
    /// instance, the shares the policy reserves must fit its domain slots
    /// and the pages free in its pool, and over all instances
    /// the domains must fit this driver's domain table. `NOMEM` if not: a
    /// board bug (its policy promises more than its pools hold), which a
    /// board should treat as fatal at boot.
    pub fn setup(&'a self) -> Result<(), ErrorCode> {
        for port in self.ports {
            port.driver.set(self);
            Map::set_client(port.iommu, port);
            Attach::set_client(port.iommu, port);
            Fence::set_client(port.iommu, port);
            Faults::set_client(port.iommu, port);
        }
        let mut domains = 0usize;
        for port in self.ports {
            // Contexts are not summed: a context listed for several
            // applications goes to the first that acquires it.
            let reserved = Quotas {
                contexts: 0,
                ..self.policy.reserved(port.index)
            };
            let pools = Quotas {
                contexts: 0,
                domains: port.iommu.domain_count(),
                pages: port.iommu.free_pages(),
            };
            if !reserved.fits_in(pools) {
                return Err(ErrorCode::NOMEM);
            }
            domains = domains.saturating_add(reserved.domains);
        }
        if domains > self.tables.domains.len() {
            return Err(ErrorCode::NOMEM);
        }
        Ok(())
    }

    /// How many maps reported complete when `MAP` returned were later
    /// reported failed by their instance (see `doc/syscalls/10003_iommu.md`,
    /// `MAP`). For the board's logs; 0 unless an instance failed.
    pub fn late_map_failures(&self) -> usize {
        self.late_map_failures.get()
    }

    /// How many faults were reported to nobody because the device made
    /// the access on behalf of another process than the context's owner,
    /// or of the kernel (invariant I8, `doc/syscalls/10003_iommu.md`). For
    /// the board's logs.
    pub fn handover_faults(&self) -> usize {
        self.handover_faults.get()
    }

    pub(crate) fn port(&self, instance: usize) -> Option<&InstancePort<'a>> {
        self.ports.get(instance)
    }

    /// Schedules upcall `subscribe` for the live process whose id is
    /// `owner`. False if it is gone or its queue is full.
    pub(crate) fn notify(
        &self,
        owner: Option<ProcessId>,
        subscribe: usize,
        args: (usize, usize, usize),
    ) -> bool {
        self.apps
            .iter()
            .find(|g| Some(g.processid()) == owner)
            .and_then(|g| g.try_enter(|_, kd| kd.schedule_upcall(subscribe, args).is_ok()))
            .unwrap_or(false)
    }

    fn info(&self, process: ProcessId, instance: usize) -> CommandReturn {
        if self.port(instance).is_none() {
            return CommandReturn::failure(ErrorCode::INVAL);
        }
        let quotas = self.policy.quotas(process, instance);
        let (contexts, domains, _) = self.tables.usage(process, instance);
        let pair = |used: usize, quota: usize| (used.min(0xffff) | quota.min(0xffff) << 16) as u32;
        CommandReturn::success_u32_u32_u32(
            self.ports.len() as u32,
            pair(contexts, quotas.contexts),
            pair(domains, quotas.domains),
        )
    }

    fn info_instance(&self, process: ProcessId, instance: usize) -> CommandReturn {
        let Some(port) = self.port(instance) else {
            return CommandReturn::failure(ErrorCode::INVAL);
        };
        let count = port.iommu.context_count();
        let usable = (0..count.min(32))
            .filter(|&c| {
                self.tables.find_context(instance, c).is_some()
                    && self.policy.may_use(process, instance, c)
            })
            .fold(0u32, |mask, c| mask | 1 << c);
        let geometry = port.page_shift() & 0xff
            | (port.iommu.iova_bits() & 0xff) << 8
            | (port.iommu.free_pages().min(0xffff) as u32) << 16;
        CommandReturn::success_u32_u32_u32(count as u32, usable, geometry)
    }

    fn info_pages(&self, process: ProcessId, instance: usize) -> CommandReturn {
        if self.port(instance).is_none() {
            return CommandReturn::failure(ErrorCode::INVAL);
        }
        let pages = self.tables.pages_charged(process, instance);
        let quota = self.policy.quotas(process, instance).pages;
        CommandReturn::success_u32_u32(pages as u32, quota.min(u32::MAX as usize) as u32)
    }
}

impl SyscallDriver for IommuDriver<'_> {
    fn command(
        &self,
        command_num: usize,
        r2: usize,
        r3: usize,
        process: ProcessId,
    ) -> CommandReturn {
        if command_num == command::EXISTS {
            return CommandReturn::success();
        }
        // Every other command needs the grant (its upcalls and allows);
        // allocating it here means a later upcall always has somewhere to go.
        if let Err(e) = self.apps.enter(process, |_, _| ()) {
            return CommandReturn::failure(e.into());
        }
        let result = match command_num {
            command::INFO => return self.info(process, r2),
            command::INFO_INSTANCE => return self.info_instance(process, r2),
            command::INFO_PAGES => return self.info_pages(process, r2),
            command::ACQUIRE => {
                return match self.acquire(process, r2, r3) {
                    Ok(handle) => CommandReturn::success_u32(handle),
                    Err(e) => CommandReturn::failure(e),
                };
            }
            command::CREATE_DOMAIN => {
                return match self.create_domain(process, r2) {
                    Ok(handle) => CommandReturn::success_u32(handle),
                    Err(e) => CommandReturn::failure(e),
                };
            }
            command::FAULT_ACK => {
                return match self.fault_ack(process, r2) {
                    Ok(dropped) => CommandReturn::success_u32(dropped),
                    Err(e) => CommandReturn::failure(e),
                };
            }
            command::TRANSLATE => {
                return match self.translate(process, r2, r3) {
                    Ok((flags, phys)) => CommandReturn::success_u32_u64(flags, phys),
                    Err(e) => CommandReturn::failure(e),
                };
            }
            command::RELEASE => self.release(process, r2),
            command::DESTROY_DOMAIN => self.destroy_domain(process, r2),
            command::MAP => {
                // 1: complete on return, no `DONE` follows.
                return match self.map(process, r2, r3) {
                    Ok(true) => CommandReturn::success_u32(1),
                    Ok(false) => CommandReturn::success(),
                    Err(e) => CommandReturn::failure(e),
                };
            }
            command::UNMAP => self.unmap(process, r2, r3),
            command::ATTACH => self.attach(process, r2, r3),
            command::DETACH => self.detach(process, r2),
            _ => Err(ErrorCode::NOSUPPORT),
        };
        CommandReturn::from(result)
    }

    fn allocate_grant(&self, process: ProcessId) -> Result<(), kernel::process::Error> {
        self.apps.enter(process, |_, _| ())
    }
}
