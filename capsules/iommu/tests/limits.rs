// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Adversarial tests of invariants I5, I6 and I7.
//!
//! I5: bounded, with quotas. I6: faults reach the owner, rate-limited.
//! I7: bad input gets an ErrorCode, never a panic, never a half-done
//! operation.

#![allow(
    clippy::many_single_char_names,
    reason = "processes are p, q, s and the rig r throughout the tests"
)]

use capsules_iommu::Quotas;
use capsules_iommu::driver::command::*;
use capsules_iommu::driver::upcall;
use iommu_test_support::capsule_rig::*;
use kernel::ErrorCode;
use kernel::hil::iommu::{AccessType, ContextId, Fault, FaultCause};
use kernel::syscall::SyscallReturn;

// ----- I5: quotas and pools ----------------------------------------------------

#[test]
fn i5_context_and_domain_quotas() {
    let r = rig(2, ONE);
    r.policy.quotas.set(Quotas {
        contexts: 1,
        domains: 2,
        pages: 16,
    });
    let p = r.h.spawn("p");
    let q = r.h.spawn("q");
    r.acquire(p, 0, 0);
    assert_eq!(r.err(p, ACQUIRE, 0, 1), ErrorCode::NOMEM);
    r.create(p, 0);
    r.create(p, 0);
    assert_eq!(r.err(p, CREATE_DOMAIN, 0, 0), ErrorCode::NOMEM);
    // p at its quotas does not stop q.
    r.acquire(q, 0, 1);
    r.create(q, 0);
    assert_eq!(
        r.cmd(p, INFO, 0, 0),
        SyscallReturn::SuccessU32U32U32(1, 1 | 1 << 16, 2 | 2 << 16)
    );
}

#[test]
fn i5_page_quota() {
    // 256-byte pages, 512 per leaf table: a map into a new 512-page region
    // costs a table page; the root costs one.
    let r = rig(2, &[(2, 8, 64, 8)]);
    r.policy.quotas.set(Quotas {
        contexts: 2,
        domains: 4,
        pages: 3,
    });
    let p = r.h.spawn("p");
    let q = r.h.spawn("q");
    let d = r.create(p, 0); // root: 1 page
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, 4 * r.mock().page());
    assert_eq!(r.map_now(p, map_r2(d, 0, 0, false), range_r3(0, 1)), 0); // 2
    assert_eq!(r.map_now(p, map_r2(d, 1, 0, false), range_r3(512, 1)), 0); // 3
    assert_eq!(
        r.cmd(p, INFO_PAGES, 0, 0),
        SyscallReturn::SuccessU32U32(3, 3)
    );
    // At the quota: no map that needs a table, no domain; a map into a
    // region that has its table costs nothing and is allowed.
    assert_eq!(
        r.err(p, MAP, map_r2(d, 2, 0, false), range_r3(1024, 1)),
        ErrorCode::NOMEM
    );
    assert_eq!(r.err(p, CREATE_DOMAIN, 0, 0), ErrorCode::NOMEM);
    assert_eq!(r.map_now(p, map_r2(d, 2, 0, false), range_r3(1, 1)), 0);
    assert_eq!(
        r.cmd(p, INFO_PAGES, 0, 0),
        SyscallReturn::SuccessU32U32(3, 3),
        "never past the quota"
    );
    // p at its quota does not stop q.
    let e = r.create(q, 0);
    let off = r.first_page_offset(q);
    r.allow_rw(q, 0, off, r.mock().page());
    assert_eq!(r.map_now(q, map_r2(e, 0, 0, false), range_r3(0, 1)), 0);
    // Unmap and destroy give the pages back, and the charge.
    r.ok(p, UNMAP, d, range_r3(0, 2));
    r.complete_all();
    r.ok(p, DESTROY_DOMAIN, d, 0);
    assert_eq!(
        r.cmd(p, INFO_PAGES, 0, 0),
        SyscallReturn::SuccessU32U32(0, 3)
    );
    assert_eq!(r.mock().free_pages_now(), 64 - 2);
}

