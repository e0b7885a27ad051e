// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! System call return values, decoded from the four return registers.
//!
//! TRD104 section 3.2: `a0` holds the return variant, `a1..a3` the values.
//! A failure carries its error code in `a1`; a 64-bit value is split into
//! its low word first and its high word in the next register.

use crate::error::ErrorCode;

/// Return variant numbers (TRD104 section 3.2, table "Return variants").
pub mod variant {
    pub const FAILURE: u32 = 0;
    pub const FAILURE_U32: u32 = 1;
    pub const FAILURE_U32_U32: u32 = 2;
    pub const FAILURE_U64: u32 = 3;
    pub const SUCCESS: u32 = 128;
    pub const SUCCESS_U32: u32 = 129;
    pub const SUCCESS_U32_U32: u32 = 130;
    pub const SUCCESS_U64: u32 = 131;
    pub const SUCCESS_U32_U32_U32: u32 = 132;
    pub const SUCCESS_U32_U64: u32 = 133;
}

/// The result of a system call, in the shape the kernel chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallReturn {
    Failure(ErrorCode),
    FailureU32(ErrorCode, u32),
    FailureU32U32(ErrorCode, u32, u32),
    FailureU64(ErrorCode, u64),
    Success,
    SuccessU32(u32),
    SuccessU32U32(u32, u32),
    SuccessU64(u64),
    SuccessU32U32U32(u32, u32, u32),
    SuccessU32U64(u32, u64),
    /// Registers that are no valid TRD104 return: an unknown variant, or a
    /// failure with an unknown error code. Kept raw for diagnostics.
    Invalid([u32; 4]),
}

/// Joins a low and a high register into a 64-bit value.
const fn join_u64(low: u32, high: u32) -> u64 {
    ((high as u64) << 32) | low as u64
}

impl SyscallReturn {
    /// Decodes the return registers `a0..a3`.
    pub const fn decode(registers: [u32; 4]) -> SyscallReturn {
        let [a0, a1, a2, a3] = registers;
        if a0 < variant::SUCCESS {
            let Some(error) = ErrorCode::from_u32(a1) else {
                return SyscallReturn::Invalid(registers);
            };
            return match a0 {
                variant::FAILURE => SyscallReturn::Failure(error),
                variant::FAILURE_U32 => SyscallReturn::FailureU32(error, a2),
                variant::FAILURE_U32_U32 => SyscallReturn::FailureU32U32(error, a2, a3),
                variant::FAILURE_U64 => SyscallReturn::FailureU64(error, join_u64(a2, a3)),
                _ => SyscallReturn::Invalid(registers),
            };
        }
        match a0 {
            variant::SUCCESS => SyscallReturn::Success,
            variant::SUCCESS_U32 => SyscallReturn::SuccessU32(a1),
            variant::SUCCESS_U32_U32 => SyscallReturn::SuccessU32U32(a1, a2),
            variant::SUCCESS_U64 => SyscallReturn::SuccessU64(join_u64(a1, a2)),
            variant::SUCCESS_U32_U32_U32 => SyscallReturn::SuccessU32U32U32(a1, a2, a3),
            variant::SUCCESS_U32_U64 => SyscallReturn::SuccessU32U64(a1, join_u64(a2, a3)),
            _ => SyscallReturn::Invalid(registers),
        }
    }

    /// Whether this is one of the success variants.
    pub const fn is_success(&self) -> bool {
        matches!(
            self,
            SyscallReturn::Success
                | SyscallReturn::SuccessU32(_)
                | SyscallReturn::SuccessU32U32(..)
                | SyscallReturn::SuccessU64(_)
                | SyscallReturn::SuccessU32U32U32(..)
                | SyscallReturn::SuccessU32U64(..)
        )
    }

    /// The error of a failure, [`ErrorCode::BadReturnVariant`] for an
    /// invalid return, `None` for a success.
    pub const fn error(&self) -> Option<ErrorCode> {
        match *self {
            SyscallReturn::Failure(error)
            | SyscallReturn::FailureU32(error, _)
            | SyscallReturn::FailureU32U32(error, ..)
            | SyscallReturn::FailureU64(error, _) => Some(error),
            SyscallReturn::Invalid(_) => Some(ErrorCode::BadReturnVariant),
            _ => None,
        }
    }

    /// The failure's error, or `BadReturnVariant` for a success of another
    /// shape than the caller expects.
    const fn unexpected(&self) -> ErrorCode {
        match self.error() {
            Some(error) => error,
            None => ErrorCode::BadReturnVariant,
        }
    }

