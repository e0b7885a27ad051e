// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Adversarial tests of invariants I1, I2 and I3 against the mock IOMMU.
//!
//! I1: blocked by default. I2: own memory only. I3: ownership.

use capsules_iommu::driver::command::*;
use iommu_test_support::capsule_rig::*;
use kernel::ErrorCode;
use kernel::hil::iommu::{AccessType, Permissions};
use kernel::syscall::SyscallReturn;

// ----- I1: blocked by default -------------------------------------------

#[test]
fn i1_context_blocks_until_attached_and_again_after_detach() {
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    let ctx = r.acquire(p, 0, 1);
    // Fresh from reset and freshly acquired: every access faults.
    assert!(r.mock().device_access(1, 0, AccessType::Read).is_err());
    let dom = r.create(p, 0);
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, 4 * r.mock().page());
    assert_eq!(r.map_now(p, map_r2(dom, 0, 0, false), range_r3(0, 1)), 0);
    assert!(
        r.mock().device_access(1, 0, AccessType::Read).is_err(),
        "mapped but not attached"
    );
    r.attach_now(p, ctx, dom);
    assert!(r.mock().device_access(1, 0, AccessType::Write).is_ok());
    r.ok(p, DETACH, ctx, 0);
    r.complete_all();
    assert_eq!(r.done_status(p), 0);
    assert!(r.mock().device_access(1, 0, AccessType::Read).is_err());
    // Detaching again: ALREADY; a context never falls back to bypass.
    assert_eq!(r.err(p, DETACH, ctx, 0), ErrorCode::ALREADY);
}

#[test]
fn i1_attached_context_cannot_be_released_or_handed_out() {
    let r = rig(2, ONE);
    let p = r.h.spawn("p");
    let q = r.h.spawn("q");
    let ctx = r.acquire(p, 0, 0);
    let dom = r.create(p, 0);
    r.attach_now(p, ctx, dom);
    assert_eq!(r.err(p, RELEASE, ctx, 0), ErrorCode::BUSY);
    // While the detach is in flight it is not released either.
    r.ok(p, DETACH, ctx, 0);
    assert_eq!(r.err(p, RELEASE, ctx, 0), ErrorCode::BUSY);
    r.complete_all();
    r.ok(p, RELEASE, ctx, 0);
    // A context the hardware has attached behind the driver's back (say, by
    // the board) is never handed to a process.
    r.mock().force_attach(2, 0);
    assert_eq!(r.err(q, ACQUIRE, 0, 2), ErrorCode::BUSY);
}

// ----- I2: own memory only --------------------------------------------------

#[test]
fn i2_rw_allow_maps_read_write_and_ro_allow_read_only() {
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    let dom = r.create(p, 0);
    let page = r.mock().page();
    let off = r.first_page_offset(p);
    let rw = r.allow_rw(p, 0, off, 2 * page);
    let ro = r.allow_ro(p, 1, off + 4 * page, page);
    assert_eq!(r.map_now(p, map_r2(dom, 1, 0, false), range_r3(0x10, 1)), 0);
    assert_eq!(r.map_now(p, map_r2(dom, 0, 1, true), range_r3(0x20, 1)), 0);
    let entries = r.mock().entries(0);
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].0, 0x10 * page);
    assert_eq!(entries[0].1.phys, rw + page);
    assert_eq!(entries[0].1.permissions, Permissions::READ_WRITE);
    assert_eq!(entries[1].1.phys, ro);
    assert_eq!(entries[1].1.permissions, Permissions::READ);
    // TRANSLATE agrees.
    assert_eq!(
        r.cmd(p, TRANSLATE, dom, 0x20 * page + 3),
        SyscallReturn::SuccessU32U64(1 | 8 << 8, (ro + 3) as u64)
    );
    assert_eq!(
        r.cmd(p, TRANSLATE, dom, 0x30 * page),
        SyscallReturn::SuccessU32U64(0, 0)
    );
}

