// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Adversarial tests of invariant I4 (revocation before reuse).
//!
//! Before memory mapped for DMA changes hands (exit, fault, restart),
//! every mapping of it is gone, the invalidation has completed and its
//! contexts are detached.

use capsules_iommu::driver::command::*;
use iommu_test_support::capsule_rig::*;
use kernel::process::State;
use kernel::syscall::SyscallReturn;
use kernel::{ErrorCode, FaultPolicy, ProcessId};

/// p owns context 0 attached to a domain mapping `pages` pages of its RAM
/// (and a second, unattached domain with one page). Returns the
/// (start, end) of p's RAM.
fn busy_process(r: &Rig, p: ProcessId, pages: usize) -> (usize, usize) {
    let ctx = r.acquire(p, 0, 0);
    let dom = r.create(p, 0);
    let spare = r.create(p, 0);
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, (pages + 1) * r.mock().page());
    assert_eq!(
        r.map_now(p, map_r2(dom, 0, 0, false), range_r3(0, pages)),
        0
    );
    assert_eq!(
        r.map_now(p, map_r2(spare, pages, 0, false), range_r3(0, 1)),
        0
    );
    r.attach_now(p, ctx, dom);
    let start = r.h.ram_start(p);
    (start, start + capsule_test_harness::RAM_SIZE)
}

fn nothing_reaches(r: &Rig, (start, end): (usize, usize)) {
    assert_eq!(
        r.mock().entries_into(start, end),
        0,
        "a page table still maps the memory"
    );
    assert!(
        r.mock()
            .reachable()
            .iter()
            .all(|(_, _, e)| e.phys < start || e.phys >= end),
        "a device can still reach the memory"
    );
}

#[test]
fn i4_exit_revokes_after_the_detach_completes() {
    let r = rig(2, ONE);
    let p = r.h.spawn("p");
    let mem = busy_process(&r, p, 3);
    r.h.exit(p, 0);
    assert_eq!(r.h.state(p), Some(State::Terminated));
    // The detach is in flight: the kernel was told "pending".
    assert_eq!(r.h.process(p).revocations_pending(), 1);
    assert!(
        !r.mock().reachable().is_empty(),
        "mock: detach not yet complete"
    );
    r.complete_all();
    assert_eq!(r.h.process(p).revocations_pending(), 0);
    nothing_reaches(&r, mem);
    assert_eq!(r.mock().live_domains(), 0);
    assert_eq!(
        r.mock().free_pages_now(),
        64,
        "page-table pages back in the pool"
    );
    // The context is free again, for anyone.
    let q = r.h.spawn("q");
    r.acquire(q, 0, 0);
}

#[test]
fn i4_restart_does_not_run_until_revocation_completes() {
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    let mem = busy_process(&r, p, 2);
    let same = r.h.restart(p);
    assert_eq!(same, p, "no new instance yet");
    assert_eq!(r.h.state(p), Some(State::Terminated));
    assert!(r.h.process(p).restart_requested());
    assert_eq!(r.h.kernel().next_task(p), None);
    r.complete_all();
    nothing_reaches(&r, mem);
    let p2 = r.h.kernel().process_id_at(0).unwrap();
    assert_ne!(p2, p);
    assert_eq!(r.h.state(p2), Some(State::Running));
    // The new instance owns nothing; the old handles are dead for it too.
    assert_eq!(
        r.cmd(p2, INFO, 0, 0),
        SyscallReturn::SuccessU32U32U32(1, 4 << 16, 4 << 16)
    );
    assert_eq!(r.err(p2, RELEASE, 0x0100, 0), ErrorCode::INVAL);
    assert_eq!(r.err(p2, TRANSLATE, 0x0100, 0), ErrorCode::INVAL);
}

