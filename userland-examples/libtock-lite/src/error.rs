// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Error codes returned by Tock system calls.
//!
//! The values 1..=13 are TRD104 section 3.2.1 ("Error Codes"), the same as
//! `kernel::ErrorCode`. [`ErrorCode::BadReturnVariant`] is userspace only: it
//! reports a return the library could not decode (an unknown variant or error
//! code, or a success variant other than the one the call documents).

use core::fmt;

/// Why a system call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ErrorCode {
    /// Generic failure condition.
    Fail = 1,
    /// Underlying system is busy; retry.
    Busy = 2,
    /// The state requested is already set.
    Already = 3,
    /// The component is powered down.
    Off = 4,
    /// Reservation required before use.
    Reserve = 5,
    /// An invalid parameter was passed.
    Invalid = 6,
    /// Parameter passed was too large.
    Size = 7,
    /// Operation canceled by a call.
    Cancel = 8,
    /// Memory required not available.
    NoMem = 9,
    /// Operation is not supported.
    NoSupport = 10,
    /// Device is not available.
    NoDevice = 11,
    /// Device is not physically installed.
    Uninstalled = 12,
    /// Packet transmission not acknowledged.
    NoAck = 13,
    /// Not a kernel error: the kernel's answer did not have the shape this
    /// call expects. Chosen outside the kernel's range so it never collides.
    BadReturnVariant = 1024,
}

impl ErrorCode {
    /// Decodes an error code register value; `None` if TRD104 defines no
    /// error with this value.
    pub const fn from_u32(value: u32) -> Option<ErrorCode> {
        Some(match value {
            1 => ErrorCode::Fail,
            2 => ErrorCode::Busy,
            3 => ErrorCode::Already,
            4 => ErrorCode::Off,
            5 => ErrorCode::Reserve,
            6 => ErrorCode::Invalid,
            7 => ErrorCode::Size,
            8 => ErrorCode::Cancel,
            9 => ErrorCode::NoMem,
            10 => ErrorCode::NoSupport,
            11 => ErrorCode::NoDevice,
            12 => ErrorCode::Uninstalled,
            13 => ErrorCode::NoAck,
            _ => return None,
        })
    }

    /// The register value of this error code.
    pub const fn as_u32(self) -> u32 {
        self as u32
    }

    /// The name Tock uses for this error code.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::Fail => "FAIL",
            ErrorCode::Busy => "BUSY",
            ErrorCode::Already => "ALREADY",
            ErrorCode::Off => "OFF",
            ErrorCode::Reserve => "RESERVE",
            ErrorCode::Invalid => "INVAL",
            ErrorCode::Size => "SIZE",
            ErrorCode::Cancel => "CANCEL",
            ErrorCode::NoMem => "NOMEM",
            ErrorCode::NoSupport => "NOSUPPORT",
            ErrorCode::NoDevice => "NODEVICE",
            ErrorCode::Uninstalled => "UNINSTALLED",
            ErrorCode::NoAck => "NOACK",
            ErrorCode::BadReturnVariant => "BADRVAL",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn kernel_codes_round_trip() {
        for value in 1..=13 {
            let error = ErrorCode::from_u32(value).expect("TRD104 defines 1..=13");
            assert_eq!(error.as_u32(), value);
        }
    }

    #[test]
    fn unknown_codes_are_rejected() {
        for value in [0, 14, 1024, u32::MAX] {
            assert_eq!(ErrorCode::from_u32(value), None);
        }
    }

    #[test]
    fn names_follow_tock() {
        assert_eq!(ErrorCode::Invalid.name(), "INVAL");
        assert_eq!(ErrorCode::NoDevice.name(), "NODEVICE");
        assert_eq!(ErrorCode::BadReturnVariant.as_u32(), 1024);
    }
}
