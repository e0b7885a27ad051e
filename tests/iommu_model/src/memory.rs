// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Host memory standing in for physical RAM.
//!
//! The IOMMU's implicit and DMA accesses (RISC-V IOMMU spec 1.0 section
//! 2.9) go through here. Only registered ranges are reachable; anything
//! else reads as an access fault, as a bus error would on hardware.

/// The registered ranges of host memory.
#[derive(Default)]
pub struct Ram {
    ranges: Vec<(usize, usize)>,
}

impl Ram {
    /// Registers `[address, address + len)`.
    pub fn add(&mut self, address: usize, len: usize) {
        self.ranges.push((address, len));
    }

    /// The host pointer for `len` bytes at physical `address`, if all of
    /// them are in one registered range.
    fn pointer(&self, address: u64, len: usize) -> Option<*mut u8> {
        let address = usize::try_from(address).ok()?;
        let end = address.checked_add(len)?;
        self.ranges
            .iter()
            .any(|&(start, size)| address >= start && end <= start + size)
            .then_some(address as *mut u8)
    }

    /// Reads `buffer.len()` bytes at `address`.
    pub fn read_bytes(&self, address: u64, buffer: &mut [u8]) -> Option<()> {
        let pointer = self.pointer(address, buffer.len())?;
        for (i, byte) in buffer.iter_mut().enumerate() {
            // SAFETY: the range is registered RAM, which the test keeps
            // alive while the model runs; volatile because the driver
            // shares it.
            *byte = unsafe { pointer.add(i).read_volatile() };
        }
        Some(())
    }

    /// Writes `data` at `address`.
    pub fn write_bytes(&self, address: u64, data: &[u8]) -> Option<()> {
        let pointer = self.pointer(address, data.len())?;
        for (i, byte) in data.iter().enumerate() {
            // SAFETY: as in `read_bytes`.
            unsafe { pointer.add(i).write_volatile(*byte) };
        }
        Some(())
    }

    /// Reads a little-endian doubleword.
    pub fn read64(&self, address: u64) -> Option<u64> {
        let mut bytes = [0; 8];
        self.read_bytes(address, &mut bytes)?;
        Some(u64::from_le_bytes(bytes))
    }

    /// Writes a little-endian doubleword.
    pub fn write64(&self, address: u64, value: u64) -> Option<()> {
        self.write_bytes(address, &value.to_le_bytes())
    }

    /// Writes a little-endian word.
    pub fn write32(&self, address: u64, value: u32) -> Option<()> {
        self.write_bytes(address, &value.to_le_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_registered_ranges_are_reachable() {
        let mut backing = vec![0u8; 64];
        let mut ram = Ram::default();
        let base = backing.as_mut_ptr() as usize;
        ram.add(base, 64);
        ram.write64(base as u64 + 8, 0x1122_3344_5566_7788).unwrap();
        assert_eq!(ram.read64(base as u64 + 8), Some(0x1122_3344_5566_7788));
        assert_eq!(ram.read64(base as u64 + 60), None, "crosses the end");
        assert_eq!(ram.read64(8), None);
        drop(ram);
        assert_eq!(backing[8], 0x88);
    }
}