#[test]
fn i2_maps_past_the_allowed_buffer_are_refused() {
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    let dom = r.create(p, 0);
    let page = r.mock().page();
    let off = r.first_page_offset(p);
    // Two pages and a bit, starting mid-page: whole pages are counted from
    // the first boundary inside the buffer, so exactly 2 fit.
    r.allow_rw(p, 0, off + page / 2, 3 * page);
    assert_eq!(
        r.err(p, MAP, map_r2(dom, 0, 0, false), range_r3(0, 3)),
        ErrorCode::INVAL
    );
    assert_eq!(
        r.err(p, MAP, map_r2(dom, 2, 0, false), range_r3(0, 1)),
        ErrorCode::INVAL
    );
    assert_eq!(
        r.err(p, MAP, map_r2(dom, 255, 0, false), range_r3(0, 4095)),
        ErrorCode::INVAL
    );
    // Nothing allowed in slot 1, or an unknown slot, or the other kind.
    assert_eq!(
        r.err(p, MAP, map_r2(dom, 0, 1, false), range_r3(0, 1)),
        ErrorCode::INVAL
    );
    assert_eq!(
        r.err(p, MAP, map_r2(dom, 0, 2, false), range_r3(0, 1)),
        ErrorCode::INVAL
    );
    assert_eq!(
        r.err(p, MAP, map_r2(dom, 0, 7, true), range_r3(0, 1)),
        ErrorCode::INVAL
    );
    assert_eq!(
        r.err(p, MAP, map_r2(dom, 0, 0, true), range_r3(0, 1)),
        ErrorCode::INVAL
    );
    assert_eq!(r.mock().entries(0).len(), 0);
    assert_eq!(r.map_now(p, map_r2(dom, 1, 0, false), range_r3(0, 1)), 0);
    assert_eq!(r.map_now(p, map_r2(dom, 0, 0, false), range_r3(1, 1)), 0);
    assert_eq!(r.mock().entries(0).len(), 2);
}

#[test]
fn i2_overlapping_maps_are_refused_and_change_nothing() {
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    let dom = r.create(p, 0);
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, 8 * r.mock().page());
    assert_eq!(r.map_now(p, map_r2(dom, 0, 0, false), range_r3(4, 2)), 0);
    let before = r.mock().entries(0);
    assert_eq!(
        r.err(p, MAP, map_r2(dom, 2, 0, false), range_r3(5, 2)),
        ErrorCode::ALREADY
    );
    assert_eq!(
        r.err(p, MAP, map_r2(dom, 2, 0, false), range_r3(3, 2)),
        ErrorCode::ALREADY
    );
    assert_eq!(r.mock().entries(0), before);
    // The domain is idle again after a refused map: a good one goes through.
    assert_eq!(r.map_now(p, map_r2(dom, 2, 0, false), range_r3(6, 2)), 0);
}

#[test]
fn i2_map_then_unallow_keeps_the_mapping_and_pins_the_break() {
    // Decision (doc/syscalls/10003_iommu.md, "Mappings and allows"): a
    // mapping outlives the allow it was made from. The memory stays the
    // process's (the allow high-water mark), only its own contexts reach
    // it, and it is revoked when the instance ends.
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    let ctx = r.acquire(p, 0, 0);
    let dom = r.create(p, 0);
    let off = r.first_page_offset(p);
    let page = r.mock().page();
    let buf = r.allow_rw(p, 0, off, page);
    assert_eq!(r.map_now(p, map_r2(dom, 0, 0, false), range_r3(0, 1)), 0);
    r.attach_now(p, ctx, dom);
    assert!(r.h.allow_rw(p, DRIVER, 0, 0, 0).is_success());
    assert_eq!(r.mock().entries(0).len(), 1);
    // The break cannot go below the mapped (once allowed) memory...
    refused_brk(&r, p, 0, buf);
    refused_brk(&r, p, 0, buf + page - 1);
    // ...and a new map needs a new allow.
    assert_eq!(
        r.err(p, MAP, map_r2(dom, 0, 0, false), range_r3(1, 1)),
        ErrorCode::INVAL
    );
    // Exit revokes it.
    r.h.exit(p, 0);
    r.complete_all();
    assert_eq!(r.mock().entries_into(buf, buf + page), 0);
}

