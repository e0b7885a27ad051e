// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Board for QEMU `virt` (rv32) with the RISC-V IOMMU, two `edu` DMA
//! devices, a virtio-rng and a virtio-blk device.
//!
//! Memory layout is Tock's `qemu_rv32_virt` (see `layout.ld`), so that
//! `tockloader install --board qemu_rv32_virt --flash-file` and apps linked
//! by libtock-rs for that board work unchanged. QEMU boots the flash image
//! with `-M virt,iommu-sys=on -bios flash.bin -device edu -device edu
//! -device virtio-rng-pci,iommu_platform=on,disable-legacy=on -drive
//! file=build/disk.img,if=none,format=raw,id=d0 -device
//! virtio-blk-pci,drive=d0,iommu_platform=on,disable-legacy=on`.
//!
//! One IOMMU instance translates all four devices, shared through a
//! `MuxIommu`: the IOMMU system call driver offers processes the edus'
//! contexts, and the kernel keeps the virtio functions' contexts, each
//! with a domain of its own (`KernelDomain`): virtio-rng's for the RNG
//! driver (0x40001), virtio-blk's for the block storage driver (0x50005),
//! which maps a process's buffer there for each request (`block`).
//!
//! The board loads every app in the app flash region, runs them under the
//! round-robin scheduler and prints a report for each process fault. A
//! faulting process is stopped (the kernel's `FaultPolicy::Stop`) and the
//! others run on, except the apps named in `RESTART_ON_FAULT`, which are
//! restarted a few times first. Once no process is left the board prints
//! how each ended and ends QEMU through the virt test finisher (see
//! `finish`): with pass if every fault came from an app that exists to
//! fault (`EXPECTED_FAULTS`) and every non-zero exit code from an app that
//! exists to fail (`EXPECTED_ERROR_EXITS`), else with fail(2) for an
//! unexpected fault or fail(3) for an unexpected non-zero exit code. A
//! kernel panic ends it with fail(1).

#![no_std]
#![no_main]

mod io;

use core::mem::MaybeUninit;

use block::{BlkBringUp, BlkFaults, BoardBlockDriver};
use capsules_core::alarm::{self, AlarmDriver};
use capsules_core::console::{self, Console};
use capsules_core::low_level_debug::{self, LowLevelDebug};
use capsules_core::rng::{self, RngDriver};
use capsules_core::virtual_uart::{MuxUart, UartDevice};
use capsules_iommu::block::{self as block_storage, BlockDriver, DataPath, NamedSectorRanges};
use capsules_iommu::dma::{self, DmaDriver, DmaPort};
use capsules_iommu::kernel_domain::KernelDomain;
use capsules_iommu::{InstancePort, IommuDriver, IommuStorage, MuxIommu, VirtualIommu};
use kernel::capabilities::{
    MainLoopCapability, MemoryAllocationCapability, ProcessManagementCapability,
};
use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::dma_block::DmaBlock;
use kernel::hil::iommu::ContextId;
use kernel::hil::rng::Rng;
use kernel::hil::time::Alarm;
use kernel::hil::uart::{Receive, Transmit};
use kernel::platform::SyscallDriverLookup;
use kernel::process::ProcessStandard;
use kernel::process_loading::{self, LoadEvent, LoaderConfig};
use kernel::scheduler::{Event, RoundRobin};
use kernel::syscall::SyscallDriver;
use kernel::utilities::StaticRef;
use kernel::{FaultPolicy, Kernel, create_capability};
use qemu_rv32_virt_chip::QemuRv32VirtChip;
use qemu_rv32_virt_chip::edu::{self, Edu};
use qemu_rv32_virt_chip::pci::{self, PciDevice, PciEcam};
use qemu_rv32_virt_chip::plic::{self, Plic};
use qemu_rv32_virt_chip::timer::{self, MachineTimer};
use qemu_rv32_virt_chip::uart::{self, Uart16550};
use riscv_iommu::registers::IommuRegisters;
use riscv_iommu::{InterruptVectors, Page, PagePool, QueueMemory, RiscvIommu};
use rv32::dma_fence::RiscvCoherentDmaFence;
use rv32::{Rv32StoredState, SysCall};
use virtio_pci::device::{VIRTIO_PCI_VENDOR_ID, VirtioDeviceType};

