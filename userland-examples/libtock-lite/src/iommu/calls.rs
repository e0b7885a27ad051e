// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! The IOMMU driver's commands and allows.

use super::DRIVER_NUMBER;
use super::abi::{
    AllowSlot, ContextHandle, DomainHandle, Geometry, Info, InstanceInfo, MapSource, PageRange,
    PageUsage, Slot, Translation, check_done, command, upcall,
};
use crate::dma::DmaBuffer;
use crate::error::ErrorCode;
use crate::return_variant::SyscallReturn;
use crate::syscall;

fn command(number: u32, argument0: usize, argument1: usize) -> SyscallReturn {
    syscall::command(DRIVER_NUMBER, number, argument0, argument1)
}

/// The error of a return that is not the expected success.
fn unexpected(other: SyscallReturn) -> ErrorCode {
    other.error().unwrap_or(ErrorCode::BadReturnVariant)
}

/// Runs a command that completes with `DONE` and waits for it: the
/// command's error if it did not start, else the `DONE` status.
fn run_to_done(
    number: u32,
    argument0: usize,
    argument1: usize,
    handle: u32,
) -> Result<(), ErrorCode> {
    command(number, argument0, argument1).to_result()?;
    check_done(
        syscall::yield_wait_for(DRIVER_NUMBER, upcall::DONE),
        number,
        handle,
    )
}

/// Whether the IOMMU driver is present.
pub fn exists() -> bool {
    command(command::EXISTS, 0, 0).to_result().is_ok()
}

/// `INFO`: instance count and the caller's use of its share of
/// `instance`. `INVAL` if there is no such instance.
pub fn info(instance: u32) -> Result<Info, ErrorCode> {
    match command(command::INFO, instance as usize, 0) {
        SyscallReturn::SuccessU32U32U32(a, b, c) => Ok(Info::decode(a, b, c)),
        other => Err(unexpected(other)),
    }
}

/// `INFO_INSTANCE`: contexts, the ones the caller may use, page size.
pub fn instance_info(instance: u32) -> Result<InstanceInfo, ErrorCode> {
    match command(command::INFO_INSTANCE, instance as usize, 0) {
        SyscallReturn::SuccessU32U32U32(a, b, c) => Ok(InstanceInfo::decode(a, b, c)),
        other => Err(unexpected(other)),
    }
}

/// `INFO_PAGES`: page-table pages charged to the caller on `instance`,
/// and its page quota there.
pub fn pages(instance: u32) -> Result<PageUsage, ErrorCode> {
    command(command::INFO_PAGES, instance as usize, 0)
        .to_result_u32_u32()
        .map(|(charged, quota)| PageUsage { charged, quota })
}

/// `ACQUIRE`: takes `context` of `instance` for the caller alone.
/// `BUSY` if another process owns it, `RESERVE` if the board's policy
/// does not let the caller use it.
pub fn acquire(instance: u32, context: u32) -> Result<ContextHandle, ErrorCode> {
    command(command::ACQUIRE, instance as usize, context as usize)
        .to_result_u32()
        .map(ContextHandle::from_raw)
}

/// `RELEASE`: gives a detached context back.
pub fn release(context: ContextHandle) -> Result<(), ErrorCode> {
    command(command::RELEASE, context.raw() as usize, 0).to_result()
}

/// `CREATE_DOMAIN`: a new, empty domain on `instance`.
pub fn create_domain(instance: u32) -> Result<DomainHandle, ErrorCode> {
    command(command::CREATE_DOMAIN, instance as usize, 0)
        .to_result_u32()
        .map(DomainHandle::from_raw)
}

/// `DESTROY_DOMAIN`: no context may be attached to it.
pub fn destroy_domain(domain: DomainHandle) -> Result<(), ErrorCode> {
    command(command::DESTROY_DOMAIN, domain.raw() as usize, 0).to_result()
}

/// Shares `buffer` with read-write allow `slot`: a `MAP` from it gives
/// device read/write. It stays shared until replaced or un-allowed.
pub fn allow_read_write<const N: usize>(
    slot: Slot,
    buffer: &'static DmaBuffer<N>,
) -> Result<(), ErrorCode> {
    // SAFETY: the buffer is `'static`, so it stays valid for as long as
    // the kernel may use it, and the program reaches its bytes only by
    // volatile accesses through raw pointers, never by references that a
    // kernel or device write could invalidate.
    unsafe {
        syscall::allow_read_write(DRIVER_NUMBER, slot.number().into(), buffer.as_mut_ptr(), N)
    }
}

/// Shares `buffer` with read-only allow `slot`: a `MAP` from it gives
/// device read only. The program may go on writing the buffer.
pub fn allow_read_only<const N: usize>(
    slot: Slot,
    buffer: &'static DmaBuffer<N>,
) -> Result<(), ErrorCode> {
    // SAFETY: `'static`, as for `allow_read_write`. The share's "not
    // written" clause protects references that assume immutability; there
    // are none to these bytes (volatile raw accesses only), and the kernel
    // reads them only inside this single-threaded process's system calls.
    unsafe { syscall::allow_read_only(DRIVER_NUMBER, slot.number().into(), buffer.as_mut_ptr(), N) }
}