#[test]
fn i4_fault_with_restart_and_with_stop() {
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    let mem = busy_process(&r, p, 1);
    let after = r.h.fault(p, FaultPolicy::Restart(3));
    assert_eq!(after, p);
    assert_eq!(r.h.state(p), Some(State::Terminated));
    assert!(r.h.process(p).restart_requested());
    r.complete_all();
    nothing_reaches(&r, mem);
    let p2 = r.h.kernel().process_id_at(0).unwrap();
    assert_eq!(r.h.state(p2), Some(State::Running));
    let mem = busy_process(&r, p2, 1);
    r.h.fault(p2, FaultPolicy::Stop);
    r.complete_all();
    assert_eq!(r.h.state(p2), Some(State::Faulted));
    nothing_reaches(&r, mem);
}

#[test]
fn i4_operations_in_flight_finish_before_the_domain_goes() {
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    let ctx = r.acquire(p, 0, 0);
    let dom = r.create(p, 0);
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, 4 * r.mock().page());
    r.ok(p, ATTACH, ctx, dom);
    r.ok(p, MAP, map_r2(dom, 0, 0, false), range_r3(0, 4));
    // Exit with an attach and a map in flight.
    let mem = (
        r.h.ram_start(p),
        r.h.ram_start(p) + capsule_test_harness::RAM_SIZE,
    );
    r.h.exit(p, 0);
    assert_eq!(r.h.process(p).revocations_pending(), 1);
    // One completion at a time: never complete before the last.
    while r.mock().complete_one() {
        if r.h.process(p).revocations_pending() == 0 {
            assert_eq!(r.mock().pending_count(), 0);
        }
    }
    assert_eq!(r.h.process(p).revocations_pending(), 0);
    nothing_reaches(&r, mem);
    assert!(r.h.upcalls(p).is_empty() || r.h.kernel().process_slot(p).is_some());
}

#[test]
fn i4_nothing_attached_completes_at_once() {
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    let dom = r.create(p, 0);
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, r.mock().page());
    assert_eq!(r.map_now(p, map_r2(dom, 0, 0, false), range_r3(0, 1)), 0);
    r.acquire(p, 0, 2);
    let p2 = r.h.restart(p);
    assert_ne!(p2, p, "synchronous revocation restarts at once");
    assert_eq!(r.mock().live_domains(), 0);
}

#[test]
fn i4_synchronous_completions_inside_the_observer() {
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    let mem = busy_process(&r, p, 2);
    r.mock().completion.set(Completion::Synchronous);
    let p2 = r.h.restart(p);
    assert_ne!(p2, p);
    assert_eq!(r.h.state(p2), Some(State::Running));
    nothing_reaches(&r, mem);
}

#[test]
fn i4_unconfirmed_detach_never_frees_the_memory() {
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    busy_process(&r, p, 1);
    r.mock().complete_with.set(Err(ErrorCode::FAIL));
    let _ = r.h.restart(p);
    r.complete_all();
    r.mock().complete_with.set(Ok(()));
    r.complete_all();
    // The hardware never confirmed: the slot stays revoking, forever.
    assert_eq!(r.h.state(p), Some(State::Terminated));
    assert!(r.h.process(p).restart_requested());
    assert_eq!(r.h.kernel().process_id_at(0).unwrap(), p);
}

#[test]
fn i4_refused_detach_is_retried_through_a_fence() {
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    let mem = busy_process(&r, p, 1);
    r.mock().refuse_next(Call::Detach, ErrorCode::BUSY);
    r.h.exit(p, 0);
    assert_eq!(r.h.process(p).revocations_pending(), 1);
    r.complete_all();
    assert_eq!(r.h.process(p).revocations_pending(), 0);
    nothing_reaches(&r, mem);
}

