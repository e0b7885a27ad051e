// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The kernel's system call paths, driven through the harness with a small
//! capsule written only against Tock's kernel API.

use capsule_test_harness::{Harness, INITIAL_BREAK, RAM_SIZE, Upcall};
use kernel::ErrorCode;
use kernel::capabilities::ProcessManagementCapability;
use kernel::create_capability;
use kernel::grant::{AllowRoCount, AllowRwCount, Grant, UpcallCount};
use kernel::process::{Error, State, TASK_QUEUE_LEN};
use kernel::processbuffer::{ReadableProcessBuffer, WriteableProcessBuffer};
use kernel::syscall::{CommandReturn, Syscall, SyscallDriver, SyscallReturn};
use kernel::{FaultPolicy, ProcessId, SyscallOutcome};

const DRIVER: usize = 0x9000;

#[derive(Default)]
struct App {
    commands: u32,
}

/// Echo capsule: command 1 copies allow-ro 0 into allow-rw 0 and upcalls
/// with the length; command 2 upcalls `arg0` times; command 3 counts.
struct Echo {
    apps: Grant<App, UpcallCount<1>, AllowRoCount<1>, AllowRwCount<1>>,
}

impl SyscallDriver for Echo {
    fn command(&self, command_num: usize, r2: usize, _r3: usize, pid: ProcessId) -> CommandReturn {
        match command_num {
            0 => CommandReturn::success(),
            1 => self
                .apps
                .enter(pid, |_, kd| {
                    let src = kd.get_readonly_processbuffer(0)?;
                    let dst = kd.get_readwrite_processbuffer(0)?;
                    let n = src.len().min(dst.len());
                    let mut tmp = vec![0u8; n];
                    src.enter(|s| s[..n].copy_to_slice(&mut tmp))?;
                    dst.mut_enter(|d| d[..n].copy_from_slice(&tmp))?;
                    kd.schedule_upcall(0, (n, 0, 0))
                        .map_err(|_| Error::KernelError)?;
                    Ok::<_, Error>(n)
                })
                .and_then(|r| r)
                .map_or_else(CommandReturn::from, |n| {
                    CommandReturn::success_u32(n as u32)
                }),
            2 => self
                .apps
                .enter(pid, |_, kd| {
                    let mut full = 0;
                    for i in 0..r2 {
                        if kd.schedule_upcall(0, (i, 0, 0)).is_err() {
                            full += 1;
                        }
                    }
                    CommandReturn::success_u32(full)
                })
                .unwrap_or_else(CommandReturn::from),
            3 => self
                .apps
                .enter(pid, |app, _| {
                    app.commands += 1;
                    CommandReturn::success_u32(app.commands)
                })
                .unwrap_or_else(CommandReturn::from),
            _ => CommandReturn::failure(ErrorCode::NOSUPPORT),
        }
    }

    fn allocate_grant(&self, pid: ProcessId) -> Result<(), Error> {
        self.apps.enter(pid, |_, _| {})
    }
}

fn setup(processes: usize) -> (&'static Harness, &'static Echo) {
    let h = Harness::new(processes);
    let echo = h.leak(Echo {
        apps: h.create_grant(DRIVER),
    });
    h.add_driver(DRIVER, echo);
    (h, echo)
}

