// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! A virtio entropy device driver (virtio 1.x section 5.4) for
//! `kernel::hil::rng`.
//!
//! The device has one queue (`requestq`) and no device-specific features
//! or configuration; the driver gives it a device-writable buffer and the
//! device fills some of it with random bytes (5.4.6). Here that buffer is
//! kernel memory lent for good ([`DmaBuffer`]), which the board maps into
//! the device's IOMMU domain at the IOVA it gives [`VirtioRng::new`]; the
//! request carries that IOVA. Random bytes are read back only after the
//! request completed, through the buffer's acquire fence, and handed to
//! the client as little-endian 32-bit words.
//!
//! A cancelled request stays with the device until it returns the buffer
//! (virtio has no way to take a buffer back short of a reset); `cancel`
//! still returns `Ok` and no callback follows, as the HIL asks. A `get`
//! in the meantime is remembered and submitted when the buffer returns.
//!
//! A `get` before the transport has initialized the device (behind an
//! IOMMU the board brings the device up only once its mappings are in
//! place, which may be after processes started) is remembered as well and
//! submitted from `device_initialized`.

use core::cell::Cell;

use kernel::ErrorCode;
use kernel::hil::rng::{Client, Continue, Rng};
use kernel::platform::dma_fence::DmaFence;
use kernel::utilities::cells::OptionalCell;

use crate::device::{VirtioDeviceDriver, VirtioDeviceType};
use crate::dma::DmaBuffer;
use crate::queue::{QueueClient, RequestId, Segment, SplitQueue};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The buffer is the driver's.
    Idle,
    /// The device has the buffer for a `get`.
    Requested(RequestId),
    /// The device has the buffer of a cancelled `get`; `get_again` says a
    /// new `get` came since.
    Cancelled { request: RequestId, get_again: bool },
    /// A `get` came before the device was initialized.
    Waiting,
}

/// A virtio-rng device driven through a [`SplitQueue`] of `N` entries.
pub struct VirtioRng<'a, const N: usize, F: DmaFence> {
    queue: &'a SplitQueue<'a, N, F>,
    buffer: DmaBuffer,
    buffer_iova: u64,
    fence: F,
    state: Cell<State>,
    /// The transport has initialized the device (`device_initialized`)
    /// and not reset it since.
    initialized: Cell<bool>,
    client: OptionalCell<&'a dyn Client>,
}

impl<'a, const N: usize, F: DmaFence> VirtioRng<'a, N, F> {
    /// A driver using `queue` (the device's queue 0) and `buffer`, which
    /// the board has mapped device-writable at `buffer_iova`. The board
    /// also makes this the queue's client.
    pub fn new(
        queue: &'a SplitQueue<'a, N, F>,
        buffer: DmaBuffer,
        buffer_iova: u64,
        fence: F,
    ) -> Self {
        VirtioRng {
            queue,
            buffer,
            buffer_iova,
            fence,
            state: Cell::new(State::Idle),
            initialized: Cell::new(false),
            client: OptionalCell::empty(),
        }
    }

    /// After the board reset the device and the queue (which then no
    /// longer holds the buffer): forget the request, and tell the client
    /// of a `get` that was outstanding with `Err(FAIL)`.
    pub fn device_was_reset(&self) {
        let outstanding = matches!(
            self.state.get(),
            State::Requested(_)
                | State::Waiting
                | State::Cancelled {
                    get_again: true,
                    ..
                }
        );
        self.state.set(State::Idle);
        self.initialized.set(false);
        if outstanding {
            self.client.map(|client| {
                client.randomness_available(&mut core::iter::empty(), Err(ErrorCode::FAIL))
            });
        }
    }

    fn submit(&self) -> Result<(), ErrorCode> {
        let length = u32::try_from(self.buffer.len()).map_err(|_| ErrorCode::FAIL)?;
        if length < 4 {
            return Err(ErrorCode::FAIL);
        }
        match self
            .queue
            .submit(&[Segment::writable(self.buffer_iova, length)])
        {
            Ok(request) => {
                self.state.set(State::Requested(request));
                Ok(())
            }
            Err(ErrorCode::OFF) => Err(ErrorCode::OFF),
            Err(_) => Err(ErrorCode::FAIL),
        }
    }

