// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! One IOMMU instance as the driver sees it, and its HIL clients.
//!
//! The HIL's callbacks name a context or a domain of *their* instance only,
//! so each instance gets its own client object that adds the instance's
//! index before handing the callback to the driver.

use kernel::ErrorCode;
use kernel::hil::iommu::{
    AttachClient, ContextId, DomainId, Fault, FaultClient, FenceClient, Iommu, MapClient,
};
use kernel::utilities::cells::OptionalCell;

use crate::driver::IommuDriver;
use crate::table::DomainOp;

/// An IOMMU instance and the driver's clients for it.
pub struct InstancePort<'a> {
    pub(crate) iommu: &'a dyn Iommu<'a>,
    pub(crate) index: usize,
    pub(crate) driver: OptionalCell<&'a IommuDriver<'a>>,
}

impl<'a> InstancePort<'a> {
    /// The port of instance number `index` (its position in the slice given
    /// to `IommuDriver::new`).
    pub const fn new(index: usize, iommu: &'a dyn Iommu<'a>) -> InstancePort<'a> {
        InstancePort {
            iommu,
            index,
            driver: OptionalCell::empty(),
        }
    }

    /// Smallest page size as a shift (`Geometry::page_sizes`).
    pub(crate) fn page_shift(&self) -> u32 {
        match self.iommu.page_sizes() {
            0 => usize::BITS - 1,
            sizes => sizes.trailing_zeros(),
        }
    }
}

impl MapClient for InstancePort<'_> {
    fn map_done(&self, domain: DomainId, _iova: usize, _len: usize, result: Result<(), ErrorCode>) {
        self.driver
            .map(|d| d.domain_op_done(self.index, domain, DomainOp::Mapping, result));
    }

    fn unmap_done(
        &self,
        domain: DomainId,
        _iova: usize,
        _len: usize,
        result: Result<(), ErrorCode>,
    ) {
        self.driver
            .map(|d| d.domain_op_done(self.index, domain, DomainOp::Unmapping, result));
    }
}

impl AttachClient for InstancePort<'_> {
    fn attach_done(&self, context: ContextId, _domain: DomainId, result: Result<(), ErrorCode>) {
        self.driver
            .map(|d| d.context_op_done(self.index, context, result));
    }

    fn detach_done(&self, context: ContextId, result: Result<(), ErrorCode>) {
        self.driver
            .map(|d| d.context_op_done(self.index, context, result));
    }
}

impl FenceClient for InstancePort<'_> {
    fn fence_done(&self, _result: Result<(), ErrorCode>) {
        self.driver.map(|d| d.fence_done(self.index));
    }
}

impl FaultClient for InstancePort<'_> {
    fn fault(&self, fault: Fault) {
        self.driver.map(|d| d.route_fault(self.index, fault));
    }

    fn faults_lost(&self) {
        self.driver.map(|d| d.faults_lost(self.index));
    }
}
