// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! A kernel-owned context and domain: the DMA-API usage model of the HIL.
//!
//! A kernel driver that shares a device among processes (a disk, an RNG)
//! owns one of the device's contexts and one domain, kept by a
//! [`KernelDomain`]:
//!
//! - at [`KernelDomain::setup`] it maps the driver's own memory (descriptor
//!   rings, bounce buffers) at fixed IOVAs and attaches the context;
//! - per request, [`KernelDomain::map_request`] maps one process buffer
//!   (its `DmaMemory`, so only memory the process allowed, page-aligned) at
//!   the request window's IOVA, and [`KernelDomain::unmap_request`] takes it
//!   away again; `request_unmapped` comes only once the invalidation has
//!   completed, and the driver completes the request to the process only
//!   then, so the device can never reach the buffer after the process was
//!   told it is done;
//! - as a `ProcessMemoryObserver` (register it with the kernel), it takes
//!   the mapping of a process that ends mid-request away before that
//!   memory changes hands (invariant I4), answering `Pending` until the
//!   invalidation completes.
//!
//! One request at a time: a device with several requests in flight keeps
//! one `KernelDomain` per window. The window's IOVA range must not overlap
//! the static mappings.

use core::cell::Cell;

use kernel::capabilities::ProcessManagementCapability;
use kernel::hil::iommu::{
    Attach, AttachClient, ContextId, DmaMemory, DomainId, Iommu, Map, MapClient, Permissions,
};
use kernel::process_memory::{ProcessMemoryObserver, Revocation};
use kernel::utilities::cells::OptionalCell;
use kernel::{ErrorCode, Kernel, ProcessId};

/// Receives the completions of a [`KernelDomain`].
pub trait KernelDomainClient {
    /// `setup` finished: the static mappings are usable and the context
    /// translates through the domain (or it failed, and the device stays
    /// blocked).
    fn ready(&self, result: Result<(), ErrorCode>);

    /// The request buffer is usable by the device at the window's IOVA
    /// (after a `map_request` that returned `Ok(false)`).
    fn request_mapped(&self, result: Result<(), ErrorCode>);

    /// The request buffer is no longer reachable by the device: the
    /// invalidation completed (`Ok`), or could not be confirmed (an error;
    /// the memory then stays the kernel's concern, see `doc/iommu-hil.md`).
    fn request_unmapped(&self, result: Result<(), ErrorCode>);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    Idle,
    /// The map is started; `map_done` is awaited.
    Mapping {
        owner: ProcessId,
        len: usize,
    },
    /// Mapped; `settling` while the instance still owes its `map_done`
    /// (a map visible on return).
    Mapped {
        owner: ProcessId,
        len: usize,
        settling: bool,
    },
    /// The unmap is started (or waits for a settling map first).
    Unmapping {
        owner: ProcessId,
        len: usize,
    },
}

/// A context and a domain owned by a kernel driver.
pub struct KernelDomain<'a> {
    iommu: &'a dyn Iommu<'a>,
    context: ContextId,
    /// IOVA of the request window.
    window: usize,
    domain: Cell<Option<DomainId>>,
    /// Static maps and the attach still to complete during setup.
    setting_up: Cell<usize>,
    request: Cell<Request>,
    /// The owner of the request mapping has ended: report the revocation
    /// to the kernel once the mapping is gone.
    revoking: Cell<bool>,
    /// Inside `process_memory_revoked`: a completion now is reported by
    /// its return value, not by `revocation_complete`.
    observing: Cell<bool>,
    client: OptionalCell<&'a dyn KernelDomainClient>,
    kernel: &'static Kernel,
    capability: &'a dyn ProcessManagementCapability,
}