/// The kernel refuses a brk below the allow high-water mark, and the break
/// stays where it was. (The error code is the kernel's business: `INVAL`
/// or, as Tock for every refused brk, `NOMEM`.)
fn refused_brk(r: &Rig, p: kernel::ProcessId, op: usize, arg: usize) {
    let before = r.h.memop(p, 3, 0);
    let ret = r.h.memop(p, op, arg);
    assert!(
        matches!(
            ret,
            SyscallReturn::Failure(ErrorCode::INVAL | ErrorCode::NOMEM)
        ),
        "memop {op}({arg:#x}) returned {ret:?}"
    );
    assert_eq!(r.h.memop(p, 3, 0), before, "the break moved");
}

#[test]
fn i2_break_shrink_below_a_mapping_is_refused() {
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    let dom = r.create(p, 0);
    let page = r.mock().page();
    let off = r.first_page_offset(p) + 8 * page;
    let buf = r.allow_rw(p, 0, off, 2 * page);
    assert_eq!(r.map_now(p, map_r2(dom, 1, 0, false), range_r3(0, 1)), 0);
    refused_brk(&r, p, 0, buf + page);
    let SyscallReturn::SuccessPtr(brk) = r.h.memop(p, 3, 0) else {
        panic!()
    };
    let delta = (brk - buf) as isize;
    refused_brk(&r, p, 1, (-delta) as usize);
    // Growing, or shrinking to just above the allowed end, is fine.
    assert_eq!(r.h.memop(p, 0, buf + 2 * page), SyscallReturn::Success);
}

// ----- I3: ownership ----------------------------------------------------------

const DRIVER: usize = capsules_iommu::DRIVER_NUM;

#[test]
fn i3_another_process_ids_are_garbage_to_every_command() {
    let r = rig(2, ONE);
    let p = r.h.spawn("p");
    let q = r.h.spawn("q");
    let ctx = r.acquire(p, 0, 0);
    let dom = r.create(p, 0);
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, r.mock().page());
    assert_eq!(r.map_now(p, map_r2(dom, 0, 0, false), range_r3(0, 1)), 0);
    r.attach_now(p, ctx, dom);
    // q has its own objects and a buffer, so only ownership can stop it.
    let q_ctx = r.acquire(q, 0, 1);
    let q_dom = r.create(q, 0);
    let q_off = r.first_page_offset(q);
    r.allow_rw(q, 0, q_off, r.mock().page());
    let inval = ErrorCode::INVAL;
    assert_eq!(r.err(q, RELEASE, ctx, 0), inval);
    assert_eq!(r.err(q, DETACH, ctx, 0), inval);
    assert_eq!(r.err(q, FAULT_ACK, ctx, 0), inval);
    assert_eq!(r.err(q, ATTACH, ctx, q_dom), inval);
    assert_eq!(r.err(q, ATTACH, q_ctx, dom), inval);
    assert_eq!(r.err(q, DESTROY_DOMAIN, dom, 0), inval);
    assert_eq!(
        r.err(q, MAP, map_r2(dom, 0, 0, false), range_r3(8, 1)),
        inval
    );
    assert_eq!(r.err(q, UNMAP, dom, range_r3(0, 1)), inval);
    assert_eq!(r.err(q, TRANSLATE, dom, 0), inval);
    // Exclusive: q cannot acquire p's context either.
    assert_eq!(r.err(q, ACQUIRE, 0, 0), ErrorCode::BUSY);
    // Nothing of p's changed.
    assert_eq!(r.mock().entries(0).len(), 1);
    assert_eq!(r.mock().reachable().len(), 1);
    assert!(r.h.upcalls(q).iter().all(|u| u.subscribe_num != 0));
}