    /// Submits, telling the client if that fails.
    fn submit_or_report(&self) {
        if let Err(error) = self.submit() {
            self.client
                .map(|client| client.randomness_available(&mut core::iter::empty(), Err(error)));
        }
    }

    /// Hands the `written` bytes to the client; resubmits if it wants more.
    fn deliver(&self, written: u32) {
        let words = (written as usize).min(self.buffer.len()) / 4;
        let mut randomness = (0..words).map(|word| {
            let mut bytes = [0u8; 4];
            self.buffer.read(word * 4, &mut bytes, self.fence);
            u32::from_le_bytes(bytes)
        });
        let wants_more = if words == 0 {
            // The device returned nothing: ask again without bothering the
            // client (5.4.6 lets the device fill any part of the buffer).
            Continue::More
        } else {
            self.client.map_or(Continue::Done, |client| {
                client.randomness_available(&mut randomness, Ok(()))
            })
        };
        if wants_more == Continue::More {
            self.submit_or_report();
        }
    }
}

impl<'a, const N: usize, F: DmaFence> Rng<'a> for VirtioRng<'a, N, F> {
    fn get(&self) -> Result<(), ErrorCode> {
        match self.state.get() {
            State::Idle if !self.initialized.get() => {
                self.state.set(State::Waiting);
                Ok(())
            }
            State::Idle => self.submit(),
            State::Requested(_) | State::Waiting => Ok(()),
            State::Cancelled { request, .. } => {
                self.state.set(State::Cancelled {
                    request,
                    get_again: true,
                });
                Ok(())
            }
        }
    }

    fn cancel(&self) -> Result<(), ErrorCode> {
        match self.state.get() {
            State::Idle => Ok(()),
            State::Waiting => {
                self.state.set(State::Idle);
                Ok(())
            }
            State::Requested(request) => {
                // `INVAL` or `ALREADY` would mean the queue and this
                // driver disagree; either way no callback follows.
                let _ = self.queue.cancel(request);
                self.state.set(State::Cancelled {
                    request,
                    get_again: false,
                });
                Ok(())
            }
            State::Cancelled { request, .. } => {
                self.state.set(State::Cancelled {
                    request,
                    get_again: false,
                });
                Ok(())
            }
        }
    }

    fn set_client(&'a self, client: &'a dyn Client) {
        self.client.set(client);
    }
}

impl<const N: usize, F: DmaFence> QueueClient for VirtioRng<'_, N, F> {
    fn request_done(&self, id: RequestId, result: Result<u32, ErrorCode>) {
        match (self.state.get(), result) {
            (State::Requested(request), Ok(written)) if request == id => {
                self.state.set(State::Idle);
                self.deliver(written);
            }
            (State::Cancelled { request, get_again }, _) if request == id => {
                self.state.set(State::Idle);
                if get_again {
                    self.submit_or_report();
                }
            }
            // Not our request, or a cancelled one we no longer wait for.
            _ => {}
        }
    }
}

impl<const N: usize, F: DmaFence> VirtioDeviceDriver for VirtioRng<'_, N, F> {
    fn device_type(&self) -> VirtioDeviceType {
        VirtioDeviceType::EntropySource
    }

    fn queue_count(&self) -> usize {
        1
    }

    fn negotiate_features(&self, _offered: u64) -> Option<u64> {
        // 5.4.3: the entropy device defines no feature bits.
        Some(0)
    }

    /// Submits the `get` that came before the device was ready, if any.
    fn device_initialized(&self) -> Result<(), ErrorCode> {
        self.initialized.set(true);
        if self.state.get() == State::Waiting {
            self.state.set(State::Idle);
            self.submit_or_report();
        }
        Ok(())
    }
}
