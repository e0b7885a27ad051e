// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! virtio-blk behind the IOMMU, served to processes by the block storage
//! driver (0x50005, `doc/syscalls/50005_block.md`).
//!
//! The kernel owns the function's IOMMU context and one domain
//! (`KernelDomain`): the queue page and the page of request headers and
//! status bytes are mapped there for good, at fixed IOVAs, and each
//! request maps the requesting process's buffer at the window
//! (`BLK_WINDOW_IOVA`) for that request only (zero-copy). The
//! `block-bounce` feature builds the bounce variant instead: a kernel page
//! mapped for good, which the driver copies through (for the benchmark).
//!
//! `BLOCK_APPS` gives each block app its own range of sectors.

use core::cell::Cell;

use capsules_iommu::block::{BlockDriver, SectorRange};
use capsules_iommu::kernel_domain::KernelDomainClient;
use kernel::ErrorCode;
use kernel::hil::iommu::{DmaMemory, Fault, FaultClient};
use qemu_rv32_virt_chip::pci::{self, PciDevice, PciEcam};
use rv32::dma_fence::RiscvCoherentDmaFence;
use virtio_pci::blk::VirtioBlk;
use virtio_pci::dma::DmaBuffer;
use virtio_pci::queue::{QueueMemory, SplitQueue, Virtqueue};
use virtio_pci::registers::{MmioAccess, features};
use virtio_pci::transport::{InitializationError, VirtioPciTransport, VirtioTransport};

use crate::devices::virtio_access;
use crate::io::kprintln;
use crate::{PAGE_SIZE, VIRTIO_BLK_CONTEXT};

/// Where QEMU puts `-device virtio-blk-pci` after the edus and virtio-rng
/// (00:04.0, requester id 0x20).
pub const VIRTIO_BLK_ADDRESS: pci::PciAddress = pci::PciAddress {
    bus: 0,
    device: 4,
    function: 0,
};
/// Entries of the request queue: two requests of three descriptors.
const BLK_QUEUE_SIZE: usize = 8;
/// The kernel's virtio-blk domain: the queue page, the request page (and
/// the bounce page) in one 2 MiB region; the window in another.
pub const BLK_QUEUE_IOVA: usize = 0x1000_0000;
pub const BLK_REQUESTS_IOVA: usize = BLK_QUEUE_IOVA + PAGE_SIZE;
/// The bounce variant's page.
pub const BLK_BOUNCE_IOVA: usize = BLK_QUEUE_IOVA + 2 * PAGE_SIZE;
/// Where a request's process buffer is mapped, for that request only.
pub const BLK_WINDOW_IOVA: usize = 0x2000_0000;
/// The pages mapped for good.
const BLK_STATICS: usize = if cfg!(feature = "block-bounce") { 3 } else { 2 };

/// Each block app's range of the disk (`build/disk.img`, 1024 sectors):
/// 64 sectors each, so no app reaches another's.
pub const BLOCK_APPS: &[(&str, SectorRange)] = &[
    ("blk_demo", sectors(0, 64)),
    ("blk_thief", sectors(64, 64)),
    ("blk_restart", sectors(128, 64)),
    ("blk_overreach", sectors(192, 64)),
    ("blk_bench", sectors(256, 64)),
];

const fn sectors(first: u64, count: u64) -> SectorRange {
    SectorRange { first, count }
}

pub type BlkTransport = VirtioPciTransport<'static, MmioAccess>;
type BlkQueue = SplitQueue<'static, BLK_QUEUE_SIZE, RiscvCoherentDmaFence>;
pub type BoardBlk = VirtioBlk<'static, BLK_QUEUE_SIZE, RiscvCoherentDmaFence>;
/// What the block storage driver drives: the device, or (test build) the
/// device behind `Overreach`.
#[cfg(not(feature = "block-overreach"))]
pub type BlockDevice = BoardBlk;
#[cfg(feature = "block-overreach")]
pub type BlockDevice = Overreach;
pub type BoardBlockDriver = BlockDriver<'static, BlockDevice>;

// Memory virtio-blk reads and writes, lent to it for good and mapped in
// the kernel's domain: its queue, the request headers and status bytes,
// and for the bounce variant the page data is copied through.
static mut BLK_QUEUE: QueueMemory<BLK_QUEUE_SIZE> = QueueMemory::ZERO;
static mut BLK_REQUESTS: BlkPage = BlkPage([0; PAGE_SIZE]);
#[cfg(feature = "block-bounce")]
static mut BLK_BOUNCE: BlkPage = BlkPage([0; PAGE_SIZE]);

