// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! `MAP` on an instance whose new mappings are visible when `map` returns
//! (`Geometry::map_visible_on_return`, the RISC-V IOMMU): the command is
//! complete on return (success with 1), no `DONE` follows, and the domain
//! is not held busy; the instance's later `map_done` is absorbed. The
//! invariants must hold as in the split-phase mode: in particular
//! revocation (I4) still waits for every outstanding `map_done` before
//! the domain goes.

use capsules_iommu::driver::command::*;
use capsules_iommu::driver::upcall;
use iommu_test_support::capsule_rig::*;
use kernel::ErrorCode;
use kernel::ProcessId;
use kernel::process::State;
use kernel::syscall::SyscallReturn;

/// A rig whose instance reports maps visible on return, and a process
/// with context 0 attached to a domain and `pages` pages allowed
/// read-write in slot 0. Returns (rig, process, context, domain).
fn sync_rig(pages: usize) -> (Rig, ProcessId, usize, usize) {
    let r = rig(2, ONE);
    r.mock().map_visible.set(true);
    let p = r.h.spawn("p");
    let ctx = r.acquire(p, 0, 0);
    let dom = r.create(p, 0);
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, pages * r.mock().page());
    r.attach_now(p, ctx, dom);
    r.h.upcalls(p);
    (r, p, ctx, dom)
}

/// The `DONE` upcalls `p` has queued: (status, command, handle).
fn dones(r: &Rig, p: ProcessId) -> Vec<(usize, usize, usize)> {
    r.h.upcalls(p)
        .into_iter()
        .filter(|u| u.subscribe_num == upcall::DONE)
        .map(|u| u.args)
        .collect()
}

#[test]
fn map_is_complete_on_return_and_sends_no_done() {
    let (r, p, ctx, dom) = sync_rig(2);
    let page = r.h.ram_start(p) + r.first_page_offset(p);
    assert_eq!(
        r.cmd(p, MAP, map_r2(dom, 0, 0, false), range_r3(4, 1)),
        SyscallReturn::SuccessU32(1)
    );
    // Usable at once: the device reaches it through the context and the
    // software walk sees it, before any completion is delivered.
    assert_eq!(r.mock().pending_count(), 1, "map_done still to come");
    let page_size = r.mock().page();
    assert!(
        r.mock()
            .reachable()
            .iter()
            .any(|&(c, iova, e)| c == 0 && iova == 4 * page_size && e.phys == page)
    );
    match r.cmd(p, TRANSLATE, dom, 4 * page_size) {
        SyscallReturn::SuccessU32U64(flags, phys) => {
            assert_eq!(flags & 3, 3);
            assert_eq!(phys, page as u64);
        }
        other => panic!("{other:?}"),
    }
    r.complete_all();
    assert_eq!(dones(&r, p), vec![], "no DONE for a map complete on return");
    assert_eq!(r.driver.late_map_failures(), 0);
    let _ = ctx;
}

#[test]
fn the_default_mock_keeps_the_split_phase_map() {
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    let dom = r.create(p, 0);
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, r.mock().page());
    assert_eq!(
        r.cmd(p, MAP, map_r2(dom, 0, 0, false), range_r3(0, 1)),
        SyscallReturn::Success
    );
    assert_eq!(r.err(p, UNMAP, dom, range_r3(0, 1)), ErrorCode::BUSY);
    r.complete_all();
    assert_eq!(dones(&r, p), vec![(0, MAP, dom)]);
}

#[test]
fn following_operations_on_the_domain_are_not_refused_busy() {
    let (r, p, _ctx, dom) = sync_rig(2);
    let page_size = r.mock().page();
    assert_eq!(
        r.cmd(p, MAP, map_r2(dom, 0, 0, false), range_r3(0, 1)),
        SyscallReturn::SuccessU32(1)
    );
    assert_eq!(
        r.cmd(p, MAP, map_r2(dom, 1, 0, false), range_r3(1, 1)),
        SyscallReturn::SuccessU32(1)
    );
    // The first two map_done are still outstanding: an unmap starts anyway,
    // and its DONE must not be taken from one of theirs.
    assert_eq!(r.mock().pending_count(), 2);
    r.ok(p, UNMAP, dom, range_r3(0, 1));
    // While the unmap is in flight the domain is held: a map of the range
    // it cuts off must not look complete before the unmap is.
    assert_eq!(
        r.err(p, MAP, map_r2(dom, 0, 0, false), range_r3(0, 1)),
        ErrorCode::BUSY
    );
    // Completions one at a time: the two maps say nothing, the unmap's
    // DONE comes with its own completion and not before.
    assert!(r.mock().complete_one());
    assert!(r.mock().complete_one());
    assert_eq!(dones(&r, p), vec![]);
    assert!(
        r.mock().reachable().iter().any(|&(_, iova, _)| iova == 0),
        "unmapped but not yet invalidated"
    );
    assert!(r.mock().complete_one());
    assert_eq!(dones(&r, p), vec![(0, UNMAP, dom)]);
    let left: Vec<usize> = r.mock().reachable().iter().map(|e| e.1).collect();
    assert_eq!(left, vec![page_size]);
}