impl<'a> KernelDomain<'a> {
    /// A kernel domain for `context` of `iommu` (which must be this
    /// driver's own: a `VirtualIommu` over kernel contexts, or an instance
    /// no one else uses), with its request window at IOVA `window`. The
    /// capability lets it report completed revocations to `kernel`.
    pub fn new(
        iommu: &'a dyn Iommu<'a>,
        context: ContextId,
        window: usize,
        kernel: &'static Kernel,
        capability: &'a dyn ProcessManagementCapability,
    ) -> Self {
        KernelDomain {
            iommu,
            context,
            window,
            domain: Cell::new(None),
            setting_up: Cell::new(0),
            request: Cell::new(Request::Idle),
            revoking: Cell::new(false),
            observing: Cell::new(false),
            client: OptionalCell::empty(),
            kernel,
            capability,
        }
    }

    pub fn set_client(&self, client: &'a dyn KernelDomainClient) {
        self.client.set(client);
    }

    /// Becomes the instance's map and attach client. Call once, first.
    pub fn register(&'a self) {
        Map::set_client(self.iommu, self);
        Attach::set_client(self.iommu, self);
    }

    /// Creates the domain, maps each `(iova, memory)` of `statics`
    /// read-write, and attaches the context; `ready` follows. Nothing of
    /// the setup is left behind if a call is refused.
    pub fn setup<const N: usize>(&self, statics: [(usize, DmaMemory); N]) -> Result<(), ErrorCode> {
        if self.domain.get().is_some() {
            return Err(ErrorCode::ALREADY);
        }
        let domain = self.iommu.create_domain()?;
        let mut started = 0;
        for (iova, memory) in statics {
            if let Err(error) = self
                .iommu
                .map(domain, iova, memory, Permissions::READ_WRITE)
            {
                // Maps already started complete before the domain can go:
                // leave it for them, never attached.
                if started == 0 {
                    let _ = self.iommu.destroy_domain(domain);
                }
                return Err(error);
            }
            started += 1;
        }
        if let Err(error) = self.iommu.attach(self.context, domain) {
            if started == 0 {
                let _ = self.iommu.destroy_domain(domain);
            }
            return Err(error);
        }
        self.domain.set(Some(domain));
        self.setting_up.set(started + 1);
        Ok(())
    }

    /// Maps `memory` (a process buffer, page-aligned) at the window for the
    /// device, read-write or read-only as the memory allows. Returns
    /// whether it is usable already (`Ok(true)`); otherwise
    /// `request_mapped` follows.
    ///
    /// Errors: `OFF` before `ready`; `BUSY` while a request is mapped;
    /// `INVAL` if `memory` is not a process's or not page-aligned; the
    /// instance's `map` errors.
    pub fn map_request(&self, memory: DmaMemory) -> Result<bool, ErrorCode> {
        let domain = self.ready_domain()?;
        if self.request.get() != Request::Idle {
            return Err(ErrorCode::BUSY);
        }
        let owner = memory.owner().ok_or(ErrorCode::INVAL)?;
        let len = memory.len();
        let permissions = if memory.writable() {
            Permissions::READ_WRITE
        } else {
            Permissions::READ
        };
        let visible = self.iommu.map_visible_on_return();
        // Recorded first: the instance may call back from inside `map`.
        self.request.set(if visible {
            Request::Mapped {
                owner,
                len,
                settling: true,
            }
        } else {
            Request::Mapping { owner, len }
        });
        if let Err(error) = self.iommu.map(domain, self.window, memory, permissions) {
            self.request.set(Request::Idle);
            return Err(error);
        }
        Ok(visible)
    }

    /// Takes the request mapping away; `request_unmapped` follows once the
    /// device can no longer reach it. `ALREADY` if nothing is mapped.
    pub fn unmap_request(&self) -> Result<(), ErrorCode> {
        match self.request.get() {
            Request::Idle | Request::Unmapping { .. } => Err(ErrorCode::ALREADY),
            Request::Mapping { owner, len } => {
                // Unmapped as soon as the map completes (`map_done`).
                self.request.set(Request::Unmapping { owner, len });
                Ok(())
            }
            Request::Mapped {
                owner,
                len,
                settling,
            } => {
                self.request.set(Request::Unmapping { owner, len });
                if settling {
                    // The instance's map is still outstanding: unmap after
                    // its `map_done`, in order.
                    return Ok(());
                }
                self.start_unmap(len)
            }
        }
    }

