// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Capsule test harness: fake processes over the real kernel code paths.
//!
//! A `Harness` is a real `kernel::Kernel` whose processes have real memory
//! (leaked host allocations standing in for RAM and flash). A test creates
//! grants and drivers exactly as a board does, spawns processes, and then
//! makes system calls for them through `Kernel::handle_syscall`, the same
//! function the board's main loop calls after a trap. It sees the upcalls a
//! capsule scheduled (per process, in order), and can make a process exit,
//! fault or restart. [`Rng`] drives the property tests' random sequences.
//!
//! ```ignore
//! let h = Harness::new(2);
//! let grant = h.create_grant::<App, UpcallCount<1>, AllowRoCount<1>, AllowRwCount<0>>(DRIVER);
//! let capsule = h.leak(MyCapsule::new(grant));
//! h.add_driver(DRIVER, capsule);
//! let p = h.spawn("app");
//! let buf = h.write_ram(p, 0x100, b"hello");
//! assert!(h.allow_ro(p, DRIVER, 0, buf, 5).is_success());
//! ```

mod rng;

pub use rng::Rng;

use std::cell::{Cell, RefCell};

use kernel::capabilities::{MemoryAllocationCapability, ProcessManagementCapability};
use kernel::create_capability;
use kernel::deferred_call::DeferredCall;
use kernel::grant::{AllowRoSize, AllowRwSize, Grant, UpcallSize};
use kernel::platform::SyscallDriverLookup;
use kernel::process::{FunctionCallSource, ProcessLayout, ProcessStandard, State, Task};
use kernel::process_memory::ProcessMemoryObserver;
use kernel::syscall::{Syscall, SyscallDriver, SyscallReturn};
use kernel::{FaultPolicy, Kernel, ProcessId, SyscallOutcome};

/// RAM each fake process gets (process-accessible part plus grant region).
pub const RAM_SIZE: usize = 16 * 1024;
/// Initial app break offset: the lower half is the process's, the upper half
/// is room for grants.
pub const INITIAL_BREAK: usize = 8 * 1024;
/// Flash each fake process gets. Upcall function pointers in harness calls
/// are offsets into it (see `Harness::subscribe`).
pub const FLASH_SIZE: usize = 64 * 1024;

/// An upcall a capsule scheduled, as the process would receive it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upcall {
    pub driver_num: usize,
    pub subscribe_num: usize,
    pub args: (usize, usize, usize),
    /// The function subscribed, as an offset into the process's flash (as
    /// given to `Harness::subscribe`); 0 for a null upcall.
    pub fn_ptr: usize,
    pub appdata: usize,
}

/// A kernel with fake processes and a driver table.
pub struct Harness {
    kernel: &'static Kernel,
    drivers: RefCell<Vec<(usize, &'static dyn SyscallDriver)>>,
    next_flash_tag: Cell<usize>,
}

impl SyscallDriverLookup for Harness {
    fn with_driver<F, R>(&self, driver_num: usize, f: F) -> R
    where
        F: FnOnce(Option<&dyn SyscallDriver>) -> R,
    {
        let driver = self
            .drivers
            .borrow()
            .iter()
            .find(|(n, _)| *n == driver_num)
            .map(|(_, d)| *d);
        f(driver)
    }
}

fn leak_zeroed(bytes: usize) -> usize {
    // u64 words so the block is 8-byte aligned, like RAM on the board.
    let block: &'static mut [u64] = Vec::leak(vec![0u64; bytes / 8]);
    block.as_mut_ptr() as usize
}

impl Harness {
    /// A kernel with `slots` process slots, none loaded yet.
    pub fn new(slots: usize) -> &'static Harness {
        let processes: &'static [ProcessStandard] =
            Vec::leak((0..slots).map(|_| ProcessStandard::new()).collect());
        let kernel: &'static Kernel = Box::leak(Box::new(Kernel::new(processes)));
        Box::leak(Box::new(Harness {
            kernel,
            drivers: RefCell::new(Vec::new()),
            next_flash_tag: Cell::new(0),
        }))
    }