use devices::{Devices, make_edu};
use io::kprintln;
use policy::{BENCH_IOMMU_SHARE, EduPolicy};
use report::{Faults, finish, handle_fault, print_ram_costs};
use virtio_rng::{
    BoardRng, RNG_BUFFER_IOVA, RNG_QUEUE_IOVA, RNG_WINDOW_IOVA, RngBringUp, VIRTIO_RNG_ADDRESS,
    make_virtio_rng,
};

/// Process slots: one per fixed-address app slot (`tools/apps.sh`).
const NUM_PROCS: usize = 9;
/// App flash: where tockloader installs apps (Tock's qemu_rv32_virt).
const APP_FLASH: (usize, usize) = (0x8010_0000, 0x10_0000);
/// App RAM: processes' RAM blocks, at the addresses libtock-rs links for.
const APP_RAM: (usize, usize) = (0x8030_0000, 0x10_0000);
/// What processes' flash and RAM access ends are rounded up to: Tock's
/// exact ends (the PMP's 4-byte granule), unless the `page-granular-pmp`
/// feature widens them to 4 KiB pages, which QEMU's PMP emulates faster;
/// each process's block is then rounded up to whole pages plus one, so its
/// grants keep the room its TBF asked for and what it can reach beyond its
/// break is its own.
const ACCESS_GRANULE: usize = if cfg!(feature = "page-granular-pmp") {
    4096
} else {
    kernel::process::PMP_GRANULE
};
/// Time slice of the round-robin scheduler.
const TIMESLICE_US: u32 = 10_000;
/// The platform RISC-V IOMMU of `virt,iommu-sys=on`.
const IOMMU_BASE: usize = 0x0301_0000;
/// Its wired interrupt vectors: command queue, fault queue
/// (PLIC sources `interrupts::IOMMU_BASE + vector`).
const IOMMU_VECTORS: InterruptVectors = InterruptVectors { civ: 0, fiv: 1 };
/// The `edu` devices: IOMMU contexts 0 and 1, which the IOMMU system call
/// driver offers processes (context i = edu i).
const EDU_COUNT: usize = 2;
/// The virtio-rng function's IOMMU context, the kernel's own.
const VIRTIO_RNG_CONTEXT: usize = EDU_COUNT;
/// The virtio-blk function's IOMMU context, the kernel's own.
const VIRTIO_BLK_CONTEXT: usize = EDU_COUNT + 1;
/// Translation contexts: the edus, then virtio-rng and virtio-blk.
const IOMMU_CONTEXTS: usize = EDU_COUNT + 2;
/// Domains (I/O address spaces) in the instance: the processes' shares
/// and the kernel's (see `KERNEL_IOMMU_SHARE`).
const IOMMU_DOMAINS: usize = 10 + BENCH_IOMMU_SHARE.domains;
/// Page-table pages for all domains (each domain takes a root page plus
/// one page per GiB and per 2 MiB region it maps into).
const IOMMU_TABLE_PAGES: usize = 37 + BENCH_IOMMU_SHARE.pages;
/// Users of the instance: the IOMMU system call driver, and the kernel's
/// virtio-rng and virtio-blk drivers (each `KernelDomain` is the map and
/// attach client of its own user).
const IOMMU_USERS: usize = 3;
/// The IOMMU's page size.
const PAGE_SIZE: usize = 4096;
type Iommu = RiscvIommu<'static, IOMMU_CONTEXTS, IOMMU_DOMAINS, RiscvCoherentDmaFence>;
/// One user's share of the instance.
type BoardVirtualIommu = VirtualIommu<'static, IOMMU_USERS, IOMMU_DOMAINS>;
/// An `edu` driver as this board instantiates it.
type BoardEdu = Edu<'static, RiscvCoherentDmaFence>;

