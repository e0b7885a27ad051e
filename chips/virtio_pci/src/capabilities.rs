// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Finding a virtio PCI function's structures through its capability list.
//!
//! Virtio 1.x, section 4.1.4: each structure of the modern transport is
//! described by a vendor-specific PCI capability (ID 0x09) whose
//! `cfg_type` names the structure and whose `bar`, `offset` and `length`
//! locate it; the notification capability adds `notify_off_multiplier`.
//! The list itself is the PCI one (PCI Local Bus Specification 3.0,
//! section 6.7): the Status register's bit 4 says it exists, the byte at
//! 0x34 points to the first entry, each entry's second byte to the next.
//!
//! The walk reads configuration space through a closure that returns
//! aligned 32-bit words, so it runs against ECAM on a board and against a
//! model in host tests, and it is bounded: a list that loops or points
//! outside the 256-byte legacy space ends the walk.

use kernel::ErrorCode;

use crate::registers::VirtioPciRegions;

/// PCI capability ID of vendor-specific capabilities.
const VENDOR_SPECIFIC: u8 = 0x09;
/// Offset of the Status register's dword (Status is its upper half).
const COMMAND_STATUS: usize = 0x04;
/// Status bit 4 (bit 20 of the dword): a capability list exists.
const STATUS_CAPABILITIES: u32 = 1 << (16 + 4);
/// Offset of the Capabilities Pointer.
const CAPABILITIES_POINTER: usize = 0x34;
/// Capabilities live in the legacy 256 bytes above the 64-byte header, 4
/// bytes aligned: at most 48 of them.
const MAX_CAPABILITIES: usize = 48;
/// Smallest `cap_len` of a virtio capability (`struct virtio_pci_cap`).
const VIRTIO_CAP_LEN: u8 = 16;
/// `cap_len` of the notification capability (adds the multiplier).
const NOTIFY_CAP_LEN: u8 = 20;
/// Size of the common configuration this driver uses.
const COMMON_LEN: u32 = 0x38;

/// The `cfg_type`s of virtio capabilities (4.1.4).
pub mod cfg_type {
    /// Common configuration.
    pub const COMMON: u8 = 1;
    /// Notifications.
    pub const NOTIFY: u8 = 2;
    /// ISR status.
    pub const ISR: u8 = 3;
    /// Device-specific configuration.
    pub const DEVICE: u8 = 4;
    /// PCI configuration access (unused).
    pub const PCI: u8 = 5;
}

/// One structure: `length` bytes at `offset` into BAR `bar`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Structure {
    pub bar: u8,
    pub offset: u32,
    pub length: u32,
}

/// The structures of one function, as its capabilities describe them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtioPciLayout {
    pub common: Structure,
    pub notify: Structure,
    pub notify_off_multiplier: u32,
    pub isr: Structure,
    /// Absent for device types without configuration.
    pub device: Option<Structure>,
}

/// Reads the capability list of a function.
///
/// Calls `f(offset, id)` for each entry, in list order. `read(offset)` returns the configuration
/// dword at `offset` (a multiple of 4 below 256). Returns the number of
/// entries visited; the walk stops after 48 entries or at a pointer
/// below 0x40, which only a broken list has.
pub fn for_each_capability(read: &dyn Fn(usize) -> u32, mut f: impl FnMut(usize, u8)) -> usize {
    if read(COMMAND_STATUS) & STATUS_CAPABILITIES == 0 {
        return 0;
    }
    let mut next = (read(CAPABILITIES_POINTER) & 0xfc) as usize;
    let mut visited = 0;
    while next >= 0x40 && visited < MAX_CAPABILITIES {
        let header = read(next);
        f(next, header as u8);
        visited += 1;
        next = ((header >> 8) & 0xfc) as usize;
    }
    visited
}