    pub fn kernel(&self) -> &'static Kernel {
        self.kernel
    }

    /// Moves `value` to the heap for the rest of the test (boards use
    /// `static_init!` for the same purpose).
    pub fn leak<T>(&self, value: T) -> &'static T {
        Box::leak(Box::new(value))
    }

    /// Creates a grant as a board does.
    pub fn create_grant<T: Default, U: UpcallSize, R: AllowRoSize, W: AllowRwSize>(
        &self,
        driver_num: usize,
    ) -> Grant<T, U, R, W> {
        let cap = create_capability!(MemoryAllocationCapability);
        self.kernel.create_grant(driver_num, &cap)
    }

    /// Registers a capsule to be told when process memory changes hands,
    /// as a board does.
    pub fn add_memory_observer(&self, observer: &'static dyn ProcessMemoryObserver) {
        let cap = create_capability!(ProcessManagementCapability);
        self.kernel
            .register_memory_observer(observer, &cap)
            .expect("too many memory observers");
    }

    /// Reports that `observer`-side revocation for the ended instance `pid`
    /// completed (what a capsule does from its invalidation callback).
    pub fn revocation_complete(&self, pid: ProcessId) {
        let cap = create_capability!(ProcessManagementCapability);
        self.kernel.revocation_complete(pid, &cap);
    }

    /// Makes `driver` serve `driver_num`.
    pub fn add_driver(&self, driver_num: usize, driver: &'static dyn SyscallDriver) {
        self.drivers.borrow_mut().push((driver_num, driver));
    }

    /// Loads a new process called `name` with fresh RAM and flash.
    pub fn spawn(&self, name: &'static str) -> ProcessId {
        let memory_start = leak_zeroed(RAM_SIZE);
        let flash_start = leak_zeroed(FLASH_SIZE);
        self.next_flash_tag.set(self.next_flash_tag.get() + 1);
        let layout = ProcessLayout {
            name,
            short_id: None,
            flash_start,
            flash_len: FLASH_SIZE,
            entry: flash_start + 0x80,
            app_start: flash_start + 0x40,
            memory_start,
            memory_len: RAM_SIZE,
            // As if the process had already brk'd to INITIAL_BREAK, the
            // first thing an app's start-up code does.
            initial_break: memory_start + INITIAL_BREAK,
            access_granule: kernel::process::PMP_GRANULE,
        };
        let cap = create_capability!(ProcessManagementCapability);
        self.kernel
            .load_process(layout, &cap)
            .expect("no free process slot")
    }

    /// The process's slot.
    pub fn process(&self, pid: ProcessId) -> &'static ProcessStandard {
        self.kernel.process_slot(pid).expect("stale process id")
    }

    /// Start of the process's RAM.
    pub fn ram_start(&self, pid: ProcessId) -> usize {
        self.process(pid).memory_start()
    }

    /// Writes `bytes` at `offset` in the process's RAM; returns the address.
    pub fn write_ram(&self, pid: ProcessId, offset: usize, bytes: &[u8]) -> usize {
        let p = self.process(pid);
        assert!(offset + bytes.len() <= RAM_SIZE);
        let addr = p.memory_start() + offset;
        // SAFETY: within this fake process's leaked RAM block; the harness
        // is single-threaded per test and the "process" is not running.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, bytes.len()) };
        addr
    }

    /// Reads `len` bytes at `offset` of the process's RAM.
    pub fn read_ram(&self, pid: ProcessId, offset: usize, len: usize) -> Vec<u8> {
        let p = self.process(pid);
        assert!(offset + len <= RAM_SIZE);
        let mut out = vec![0; len];
        // SAFETY: as in `write_ram`.
        unsafe {
            core::ptr::copy_nonoverlapping(
                (p.memory_start() + offset) as *const u8,
                out.as_mut_ptr(),
                len,
            )
        };
        out
    }

    /// Makes one system call for `pid` through `Kernel::handle_syscall`.
    pub fn syscall(&self, pid: ProcessId, syscall: Syscall) -> SyscallOutcome {
        self.kernel.handle_syscall(self, pid, syscall)
    }

    fn returned(&self, pid: ProcessId, syscall: Syscall) -> SyscallReturn {
        match self.syscall(pid, syscall) {
            SyscallOutcome::Return(r) => r,
            other => panic!("{syscall:?} did not return a value: {other:?}"),
        }
    }

    pub fn command(
        &self,
        pid: ProcessId,
        driver: usize,
        command: usize,
        arg0: usize,
        arg1: usize,
    ) -> SyscallReturn {
        self.returned(
            pid,
            Syscall::Command {
                driver_number: driver,
                subdriver_number: command,
                arg0,
                arg1,
            },
        )
    }

    /// Subscribes upcall `num`. `fn_offset` is the upcall function's offset
    /// in the process's flash (the kernel accepts only functions inside the
    /// process), or 0 for the null upcall. Return values that carry an
    /// upcall function are translated back to offsets.
    pub fn subscribe(
        &self,
        pid: ProcessId,
        driver: usize,
        num: usize,
        fn_offset: usize,
        appdata: usize,
    ) -> SyscallReturn {
        assert!(
            fn_offset < FLASH_SIZE,
            "upcall offset beyond the fake flash"
        );
        let flash = self.flash_start(pid);
        let to_ptr = |offset: usize| if offset == 0 { 0 } else { flash + offset };
        let to_offset = |ptr: usize| if ptr == 0 { 0 } else { ptr - flash };
        match self.subscribe_raw(pid, driver, num, to_ptr(fn_offset), appdata) {
            SyscallReturn::SubscribeSuccess(f, d) => {
                SyscallReturn::SubscribeSuccess(to_offset(f), d)
            }
            SyscallReturn::SubscribeFailure(e, f, d) => {
                SyscallReturn::SubscribeFailure(e, to_offset(f), d)
            }
            other => other,
        }
    }

    /// Subscribes with an absolute function pointer, unchecked by the
    /// harness (to test the kernel's own checks).
    pub fn subscribe_raw(
        &self,
        pid: ProcessId,
        driver: usize,
        num: usize,
        fn_ptr: usize,
        appdata: usize,
    ) -> SyscallReturn {
        self.returned(
            pid,
            Syscall::Subscribe {
                driver_number: driver,
                subdriver_number: num,
                upcall_ptr: fn_ptr,
                appdata,
            },
        )
    }

    /// Start of the process's flash.
    pub fn flash_start(&self, pid: ProcessId) -> usize {
        self.process(pid).layout().map_or(0, |l| l.flash_start)
    }

    pub fn allow_rw(
        &self,
        pid: ProcessId,
        driver: usize,
        num: usize,
        addr: usize,
        len: usize,
    ) -> SyscallReturn {
        self.returned(
            pid,
            Syscall::ReadWriteAllow {
                driver_number: driver,
                subdriver_number: num,
                allow_address: addr,
                allow_size: len,
            },
        )
    }

    pub fn allow_ro(
        &self,
        pid: ProcessId,
        driver: usize,
        num: usize,
        addr: usize,
        len: usize,
    ) -> SyscallReturn {
        self.returned(
            pid,
            Syscall::ReadOnlyAllow {
                driver_number: driver,
                subdriver_number: num,
                allow_address: addr,
                allow_size: len,
            },
        )
    }

    pub fn memop(&self, pid: ProcessId, op: usize, arg: usize) -> SyscallReturn {
        self.returned(
            pid,
            Syscall::Memop {
                operand: op,
                arg0: arg,
            },
        )
    }

    /// Exit-terminate with `code`.
    pub fn exit(&self, pid: ProcessId, code: usize) {
        let out = self.syscall(
            pid,
            Syscall::Exit {
                which: 0,
                completion_code: code,
            },
        );
        assert_eq!(out, SyscallOutcome::Exited);
    }

    /// Exit-restart: the slot gets a new instance; returns its id.
    pub fn restart(&self, pid: ProcessId) -> ProcessId {
        let index = self.slot_index(pid);
        let out = self.syscall(
            pid,
            Syscall::Exit {
                which: 1,
                completion_code: 0,
            },
        );
        assert_eq!(out, SyscallOutcome::Exited);
        self.kernel.process_id_at(index).unwrap()
    }

    /// The process faults (e.g. a bad memory access); the kernel applies
    /// `policy`. Returns the id of the instance in the slot afterwards.
    pub fn fault(&self, pid: ProcessId, policy: FaultPolicy) -> ProcessId {
        let index = self.slot_index(pid);
        let cap = create_capability!(ProcessManagementCapability);
        self.kernel.set_fault_policy(policy, &cap);
        self.kernel.process_faulted(pid, &cap);
        self.kernel.process_id_at(index).unwrap()
    }

    fn slot_index(&self, pid: ProcessId) -> usize {
        let p = self.process(pid);
        (0..self.kernel.process_count())
            .find(|&i| core::ptr::eq(self.kernel.process_at(i).unwrap(), p))
            .unwrap()
    }

    pub fn state(&self, pid: ProcessId) -> Option<State> {
        self.kernel.process_slot(pid).map(ProcessStandard::state)
    }

    /// Takes every queued upcall of `pid`, oldest first, as the process
    /// would run them (null upcalls included, with `fn_ptr` 0).
    pub fn upcalls(&self, pid: ProcessId) -> Vec<Upcall> {
        let p = self.process(pid);
        let flash = self.flash_start(pid);
        let mut out = Vec::new();
        while let Some(task) = p.dequeue_task() {
            match task {
                Task::FunctionCall(fc) => {
                    if let FunctionCallSource::Driver(id) = fc.source {
                        out.push(Upcall {
                            driver_num: id.driver_num,
                            subscribe_num: id.subscribe_num,
                            args: (fc.argument0, fc.argument1, fc.argument2),
                            fn_ptr: fc.pc - flash,
                            appdata: fc.argument3,
                        });
                    }
                }
                Task::ReturnValue(r) => out.push(Upcall {
                    driver_num: r.upcall_id.driver_num,
                    subscribe_num: r.upcall_id.subscribe_num,
                    args: (r.argument0, r.argument1, r.argument2),
                    fn_ptr: 0,
                    appdata: 0,
                }),
            }
        }
        out
    }

    /// Runs pending deferred calls until none is left (bounded: a capsule
    /// that re-arms forever is reported).
    pub fn run_deferred(&self) -> usize {
        let mut ran = 0;
        while DeferredCall::service_next_pending().is_some() {
            ran += 1;
            assert!(ran < 100_000, "deferred calls never settle");
        }
        ran
    }
}
