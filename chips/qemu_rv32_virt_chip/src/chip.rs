// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The QEMU `virt` chip: interrupt dispatch and sleep for the kernel loop.
//!
//! Interrupt model (see `rv32::switch`): the kernel runs with
//! `mstatus.MIE` clear. An interrupt that arrives while a process runs
//! makes `switch_to_process` return `Interrupted` with that interrupt's
//! `mie` bit masked; `service_pending_interrupts` then handles the machine
//! timer directly and claims PLIC sources one by one, dispatching the UART
//! here and everything else (PCI devices, the IOMMU) to the board's
//! `InterruptService`, and finally unmasks the external interrupt (and the
//! timer, if an alarm is armed).

use crate::interrupts;
use crate::plic::{NUM_SOURCES, Plic};
use crate::timer::MachineTimer;
use crate::uart::Uart16550;
use kernel::platform::chip::{Chip, InterruptService};
use rv32::csr::{self, MIP_MEIP, MIP_MTIP};

/// Rounds of "read `mip`, service" per `service_pending_interrupts` call;
/// whatever is still pending after that is left for the next call.
const SERVICE_ROUNDS: usize = 4;

/// The chip: its interrupt controller, timer, console UART and the board's
/// handler for other PLIC sources.
pub struct QemuRv32VirtChip<'a, I: InterruptService> {
    plic: &'a Plic,
    timer: &'a MachineTimer<'a>,
    uart: &'a Uart16550<'a>,
    devices: I,
}

impl<'a, I: InterruptService> QemuRv32VirtChip<'a, I> {
    /// The chip over already-constructed drivers. `devices` gets every PLIC
    /// source except the UART's.
    pub fn new(
        plic: &'a Plic,
        timer: &'a MachineTimer<'a>,
        uart: &'a Uart16550<'a>,
        devices: I,
    ) -> Self {
        QemuRv32VirtChip {
            plic,
            timer,
            uart,
            devices,
        }
    }

    /// Brings interrupts to a known state: PLIC sources all at priority 1,
    /// enabled, threshold 0, stale claims completed; timer disarmed; UART
    /// reset; `mie.MEIE` set (the kernel keeps `mstatus.MIE` clear, so this
    /// only lets interrupts wake `wfi` and preempt processes).
    pub fn initialize_interrupts(&self) {
        self.timer.init();
        self.uart.init();
        self.plic.disable_all();
        self.plic.clear_all_pending();
        self.plic.enable_all();
        csr::mie_clear(MIP_MTIP);
        csr::mie_set(MIP_MEIP);
    }

    /// Claims, dispatches and completes pending PLIC sources, at most
    /// `NUM_SOURCES` of them.
    fn service_external(&self) {
        for _ in 0..NUM_SOURCES {
            let Some(source) = self.plic.claim() else {
                return;
            };
            let handled = match source {
                interrupts::UART0 => {
                    self.uart.handle_interrupt();
                    true
                }
                other => self.devices.service_interrupt(other),
            };
            if !handled {
                // A source nobody owns would interrupt forever.
                let _ = self.plic.disable(source);
            }
            self.plic.complete(source);
        }
    }
}

impl<I: InterruptService> Chip for QemuRv32VirtChip<'_, I> {
    fn service_pending_interrupts(&self) {
        for _ in 0..SERVICE_ROUNDS {
            let pending = csr::mip();
            if pending & MIP_MTIP != 0 {
                self.timer.handle_interrupt();
            }
            if pending & MIP_MEIP != 0 {
                self.service_external();
            }
            if pending & (MIP_MTIP | MIP_MEIP) == 0 {
                break;
            }
        }
        csr::mie_set(MIP_MEIP);
        if self.timer.needs_interrupt() {
            csr::mie_set(MIP_MTIP);
        }
    }

    fn has_pending_interrupts(&self) -> bool {
        csr::mip() & (MIP_MTIP | MIP_MEIP) != 0
    }

    fn sleep(&self) {
        csr::wfi();
    }

    fn with_interrupts_disabled<F, R>(&self, f: F) -> R
    where
        F: FnOnce() -> R,
    {
        // The kernel never enables mstatus.MIE, so interrupts are already
        // off whenever kernel code runs.
        f()
    }
}

/// The kernel scheduler's view of the chip: the same operations as `Chip`.
impl<I: InterruptService> kernel::scheduler::LoopChip for QemuRv32VirtChip<'_, I> {
    fn service_pending_interrupts(&self) {
        Chip::service_pending_interrupts(self);
    }

    fn has_pending_interrupts(&self) -> bool {
        Chip::has_pending_interrupts(self)
    }

    fn sleep(&self) {
        Chip::sleep(self);
    }
}