impl VirtioPciLayout {
    /// Finds the virtio structures in the capability list (`read` as for
    /// [`for_each_capability`]). The first capability of each type wins,
    /// as 4.1.4 asks; capabilities naming a reserved BAR (above 5) or
    /// shorter than a virtio capability are skipped.
    ///
    /// Errors:
    /// - `NODEVICE`: the common, notification or ISR capability is missing
    ///   (not a modern virtio function).
    pub fn parse(read: &dyn Fn(usize) -> u32) -> Result<VirtioPciLayout, ErrorCode> {
        let mut common = None;
        let mut notify = None;
        let mut isr = None;
        let mut device = None;
        for_each_capability(read, |at, id| {
            if id != VENDOR_SPECIFIC {
                return;
            }
            let header = read(at);
            let length_of_cap = (header >> 16) as u8;
            let kind = (header >> 24) as u8;
            let bar = read(at + 4) as u8;
            if length_of_cap < VIRTIO_CAP_LEN || bar > 5 {
                return;
            }
            let structure = Structure {
                bar,
                offset: read(at + 8),
                length: read(at + 12),
            };
            match kind {
                cfg_type::COMMON if common.is_none() => common = Some(structure),
                cfg_type::NOTIFY if notify.is_none() && length_of_cap >= NOTIFY_CAP_LEN => {
                    notify = Some((structure, read(at + 16)));
                }
                cfg_type::ISR if isr.is_none() => isr = Some(structure),
                cfg_type::DEVICE if device.is_none() => device = Some(structure),
                _ => {}
            }
        });
        match (common, notify, isr) {
            (Some(common), Some((notify, notify_off_multiplier)), Some(isr)) => {
                Ok(VirtioPciLayout {
                    common,
                    notify,
                    notify_off_multiplier,
                    isr,
                    device,
                })
            }
            _ => Err(ErrorCode::NODEVICE),
        }
    }