#[test]
fn i5_page_pool_exhaustion() {
    let r = rig(1, &[(2, 8, 4, 8)]);
    let p = r.h.spawn("p");
    let d = r.create(p, 0);
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, 8 * r.mock().page());
    for (i, region) in [0, 512, 1024].into_iter().enumerate() {
        assert_eq!(r.map_now(p, map_r2(d, i, 0, false), range_r3(region, 1)), 0);
    }
    assert_eq!(r.mock().free_pages_now(), 0);
    assert_eq!(
        r.err(p, MAP, map_r2(d, 3, 0, false), range_r3(1536, 1)),
        ErrorCode::NOMEM
    );
    assert_eq!(r.err(p, CREATE_DOMAIN, 0, 0), ErrorCode::NOMEM);
    // Nothing was half-mapped, and the domain is usable.
    assert_eq!(r.mock().entries(0).len(), 3);
    assert_eq!(r.map_now(p, map_r2(d, 3, 0, false), range_r3(1, 1)), 0);
    r.ok(p, DESTROY_DOMAIN, d, 0);
    assert_eq!(r.mock().free_pages_now(), 4);
}

/// A share that fits: 3 listed apps x (1 context, 2 domains, 6 pages) on
/// an instance with 4 contexts, 8 domains and 18 pages.
fn fair_rig() -> Rig {
    let r = rig(4, &[(4, 8, 18, 8)]);
    r.policy.quotas.set(Quotas {
        contexts: 1,
        domains: 2,
        pages: 6,
    });
    r.policy.listed.set(3);
    r.policy.unlisted.borrow_mut().push("intruder");
    assert_eq!(r.driver.setup(), Ok(()), "the shares fit the pools");
    r
}

/// What a listed app must always get: its context, its two domains and
/// its six pages (two roots, two regions each needing a table).
fn take_whole_share(r: &Rig, p: kernel::ProcessId, context: usize) {
    r.acquire(p, 0, context);
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, 4 * r.mock().page());
    for _ in 0..2 {
        let d = r.create(p, 0);
        assert_eq!(r.map_now(p, map_r2(d, 0, 0, false), range_r3(0, 1)), 0);
        assert_eq!(r.map_now(p, map_r2(d, 1, 0, false), range_r3(512, 1)), 0);
    }
    assert_eq!(
        r.cmd(p, INFO_PAGES, 0, 0),
        SyscallReturn::SuccessU32U32(6, 6)
    );
}

/// Everything `p` tries beyond its share, over and over.
fn flood(r: &Rig, p: kernel::ProcessId) {
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, 4 * r.mock().page());
    for round in 0..8 {
        for context in 0..4 {
            let _ = r.cmd(p, ACQUIRE, 0, context);
        }
        if let SyscallReturn::SuccessU32(d) = r.cmd(p, CREATE_DOMAIN, 0, 0) {
            for region in 0..4 {
                let _ = r.cmd(
                    p,
                    MAP,
                    map_r2(d as usize, region % 4, 0, false),
                    range_r3(region * 512 + round, 1),
                );
            }
        }
        r.complete_all();
    }
}

#[test]
fn i5_unlisted_apps_get_nothing() {
    let r = fair_rig();
    let x = r.h.spawn("intruder");
    assert_eq!(r.err(x, ACQUIRE, 0, 0), ErrorCode::RESERVE);
    assert_eq!(r.err(x, CREATE_DOMAIN, 0, 0), ErrorCode::RESERVE);
    assert_eq!(
        r.cmd(x, INFO, 0, 0),
        SyscallReturn::SuccessU32U32U32(1, 0, 0)
    );
    assert_eq!(r.mock().free_pages_now(), 18);
}