#[test]
fn allow_outside_process_memory_is_inval_and_handed_back() {
    let (h, _) = setup(2);
    let a = h.spawn("a");
    let b = h.spawn("b");
    let b_buf = h.ram_start(b) + 16;
    assert_eq!(
        h.allow_rw(a, DRIVER, 0, b_buf, 8),
        SyscallReturn::AllowReadWriteFailure(ErrorCode::INVAL, b_buf, 8)
    );
    // Past the break (the grant region) is not the process's either.
    let past_break = h.ram_start(a) + INITIAL_BREAK - 4;
    assert_eq!(
        h.allow_rw(a, DRIVER, 0, past_break, 8),
        SyscallReturn::AllowReadWriteFailure(ErrorCode::INVAL, past_break, 8)
    );
    assert_eq!(
        h.allow_ro(a, DRIVER, 0, usize::MAX - 2, 8),
        SyscallReturn::AllowReadOnlyFailure(ErrorCode::INVAL, usize::MAX - 2, 8)
    );
    // Inside is fine, and the previous buffer comes back next time.
    let own = h.ram_start(a) + 64;
    assert_eq!(
        h.allow_rw(a, DRIVER, 0, own, 8),
        SyscallReturn::AllowReadWriteSuccess(0, 0)
    );
    assert_eq!(
        h.allow_rw(a, DRIVER, 0, 0, 0),
        SyscallReturn::AllowReadWriteSuccess(own, 8)
    );
    // Unknown allow number.
    assert_eq!(
        h.allow_rw(a, DRIVER, 1, own, 8),
        SyscallReturn::AllowReadWriteFailure(ErrorCode::INVAL, own, 8)
    );
    // No such driver.
    assert_eq!(
        h.allow_rw(a, 0x4242, 0, own, 8),
        SyscallReturn::AllowReadWriteFailure(ErrorCode::NODEVICE, own, 8)
    );
}

#[test]
fn allow_subscribe_command_upcall_round_trip() {
    let (h, _) = setup(1);
    let p = h.spawn("p");
    let src = h.write_ram(p, 0x100, b"tock iommu");
    let dst = h.ram_start(p) + 0x200;
    assert!(h.allow_ro(p, DRIVER, 0, src, 10).is_success());
    assert!(h.allow_rw(p, DRIVER, 0, dst, 10).is_success());
    assert_eq!(
        h.subscribe(p, DRIVER, 0, 0x1234, 77),
        SyscallReturn::SubscribeSuccess(0, 0)
    );
    assert_eq!(h.command(p, DRIVER, 1, 0, 0), SyscallReturn::SuccessU32(10));
    assert_eq!(h.read_ram(p, 0x200, 10), b"tock iommu");
    assert_eq!(
        h.upcalls(p),
        vec![Upcall {
            driver_num: DRIVER,
            subscribe_num: 0,
            args: (10, 0, 0),
            fn_ptr: 0x1234,
            appdata: 77
        }]
    );
    // Subscribe returns the previous upcall; an out-of-range number is INVAL.
    assert_eq!(
        h.subscribe(p, DRIVER, 0, 0, 0),
        SyscallReturn::SubscribeSuccess(0x1234, 77)
    );
    assert_eq!(
        h.subscribe(p, DRIVER, 1, 0x10, 1),
        SyscallReturn::SubscribeFailure(ErrorCode::INVAL, 0x10, 1)
    );
    assert_eq!(
        h.subscribe(p, 0x4242, 0, 0x10, 1),
        SyscallReturn::SubscribeFailure(ErrorCode::NODEVICE, 0x10, 1)
    );
    assert_eq!(
        h.command(p, 0x4242, 0, 0, 0),
        SyscallReturn::Failure(ErrorCode::NODEVICE)
    );
    // An upcall function outside the process (kernel text, say) is refused
    // before anything else, and handed back; one in its own RAM is fine.
    let kernel_text = 0x8000_0000;
    assert_eq!(
        h.subscribe_raw(p, DRIVER, 0, kernel_text, 5),
        SyscallReturn::SubscribeFailure(ErrorCode::INVAL, kernel_text, 5)
    );
    assert_eq!(
        h.subscribe_raw(p, 0x4242, 0, kernel_text, 5),
        SyscallReturn::SubscribeFailure(ErrorCode::INVAL, kernel_text, 5)
    );
    assert!(
        h.subscribe_raw(p, DRIVER, 0, h.ram_start(p) + 0x40, 5)
            .is_success()
    );
}