/// Shares immutable `bytes` (RAM or flash) with read-only allow `slot`.
pub fn allow_read_only_bytes(slot: Slot, bytes: &'static [u8]) -> Result<(), ErrorCode> {
    // SAFETY: `'static` and immutable: valid and unwritten forever.
    unsafe {
        syscall::allow_read_only(
            DRIVER_NUMBER,
            slot.number().into(),
            bytes.as_ptr(),
            bytes.len(),
        )
    }
}

/// Empties read-write allow `slot`. Pages mapped from it stay mapped.
pub fn unallow_read_write(slot: Slot) -> Result<(), ErrorCode> {
    // SAFETY: a null buffer shares no memory.
    unsafe {
        syscall::allow_read_write(
            DRIVER_NUMBER,
            slot.number().into(),
            core::ptr::null_mut(),
            0,
        )
    }
}

/// Empties read-only allow `slot`. Pages mapped from it stay mapped.
pub fn unallow_read_only(slot: Slot) -> Result<(), ErrorCode> {
    // SAFETY: a null buffer shares no memory.
    unsafe { syscall::allow_read_only(DRIVER_NUMBER, slot.number().into(), core::ptr::null(), 0) }
}

/// Waits for `MAP`'s `DONE` unless the command says the map is complete
/// already: `Success` means it started and `DONE` follows, `SuccessU32(1)`
/// that the IOMMU uses the new entries already and no `DONE` will come.
fn map_finished(returned: SyscallReturn, domain: DomainHandle) -> Result<(), ErrorCode> {
    match returned {
        SyscallReturn::SuccessU32(1) => Ok(()),
        SyscallReturn::Success => check_done(
            syscall::yield_wait_for(DRIVER_NUMBER, upcall::DONE),
            command::MAP,
            domain.raw(),
        ),
        other => Err(unexpected(other)),
    }
}

/// `MAP`: maps `range` of IOVA pages to the pages of the allowed buffer
/// `source` names, and returns once the IOMMU observes them (at once on an
/// instance that caches no invalid entries, else after `DONE`). `INVAL`
/// if the pages are not all inside the allowed buffer (or the slot is
/// empty), `ALREADY` if part of the range is mapped.
pub fn map(source: MapSource, range: PageRange) -> Result<(), ErrorCode> {
    let returned = command(command::MAP, source.raw()? as usize, range.raw() as usize);
    map_finished(returned, source.domain)
}

/// Maps all of `buffer` (its whole pages of `geometry`) into `domain` at
/// `iova` through allow slot `allow`: read-write or read-only for the
/// device as the slot's kind says. The buffer is allowed only for the
/// `MAP` command itself (the mapping outlives the allow). Returns the
/// range, for [`unmap`].
pub fn map_buffer<const N: usize>(
    domain: DomainHandle,
    allow: AllowSlot,
    buffer: &'static DmaBuffer<N>,
    iova: usize,
    geometry: Geometry,
) -> Result<PageRange, ErrorCode> {
    let whole_pages = N & !(geometry.page_size() - 1);
    let range = PageRange::from_bytes(iova, whole_pages, geometry)?;
    let source = MapSource {
        domain,
        allow,
        page_offset: 0,
    };
    let word = source.raw()?;
    match allow {
        AllowSlot::ReadWrite(slot) => allow_read_write(slot, buffer)?,
        AllowSlot::ReadOnly(slot) => allow_read_only(slot, buffer)?,
    }
    let returned = command(command::MAP, word as usize, range.raw() as usize);
    let revoked = match allow {
        AllowSlot::ReadWrite(slot) => unallow_read_write(slot),
        AllowSlot::ReadOnly(slot) => unallow_read_only(slot),
    };
    map_finished(returned, domain)?;
    revoked.map(|()| range)
}

/// `UNMAP`: unmaps every mapped page of `range`; once it returns `Ok` no
/// device reaches them any more.
pub fn unmap(domain: DomainHandle, range: PageRange) -> Result<(), ErrorCode> {
    run_to_done(
        command::UNMAP,
        domain.raw() as usize,
        range.raw() as usize,
        domain.raw(),
    )
}

/// `TRANSLATE`: what `iova` reaches in `domain`; `None` if unmapped.
pub fn translate(domain: DomainHandle, iova: usize) -> Result<Option<Translation>, ErrorCode> {
    match command(command::TRANSLATE, domain.raw() as usize, iova) {
        SyscallReturn::SuccessU32U64(flags, phys) => Ok(Translation::decode(flags, phys)),
        other => Err(unexpected(other)),
    }
}

/// `ATTACH`: the context translates through `domain` once this returns
/// `Ok`; if it was attached to another domain, it switched on the fly.
pub fn attach(context: ContextHandle, domain: DomainHandle) -> Result<(), ErrorCode> {
    run_to_done(
        command::ATTACH,
        context.raw() as usize,
        domain.raw() as usize,
        context.raw(),
    )
}

/// `DETACH`: the context blocks every access once this returns `Ok`.
pub fn detach(context: ContextHandle) -> Result<(), ErrorCode> {
    run_to_done(command::DETACH, context.raw() as usize, 0, context.raw())
}

/// `FAULT_ACK`: returns how many faults of `context` were not reported
/// since the last acknowledgement, and lets the next one through.
pub fn fault_ack(context: ContextHandle) -> Result<u32, ErrorCode> {
    command(command::FAULT_ACK, context.raw() as usize, 0).to_result_u32()
}