#[test]
fn i5_floods_never_starve_a_listed_app() {
    let r = fair_rig();
    // An unlisted app and two listed apps, each trying to take everything
    // (past their shares), before and while the victim takes its own.
    let x = r.h.spawn("intruder");
    let a = r.h.spawn("a");
    let b = r.h.spawn("b");
    flood(&r, x);
    flood(&r, a);
    flood(&r, b);
    let victim = r.h.spawn("victim");
    take_whole_share(&r, victim, 3);
    flood(&r, a);
    flood(&r, x);
    // The others never held more than their shares.
    for p in [a, b] {
        let SyscallReturn::SuccessU32U32(pages, quota) = r.cmd(p, INFO_PAGES, 0, 0) else {
            panic!()
        };
        assert!(pages <= quota && quota == 6);
    }
    assert_eq!(
        r.cmd(x, INFO_PAGES, 0, 0),
        SyscallReturn::SuccessU32U32(0, 0)
    );
}

#[test]
fn i5_a_policy_that_promises_more_than_the_pools_fails_setup() {
    let r = rig(2, &[(4, 8, 10, 8)]);
    r.policy.quotas.set(Quotas {
        contexts: 1,
        domains: 2,
        pages: 6,
    });
    r.policy.listed.set(2);
    assert_eq!(r.driver.setup(), Err(ErrorCode::NOMEM), "12 pages > 10");
    r.policy.listed.set(1);
    assert_eq!(r.driver.setup(), Ok(()));
    // Domains: 5 x 2 > 8 slots.
    r.policy.quotas.set(Quotas {
        contexts: 0,
        domains: 2,
        pages: 0,
    });
    r.policy.listed.set(5);
    assert_eq!(r.driver.setup(), Err(ErrorCode::NOMEM));
}

// ----- I6: faults -----------------------------------------------------------------

#[test]
fn i6_faults_reach_only_the_owner_rate_limited() {
    let r = rig(2, ONE);
    let p = r.h.spawn("p");
    let q = r.h.spawn("q");
    let ctx = r.acquire(p, 0, 0);
    r.acquire(q, 0, 1);
    assert!(
        r.h.subscribe(p, DRIVER, upcall::FAULT, 0x1000, 7)
            .is_success()
    );
    // A blocked (detached) context faults; the owner hears once.
    for i in 0..63 {
        assert!(
            r.mock()
                .device_access(0, 0x4000 + 4 * i, AccessType::Write)
                .is_err()
        );
    }
    let ups = r.h.upcalls(p);
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].subscribe_num, upcall::FAULT);
    assert_eq!(ups[0].args, (ctx | 1 << 24, 0x4000, 256));
    assert!(r.h.upcalls(q).is_empty());
    // FAULT_ACK returns the 62 dropped and re-arms.
    assert_eq!(r.ok_u32(p, FAULT_ACK, ctx, 0), 62);
    r.mock().inject_fault(Fault {
        context: Some(ContextId(0)),
        cause: FaultCause::PageFault,
        raw_cause: 13,
        iova: 0x10,
        access: AccessType::Read,
    });
    assert_eq!(r.h.upcalls(p)[0].args, (ctx | 1 << 16, 0x10, 13));
    // Lost records count as dropped for every owned context.
    r.mock().inject_faults_lost();
    assert_eq!(r.ok_u32(p, FAULT_ACK, ctx, 0), 1);
    // Faults of unowned contexts and of no context reach nobody.
    r.mock().device_access(3, 0, AccessType::Read).unwrap_err();
    r.mock().inject_fault(Fault {
        context: None,
        cause: FaultCause::Misconfigured,
        raw_cause: 258,
        iova: 0,
        access: AccessType::Read,
    });
    assert!(r.h.upcalls(p).is_empty() && r.h.upcalls(q).is_empty());
}

#[test]
fn i6_fault_after_release_goes_to_no_one() {
    let r = rig(2, ONE);
    let p = r.h.spawn("p");
    let ctx = r.acquire(p, 0, 0);
    r.ok(p, RELEASE, ctx, 0);
    r.mock().device_access(0, 0, AccessType::Read).unwrap_err();
    assert!(r.h.upcalls(p).is_empty());
}

