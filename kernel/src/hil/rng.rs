// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Interface for sources of random numbers, with Tock's signatures.
//!
//! A split-phase [`Rng`]: [`Rng::get`] asks for randomness, and the
//! [`Client`] receives it as an iterator of 32-bit words, saying with
//! [`Continue`] whether it wants more. The traits, their names and their
//! error contracts are those of Tock's `kernel::hil::rng`, so a driver
//! written against this module builds in upstream Tock unchanged.

use crate::ErrorCode;

/// Whether the [`Client`] wants to be called again when more randomness is
/// available (`More`) or has had enough (`Done`).
#[derive(Debug, Eq, PartialEq)]
pub enum Continue {
    /// More randomness is required.
    More,
    /// No more randomness is required.
    Done,
}

/// A source of 32-bit random numbers.
pub trait Rng<'a> {
    /// Starts acquiring randomness.
    ///
    /// Returns:
    /// - `Ok(())`: a `randomness_available` callback follows once
    ///   randomness is available.
    /// - `Err(FAIL)`: no callback follows; no randomness can be produced.
    /// - `Err(OFF)`: no callback follows; the generator is off.
    fn get(&self) -> Result<(), ErrorCode>;

    /// Cancels the acquisition of randomness.
    ///
    /// Returns:
    /// - `Ok(())`: the request started by `get` was cancelled, or there was
    ///   none; no `randomness_available` callback follows.
    /// - `Err(FAIL)`: a `randomness_available` callback still follows; it
    ///   may carry an error.
    fn cancel(&self) -> Result<(), ErrorCode>;

    /// Sets the client that receives `randomness_available`.
    fn set_client(&'a self, client: &'a dyn Client);
}

/// Receives randomness from an [`Rng`].
pub trait Client {
    /// One or more random numbers are available in `randomness`.
    ///
    /// The client returns `Continue::More` to be called again when more
    /// randomness is available, or `Continue::Done`. If this follows a
    /// `cancel` that returned `FAIL`, `error` is `Err(CANCEL)` and
    /// `randomness` may still hold random words.
    fn randomness_available(
        &self,
        randomness: &mut dyn Iterator<Item = u32>,
        error: Result<(), ErrorCode>,
    ) -> Continue;
}