#[test]
fn i3_stale_handles_after_release_and_destroy_are_refused() {
    let r = rig(2, ONE);
    let p = r.h.spawn("p");
    let q = r.h.spawn("q");
    let ctx = r.acquire(p, 0, 0);
    let dom = r.create(p, 0);
    r.ok(p, RELEASE, ctx, 0);
    r.ok(p, DESTROY_DOMAIN, dom, 0);
    assert_eq!(r.err(p, RELEASE, ctx, 0), ErrorCode::INVAL);
    assert_eq!(r.err(p, DESTROY_DOMAIN, dom, 0), ErrorCode::INVAL);
    // The same slots, taken again by q, get new generations: p's old
    // handles do not name them.
    let q_ctx = r.acquire(q, 0, 0);
    let q_dom = r.create(q, 0);
    assert_eq!(q_ctx & 0xff, ctx & 0xff);
    assert_eq!(q_dom & 0xff, dom & 0xff);
    assert_ne!(q_ctx, ctx);
    assert_ne!(q_dom, dom);
    assert_eq!(r.err(p, ATTACH, ctx, dom), ErrorCode::INVAL);
    assert_eq!(r.err(p, TRANSLATE, dom, 0), ErrorCode::INVAL);
    // And when p takes them again, its old handles are still stale.
    r.ok(q, RELEASE, q_ctx, 0);
    r.ok(q, DESTROY_DOMAIN, q_dom, 0);
    let p_ctx = r.acquire(p, 0, 0);
    let p_dom = r.create(p, 0);
    assert_eq!(r.err(p, ATTACH, ctx, p_dom), ErrorCode::INVAL);
    assert_eq!(r.err(p, ATTACH, p_ctx, dom), ErrorCode::INVAL);
    r.ok(p, ATTACH, p_ctx, p_dom);
}

#[test]
fn i3_policy_decides_who_may_acquire() {
    let r = rig(2, ONE);
    r.policy.deny.borrow_mut().push(("q", 0, 3));
    let p = r.h.spawn("p");
    let q = r.h.spawn("q");
    assert_eq!(r.err(q, ACQUIRE, 0, 3), ErrorCode::RESERVE);
    // INFO_INSTANCE tells q which contexts it may use.
    assert_eq!(
        r.cmd(q, INFO_INSTANCE, 0, 0),
        SyscallReturn::SuccessU32U32U32(4, 0b0111, 8 | 32 << 8 | 64 << 16)
    );
    assert_eq!(
        r.cmd(p, INFO_INSTANCE, 0, 0),
        SyscallReturn::SuccessU32U32U32(4, 0b1111, 8 | 32 << 8 | 64 << 16)
    );
    r.acquire(p, 0, 3);
    assert_eq!(r.err(p, ACQUIRE, 0, 3), ErrorCode::ALREADY);
}

#[test]
fn i3_contexts_and_domains_of_different_instances_do_not_mix() {
    let r = rig(1, &[(2, 4, 32, 8), (2, 4, 32, 12)]);
    let p = r.h.spawn("p");
    let c0 = r.acquire(p, 0, 0);
    let c1 = r.acquire(p, 1, 0);
    let d0 = r.create(p, 0);
    let d1 = r.create(p, 1);
    assert_eq!(r.err(p, ATTACH, c0, d1), ErrorCode::INVAL);
    assert_eq!(r.err(p, ATTACH, c1, d0), ErrorCode::INVAL);
    r.attach_now(p, c0, d0);
    r.attach_now(p, c1, d1);
    assert_eq!(r.mocks[0].attached_to(0), Some(0));
    assert_eq!(r.mocks[1].attached_to(0), Some(0));
    // Shares are per instance: one context and one domain held on each.
    for instance in 0..2 {
        assert_eq!(
            r.cmd(p, INFO, instance, 0),
            SyscallReturn::SuccessU32U32U32(2, 1 | 4 << 16, 1 | 4 << 16)
        );
    }
    assert_eq!(r.err(p, INFO, 2, 0), ErrorCode::INVAL);
}

#[test]
fn i3_switch_between_own_domains() {
    let r = rig(1, ONE);
    let p = r.h.spawn("p");
    let ctx = r.acquire(p, 0, 0);
    let a = r.create(p, 0);
    let b = r.create(p, 0);
    r.attach_now(p, ctx, a);
    assert_eq!(r.err(p, ATTACH, ctx, a), ErrorCode::ALREADY);
    // Switch on the fly; while in flight, a second one is BUSY and neither
    // domain can be destroyed.
    r.ok(p, ATTACH, ctx, b);
    assert_eq!(r.err(p, ATTACH, ctx, a), ErrorCode::BUSY);
    assert_eq!(r.err(p, DESTROY_DOMAIN, b, 0), ErrorCode::BUSY);
    r.complete_all();
    assert_eq!(r.done_status(p), 0);
    assert_eq!(r.mock().attached_to(0), Some(1));
    r.ok(p, DESTROY_DOMAIN, a, 0);
    assert_eq!(r.err(p, DESTROY_DOMAIN, b, 0), ErrorCode::BUSY);
}