// ----- I7: bad input --------------------------------------------------------------

const DRIVER: usize = capsules_iommu::DRIVER_NUM;

/// Values that break every field somewhere.
const GARBAGE: &[usize] = &[
    0,
    1,
    0xff,
    0x100,
    0x1ff,
    0xffff,
    0x1_0000,
    0x0fff_ffff,
    0x1000_0000,
    0x8000_0000,
    0xffff_ffff,
    usize::MAX,
    usize::MAX >> 1,
    1 << 20,
    0xfff0_0000,
];

/// A snapshot of everything observable, to check that refused commands
/// change nothing.
type Snapshot = (
    Vec<(usize, usize, iommu_test_support::mock_iommu::Entry)>,
    usize,
    usize,
    Vec<Option<usize>>,
);

fn snapshot(r: &Rig) -> Snapshot {
    (
        r.mock().reachable(),
        r.mock().live_domains(),
        r.mock().free_pages_now(),
        (0..4).map(|c| r.mock().attached_to(c)).collect(),
    )
}

#[test]
fn i7_garbage_to_every_command_is_an_error_and_changes_nothing() {
    let r = rig(2, ONE);
    let p = r.h.spawn("p");
    let q = r.h.spawn("q");
    // Cycle the slots so that real handles carry generation 3 (0x03xx),
    // which no garbage value below equals.
    for _ in 0..2 {
        let c = r.acquire(p, 0, 0);
        r.ok(p, RELEASE, c, 0);
        let d = r.create(p, 0);
        r.ok(p, DESTROY_DOMAIN, d, 0);
    }
    // p has one of everything, so garbage could hit something real.
    let ctx = r.acquire(p, 0, 0);
    let dom = r.create(p, 0);
    assert_eq!((ctx >> 8, dom >> 8), (3, 3));
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, 2 * r.mock().page());
    assert_eq!(r.map_now(p, map_r2(dom, 0, 0, false), range_r3(0, 1)), 0);
    r.attach_now(p, ctx, dom);
    let before = snapshot(&r);
    let info_before = r.cmd(p, INFO, 0, 0);
    let mut calls = 0;
    for who in [q, p] {
        for command in 1..32 {
            for &r2 in GARBAGE {
                for &r3 in GARBAGE {
                    let ret = r.cmd(who, command, r2, r3);
                    calls += 1;
                    if command > FAULT_ACK {
                        assert_eq!(ret, SyscallReturn::Failure(ErrorCode::NOSUPPORT));
                    }
                    match (command, ret) {
                        // A garbage instance/context pair may be a real one:
                        // undo.
                        (ACQUIRE, SyscallReturn::SuccessU32(h)) => {
                            r.ok(who, RELEASE, h as usize, 0)
                        }
                        (CREATE_DOMAIN, SyscallReturn::SuccessU32(h)) => {
                            r.ok(who, DESTROY_DOMAIN, h as usize, 0)
                        }
                        (INFO | INFO_INSTANCE | INFO_PAGES, _) => {}
                        (_, SyscallReturn::Failure(_)) => {
                            assert_eq!(
                                snapshot(&r),
                                before,
                                "{command}({r2:#x}, {r3:#x}) changed state"
                            )
                        }
                        (_, ret) => {
                            panic!("command {command}({r2:#x}, {r3:#x}) by {who:?}: {ret:?}")
                        }
                    }
                    r.complete_all();
                }
            }
        }
    }
    assert!(calls > 10_000);
    assert_eq!(snapshot(&r), before);
    assert_eq!(r.cmd(p, INFO, 0, 0), info_before);
    assert!(
        r.h.upcalls(p)
            .iter()
            .all(|u| u.subscribe_num != upcall::DONE)
    );
}

