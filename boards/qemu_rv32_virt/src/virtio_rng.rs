// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! virtio-rng behind the IOMMU: the device, its kernel-owned domain's
//! memory, and its bring-up once that domain is ready.

use capsules_iommu::kernel_domain::KernelDomainClient;
use kernel::ErrorCode;
use kernel::hil::iommu::DmaMemory;
use qemu_rv32_virt_chip::pci::{self, PciDevice, PciEcam};
use rv32::dma_fence::RiscvCoherentDmaFence;
use virtio_pci::dma::DmaBuffer;
use virtio_pci::queue::{SplitQueue, Virtqueue};
use virtio_pci::registers::{MmioAccess, features};
use virtio_pci::rng::VirtioRng;
use virtio_pci::transport::{InitializationError, VirtioPciTransport, VirtioTransport};

use crate::devices::virtio_access;
use crate::io::kprintln;
use crate::{PAGE_SIZE, VIRTIO_RNG_CONTEXT};

/// Where the kernel's virtio-rng domain maps the queue page and the
/// buffer page: one 2 MiB region, so the domain takes three table pages.
pub(crate) const RNG_QUEUE_IOVA: usize = 0x1000_0000;
pub(crate) const RNG_BUFFER_IOVA: usize = RNG_QUEUE_IOVA + PAGE_SIZE;
/// The kernel domain's request window: unused, the RNG driver copies from
/// its own buffer and never maps process memory. Outside the region above.
pub(crate) const RNG_WINDOW_IOVA: usize = 0x2000_0000;
/// Entries of the virtio-rng request queue (one request is ever in flight).
pub(crate) const RNG_QUEUE_SIZE: usize = 8;

/// The virtio-rng device: its transport, queue and driver.
pub(crate) type RngTransport = VirtioPciTransport<'static, MmioAccess>;
type RngQueue = SplitQueue<'static, RNG_QUEUE_SIZE, RiscvCoherentDmaFence>;
pub(crate) type BoardRng = VirtioRng<'static, RNG_QUEUE_SIZE, RiscvCoherentDmaFence>;

// Memory virtio-rng reads and writes, lent to it for good: its queue and
// the page it writes random bytes into, each mapped in the kernel's domain.
static mut RNG_QUEUE: virtio_pci::queue::QueueMemory<RNG_QUEUE_SIZE> =
    virtio_pci::queue::QueueMemory::ZERO;
static mut RNG_BUFFER: RngPage = RngPage([0; PAGE_SIZE]);

/// A page-aligned page: the IOMMU maps whole pages.
#[repr(C, align(4096))]
struct RngPage([u8; PAGE_SIZE]);

/// Where QEMU puts `-device virtio-rng-pci` after the two edus (00:03.0).
pub(crate) const VIRTIO_RNG_ADDRESS: pci::PciAddress = pci::PciAddress {
    bus: 0,
    device: 3,
    function: 0,
};

/// The virtio-rng device, built but not yet initialized, and the memory
/// the kernel's domain maps for it.
pub(crate) struct VirtioRngDevice {
    pub(crate) transport: &'static RngTransport,
    pub(crate) rng: &'static BoardRng,
    pub(crate) queues: &'static [&'static dyn Virtqueue],
    pub(crate) plic_interrupt: Option<u32>,
    /// The queue page, for `RNG_QUEUE_IOVA`.
    pub(crate) queue_memory: DmaMemory,
    /// The buffer page, for `RNG_BUFFER_IOVA`.
    pub(crate) buffer_memory: DmaMemory,
}

/// Finds the virtio structures of `function` (enabled), and builds the
/// transport, the request queue and the driver over the board's statics.
/// Touches no virtio register: the device is idle until `RngBringUp`
/// initializes it, and the IOMMU blocks its DMA until the domain is ready.
pub(crate) fn make_virtio_rng(
    ecam: &PciEcam,
    function: &PciDevice,
    fence: RiscvCoherentDmaFence,
) -> VirtioRngDevice {
    let (access, notify_off_multiplier) = virtio_access(ecam, function, "virtio-rng");
    let transport = static_init!(
        RngTransport,
        VirtioPciTransport::new(access, function.device_id, notify_off_multiplier)
    );
    let (queue_static, buffer_static) = (&raw mut RNG_QUEUE, &raw mut RNG_BUFFER);
    // SAFETY: called once (from `main`, which runs once), so these are the
    // only references ever made to the two statics; both are lent to the
    // device for good below.
    let (queue_page, buffer_page) = unsafe { (&mut *queue_static, &mut (*buffer_static).0) };
    let (rings, queue_memory) = virtio_pci::queue::QueueMemory::lend(queue_page);
    let (buffer, buffer_memory) = DmaBuffer::lend(buffer_page);
    let queue = static_init!(
        RngQueue,
        SplitQueue::new(rings, RNG_QUEUE_IOVA as u64, fence)
    );
    let rng = static_init!(
        BoardRng,
        VirtioRng::new(queue, buffer, RNG_BUFFER_IOVA as u64, fence)
    );
    queue.set_transport(transport);
    queue.set_client(rng);
    let queues = static_init!([&'static dyn Virtqueue; 1], [queue]);
    VirtioRngDevice {
        transport,
        rng,
        queues,
        plic_interrupt: function.plic_interrupt(),
        queue_memory,
        buffer_memory,
    }
}

/// Initializes virtio-rng once the kernel's domain maps its memory and its
/// context translates through it. Any failure is a board or QEMU
/// configuration error: the kernel panics, ending the run with fail(1).
pub(crate) struct RngBringUp {
    pub(crate) transport: &'static RngTransport,
    pub(crate) rng: &'static BoardRng,
    pub(crate) queues: &'static [&'static dyn Virtqueue],
}

impl KernelDomainClient for RngBringUp {
    fn ready(&self, result: Result<(), ErrorCode>) {
        if let Err(error) = result {
            panic!("virtio-rng: IOMMU domain setup failed: {error:?}");
        }
        match self.transport.initialize(self.rng, self.queues) {
            Ok(_) => kprintln!(
                "virtio-rng: ready behind IOMMU context {}: queue at IOVA {:#x}, buffer at IOVA {:#x}, features {:#x}",
                VIRTIO_RNG_CONTEXT,
                RNG_QUEUE_IOVA,
                RNG_BUFFER_IOVA,
                self.transport.negotiated_features()
            ),
            // Without ACCESS_PLATFORM the device would use the IOVAs as
            // physical addresses, bypassing the IOMMU (virtio 1.x 6.1).
            Err(InitializationError::RequiredFeatureMissing { offered })
                if offered & features::ACCESS_PLATFORM == 0 =>
            {
                panic!(
                    "virtio-rng: the device does not offer VIRTIO_F_ACCESS_PLATFORM (features {offered:#x}): run QEMU with -device virtio-rng-pci,iommu_platform=on,disable-legacy=on"
                )
            }
            Err(error) => panic!("virtio-rng: initialization failed: {error:?}"),
        }
    }

    fn request_mapped(&self, _result: Result<(), ErrorCode>) {}

    fn request_unmapped(&self, _result: Result<(), ErrorCode>) {}
}
