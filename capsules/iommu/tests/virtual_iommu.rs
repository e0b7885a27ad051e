// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! `MuxIommu` / `VirtualIommu`: one instance shared by two users, each with
//! contexts of its own, as a board shares an instance between the system
//! call driver and a kernel driver. Over the mock instance.

use std::cell::RefCell;

use capsules_iommu::{MuxIommu, VirtualIommu};
use iommu_test_support::mock_iommu::MockIommu;
use iommu_test_support::test_memory;
use kernel::ErrorCode;
use kernel::hil::iommu::{
    AccessType, Attach, AttachClient, ContextId, DomainId, Domains, Fault, FaultCause, FaultClient,
    Faults, Fence, FenceClient, Geometry, Map, MapClient, Permissions, Translate,
};

/// Every callback a user got.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    Map(DomainId),
    Unmap(DomainId),
    Attach(ContextId, DomainId),
    Detach(ContextId),
    Fence,
    Fault(Option<ContextId>),
    Lost,
}

#[derive(Default)]
struct Recorder(RefCell<Vec<Event>>);

impl Recorder {
    fn take(&self) -> Vec<Event> {
        self.0.take()
    }
}

impl MapClient for Recorder {
    fn map_done(&self, domain: DomainId, _: usize, _: usize, _: Result<(), ErrorCode>) {
        self.0.borrow_mut().push(Event::Map(domain));
    }
    fn unmap_done(&self, domain: DomainId, _: usize, _: usize, _: Result<(), ErrorCode>) {
        self.0.borrow_mut().push(Event::Unmap(domain));
    }
}

impl AttachClient for Recorder {
    fn attach_done(&self, context: ContextId, domain: DomainId, _: Result<(), ErrorCode>) {
        self.0.borrow_mut().push(Event::Attach(context, domain));
    }
    fn detach_done(&self, context: ContextId, _: Result<(), ErrorCode>) {
        self.0.borrow_mut().push(Event::Detach(context));
    }
}

impl FenceClient for Recorder {
    fn fence_done(&self, _: Result<(), ErrorCode>) {
        self.0.borrow_mut().push(Event::Fence);
    }
}

impl FaultClient for Recorder {
    fn fault(&self, fault: Fault) {
        self.0.borrow_mut().push(Event::Fault(fault.context));
    }
    fn faults_lost(&self) {
        self.0.borrow_mut().push(Event::Lost);
    }
}

type Mux = MuxIommu<'static, 2, 8>;
type User = VirtualIommu<'static, 2, 8>;

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// A mock with 4 contexts: user A has contexts 0-1, user B 2-3.
fn shared() -> (
    &'static MockIommu,
    &'static User,
    &'static Recorder,
    &'static User,
    &'static Recorder,
) {
    let mock = leak(MockIommu::new(4, 8, 32, 8));
    let mux: &'static Mux = leak(MuxIommu::new(mock));
    mux.setup();
    let mut users = Vec::new();
    for contexts in [0..2, 2..4] {
        let user: &'static User = leak(VirtualIommu::new(mux, contexts));
        mux.add_user(user).unwrap();
        let recorder: &'static Recorder = leak(Recorder::default());
        Map::set_client(user, recorder);
        Attach::set_client(user, recorder);
        Fence::set_client(user, recorder);
        Faults::set_client(user, recorder);
        users.push((user, recorder));
    }
    let (a, ra) = users[0];
    let (b, rb) = users[1];
    (mock, a, ra, b, rb)
}

#[test]
fn each_user_has_its_own_contexts_numbered_from_0() {
    let (mock, a, ra, b, rb) = shared();
    assert_eq!((a.context_count(), b.context_count()), (2, 2));
    let da = a.create_domain().unwrap();
    let db = b.create_domain().unwrap();
    a.attach(ContextId(0), da).unwrap();
    b.attach(ContextId(0), db).unwrap();
    assert_eq!(b.attach(ContextId(2), db), Err(ErrorCode::INVAL));
    mock.complete_all();
    // The instance's context 0 is A's 0, its context 2 is B's 0.
    assert_eq!(mock.attached_to(0), Some(da.0));
    assert_eq!(mock.attached_to(2), Some(db.0));
    assert_eq!(ra.take(), vec![Event::Attach(ContextId(0), da)]);
    assert_eq!(rb.take(), vec![Event::Attach(ContextId(0), db)]);
    assert_eq!(b.attached(ContextId(0)), Some(db));
    b.detach(ContextId(0)).unwrap();
    mock.complete_all();
    assert_eq!(rb.take(), vec![Event::Detach(ContextId(0))]);
    assert!(ra.take().is_empty());
}