#[test]
fn i4_two_processes_revoked_at_once_only_touch_their_own() {
    let r = rig(3, ONE);
    let p = r.h.spawn("p");
    let q = r.h.spawn("q");
    let s = r.h.spawn("s");
    let mem_p = busy_process(&r, p, 1);
    // q: context 1 and its own domain.
    let qc = r.acquire(q, 0, 1);
    let qd = r.create(q, 0);
    let off = r.first_page_offset(q);
    r.allow_rw(q, 0, off, r.mock().page());
    assert_eq!(r.map_now(q, map_r2(qd, 0, 0, false), range_r3(0, 1)), 0);
    r.attach_now(q, qc, qd);
    // s: survives.
    let sc = r.acquire(s, 0, 2);
    let sd = r.create(s, 0);
    let off = r.first_page_offset(s);
    let s_buf = r.allow_rw(s, 0, off, r.mock().page());
    assert_eq!(r.map_now(s, map_r2(sd, 0, 0, false), range_r3(0, 1)), 0);
    r.attach_now(s, sc, sd);
    let q_ram = r.h.ram_start(q);
    r.h.exit(p, 0);
    let q2 = r.h.restart(q);
    assert_eq!(q2, q);
    r.complete_all();
    nothing_reaches(&r, mem_p);
    assert_eq!(
        r.mock()
            .entries_into(q_ram, q_ram + capsule_test_harness::RAM_SIZE),
        0
    );
    assert_eq!(r.mock().entries_into(s_buf, s_buf + 1), 1);
    assert!(r.mock().attached_to(2).is_some(), "s keeps its attachment");
    assert_eq!(
        r.cmd(s, TRANSLATE, sd, 0),
        SyscallReturn::SuccessU32U64(3 | 8 << 8, s_buf as u64)
    );
    assert_ne!(r.h.kernel().process_id_at(1).unwrap(), q);
}

#[test]
fn i4_a_revocation_finished_while_another_starts_is_reported() {
    let r = rig(2, ONE);
    let a = r.h.spawn("a");
    let b = r.h.spawn("b");
    busy_process(&r, a, 1);
    let bc = r.acquire(b, 0, 1);
    let bd = r.create(b, 0);
    r.attach_now(b, bc, bd);
    // a's detach is queued...
    r.h.exit(a, 0);
    assert_eq!(r.h.process(a).revocations_pending(), 1);
    // ...and completes inside b's revocation (synchronous completions):
    // a's must still be reported to the kernel.
    r.mock().completion.set(Completion::Synchronous);
    r.h.exit(b, 0);
    assert_eq!(r.h.process(b).revocations_pending(), 0);
    assert_eq!(r.h.process(a).revocations_pending(), 0);
    assert_eq!(r.mock().live_domains(), 0);
}

#[test]
fn i4_unconfirmed_detach_of_a_live_process_blocks_release_and_revocation() {
    let r = rig(2, ONE);
    let p = r.h.spawn("p");
    let ctx = r.acquire(p, 0, 0);
    let dom = r.create(p, 0);
    r.attach_now(p, ctx, dom);
    // The detach's invalidation is not confirmed: the device may still use
    // the domain, so the context cannot go to anyone else.
    r.mock().complete_with.set(Err(ErrorCode::FAIL));
    r.ok(p, DETACH, ctx, 0);
    r.complete_all();
    assert_eq!(r.done_status(p), usize::from(ErrorCode::FAIL));
    r.mock().complete_with.set(Ok(()));
    assert_eq!(r.err(p, RELEASE, ctx, 0), ErrorCode::BUSY);
    // Attaching and detaching again, confirmed, clears it.
    r.attach_now(p, ctx, dom);
    r.ok(p, DETACH, ctx, 0);
    r.complete_all();
    assert_eq!(r.done_status(p), 0);
    r.ok(p, RELEASE, ctx, 0);
    // Unconfirmed again, then the process exits: never reported revoked.
    let ctx = r.acquire(p, 0, 0);
    r.attach_now(p, ctx, dom);
    r.mock().complete_with.set(Err(ErrorCode::FAIL));
    r.ok(p, DETACH, ctx, 0);
    r.complete_all();
    r.mock().complete_with.set(Ok(()));
    r.h.exit(p, 0);
    r.complete_all();
    assert_eq!(r.h.process(p).revocations_pending(), 1);
    let q = r.h.spawn("q");
    assert_eq!(r.err(q, ACQUIRE, 0, 0), ErrorCode::BUSY);
}