/// A page-aligned page: the IOMMU maps whole pages.
#[repr(C, align(4096))]
struct BlkPage([u8; PAGE_SIZE]);

/// The virtio-blk device, built but not yet initialized, and the memory
/// the kernel's domain maps for it.
pub struct VirtioBlkDevice {
    pub transport: &'static BlkTransport,
    pub blk: &'static BoardBlk,
    pub queues: &'static [&'static dyn Virtqueue],
    pub plic_interrupt: Option<u32>,
    /// `(IOVA, memory)` of every page mapped for good.
    pub statics: [(usize, DmaMemory); BLK_STATICS],
    /// The bounce variant's buffer and its IOVA.
    #[cfg(feature = "block-bounce")]
    pub bounce: (&'static dyn kernel::hil::dma_block::BounceBuffer, usize),
}

/// Builds the transport, the request queue and the driver of `function`
/// (enabled) over the statics above. Touches no virtio register: the
/// device is idle until `BlkBringUp` initializes it, and the IOMMU blocks
/// its DMA until the domain is ready.
pub fn make_virtio_blk(
    ecam: &PciEcam,
    function: &PciDevice,
    fence: RiscvCoherentDmaFence,
) -> VirtioBlkDevice {
    let (access, notify_off_multiplier) = virtio_access(ecam, function, "virtio-blk");
    let transport = static_init!(
        BlkTransport,
        VirtioPciTransport::new(access, function.device_id, notify_off_multiplier)
    );
    let (queue_static, requests_static) = (&raw mut BLK_QUEUE, &raw mut BLK_REQUESTS);
    // SAFETY: called once (from `main`, which runs once), so these are the
    // only references ever made to the two statics; both are lent to the
    // device for good below.
    let (queue_page, requests_page) = unsafe { (&mut *queue_static, &mut (*requests_static).0) };
    let (rings, queue_memory) = QueueMemory::lend(queue_page);
    let (requests, requests_memory) = DmaBuffer::lend(requests_page);
    let queue = static_init!(
        BlkQueue,
        SplitQueue::new(rings, BLK_QUEUE_IOVA as u64, fence)
    );
    let blk = static_init!(
        BoardBlk,
        VirtioBlk::new(
            queue,
            transport.access(),
            requests,
            BLK_REQUESTS_IOVA as u64,
            fence
        )
    );
    queue.set_transport(transport);
    queue.set_client(blk);
    let queues = static_init!([&'static dyn Virtqueue; 1], [queue]);
    blk.set_transport(transport, queues);
    #[cfg(feature = "block-bounce")]
    let (bounce, bounce_memory) = {
        let bounce_static = &raw mut BLK_BOUNCE;
        // SAFETY: as above, the only reference ever made to this static.
        let (buffer, memory) = DmaBuffer::lend(unsafe { &mut (*bounce_static).0 });
        let bounce = static_init!(
            virtio_pci::dma::FencedBuffer<RiscvCoherentDmaFence>,
            virtio_pci::dma::FencedBuffer::new(buffer, fence)
        );
        (bounce, memory)
    };
    VirtioBlkDevice {
        transport,
        blk,
        queues,
        plic_interrupt: function.plic_interrupt(),
        statics: [
            (BLK_QUEUE_IOVA, queue_memory),
            (BLK_REQUESTS_IOVA, requests_memory),
            #[cfg(feature = "block-bounce")]
            (BLK_BOUNCE_IOVA, bounce_memory),
        ],
        #[cfg(feature = "block-bounce")]
        bounce: (bounce, BLK_BOUNCE_IOVA),
    }
}

/// The kernel domain's client: initializes virtio-blk once the domain
/// maps its memory and its context translates through it, then passes
/// the per-request mapping callbacks to the block storage driver. A
/// failure to bring the device up is a board or QEMU configuration error:
/// the kernel panics, ending the run with fail(1).
pub struct BlkBringUp {
    pub transport: &'static BlkTransport,
    pub blk: &'static BoardBlk,
    pub queues: &'static [&'static dyn Virtqueue],
    pub driver: &'static BoardBlockDriver,
}

impl KernelDomainClient for BlkBringUp {
    fn ready(&self, result: Result<(), ErrorCode>) {
        if let Err(error) = result {
            panic!("virtio-blk: IOMMU domain setup failed: {error:?}");
        }
        match self.transport.initialize(self.blk, self.queues) {
            Ok(_) => kprintln!(
                "virtio-blk: ready behind IOMMU context {}: queue at IOVA {:#x}, requests at IOVA {:#x}, {} at IOVA {:#x}, {} sectors, features {:#x}",
                VIRTIO_BLK_CONTEXT,
                BLK_QUEUE_IOVA,
                BLK_REQUESTS_IOVA,
                if cfg!(feature = "block-bounce") {
                    "bounce buffer"
                } else {
                    "request window"
                },
                if cfg!(feature = "block-bounce") {
                    BLK_BOUNCE_IOVA
                } else {
                    BLK_WINDOW_IOVA
                },
                kernel::hil::dma_block::DmaBlock::sectors(self.blk),
                self.transport.negotiated_features()
            ),
            // Without ACCESS_PLATFORM the device would use the IOVAs as
            // physical addresses, bypassing the IOMMU (virtio 1.x 6.1).
            Err(InitializationError::RequiredFeatureMissing { offered })
                if offered & features::ACCESS_PLATFORM == 0 =>
            {
                panic!(
                    "virtio-blk: the device does not offer VIRTIO_F_ACCESS_PLATFORM (features {offered:#x}): run QEMU with -device virtio-blk-pci,drive=d0,iommu_platform=on,disable-legacy=on"
                )
            }
            Err(error) => panic!("virtio-blk: initialization failed: {error:?}"),
        }
    }

    fn request_mapped(&self, result: Result<(), ErrorCode>) {
        self.driver.request_mapped(result);
    }

    fn request_unmapped(&self, result: Result<(), ErrorCode>) {
        self.driver.request_unmapped(result);
    }
}

/// Faults of the virtio-blk context: every access the device makes outside
/// what the kernel's domain maps; the IOMMU has already blocked it.
/// Printed once per page: a device that runs past a mapping faults on
/// every word of the page.
#[derive(Default)]
pub struct BlkFaults {
    /// The page of the last fault printed.
    last_page: Cell<Option<u64>>,
    /// Whether the hardware dropped records since the last fault printed.
    lost: Cell<bool>,
}

impl FaultClient for BlkFaults {
    fn fault(&self, fault: Fault) {
        let page = fault.iova / PAGE_SIZE as u64;
        if self.last_page.replace(Some(page)) == Some(page) {
            return;
        }
        self.lost.set(false);
        kprintln!(
            "virtio-blk: IOMMU fault: {:?}, access {:?}, IOVA {:#x}, hardware cause {}: blocked (further faults in this page not shown)",
            fault.cause,
            fault.access,
            fault.iova,
            fault.raw_cause
        );
    }

    fn faults_lost(&self) {
        if !self.lost.replace(true) {
            kprintln!("virtio-blk: IOMMU fault records lost (the fault queue was full)");
        }
    }
}

/// Test build (`block-overreach`): a misbehaving device. A read at the
/// first sector of `blk_overreach`'s range asks the device to move one
/// page more than the driver mapped, so the device's DMA writes run past
/// the request's window; the IOMMU must fault them and nothing of the
/// process's memory beyond its buffer may change. Every other request
/// passes unchanged.
#[cfg(feature = "block-overreach")]
pub struct Overreach {
    pub device: &'static BoardBlk,
}

#[cfg(feature = "block-overreach")]
impl kernel::hil::dma_block::DmaBlock<'static> for Overreach {
    fn set_client(&self, client: &'static dyn kernel::hil::dma_block::DmaBlockClient) {
        // The client ignores the lengths the completion reports.
        self.device.set_client(client);
    }
    fn sector_size(&self) -> usize {
        self.device.sector_size()
    }
    fn sectors(&self) -> u64 {
        self.device.sectors()
    }
    fn read_only(&self) -> bool {
        self.device.read_only()
    }
    fn start(
        &self,
        operation: kernel::hil::dma_block::Operation,
        sector: u64,
        iova: usize,
        len: usize,
    ) -> Result<(), ErrorCode> {
        let overreach = operation == kernel::hil::dma_block::Operation::Read
            && BLOCK_APPS
                .iter()
                .any(|(name, range)| *name == "blk_overreach" && range.first == sector);
        let len = if overreach { len + PAGE_SIZE } else { len };
        self.device.start(operation, sector, iova, len)
    }
    fn abort(&self) -> Result<(), ErrorCode> {
        self.device.abort()
    }
}