/// `kernel::static_init!` (Tock's: each expansion's buffer is handed out
/// once, a second run panics), with `value` built outside the `unsafe`
/// block the kernel's macro must be expanded in.
macro_rules! static_init {
    ($t:ty, $value:expr $(,)?) => {{
        let value: $t = $value;
        // SAFETY: the kernel's macro hands each expansion's buffer out at
        // most once, so this `&'static mut` is the only reference to it.
        unsafe { kernel::static_init!($t, value) }
    }};
}
// After the macro, so that the modules can expand it.
mod block;
mod devices;
mod policy;
mod report;
mod virtio_rng;

// Memory the IOMMU reads and writes: zero-initialized statics (in .bss),
// each handed out once, in `main`. Not `static_init!`, whose value passes
// through the stack: the page pool alone is 128 KiB.
static mut IOMMU_QUEUES: QueueMemory = QueueMemory::ZERO;
static mut IOMMU_DIRECTORY: [Page; 1] = [Page::ZERO; 1];
static mut IOMMU_TABLES: [Page; IOMMU_TABLE_PAGES] = [Page::ZERO; IOMMU_TABLE_PAGES];
type Chip = QemuRv32VirtChip<'static, &'static Devices>;

/// The board's driver table.
struct Platform {
    console: &'static Console<'static>,
    alarm: &'static AlarmDriver<'static, MachineTimer<'static>>,
    low_level_debug: &'static LowLevelDebug<'static, UartDevice<'static>>,
    iommu: &'static IommuDriver<'static>,
    dma: &'static DmaDriver<'static>,
    /// Absent if QEMU has no virtio-rng device.
    rng: Option<&'static RngDriver<'static, BoardRng>>,
    /// Absent if QEMU has no virtio-blk device.
    block: Option<&'static BoardBlockDriver>,
}

