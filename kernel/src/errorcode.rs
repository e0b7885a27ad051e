// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Standard error codes, numbered as in TRD104 section 3.2.

/// Errors returned by system calls and kernel interfaces. The discriminants
/// are the numbers userspace sees in a failure return variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum ErrorCode {
    // Reserved value, for when "no error" / "success" should be encoded in
    // the same numeric representation as ErrorCode:
    //
    // Ok(()) = 0,
    /// Generic failure condition
    FAIL = 1,
    /// Underlying system is busy; retry
    BUSY = 2,
    /// The state requested is already set
    ALREADY = 3,
    /// The component is powered down
    OFF = 4,
    /// Reservation required before use
    RESERVE = 5,
    /// An invalid parameter was passed
    INVAL = 6,
    /// Parameter passed was too large
    SIZE = 7,
    /// Operation canceled by a call
    CANCEL = 8,
    /// Memory required not available
    NOMEM = 9,
    /// Operation is not supported
    NOSUPPORT = 10,
    /// Device is not available
    NODEVICE = 11,
    /// Device is not physically installed
    UNINSTALLED = 12,
    /// Packet transmission not acknowledged
    NOACK = 13,
}

impl From<ErrorCode> for usize {
    fn from(err: ErrorCode) -> usize {
        err as usize
    }
}

impl TryFrom<Result<(), ErrorCode>> for ErrorCode {
    type Error = ();

    fn try_from(rc: Result<(), ErrorCode>) -> Result<Self, Self::Error> {
        match rc {
            Ok(()) => Err(()),
            Err(ec) => Ok(ec),
        }
    }
}

impl TryFrom<usize> for ErrorCode {
    type Error = ();

    /// Decodes a TRD104 error number; 0 and numbers above 13 are not errors.
    fn try_from(value: usize) -> Result<Self, Self::Error> {
        use ErrorCode::*;
        const ALL: [ErrorCode; 13] = [
            FAIL,
            BUSY,
            ALREADY,
            OFF,
            RESERVE,
            INVAL,
            SIZE,
            CANCEL,
            NOMEM,
            NOSUPPORT,
            NODEVICE,
            UNINSTALLED,
            NOACK,
        ];
        value
            .checked_sub(1)
            .and_then(|i| ALL.get(i).copied())
            .ok_or(())
    }
}

impl From<ErrorCode> for Result<(), ErrorCode> {
    fn from(ec: ErrorCode) -> Self {
        Err(ec)
    }
}

/// Converts a `Result<(), ErrorCode>` to a status code: 0 for `Ok(())`, the
/// error number otherwise.
pub fn into_statuscode(r: Result<(), ErrorCode>) -> usize {
    match r {
        Ok(()) => 0,
        Err(e) => e as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_trd104() {
        assert_eq!(usize::from(ErrorCode::FAIL), 1);
        assert_eq!(usize::from(ErrorCode::INVAL), 6);
        assert_eq!(usize::from(ErrorCode::NOMEM), 9);
        assert_eq!(usize::from(ErrorCode::NODEVICE), 11);
        assert_eq!(usize::from(ErrorCode::NOACK), 13);
        for n in 1..=13 {
            assert_eq!(ErrorCode::try_from(n).map(usize::from), Ok(n));
        }
        assert_eq!(ErrorCode::try_from(0), Err(()));
        assert_eq!(ErrorCode::try_from(14), Err(()));
        assert_eq!(into_statuscode(Ok(())), 0);
        assert_eq!(into_statuscode(Err(ErrorCode::BUSY)), 2);
    }
}
