// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! User-mode checks of `rv32::SysCall` (being written).

use core::fmt;
use qemu_rv32_virt_chip::timer::MachineTimer;

pub fn run(
    _chip: &crate::SmokeChip,
    _timer: &MachineTimer,
    _print: &mut dyn FnMut(fmt::Arguments),
) {
}
