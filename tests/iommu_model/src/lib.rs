// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Behavioural model of a RISC-V IOMMU for host tests (being written).