#[test]
fn upcall_queue_full_is_reported_not_a_panic() {
    let (h, _) = setup(1);
    let p = h.spawn("p");
    assert!(h.subscribe(p, DRIVER, 0, 0x1000, 0).is_success());
    let extra = 5;
    assert_eq!(
        h.command(p, DRIVER, 2, TASK_QUEUE_LEN + extra, 0),
        SyscallReturn::SuccessU32(extra as u32)
    );
    assert_eq!(h.process(p).dropped_upcall_count(), extra);
    let got = h.upcalls(p);
    assert_eq!(got.len(), TASK_QUEUE_LEN);
    assert_eq!(
        got.iter().map(|u| u.args.0).collect::<Vec<_>>(),
        (0..TASK_QUEUE_LEN).collect::<Vec<_>>()
    );
}

#[test]
fn subscribe_drops_pending_upcalls_of_that_slot() {
    let (h, _) = setup(1);
    let p = h.spawn("p");
    assert!(h.subscribe(p, DRIVER, 0, 0x1000, 0).is_success());
    assert!(h.command(p, DRIVER, 2, 3, 0).is_success());
    assert_eq!(h.process(p).pending_tasks(), 3);
    assert!(h.subscribe(p, DRIVER, 0, 0x2000, 0).is_success());
    assert_eq!(h.process(p).pending_tasks(), 0);
}

#[test]
fn entering_the_grant_of_a_dead_process_fails_cleanly() {
    let (h, echo) = setup(2);
    let p = h.spawn("p");
    let q = h.spawn("q");
    assert_eq!(h.command(p, DRIVER, 3, 0, 0), SyscallReturn::SuccessU32(1));
    let buf = h.ram_start(p) + 0x40;
    assert!(h.allow_rw(p, DRIVER, 0, buf, 4).is_success());
    let stale_buffer = echo
        .apps
        .enter(p, |_, kd| {
            kd.get_readwrite_processbuffer(0)
                .map(|b| (b.ptr() as usize, b.len()))
        })
        .unwrap()
        .unwrap();
    assert_eq!(stale_buffer, (buf, 4));
    h.exit(p, 3);
    assert_eq!(h.state(p), Some(State::Terminated));
    assert_eq!(h.process(p).completion_code(), Some(3));
    assert_eq!(echo.apps.enter(p, |_, _| ()), Err(Error::NoSuchApp));
    // Only the live process is iterated.
    assert_eq!(h.command(q, DRIVER, 3, 0, 0), SyscallReturn::SuccessU32(1));
    let mut seen = vec![];
    echo.apps.each(|pid, app, _| seen.push((pid, app.commands)));
    assert_eq!(seen, vec![(q, 1)]);
    // A dead process's syscalls do nothing.
    assert_eq!(
        h.syscall(
            p,
            Syscall::Command {
                driver_number: DRIVER,
                subdriver_number: 3,
                arg0: 0,
                arg1: 0
            }
        ),
        SyscallOutcome::Exited
    );
}

#[test]
fn restart_gives_a_fresh_instance_and_stale_ids_fail() {
    let (h, echo) = setup(1);
    let p = h.spawn("p");
    assert_eq!(h.command(p, DRIVER, 3, 0, 0), SyscallReturn::SuccessU32(1));
    let buf = h.write_ram(p, 0x10, b"x");
    assert!(h.allow_ro(p, DRIVER, 0, buf, 1).is_success());
    let p2 = h.restart(p);
    assert_ne!(p, p2);
    assert_eq!(echo.apps.enter(p, |_, _| ()), Err(Error::NoSuchApp));
    // New instance: grant state starts over, allows are gone.
    assert_eq!(h.command(p2, DRIVER, 3, 0, 0), SyscallReturn::SuccessU32(1));
    let len = echo
        .apps
        .enter(p2, |_, kd| {
            kd.get_readonly_processbuffer(0).map(|b| b.len())
        })
        .unwrap();
    assert_eq!(len, Ok(0));
    assert_eq!(h.process(p2).restart_count(), 1);
    // Fault with a restart policy, then with stop.
    let p3 = h.fault(p2, FaultPolicy::Restart(5));
    assert_eq!(h.state(p3), Some(State::Running));
    assert_ne!(p2, p3);
    let p4 = h.fault(p3, FaultPolicy::Stop);
    assert_eq!(h.state(p4), Some(State::Faulted));
    assert_eq!(echo.apps.enter(p4, |_, _| ()), Err(Error::NoSuchApp));
}