    /// Turns the structures into addresses, given `bar(i)`: the base
    /// address and size of memory BAR `i` as assigned, or `None`.
    ///
    /// Errors:
    /// - `NODEVICE`: a structure is in a BAR that is not assigned.
    /// - `INVAL`: a structure does not lie inside its BAR, is too short
    ///   for its contents (common configuration 0x38 bytes, notification
    ///   2, ISR 1), or the notification multiplier is odd (4.1.4.4 asks
    ///   for an even power of 2, or 0).
    pub fn resolve(
        &self,
        bar: impl Fn(u8) -> Option<(usize, usize)>,
    ) -> Result<VirtioPciRegions, ErrorCode> {
        let place = |structure: Structure, at_least: u32| -> Result<usize, ErrorCode> {
            let (base, size) = bar(structure.bar).ok_or(ErrorCode::NODEVICE)?;
            let end = u64::from(structure.offset) + u64::from(structure.length);
            if structure.length < at_least || end > size as u64 {
                return Err(ErrorCode::INVAL);
            }
            base.checked_add(structure.offset as usize)
                .ok_or(ErrorCode::INVAL)
        };
        if !self.notify_off_multiplier.is_multiple_of(2) {
            return Err(ErrorCode::INVAL);
        }
        let (device, device_len) = match self.device {
            Some(structure) => (place(structure, 0)?, structure.length as usize),
            None => (0, 0),
        };
        Ok(VirtioPciRegions {
            common: place(self.common, COMMON_LEN)?,
            notify: place(self.notify, 2)?,
            notify_len: self.notify.length as usize,
            notify_off_multiplier: self.notify_off_multiplier,
            isr: place(self.isr, 1)?,
            device,
            device_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 256-byte configuration space built by hand.
    struct Config([u8; 256]);

    impl Config {
        fn new() -> Config {
            let mut bytes = [0u8; 256];
            // Status: capability list present.
            bytes[0x06] = 0x10;
            Config(bytes)
        }

        fn dword(&self, offset: usize) -> u32 {
            u32::from_le_bytes(self.0[offset..offset + 4].try_into().unwrap())
        }

        fn put(&mut self, offset: usize, value: u32) {
            self.0[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
        }

        /// A virtio capability at `at` linking to `next`.
        fn virtio(&mut self, at: usize, next: u8, kind: u8, bar: u8, offset: u32, length: u32) {
            let cap_len: u8 = if kind == cfg_type::NOTIFY { 20 } else { 16 };
            self.put(
                at,
                u32::from(VENDOR_SPECIFIC)
                    | u32::from(next) << 8
                    | u32::from(cap_len) << 16
                    | u32::from(kind) << 24,
            );
            self.put(at + 4, u32::from(bar));
            self.put(at + 8, offset);
            self.put(at + 12, length);
        }
    }

    /// QEMU's virtio-pci layout: an MSI-X capability first, then the
    /// virtio ones, all structures in BAR 4.
    fn qemu_like() -> Config {
        let mut config = Config::new();
        config.0[0x34] = 0x98;
        config.put(0x98, 0x11 | 0x84 << 8); // MSI-X
        config.virtio(0x84, 0x70, cfg_type::COMMON, 4, 0x0000, 0x1000);
        config.virtio(0x70, 0x5c, cfg_type::ISR, 4, 0x1000, 0x1000);
        config.virtio(0x5c, 0x48, cfg_type::DEVICE, 4, 0x2000, 0x1000);
        config.virtio(0x48, 0xa8, cfg_type::NOTIFY, 4, 0x3000, 0x1000);
        config.put(0x48 + 16, 4);
        config.virtio(0xa8, 0x00, cfg_type::PCI, 0, 0, 0);
        config
    }

    #[test]
    fn walks_the_list_in_order() {
        let config = qemu_like();
        let mut seen = Vec::new();
        let count = for_each_capability(&|o| config.dword(o), |at, id| seen.push((at, id)));
        assert_eq!(count, 6);
        assert_eq!(
            seen,
            [
                (0x98, 0x11),
                (0x84, 9),
                (0x70, 9),
                (0x5c, 9),
                (0x48, 9),
                (0xa8, 9)
            ]
        );
    }

    #[test]
    fn parses_and_resolves_qemu_layout() {
        let config = qemu_like();
        let layout = VirtioPciLayout::parse(&|o| config.dword(o)).unwrap();
        assert_eq!(
            layout.notify,
            Structure {
                bar: 4,
                offset: 0x3000,
                length: 0x1000
            }
        );
        assert_eq!(layout.notify_off_multiplier, 4);
        let regions = layout
            .resolve(|bar| (bar == 4).then_some((0x4020_0000, 0x4000)))
            .unwrap();
        assert_eq!(regions.common, 0x4020_0000);
        assert_eq!(regions.isr, 0x4020_1000);
        assert_eq!(regions.device, 0x4020_2000);
        assert_eq!(regions.notify, 0x4020_3000);
        assert_eq!(regions.notify_len, 0x1000);
    }

    #[test]
    fn structures_outside_their_bar_or_unassigned_are_refused() {
        let config = qemu_like();
        let layout = VirtioPciLayout::parse(&|o| config.dword(o)).unwrap();
        assert_eq!(
            layout.resolve(|bar| (bar == 4).then_some((0x4020_0000, 0x2000))),
            Err(ErrorCode::INVAL)
        );
        assert_eq!(layout.resolve(|_| None), Err(ErrorCode::NODEVICE));
    }

    #[test]
    fn missing_structures_and_lists_are_not_virtio() {
        let mut config = qemu_like();
        // Unlink the ISR capability.
        config.0[0x84 + 1] = 0x5c;
        assert_eq!(
            VirtioPciLayout::parse(&|o| config.dword(o)),
            Err(ErrorCode::NODEVICE)
        );
        let mut none = qemu_like();
        none.0[0x06] = 0;
        assert_eq!(for_each_capability(&|o| none.dword(o), |_, _| {}), 0);
    }

    #[test]
    fn a_looping_list_ends() {
        let mut config = Config::new();
        config.0[0x34] = 0x40;
        config.virtio(0x40, 0x44, cfg_type::PCI, 0, 0, 0);
        config.put(0x44, 0x05 | 0x40 << 8);
        assert_eq!(
            for_each_capability(&|o| config.dword(o), |_, _| {}),
            MAX_CAPABILITIES
        );
    }

    #[test]
    fn first_capability_of_a_type_wins_and_short_ones_are_skipped() {
        let mut config = qemu_like();
        // A second common capability after the first, elsewhere.
        config.virtio(0xa8, 0x00, cfg_type::COMMON, 4, 0x3800, 0x100);
        let layout = VirtioPciLayout::parse(&|o| config.dword(o)).unwrap();
        assert_eq!(layout.common.offset, 0);
        // A common capability too short to be one is skipped.
        config.0[0x84 + 2] = 8;
        let layout = VirtioPciLayout::parse(&|o| config.dword(o)).unwrap();
        assert_eq!(layout.common.offset, 0x3800);
    }
}