    /// `Ok` for a plain success.
    pub const fn to_result(self) -> Result<(), ErrorCode> {
        match self {
            SyscallReturn::Success => Ok(()),
            other => Err(other.unexpected()),
        }
    }

    /// `Ok(value)` for a success with one `u32`.
    pub const fn to_result_u32(self) -> Result<u32, ErrorCode> {
        match self {
            SyscallReturn::SuccessU32(value) => Ok(value),
            other => Err(other.unexpected()),
        }
    }

    /// `Ok(values)` for a success with two `u32`s.
    pub const fn to_result_u32_u32(self) -> Result<(u32, u32), ErrorCode> {
        match self {
            SyscallReturn::SuccessU32U32(first, second) => Ok((first, second)),
            other => Err(other.unexpected()),
        }
    }

    /// `Ok(value)` for a success with one `u64`.
    pub const fn to_result_u64(self) -> Result<u64, ErrorCode> {
        match self {
            SyscallReturn::SuccessU64(value) => Ok(value),
            other => Err(other.unexpected()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{SyscallReturn, variant};
    use crate::error::ErrorCode;

    #[test]
    fn decodes_every_success_variant() {
        let decode = |registers| SyscallReturn::decode(registers);
        assert_eq!(decode([variant::SUCCESS, 7, 8, 9]), SyscallReturn::Success);
        assert_eq!(
            decode([variant::SUCCESS_U32, 7, 8, 9]),
            SyscallReturn::SuccessU32(7)
        );
        assert_eq!(
            decode([variant::SUCCESS_U32_U32, 7, 8, 9]),
            SyscallReturn::SuccessU32U32(7, 8)
        );
        assert_eq!(
            decode([variant::SUCCESS_U64, 0x89ab_cdef, 0x0123_4567, 9]),
            SyscallReturn::SuccessU64(0x0123_4567_89ab_cdef)
        );
        assert_eq!(
            decode([variant::SUCCESS_U32_U32_U32, 7, 8, 9]),
            SyscallReturn::SuccessU32U32U32(7, 8, 9)
        );
        assert_eq!(
            decode([variant::SUCCESS_U32_U64, 7, 0xffff_ffff, 1]),
            SyscallReturn::SuccessU32U64(7, 0x1_ffff_ffff)
        );
    }

    #[test]
    fn decodes_every_failure_variant() {
        let decode = |registers| SyscallReturn::decode(registers);
        assert_eq!(
            decode([variant::FAILURE, 6, 8, 9]),
            SyscallReturn::Failure(ErrorCode::Invalid)
        );
        assert_eq!(
            decode([variant::FAILURE_U32, 2, 8, 9]),
            SyscallReturn::FailureU32(ErrorCode::Busy, 8)
        );
        assert_eq!(
            decode([variant::FAILURE_U32_U32, 11, 8, 9]),
            SyscallReturn::FailureU32U32(ErrorCode::NoDevice, 8, 9)
        );
        assert_eq!(
            decode([variant::FAILURE_U64, 9, 2, 1]),
            SyscallReturn::FailureU64(ErrorCode::NoMem, 0x1_0000_0002)
        );
    }

    #[test]
    fn rejects_unknown_variants_and_error_codes() {
        for registers in [
            [4, 1, 0, 0],
            [127, 1, 0, 0],
            [134, 0, 0, 0],
            [0, 0, 0, 0],
            [1, 14, 0, 0],
        ] {
            let decoded = SyscallReturn::decode(registers);
            assert_eq!(decoded, SyscallReturn::Invalid(registers));
            assert_eq!(decoded.error(), Some(ErrorCode::BadReturnVariant));
            assert!(!decoded.is_success());
        }
    }

    #[test]
    fn conversions_check_the_shape() {
        assert_eq!(SyscallReturn::Success.to_result(), Ok(()));
        assert_eq!(SyscallReturn::SuccessU32(5).to_result_u32(), Ok(5));
        assert_eq!(
            SyscallReturn::SuccessU32U32(5, 6).to_result_u32_u32(),
            Ok((5, 6))
        );
        assert_eq!(SyscallReturn::SuccessU64(5).to_result_u64(), Ok(5));
        assert_eq!(
            SyscallReturn::SuccessU32(5).to_result(),
            Err(ErrorCode::BadReturnVariant)
        );
        assert_eq!(
            SyscallReturn::Success.to_result_u32(),
            Err(ErrorCode::BadReturnVariant)
        );
        assert_eq!(
            SyscallReturn::FailureU32U32(ErrorCode::Busy, 1, 2).to_result_u32_u32(),
            Err(ErrorCode::Busy)
        );
    }
}