#[test]
fn nested_enter_of_the_same_grant_is_refused() {
    let (h, echo) = setup(1);
    let p = h.spawn("p");
    let inner = echo
        .apps
        .enter(p, |_, _| echo.apps.enter(p, |_, _| ()))
        .unwrap();
    assert_eq!(inner, Err(Error::AlreadyInUse));
}

#[test]
fn memop_brk_and_sbrk_stay_between_allows_and_grants() {
    let (h, _) = setup(1);
    let p = h.spawn("p");
    let start = h.ram_start(p);
    assert_eq!(h.memop(p, 2, 0), SyscallReturn::SuccessPtr(start));
    assert_eq!(
        h.memop(p, 3, 0),
        SyscallReturn::SuccessPtr(start + RAM_SIZE)
    );
    assert_eq!(
        h.memop(p, 1, 0),
        SyscallReturn::SuccessPtr(start + INITIAL_BREAK)
    );
    assert_eq!(h.memop(p, 0, start + 0x1000), SyscallReturn::Success);
    assert_eq!(
        h.memop(p, 1, 0x100),
        SyscallReturn::SuccessPtr(start + 0x1000)
    );
    assert_eq!(h.memop(p, 1, 0), SyscallReturn::SuccessPtr(start + 0x1100));
    // Into the grant region or beyond the block: NOMEM.
    assert_eq!(
        h.memop(p, 0, start + RAM_SIZE + 4),
        SyscallReturn::Failure(ErrorCode::NOMEM)
    );
    // Allocating the grant moves the kernel break down.
    assert!(h.command(p, DRIVER, 3, 0, 0).is_success());
    let SyscallReturn::SuccessPtr(grant_start) = h.memop(p, 6, 0) else {
        panic!()
    };
    assert!(grant_start < start + RAM_SIZE && grant_start >= start + 0x1100);
    assert_eq!(
        h.memop(p, 0, grant_start + 1),
        SyscallReturn::Failure(ErrorCode::NOMEM)
    );
    // Below an allowed buffer (the allow high-water mark): NOMEM, as every
    // refused brk on Tock.
    let buf = start + 0x800;
    assert!(h.allow_rw(p, DRIVER, 0, buf, 0x100).is_success());
    assert_eq!(
        h.memop(p, 0, buf + 0x80),
        SyscallReturn::Failure(ErrorCode::NOMEM)
    );
    assert_eq!(h.memop(p, 0, buf + 0x100), SyscallReturn::Success);
    // Up to the grant region the break may go; the process's access ends
    // at the break rounded up to the PMP's 4-byte granule, as on Tock.
    assert_eq!(h.memop(p, 0, grant_start - 3), SyscallReturn::Success);
    assert_eq!(h.process(p).ram_access_end(), grant_start);
    assert_eq!(h.memop(p, 0, grant_start), SyscallReturn::Success);
    assert_eq!(h.process(p).ram_access_end(), grant_start);
    assert_eq!(
        h.memop(p, 99, 0),
        SyscallReturn::Failure(ErrorCode::NOSUPPORT)
    );
}