#[test]
fn i7_hil_refusals_roll_back() {
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    let ctx = r.acquire(p, 0, 0);
    let dom = r.create(p, 0);
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, 2 * r.mock().page());
    for (call, cmd, r2, r3) in [
        (Call::Map, MAP, map_r2(dom, 0, 0, false), range_r3(0, 1)),
        (Call::Attach, ATTACH, ctx, dom),
        (Call::Create, CREATE_DOMAIN, 0, 0),
    ] {
        r.mock().refuse_next(call, ErrorCode::BUSY);
        assert_eq!(r.err(p, cmd, r2, r3), ErrorCode::BUSY);
        assert!(
            r.cmd(p, cmd, r2, r3).is_success(),
            "retry of {call:?} works"
        );
        r.complete_all();
    }
    for (call, cmd, r2, r3) in [
        (Call::Unmap, UNMAP, dom, range_r3(0, 1)),
        (Call::Detach, DETACH, ctx, 0),
    ] {
        r.mock().refuse_next(call, ErrorCode::OFF);
        assert_eq!(r.err(p, cmd, r2, r3), ErrorCode::OFF);
        assert!(
            r.cmd(p, cmd, r2, r3).is_success(),
            "retry of {call:?} works"
        );
        r.complete_all();
    }
    r.mock().refuse_next(Call::Destroy, ErrorCode::BUSY);
    assert_eq!(r.err(p, DESTROY_DOMAIN, dom, 0), ErrorCode::BUSY);
    r.ok(p, RELEASE, ctx, 0);
    // Only the first domain went (the second from CREATE's retry remains).
    r.ok(p, DESTROY_DOMAIN, dom, 0);
}

#[test]
fn i7_one_operation_per_object_at_a_time() {
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    let ctx = r.acquire(p, 0, 0);
    let dom = r.create(p, 0);
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, 2 * r.mock().page());
    r.ok(p, MAP, map_r2(dom, 0, 0, false), range_r3(0, 1));
    assert_eq!(
        r.err(p, MAP, map_r2(dom, 1, 0, false), range_r3(1, 1)),
        ErrorCode::BUSY
    );
    assert_eq!(r.err(p, UNMAP, dom, range_r3(0, 1)), ErrorCode::BUSY);
    assert_eq!(r.err(p, DESTROY_DOMAIN, dom, 0), ErrorCode::BUSY);
    // A different object is independent.
    r.ok(p, ATTACH, ctx, dom);
    assert_eq!(r.err(p, DETACH, ctx, 0), ErrorCode::BUSY);
    r.complete_all();
    let ups = r.h.upcalls(p);
    let done: Vec<_> = ups
        .iter()
        .filter(|u| u.subscribe_num == upcall::DONE)
        .map(|u| u.args)
        .collect();
    assert_eq!(done, vec![(0, MAP, dom), (0, ATTACH, ctx)]);
}

#[test]
fn i7_unmap_done_only_after_invalidation() {
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    let ctx = r.acquire(p, 0, 0);
    let dom = r.create(p, 0);
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, r.mock().page());
    assert_eq!(r.map_now(p, map_r2(dom, 0, 0, false), range_r3(0, 1)), 0);
    r.attach_now(p, ctx, dom);
    r.ok(p, UNMAP, dom, range_r3(0, 1));
    // Not complete: no DONE yet, and the device may still reach the page.
    assert!(r.h.upcalls(p).is_empty());
    assert_eq!(r.mock().reachable().len(), 1);
    r.complete_all();
    assert_eq!(r.h.upcalls(p)[0].args, (0, UNMAP, dom));
    assert!(r.mock().reachable().is_empty());
    // A failed invalidation is reported as FAIL.
    assert_eq!(r.map_now(p, map_r2(dom, 0, 0, false), range_r3(0, 1)), 0);
    r.mock().complete_with.set(Err(ErrorCode::FAIL));
    r.ok(p, UNMAP, dom, range_r3(0, 1));
    r.complete_all();
    assert_eq!(
        r.h.upcalls(p)[0].args,
        (usize::from(ErrorCode::FAIL), UNMAP, dom)
    );
}