impl SyscallDriverLookup for Platform {
    fn with_driver<F, R>(&self, driver_num: usize, f: F) -> R
    where
        F: FnOnce(Option<&dyn SyscallDriver>) -> R,
    {
        match driver_num {
            console::DRIVER_NUM => f(Some(self.console)),
            alarm::DRIVER_NUM => f(Some(self.alarm)),
            low_level_debug::DRIVER_NUM => f(Some(self.low_level_debug)),
            capsules_iommu::DRIVER_NUM => f(Some(self.iommu)),
            dma::DRIVER_NUM => f(Some(self.dma)),
            rng::DRIVER_NUM => f(self.rng.map(|driver| driver as &dyn SyscallDriver)),
            block_storage::DRIVER_NUM => f(self.block.map(|driver| driver as &dyn SyscallDriver)),
            _ => f(None),
        }
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn main() -> ! {
    // SAFETY: machine mode at boot; no PMP entry is locked.
    unsafe { rv32::pmp::disable_all() };
    if cfg!(feature = "bench") {
        rv32::csr::set_mcounteren(rv32::csr::MCOUNTEREN_IR);
    }
    kprintln!("qemu_rv32_virt: Tock-compatible kernel with RISC-V IOMMU support");

    // ---------- Chip drivers ----------
    // SAFETY: the *_BASE constants are the QEMU virt MMIO addresses of these
    // peripherals, each used only through the driver made here.
    let (plic_regs, clint_regs, uart_regs) = unsafe {
        (
            StaticRef::new(plic::PLIC_BASE as *const _),
            StaticRef::new(timer::CLINT_BASE as *const _),
            StaticRef::new(uart::UART0_BASE as *const _),
        )
    };
    let plic = static_init!(Plic, Plic::new(plic_regs));
    let timer = static_init!(MachineTimer<'static>, MachineTimer::new(clint_regs));
    let uart = static_init!(
        Uart16550<'static>,
        Uart16550::new(uart_regs, uart::UART0_CLOCK_HZ)
    );
    uart.register();

    // ---------- IOMMU and the edu DMA devices ----------
    // SAFETY: QEMU virt's PCIe ECAM and 32-bit MMIO window, used only here.
    let ecam =
        unsafe { PciEcam::new(pci::ECAM_BASE, pci::MMIO_WINDOW_BASE, pci::MMIO_WINDOW_SIZE) };
    let edu_functions: [PciDevice; EDU_COUNT] = core::array::from_fn(|index| {
        let address = ecam
            .find(edu::EDU_VENDOR_ID, edu::EDU_DEVICE_ID, index)
            .expect("edu device missing: run QEMU with -device edu -device edu");
        ecam.enable_device(address)
            .expect("edu: enabling the PCI function")
    });
    // virtio-rng: optional (without it the RNG driver is absent), but one
    // that is there must be modern and translate through the IOMMU.
    let rng_device_id = VirtioDeviceType::EntropySource.pci_device_id();
    let rng_function = ecam
        .find(VIRTIO_PCI_VENDOR_ID, rng_device_id, 0)
        .map(|address| {
            ecam.enable_device(address)
                .expect("virtio-rng: enabling the PCI function")
        });
    // Its context exists either way; with no device behind it, it blocks.
    let rng_requester_id = rng_function.map_or(VIRTIO_RNG_ADDRESS.requester_id(), |function| {
        function.requester_id()
    });
    // virtio-blk: optional in the same way (without it driver 0x50005 is
    // absent).
    let blk_device_id = VirtioDeviceType::BlockDevice.pci_device_id();
    let blk_function = ecam
        .find(VIRTIO_PCI_VENDOR_ID, blk_device_id, 0)
        .map(|address| {
            ecam.enable_device(address)
                .expect("virtio-blk: enabling the PCI function")
        });
    let blk_requester_id = blk_function
        .map_or(block::VIRTIO_BLK_ADDRESS.requester_id(), |function| {
            function.requester_id()
        });
    let (queues, directory, tables) = (
        &raw mut IOMMU_QUEUES,
        &raw mut IOMMU_DIRECTORY,
        &raw mut IOMMU_TABLES,
    );
    // SAFETY: `main` runs once, so these are the only references ever made
    // to the three statics; the driver keeps them for the rest of the run.
    let (iommu_queues, iommu_directory, iommu_tables) =
        unsafe { (&mut *queues, &mut *directory, &mut *tables) };
    // SAFETY: IOMMU_BASE is the platform IOMMU's register page on
    // `virt,iommu-sys=on`, used only by this driver.
    let iommu_regs = unsafe { StaticRef::new(IOMMU_BASE as *const IommuRegisters) };
    // SAFETY: QEMU virt's DMA (the edus' and the IOMMU's own table walks
    // and queue accesses) is cache-coherent.
    let dma_fence = unsafe { RiscvCoherentDmaFence::new() };
    let iommu = static_init!(
        Iommu,
        RiscvIommu::new(
            iommu_regs,
            [
                u32::from(edu_functions[0].requester_id()),
                u32::from(edu_functions[1].requester_id()),
                u32::from(rng_requester_id),
                u32::from(blk_requester_id),
            ],
            iommu_queues,
            PagePool::new(iommu_directory, dma_fence),
            PagePool::new(iommu_tables, dma_fence),
            IOMMU_VECTORS,
            dma_fence,
        )
    );
    iommu.register();
    // Every context blocks from here on until a process attaches a domain
    // (I1). Before this the IOMMU is Off, which blocks all DMA as well.
    iommu.init().expect("IOMMU bring-up");
    for (context, function) in edu_functions.iter().enumerate() {
        kprintln!(
            "IOMMU {:#010x}: context {} = edu requester id {:#06x}, blocking",
            IOMMU_BASE,
            context,
            function.requester_id()
        );
    }
    kprintln!(
        "IOMMU {:#010x}: context {} = virtio-rng requester id {:#06x}, kernel-owned, blocking{}",
        IOMMU_BASE,
        VIRTIO_RNG_CONTEXT,
        rng_requester_id,
        if rng_function.is_some() {
            ""
        } else {
            " (no virtio-rng device)"
        }
    );
    kprintln!(
        "IOMMU {:#010x}: context {} = virtio-blk requester id {:#06x}, kernel-owned, blocking{}",
        IOMMU_BASE,
        VIRTIO_BLK_CONTEXT,
        blk_requester_id,
        if blk_function.is_some() {
            ""
        } else {
            " (no virtio-blk device)"
        }
    );
    let edus: [&'static BoardEdu; EDU_COUNT] = [
        make_edu(
            &edu_functions[0],
            static_init!(MaybeUninit<BoardEdu>, MaybeUninit::uninit()),
            dma_fence,
        ),
        make_edu(
            &edu_functions[1],
            static_init!(MaybeUninit<BoardEdu>, MaybeUninit::uninit()),
            dma_fence,
        ),
    ];
    let rng_device = rng_function.map(|function| make_virtio_rng(&ecam, &function, dma_fence));
    let blk_device =
        blk_function.map(|function| block::make_virtio_blk(&ecam, &function, dma_fence));
    let devices = static_init!(
        Devices,
        Devices {
            edus,
            iommu,
            rng: rng_device.as_ref().map(|device| {
                let source = device
                    .plic_interrupt
                    .expect("virtio-rng: no INTx line to the PLIC");
                (source, device.transport)
            }),
            blk: blk_device.as_ref().map(|device| {
                let source = device
                    .plic_interrupt
                    .expect("virtio-blk: no INTx line to the PLIC");
                (source, device.transport)
            }),
        }
    );
    let chip = static_init!(Chip, QemuRv32VirtChip::new(plic, timer, uart, devices));

    // ---------- Kernel ----------
    let processes = static_init!(
        [ProcessStandard; NUM_PROCS],
        [const { ProcessStandard::new() }; NUM_PROCS]
    );
    let kernel = static_init!(Kernel, Kernel::new(processes));
    let memory_cap = create_capability!(MemoryAllocationCapability);
    let process_cap = create_capability!(ProcessManagementCapability);
    let _main_cap = create_capability!(MainLoopCapability);
    kernel.set_fault_policy(FaultPolicy::Stop, &process_cap);

    // ---------- Capsules ----------
    let mux_uart = static_init!(MuxUart<'static>, MuxUart::new(uart));
    uart.set_transmit_client(mux_uart);
    uart.set_receive_client(mux_uart);

    let console_uart = static_init!(UartDevice<'static>, UartDevice::new(mux_uart));
    console_uart.setup().expect("uart mux");
    let console_tx = static_init!(
        [u8; console::DEFAULT_BUF_SIZE],
        [0; console::DEFAULT_BUF_SIZE]
    );
    let console_rx = static_init!(
        [u8; console::DEFAULT_BUF_SIZE],
        [0; console::DEFAULT_BUF_SIZE]
    );
    let console = static_init!(
        Console<'static>,
        Console::new(
            console_uart,
            console_tx,
            console_rx,
            kernel.create_grant(console::DRIVER_NUM, &memory_cap),
        )
    );
    console_uart.set_transmit_client(console);
    console_uart.set_receive_client(console);

    let lldb_uart = static_init!(UartDevice<'static>, UartDevice::new(mux_uart));
    lldb_uart.setup().expect("uart mux");
    let lldb_buffer = static_init!(
        [u8; low_level_debug::BUF_LEN],
        [0; low_level_debug::BUF_LEN]
    );
    let low_level_debug = static_init!(
        LowLevelDebug<'static, UartDevice<'static>>,
        LowLevelDebug::new(
            lldb_buffer,
            lldb_uart,
            kernel.create_grant(low_level_debug::DRIVER_NUM, &memory_cap),
        )
    );
    lldb_uart.set_transmit_client(low_level_debug);

    let alarm = static_init!(
        AlarmDriver<'static, MachineTimer<'static>>,
        AlarmDriver::new(timer, kernel.create_grant(alarm::DRIVER_NUM, &memory_cap))
    );
    timer.set_alarm_client(alarm);

    // One IOMMU, three users: the system call driver gets the edus'
    // contexts (its contexts 0 and 1), the kernel's RNG driver the
    // virtio-rng context and its block storage driver the virtio-blk
    // context. Each sees only its own contexts and the domains it created.
    let iommu_mux = static_init!(
        MuxIommu<'static, IOMMU_USERS, IOMMU_DOMAINS>,
        MuxIommu::new(iommu)
    );
    iommu_mux.setup();
    let process_iommu = static_init!(
        BoardVirtualIommu,
        VirtualIommu::new(iommu_mux, 0..EDU_COUNT)
    );
    let kernel_iommu = static_init!(
        BoardVirtualIommu,
        VirtualIommu::new(iommu_mux, VIRTIO_RNG_CONTEXT..VIRTIO_RNG_CONTEXT + 1)
    );
    let blk_iommu = static_init!(
        BoardVirtualIommu,
        VirtualIommu::new(iommu_mux, VIRTIO_BLK_CONTEXT..VIRTIO_BLK_CONTEXT + 1)
    );
    iommu_mux.add_user(process_iommu).expect("IOMMU mux");
    iommu_mux.add_user(kernel_iommu).expect("IOMMU mux");
    iommu_mux.add_user(blk_iommu).expect("IOMMU mux");

    // The IOMMU syscall driver: instance 0 with the two edu contexts.
    let iommu_ports = static_init!(
        [InstancePort<'static>; 1],
        [InstancePort::new(0, process_iommu)]
    );
    let iommu_storage = static_init!(
        IommuStorage<EDU_COUNT, IOMMU_DOMAINS, NUM_PROCS>,
        IommuStorage::new()
    );
    let iommu_policy = static_init!(EduPolicy, EduPolicy { kernel });
    let iommu_revocation_cap = static_init!(IommuRevocationCap, IommuRevocationCap);
    let iommu_driver = static_init!(
        IommuDriver<'static>,
        IommuDriver::new(
            kernel.create_grant(capsules_iommu::DRIVER_NUM, &memory_cap),
            iommu_ports,
            iommu_storage.tables(),
            iommu_policy,
            kernel,
            iommu_revocation_cap,
        )
    );
    // I5: the policy's shares must fit the pools (also checked at compile
    // time above); a board that promises more must not boot. The policy
    // counts the kernel's share too, and the pools are still full here:
    // the kernel domain is created below.
    iommu_driver
        .setup()
        .expect("IOMMU policy reserves more than the IOMMU holds");
    // Revocation before reuse (I4): the driver takes every mapping back
    // before a process's memory changes hands.
    kernel
        .register_memory_observer(iommu_driver, &process_cap)
        .expect("memory observer");

    // The edu DMA driver: device i sits behind context i of instance 0.
    let dma_ports = static_init!(
        [DmaPort<'static>; EDU_COUNT],
        [DmaPort::new(edus[0], 0, 0), DmaPort::new(edus[1], 0, 1)]
    );
    let dma_driver = static_init!(
        DmaDriver<'static>,
        DmaDriver::new(
            kernel.create_grant(dma::DRIVER_NUM, &memory_cap),
            dma_ports,
            iommu_driver,
        )
    );
    dma_driver.setup();

    // The RNG driver over virtio-rng, which reaches memory only through
    // the kernel's domain: the queue and the buffer page at fixed IOVAs.
    // The device is brought up once the domain is attached (`RngBringUp`);
    // until then the driver keeps the processes' requests.
    let rng_driver = rng_device.map(|device| {
        let kernel_domain = static_init!(
            KernelDomain<'static>,
            KernelDomain::new(
                kernel_iommu,
                ContextId(0),
                RNG_WINDOW_IOVA,
                kernel,
                iommu_revocation_cap,
            )
        );
        let bring_up = static_init!(
            RngBringUp,
            RngBringUp {
                transport: device.transport,
                rng: device.rng,
                queues: device.queues,
            }
        );
        kernel_domain.register();
        kernel_domain.set_client(bring_up);
        kernel_domain
            .setup([
                (RNG_QUEUE_IOVA, device.queue_memory),
                (RNG_BUFFER_IOVA, device.buffer_memory),
            ])
            .expect("virtio-rng: IOMMU domain");
        let driver = static_init!(
            RngDriver<'static, BoardRng>,
            RngDriver::new(
                device.rng,
                kernel.create_grant(rng::DRIVER_NUM, &memory_cap)
            )
        );
        device.rng.set_client(driver);
        &*driver
    });

    // The block storage driver over virtio-blk, which reaches memory
    // only through the kernel's domain for it: the queue and request
    // pages at fixed IOVAs, and per request the requesting process's
    // buffer at the window (zero-copy), or a bounce page mapped for good
    // (`block-bounce`). The device is brought up once the domain is
    // attached (`BlkBringUp`); until then requests are refused (`INVAL`:
    // the disk has no sectors yet).
    let block_driver = blk_device.map(|device| {
        let kernel_domain = static_init!(
            KernelDomain<'static>,
            KernelDomain::new(
                blk_iommu,
                ContextId(0),
                block::BLK_WINDOW_IOVA,
                kernel,
                iommu_revocation_cap,
            )
        );
        kernel_domain.register();
        let blk_faults = static_init!(BlkFaults, BlkFaults::default());
        kernel::hil::iommu::Faults::set_client(blk_iommu, blk_faults);
        #[cfg(feature = "block-overreach")]
        let block_device: &'static block::BlockDevice =
            static_init!(block::Overreach, block::Overreach { device: device.blk });
        #[cfg(not(feature = "block-overreach"))]
        let block_device: &'static block::BlockDevice = device.blk;
        #[cfg(feature = "block-bounce")]
        let path = DataPath::Bounce {
            buffer: device.bounce.0,
            iova: device.bounce.1,
        };
        #[cfg(not(feature = "block-bounce"))]
        let path = DataPath::ZeroCopy {
            page_size: PAGE_SIZE,
        };
        let policy_cap = static_init!(ProcessNamesCap, ProcessNamesCap);
        let policy = static_init!(
            NamedSectorRanges<'static>,
            NamedSectorRanges {
                ranges: block::BLOCK_APPS,
                kernel,
                capability: policy_cap,
            }
        );
        let driver = static_init!(
            BoardBlockDriver,
            BlockDriver::new(
                block_device,
                kernel_domain,
                path,
                policy,
                kernel.create_grant(block_storage::DRIVER_NUM, &memory_cap),
            )
        );
        block_device.set_client(driver);
        let bring_up = static_init!(
            BlkBringUp,
            BlkBringUp {
                transport: device.transport,
                blk: device.blk,
                queues: device.queues,
                driver,
            }
        );
        kernel_domain.set_client(bring_up);
        kernel_domain
            .setup(device.statics)
            .expect("virtio-blk: IOMMU domain");
        // Revocation before reuse (I4): a process that ends mid-request
        // has its buffer unmapped from the device before its memory
        // changes hands.
        kernel
            .register_memory_observer(kernel_domain, &process_cap)
            .expect("memory observer");
        &*driver
    });

    let platform = static_init!(
        Platform,
        Platform {
            console,
            alarm,
            low_level_debug,
            iommu: iommu_driver,
            dma: dma_driver,
            rng: rng_driver,
            block: block_driver,
        }
    );

    chip.initialize_interrupts();
    DeferredCall::verify_setup();

    // ---------- Processes ----------
    // SAFETY: APP_FLASH is the app region of the flash image QEMU loaded at
    // 0x80100000; the kernel never writes it, so a shared slice is sound.
    let app_flash: &'static [u8] =
        unsafe { core::slice::from_raw_parts(APP_FLASH.0 as *const u8, APP_FLASH.1) };
    let config = LoaderConfig {
        app_ram_start: APP_RAM.0,
        app_ram_len: APP_RAM.1,
        ram_alignment: kernel::process::PMP_GRANULE,
        access_granule: ACCESS_GRANULE,
        require_kernel_version: false,
    };
    let summary =
        process_loading::load_processes(kernel, app_flash, &config, &process_cap, &mut |event| {
            match event {
                LoadEvent::Loaded { layout, .. } => kprintln!(
                    "Loading process '{}': flash {:#010x}..{:#010x}, RAM {:#010x}..{:#010x}",
                    layout.name,
                    layout.flash_start,
                    layout.flash_start + layout.flash_len,
                    layout.memory_start,
                    layout.memory_start + layout.memory_len
                ),
                // Padding objects are tockloader's filler between
                // fixed-address apps: nothing to report.
                LoadEvent::Padding { .. } => {}
                other => kprintln!("{other}"),
            }
        });
    kprintln!(
        "{} process(es) loaded, {} skipped",
        summary.loaded,
        summary.skipped
    );
    if cfg!(feature = "bench") {
        print_ram_costs();
    }

    // ---------- Main loop ----------
    let boundary = static_init!(SysCall, SysCall::new());
    let states = static_init!(
        [Rv32StoredState; NUM_PROCS],
        [Rv32StoredState::default(); NUM_PROCS]
    );
    let scheduler = RoundRobin::new(TIMESLICE_US);
    let mut faults = Faults::default();
    loop {
        match scheduler.step(kernel, platform, chip, boundary, timer, states) {
            Event::Faulted { process, index } => {
                let name = kernel.process_map_or_external(
                    "?",
                    process,
                    |p| p.get_process_name(),
                    &process_cap,
                );
                faults.record(name);
                kprintln!(
                    "\n---| Process '{}' faulted: {} at {:#010x} |---",
                    name,
                    rv32::trap::mcause_name(states[index].mcause),
                    states[index].mtval
                );
                io::print(format_args!("{}", states[index]));
                match handle_fault(kernel, process, &process_cap) {
                    Some(restart) => kprintln!(
                        "---| Process '{}' restarted (restart {}) |---\n",
                        name,
                        restart
                    ),
                    None => kprintln!("---| Process '{}' stopped |---\n", name),
                }
            }
            Event::NothingAlive => finish(kernel, faults, platform.block, &process_cap),
            Event::Ran(_) | Event::Idle => {}
        }
    }
}

/// The capability the IOMMU driver keeps to report completed revocations
/// (`Kernel::revocation_complete`).
struct IommuRevocationCap;

// SAFETY: the board is trusted code entitled to process management; it
// hands this capability to the IOMMU driver and the kernel's virtio-rng
// domain only, which use it only to report that device access to an
// ended process's memory is revoked.
unsafe impl ProcessManagementCapability for IommuRevocationCap {}

/// The capability the block storage policy keeps to read process names.
struct ProcessNamesCap;

// SAFETY: the board is trusted code entitled to process management; it
// hands this capability to the block storage policy only, which uses it
// only to read the name of a process that makes a request.
unsafe impl ProcessManagementCapability for ProcessNamesCap {}