#[test]
fn yield_wait_for_returns_the_upcall_values() {
    use kernel::process::{ReturnArguments, Task};
    use kernel::upcall::UpcallId;
    let (h, _) = setup(1);
    let p = h.spawn("p");
    assert!(h.command(p, DRIVER, 3, 0, 0).is_success());
    // A plain yield-wait is not woken by a null upcall (TRD104 4.1).
    assert_eq!(
        h.syscall(
            p,
            Syscall::Yield {
                which: 1,
                param_a: 0,
                param_b: 0
            }
        ),
        SyscallOutcome::Wait
    );
    assert_eq!(h.kernel().schedule_upcall(p, DRIVER, 0, (1, 2, 3)), Ok(()));
    assert_eq!(h.kernel().next_task(p), None);
    assert_eq!(h.state(p), Some(State::Yielded));
    // Yield-wait-for gets the null upcall's values, with no function call.
    assert_eq!(
        h.syscall(
            p,
            Syscall::Yield {
                which: 2,
                param_a: DRIVER,
                param_b: 0
            }
        ),
        SyscallOutcome::Wait
    );
    assert_eq!(h.kernel().next_task(p), None);
    assert_eq!(h.kernel().schedule_upcall(p, DRIVER, 0, (7, 8, 9)), Ok(()));
    assert_eq!(
        h.kernel().next_task(p),
        Some(Task::ReturnValue(ReturnArguments {
            upcall_id: UpcallId {
                driver_num: DRIVER,
                subscribe_num: 0
            },
            argument0: 7,
            argument1: 8,
            argument2: 9
        }))
    );
    assert_eq!(h.state(p), Some(State::Running));
    // An unknown yield variant returns NOSUPPORT rather than blocking.
    assert_eq!(
        h.syscall(
            p,
            Syscall::Yield {
                which: 9,
                param_a: 0,
                param_b: 0
            }
        ),
        SyscallOutcome::Return(SyscallReturn::Failure(ErrorCode::NOSUPPORT))
    );
}

/// An observer standing in for the IOMMU capsule: records what it was told
/// and answers `Pending` when asked to.
struct Observer {
    told: std::cell::RefCell<Vec<ProcessId>>,
    answer: std::cell::Cell<kernel::process_memory::Revocation>,
}

impl kernel::process_memory::ProcessMemoryObserver for Observer {
    fn process_memory_revoked(&self, pid: ProcessId) -> kernel::process_memory::Revocation {
        self.told.borrow_mut().push(pid);
        self.answer.get()
    }
}

#[test]
fn restart_waits_until_device_access_is_revoked() {
    let (h, _) = setup(2);
    let obs = h.leak(Observer {
        told: Default::default(),
        answer: std::cell::Cell::new(kernel::process_memory::Revocation::Pending),
    });
    h.add_memory_observer(obs);
    let p = h.spawn("p");
    let q = h.spawn("q");
    // Exit: the observer hears of it; the process is dead at once.
    h.exit(q, 0);
    assert_eq!(*obs.told.borrow(), vec![q]);
    assert_eq!(h.state(q), Some(State::Terminated));
    assert_eq!(h.process(q).revocations_pending(), 1);
    // Restart with revocation pending: the slot does not run again yet.
    let still_old = h.restart(p);
    assert_eq!(still_old, p, "no new instance before revocation completes");
    // It waits as Terminated (no state of its own: Tock's `State` has
    // none), with the restart and the revocation pending.
    assert_eq!(h.state(p), Some(State::Terminated));
    assert!(h.process(p).restart_requested());
    assert_eq!(h.process(p).revocations_pending(), 1);
    assert_eq!(h.kernel().next_task(p), None);
    assert_eq!(
        h.syscall(
            p,
            Syscall::Command {
                driver_number: DRIVER,
                subdriver_number: 3,
                arg0: 0,
                arg1: 0
            }
        ),
        SyscallOutcome::Exited
    );
    h.revocation_complete(p);
    let p2 = h.kernel().process_id_at(0).unwrap();
    assert_ne!(p2, p);
    assert_eq!(h.state(p2), Some(State::Running));
    // A completion for a stale or already-complete id changes nothing.
    h.revocation_complete(p);
    assert_eq!(h.state(p2), Some(State::Running));
    // Synchronous revocation restarts at once.
    obs.answer.set(kernel::process_memory::Revocation::Complete);
    let p3 = h.restart(p2);
    assert_ne!(p3, p2);
    assert_eq!(h.state(p3), Some(State::Running));
    assert_eq!(obs.told.borrow().len(), 3);
}