#[test]
fn a_user_cannot_touch_another_users_domains() {
    let (mock, a, ra, b, rb) = shared();
    let da = a.create_domain().unwrap();
    let memory = test_memory(0x8000_0000, 256);
    assert_eq!(
        b.map(da, 0, memory, Permissions::READ_WRITE),
        Err(ErrorCode::INVAL)
    );
    assert_eq!(b.unmap(da, 0, 256), Err(ErrorCode::INVAL));
    assert_eq!(b.translate(da, 0), Err(ErrorCode::INVAL));
    assert_eq!(b.map_table_pages(da, 0, 256), Err(ErrorCode::INVAL));
    assert_eq!(b.attach(ContextId(0), da), Err(ErrorCode::INVAL));
    assert_eq!(b.destroy_domain(da), Err(ErrorCode::INVAL));
    assert_eq!(mock.live_domains(), 1);
    // Its owner can, and hears of it alone.
    a.map(
        da,
        0,
        test_memory(0x8000_0000, 256),
        Permissions::READ_WRITE,
    )
    .unwrap();
    mock.complete_all();
    assert_eq!(ra.take(), vec![Event::Map(da)]);
    assert!(rb.take().is_empty());
    a.unmap(da, 0, 256).unwrap();
    mock.complete_all();
    assert_eq!(ra.take(), vec![Event::Unmap(da)]);
    a.destroy_domain(da).unwrap();
    // A destroyed domain's number is nobody's until created again.
    assert_eq!(a.translate(da, 0), Err(ErrorCode::INVAL));
    let again = b.create_domain().unwrap();
    assert_eq!(a.destroy_domain(again), Err(ErrorCode::INVAL));
}

#[test]
fn faults_reach_the_user_of_the_context_and_lost_ones_everyone() {
    let (mock, a, ra, b, rb) = shared();
    let _ = (a, b);
    // A blocked access of the instance's context 3: B's context 1.
    assert!(mock.device_access(3, 0, AccessType::Write).is_err());
    assert_eq!(rb.take(), vec![Event::Fault(Some(ContextId(1)))]);
    assert!(ra.take().is_empty());
    // A fault of no context reaches nobody.
    mock.inject_fault(Fault {
        context: None,
        cause: FaultCause::Blocked,
        raw_cause: 0,
        iova: 0,
        access: AccessType::Read,
    });
    assert!(ra.take().is_empty() && rb.take().is_empty());
    mock.inject_faults_lost();
    assert_eq!(ra.take(), vec![Event::Lost]);
    assert_eq!(rb.take(), vec![Event::Lost]);
}

#[test]
fn fences_are_answered_to_whoever_asked_in_order() {
    let (mock, a, ra, b, rb) = shared();
    a.fence().unwrap();
    assert_eq!(a.fence(), Err(ErrorCode::BUSY), "one outstanding each");
    b.fence().unwrap();
    mock.complete_one();
    assert_eq!(ra.take(), vec![Event::Fence]);
    assert!(rb.take().is_empty());
    mock.complete_one();
    assert_eq!(rb.take(), vec![Event::Fence]);
    a.fence().unwrap();
    mock.complete_all();
    assert_eq!(ra.take(), vec![Event::Fence]);
}

#[test]
fn users_may_not_overlap_nor_exceed_the_instance() {
    let mock = leak(MockIommu::new(4, 8, 32, 8));
    let mux: &'static Mux = leak(MuxIommu::new(mock));
    mux.setup();
    mux.add_user(leak(VirtualIommu::new(mux, 0..3))).unwrap();
    assert_eq!(
        mux.add_user(leak(VirtualIommu::new(mux, 2..4))),
        Err(ErrorCode::INVAL)
    );
    assert_eq!(
        mux.add_user(leak(VirtualIommu::new(mux, 3..5))),
        Err(ErrorCode::INVAL)
    );
    mux.add_user(leak(VirtualIommu::new(mux, 3..4))).unwrap();
    assert_eq!(
        mux.add_user(leak(VirtualIommu::new(mux, 4..4))),
        Err(ErrorCode::NOMEM)
    );
}

#[test]
fn the_system_call_driver_over_a_virtual_instance_reaches_only_its_contexts() {
    use capsule_test_harness::Harness;
    use capsules_iommu::InstancePort;
    use capsules_iommu::driver::DRIVER_NUM;
    use capsules_iommu::driver::command::{ACQUIRE, ATTACH, CREATE_DOMAIN};
    use iommu_test_support::capsule_rig::{Storage, iommu_driver};
    use kernel::hil::iommu::Iommu;
    use kernel::syscall::SyscallReturn;

    // The kernel keeps the instance's contexts 0-1 (user A); processes get
    // contexts 2-3 through the system call driver (user B), as 0 and 1.
    let (mock, _a, _ra, b, _rb) = shared();
    let h = Harness::new(1);
    let ports: &'static [InstancePort<'static>] =
        Vec::leak(vec![InstancePort::new(0, b as &'static dyn Iommu<'static>)]);
    let storage: &'static Storage = h.leak(Storage::new());
    let (driver, _) = iommu_driver(h, ports, storage.tables(), capsules_iommu::Quotas::DEFAULT);
    assert_eq!(driver.setup(), Ok(()));
    let p = h.spawn("p");
    let SyscallReturn::SuccessU32(ctx) = h.command(p, DRIVER_NUM, ACQUIRE, 0, 0) else {
        panic!()
    };
    assert!(!h.command(p, DRIVER_NUM, ACQUIRE, 0, 2).is_success());
    let SyscallReturn::SuccessU32(dom) = h.command(p, DRIVER_NUM, CREATE_DOMAIN, 0, 0) else {
        panic!()
    };
    assert!(
        h.command(p, DRIVER_NUM, ATTACH, ctx as usize, dom as usize)
            .is_success()
    );
    mock.complete_all();
    assert!(mock.attached_to(2).is_some());
    assert_eq!(mock.attached_to(0), None);
}
