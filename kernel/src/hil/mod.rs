// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Hardware interface layers (HILs): the traits chips implement and capsules
//! use. `uart`, `time` and `rng` follow Tock's; `iommu`, `dma_device` and
//! `dma_block` are this project's.

pub mod dma_block;
pub mod dma_device;
pub mod iommu;
pub mod rng;
pub mod time;
pub mod uart;