#[test]
fn short_id_rules_policy() {
    use capsules_iommu::policy::{ShortIdRule, ShortIdRules};
    use capsules_iommu::{ContextPolicy, Quotas};
    static RULES: [ShortIdRule; 3] = [
        ShortIdRule {
            short_id: 0x51,
            instance: 0,
            context: 0,
        },
        ShortIdRule {
            short_id: 0x51,
            instance: 0,
            context: 1,
        },
        ShortIdRule {
            short_id: 0x52,
            instance: 1,
            context: 0,
        },
    ];
    let policy = ShortIdRules::new(&RULES, Quotas::DEFAULT);
    let h = capsule_test_harness::Harness::new(1);
    // A process without a fixed ShortId is not listed: no context, no share.
    let p = h.spawn("p");
    assert!(!policy.may_use(p, 0, 0));
    assert_eq!(policy.quotas(p, 0), Quotas::NONE);
    // Each listed application is reserved one share per instance it is
    // listed for, however many rules name it.
    assert_eq!(policy.reserved(0), Quotas::DEFAULT);
    assert_eq!(policy.reserved(1), Quotas::DEFAULT);
    assert_eq!(policy.reserved(2), Quotas::NONE);
}

// ----- process identifier 0 -------------------------------------------------

#[test]
fn a_process_with_id_0_owns_and_is_revoked() {
    // Tock hands the first process identifier 0: no identifier value may
    // stand for "no owner".
    let r = rig(2, ONE);
    let p = r.h.spawn("p");
    assert_eq!(p.id(), 0);
    let ctx = r.acquire(p, 0, 0);
    let dom = r.create(p, 0);
    let off = r.first_page_offset(p);
    r.allow_rw(p, 0, off, r.mock().page());
    assert_eq!(r.map_now(p, map_r2(dom, 0, 0, false), range_r3(0, 1)), 0);
    r.attach_now(p, ctx, dom);
    assert!(r.mock().device_access(0, 0, AccessType::Write).is_ok());
    // It owns both: another process cannot take or touch them.
    let q = r.h.spawn("q");
    assert_eq!(r.err(q, ACQUIRE, 0, 0), ErrorCode::BUSY);
    assert_eq!(r.err(q, DETACH, ctx, 0), ErrorCode::INVAL);
    assert_eq!(r.err(q, DESTROY_DOMAIN, dom, 0), ErrorCode::INVAL);
    // Its end is revoked like any other's: detached, tables freed.
    r.h.exit(p, 0);
    r.complete_all();
    assert_eq!(r.h.process(p).revocations_pending(), 0);
    assert!(r.mock().device_access(0, 0, AccessType::Read).is_err());
    assert_eq!(r.mock().live_domains(), 0);
    r.acquire(q, 0, 0);
}

// ----- the HIL's contract after a failed detach -------------------------------

#[test]
fn the_mock_keeps_a_domain_a_failed_detach_left_reachable() {
    // The same rule the RISC-V driver's `driver_on_model.rs`
    // `a_domain_a_failed_detach_left_reachable_is_never_destroyed` holds it
    // to: `destroy_domain` refuses a domain a context may still use.
    use iommu_test_support::mock_iommu::MockIommu;
    use kernel::hil::iommu::{Attach, ContextId, Domains, Geometry};
    let mock = MockIommu::new(2, 4, 8, 8);
    let domain = mock.create_domain().unwrap();
    mock.attach(ContextId(0), domain).unwrap();
    mock.complete_all();
    mock.complete_with.set(Err(ErrorCode::FAIL));
    mock.detach(ContextId(0)).unwrap();
    mock.complete_all();
    assert_eq!(mock.attached(ContextId(0)), None, "as of the last call");
    let free = mock.free_pages();
    assert_eq!(mock.destroy_domain(domain), Err(ErrorCode::BUSY));
    assert_eq!(mock.free_pages(), free);
    // A confirmed change of the context releases it.
    mock.complete_with.set(Ok(()));
    mock.attach(ContextId(0), domain).unwrap();
    mock.detach(ContextId(0)).unwrap();
    mock.complete_all();
    assert_eq!(mock.destroy_domain(domain), Ok(()));
}