#[test]
fn an_instance_is_reported_to_observers_once_however_it_ends() {
    let (h, _) = setup(2);
    let obs = h.leak(Observer {
        told: Default::default(),
        answer: std::cell::Cell::new(kernel::process_memory::Revocation::Pending),
    });
    h.add_memory_observer(obs);
    let p = h.spawn("p");
    let cap = create_capability!(ProcessManagementCapability);
    // A fault stops it (Stop policy): reported once.
    h.fault(p, FaultPolicy::Stop);
    assert_eq!(h.state(p), Some(State::Faulted));
    assert_eq!(*obs.told.borrow(), vec![p]);
    // The board then terminates the faulted process: not reported again,
    // and the pending count is not doubled.
    h.kernel().terminate_process(p, 1, &cap);
    assert_eq!(*obs.told.borrow(), vec![p]);
    assert_eq!(h.process(p).revocations_pending(), 1);
    // And restarts it: still not reported again; it waits for the one
    // revocation, then runs as a new instance.
    h.kernel().restart(p, &cap);
    assert_eq!(*obs.told.borrow(), vec![p]);
    assert_eq!(h.state(p), Some(State::Terminated));
    h.revocation_complete(p);
    let p2 = h.kernel().process_id_at(0).unwrap();
    assert_ne!(p2, p);
    assert_eq!(h.state(p2), Some(State::Running));
    assert_eq!(h.process(p2).revocations_pending(), 0);
}

#[test]
fn dma_memory_is_only_what_a_live_process_allowed() {
    use kernel::hil::iommu::DmaMemory;
    let (h, echo) = setup(2);
    let p = h.spawn("p");
    let start = h.ram_start(p);
    assert!(h.allow_rw(p, DRIVER, 0, start + 0x400, 0x800).is_success());
    assert!(h.allow_ro(p, DRIVER, 0, start + 0x1000, 0x400).is_success());
    let proofs = || {
        echo.apps
            .enter(p, |_, kd| {
                let rw = kd.get_readwrite_processbuffer(0).unwrap().dma_memory();
                let ro = kd.get_readonly_processbuffer(0).unwrap().dma_memory();
                (rw, ro)
            })
            .unwrap()
    };
    let (rw, ro) = proofs();
    let rw: DmaMemory = rw.expect("an allowed buffer is the process's memory");
    assert_eq!(
        (rw.start(), rw.len(), rw.writable()),
        (start + 0x400, 0x800, true)
    );
    assert_eq!(rw.owner(), Some(p));
    // A read-only allow gives memory devices may only read.
    let ro = ro.unwrap();
    assert_eq!((ro.start(), ro.writable()), (start + 0x1000, false));
    // Narrowing never widens.
    let part = rw.sub_range(0x200, 0x400).unwrap();
    assert_eq!((part.start(), part.len()), (start + 0x600, 0x400));
    assert!(part.sub_range(0x200, 0x400).is_none());
    // Once the process has ended, its memory is no longer held: a proof
    // made while it lived stops counting, and none can be made.
    let (kept, _) = proofs();
    let kept = kept.unwrap();
    assert!(kept.is_held());
    h.exit(p, 0);
    assert!(!kept.is_held());
    // Nothing allowed: no proof at all.
    let q = h.spawn("q");
    let none = echo
        .apps
        .enter(q, |_, kd| {
            kd.get_readwrite_processbuffer(0).unwrap().dma_memory()
        })
        .unwrap();
    assert!(none.is_none());
}