    /// The window's IOVA.
    pub fn window(&self) -> usize {
        self.window
    }

    fn ready_domain(&self) -> Result<DomainId, ErrorCode> {
        match self.domain.get() {
            Some(domain) if self.setting_up.get() == 0 => Ok(domain),
            _ => Err(ErrorCode::OFF),
        }
    }

    fn start_unmap(&self, len: usize) -> Result<(), ErrorCode> {
        let domain = self.domain.get().ok_or(ErrorCode::OFF)?;
        let result = self.iommu.unmap(domain, self.window, len);
        if result.is_err() {
            // Left Unmapping: never taken as gone. A later `unmap_request`
            // gets ALREADY; the revocation (if any) stays pending.
            self.client.map(|c| c.request_unmapped(result));
        }
        result
    }

    fn setup_step_done(&self, result: Result<(), ErrorCode>) {
        let left = self.setting_up.get().saturating_sub(1);
        self.setting_up
            .set(if result.is_ok() { left } else { usize::MAX });
        if result.is_err() {
            self.client.map(|c| c.ready(result));
        } else if left == 0 {
            self.client.map(|c| c.ready(Ok(())));
        }
    }
}

impl MapClient for KernelDomain<'_> {
    fn map_done(&self, _domain: DomainId, iova: usize, _len: usize, result: Result<(), ErrorCode>) {
        if iova != self.window {
            self.setup_step_done(result);
            return;
        }
        match self.request.get() {
            Request::Mapping { owner, len } => {
                self.request.set(Request::Mapped {
                    owner,
                    len,
                    settling: false,
                });
                self.client.map(|c| c.request_mapped(result));
            }
            Request::Mapped { owner, len, .. } => self.request.set(Request::Mapped {
                owner,
                len,
                settling: false,
            }),
            Request::Unmapping { len, .. } => {
                let _ = self.start_unmap(len);
            }
            Request::Idle => {}
        }
    }

    fn unmap_done(
        &self,
        _domain: DomainId,
        _iova: usize,
        _len: usize,
        result: Result<(), ErrorCode>,
    ) {
        let Request::Unmapping { owner, .. } = self.request.get() else {
            return;
        };
        if result.is_ok() {
            self.request.set(Request::Idle);
        }
        // The client first: it stops its device before the memory changes
        // hands, so that a device that keeps a translation for a request
        // in flight (QEMU's virtio maps a descriptor's buffer once, when it
        // takes the request) has finished with it by then.
        self.client.map(|c| c.request_unmapped(result));
        if result.is_ok() && !self.observing.get() && self.revoking.replace(false) {
            self.kernel.revocation_complete(owner, self.capability);
        }
    }
}

impl AttachClient for KernelDomain<'_> {
    fn attach_done(&self, _context: ContextId, _domain: DomainId, result: Result<(), ErrorCode>) {
        self.setup_step_done(result);
    }

    fn detach_done(&self, _context: ContextId, _result: Result<(), ErrorCode>) {}
}

impl ProcessMemoryObserver for KernelDomain<'_> {
    fn process_memory_revoked(&self, process_id: ProcessId) -> Revocation {
        let owner = match self.request.get() {
            Request::Idle => return Revocation::Complete,
            Request::Mapping { owner, .. }
            | Request::Mapped { owner, .. }
            | Request::Unmapping { owner, .. } => owner,
        };
        if owner != process_id {
            return Revocation::Complete;
        }
        self.revoking.set(true);
        self.observing.set(true);
        if !matches!(self.request.get(), Request::Unmapping { .. }) {
            let _ = self.unmap_request();
        }
        self.observing.set(false);
        if self.request.get() == Request::Idle {
            self.revoking.set(false);
            Revocation::Complete
        } else {
            Revocation::Pending
        }
    }
}