#[test]
fn destroy_right_after_a_map_succeeds_and_waits_for_its_map_done() {
    let (r, p, ctx, dom) = sync_rig(1);
    r.ok(p, DETACH, ctx, 0);
    r.complete_all();
    r.h.upcalls(p);
    assert_eq!(
        r.cmd(p, MAP, map_r2(dom, 0, 0, false), range_r3(0, 1)),
        SyscallReturn::SuccessU32(1)
    );
    // The process need not wait: the handle is gone at once ...
    r.ok(p, DESTROY_DOMAIN, dom, 0);
    assert_eq!(r.err(p, DESTROY_DOMAIN, dom, 0), ErrorCode::INVAL);
    assert_eq!(r.err(p, ATTACH, ctx, dom), ErrorCode::INVAL);
    // ... but the instance destroys the domain only after the map settled
    // (it would refuse earlier), and the pages stay charged until then.
    assert_eq!(r.mock().live_domains(), 1);
    assert_eq!(
        r.cmd(p, INFO, 0, 0),
        SyscallReturn::SuccessU32U32U32(1, 1 | 4 << 16, 1 | 4 << 16)
    );
    r.complete_all();
    assert_eq!(r.mock().live_domains(), 0);
    assert_eq!(
        r.cmd(p, INFO, 0, 0),
        SyscallReturn::SuccessU32U32U32(1, 1 | 4 << 16, 4 << 16)
    );
    assert_eq!(dones(&r, p), vec![]);
}

#[test]
fn completion_from_inside_map_is_absorbed() {
    let (r, p, ctx, dom) = sync_rig(1);
    r.mock().completion.set(Completion::Synchronous);
    assert_eq!(
        r.cmd(p, MAP, map_r2(dom, 0, 0, false), range_r3(0, 1)),
        SyscallReturn::SuccessU32(1)
    );
    assert_eq!(r.mock().pending_count(), 0);
    assert_eq!(dones(&r, p), vec![]);
    // Nothing is left outstanding: detach, then destroy at once.
    r.ok(p, DETACH, ctx, 0);
    r.ok(p, DESTROY_DOMAIN, dom, 0);
}

#[test]
fn a_refused_map_leaves_nothing_outstanding() {
    let (r, p, ctx, dom) = sync_rig(1);
    r.mock().refuse_next(Call::Map, ErrorCode::BUSY);
    assert_eq!(
        r.err(p, MAP, map_r2(dom, 0, 0, false), range_r3(0, 1)),
        ErrorCode::BUSY
    );
    r.ok(p, DETACH, ctx, 0);
    r.complete_all();
    r.ok(p, DESTROY_DOMAIN, dom, 0);
}

#[test]
fn a_late_map_error_is_counted_and_changes_nothing_else() {
    let (r, p, _ctx, dom) = sync_rig(1);
    r.mock().complete_with.set(Err(ErrorCode::FAIL));
    assert_eq!(
        r.cmd(p, MAP, map_r2(dom, 0, 0, false), range_r3(0, 1)),
        SyscallReturn::SuccessU32(1)
    );
    r.complete_all();
    r.mock().complete_with.set(Ok(()));
    // No DONE (none was promised), one failure counted; the entries stay
    // as written (the process's own memory), and UNMAP removes them.
    assert_eq!(dones(&r, p), vec![]);
    assert_eq!(r.driver.late_map_failures(), 1);
    assert_eq!(r.mock().entries(0).len(), 1);
    r.ok(p, UNMAP, dom, range_r3(0, 1));
    r.complete_all();
    assert_eq!(dones(&r, p), vec![(0, UNMAP, dom)]);
    assert!(r.mock().reachable().is_empty());
}

#[test]
fn revocation_waits_for_every_outstanding_map_done() {
    let (r, p, _ctx, dom) = sync_rig(3);
    for i in 0..3 {
        assert_eq!(
            r.cmd(p, MAP, map_r2(dom, i, 0, false), range_r3(i, 1)),
            SyscallReturn::SuccessU32(1)
        );
    }
    let (start, end) = (
        r.h.ram_start(p),
        r.h.ram_start(p) + capsule_test_harness::RAM_SIZE,
    );
    r.h.exit(p, 0);
    assert_eq!(r.h.state(p), Some(State::Terminated));
    assert_eq!(r.h.process(p).revocations_pending(), 1);
    // One completion at a time: never complete while anything of the
    // process is outstanding on the instance.
    while r.mock().complete_one() {
        if r.h.process(p).revocations_pending() == 0 {
            assert_eq!(r.mock().pending_count(), 0);
        }
    }
    assert_eq!(r.h.process(p).revocations_pending(), 0);
    assert_eq!(r.mock().entries_into(start, end), 0);
    assert!(r.mock().reachable().is_empty());
    assert_eq!(r.mock().live_domains(), 0);
    assert_eq!(r.mock().free_pages_now(), 64);
}

#[test]
fn revocation_of_an_unattached_domain_with_a_settling_map() {
    // Nothing attached: only the outstanding map_done holds the domain.
    let r = rig(1, ONE);
    r.mock().map_visible.set(true);
    let p = r.h.spawn("p");
    let dom = r.create(p, 0);
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, r.mock().page());
    assert_eq!(
        r.cmd(p, MAP, map_r2(dom, 0, 0, false), range_r3(0, 1)),
        SyscallReturn::SuccessU32(1)
    );
    let same = r.h.restart(p);
    assert_eq!(same, p, "the map is outstanding: revocation is pending");
    assert_eq!(r.h.state(p), Some(State::Terminated));
    assert!(r.h.process(p).restart_requested());
    assert_eq!(r.mock().live_domains(), 1);
    r.complete_all();
    let p2 = r.h.kernel().process_id_at(0).unwrap();
    assert_ne!(p2, p);
    assert_eq!(r.h.state(p2), Some(State::Running));
    assert_eq!(r.mock().live_domains(), 0);
}
