// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Deferred calls: let a driver run a callback later from the main loop,
//! outside the call stack of the operation that asked for it (Tock's
//! `kernel::deferred_call` API).
//!
//! Each `DeferredCall` takes one of 32 slots. A client registers once; `set`
//! marks its slot pending; the kernel loop calls `service_next_pending` to
//! run pending clients one at a time.
//!
//! The slot table is global, as in Tock. The kernel is single-threaded on
//! its target; on the host (`std` feature, used by the test harness) every
//! test thread gets its own table, so tests running in parallel do not see
//! each other's calls.

use core::cell::Cell;

/// A type that can be called back from the kernel loop.
pub trait DeferredCallClient: Sized {
    /// Called from the kernel loop when this client's call is pending.
    fn handle_deferred_call(&self);

    /// Registers `self` with its `DeferredCall`. Implementations call
    /// `self.deferred_call.register(self)`.
    fn register(&'static self);
}

const SLOTS: usize = 32;

/// A type-erased `&'static dyn DeferredCallClient` (that trait is `Sized`,
/// so it cannot be a trait object): the data pointer and a monomorphized
/// trampoline that casts it back.
#[derive(Clone, Copy)]
struct ClientRef {
    data: *const (),
    callback: fn(*const ()),
}

impl ClientRef {
    fn new<T: DeferredCallClient + 'static>(client: &'static T) -> Self {
        fn trampoline<T: DeferredCallClient + 'static>(data: *const ()) {
            // SAFETY: `data` was made from a `&'static T` in `new::<T>`,
            // and only this instantiation of the trampoline is paired with it.
            let client: &'static T = unsafe { &*data.cast::<T>() };
            client.handle_deferred_call();
        }
        ClientRef {
            data: core::ptr::from_ref(client).cast(),
            callback: trampoline::<T>,
        }
    }

    fn call(self) {
        (self.callback)(self.data);
    }
}

struct State {
    allocated: Cell<usize>,
    pending: Cell<u32>,
    clients: [Cell<Option<ClientRef>>; SLOTS],
}

impl State {
    const fn new() -> Self {
        State {
            allocated: Cell::new(0),
            pending: Cell::new(0),
            clients: [const { Cell::new(None) }; SLOTS],
        }
    }
}

#[cfg(feature = "std")]
fn with_state<R>(f: impl FnOnce(&State) -> R) -> R {
    extern crate std;
    std::thread_local! {
        static STATE: State = const { State::new() };
    }
    STATE.with(f)
}

#[cfg(not(feature = "std"))]
fn with_state<R>(f: impl FnOnce(&State) -> R) -> R {
    struct SingleThreaded(State);
    // SAFETY: without the `std` feature the kernel runs on one hart with no
    // threads, and interrupt handlers never touch deferred-call state (they
    // only mark hardware pending; the kernel loop services it). So `State`
    // is never accessed concurrently.
    unsafe impl Sync for SingleThreaded {}
    static STATE: SingleThreaded = SingleThreaded(State::new());
    f(&STATE.0)
}

/// One deferred-call slot.
pub struct DeferredCall {
    idx: usize,
}

impl Default for DeferredCall {
    fn default() -> Self {
        Self::new()
    }
}

impl DeferredCall {
    /// Takes the next free slot. Panics if more than 32 are created: that is
    /// a board configuration bug, found at boot.
    pub fn new() -> Self {
        let idx = with_state(|s| {
            let idx = s.allocated.get();
            s.allocated.set(idx + 1);
            idx
        });
        assert!(idx < SLOTS, "more than {SLOTS} deferred calls");
        DeferredCall { idx }
    }

    /// Records `client` as the receiver of this slot's calls.
    pub fn register<DC: DeferredCallClient>(&self, client: &'static DC) {
        with_state(|s| s.clients[self.idx].set(Some(ClientRef::new(client))));
    }

    /// Asks for `handle_deferred_call` to be called from the kernel loop.
    pub fn set(&self) {
        with_state(|s| s.pending.set(s.pending.get() | (1 << self.idx)));
    }

    /// True if `set` was called and the call has not run yet.
    pub fn is_pending(&self) -> bool {
        with_state(|s| s.pending.get() & (1 << self.idx) != 0)
    }

    /// Runs the lowest-numbered pending call, if any, and returns its slot.
    pub fn service_next_pending() -> Option<usize> {
        let next = with_state(|s| {
            let pending = s.pending.get();
            if pending == 0 {
                return None;
            }
            let idx = pending.trailing_zeros() as usize;
            s.pending.set(pending & !(1 << idx));
            Some((idx, s.clients[idx].get()))
        });
        // The client runs outside `with_state`, so it may `set` again.
        next.map(|(idx, client)| {
            if let Some(client) = client {
                client.call();
            }
            idx
        })
    }

    /// True if any call is pending.
    pub fn has_tasks() -> bool {
        with_state(|s| s.pending.get() != 0)
    }

    /// Panics if a slot was created but never registered: a client that
    /// forgot `register` would otherwise silently never be called.
    pub fn verify_setup() {
        with_state(|s| {
            for idx in 0..s.allocated.get().min(SLOTS) {
                assert!(
                    s.clients[idx].get().is_some(),
                    "deferred call {idx} never registered"
                );
            }
        });
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    extern crate std;
    use std::boxed::Box;

    struct Counter {
        dc: DeferredCall,
        hits: Cell<u32>,
    }

    impl DeferredCallClient for Counter {
        fn handle_deferred_call(&self) {
            self.hits.set(self.hits.get() + 1);
        }
        fn register(&'static self) {
            self.dc.register(self);
        }
    }

    #[test]
    fn set_then_service_calls_client_once() {
        let c: &'static Counter = Box::leak(Box::new(Counter {
            dc: DeferredCall::new(),
            hits: Cell::new(0),
        }));
        c.register();
        DeferredCall::verify_setup();
        assert!(!DeferredCall::has_tasks());
        c.dc.set();
        c.dc.set();
        assert!(c.dc.is_pending());
        assert!(DeferredCall::service_next_pending().is_some());
        assert_eq!(DeferredCall::service_next_pending(), None);
        assert_eq!(c.hits.get(), 1);
    }
}
