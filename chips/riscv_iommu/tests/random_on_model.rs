// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Random operation sequences: the driver over the model against a
//! reference.
//!
//! The reference knows which domain each context uses and what each
//! domain maps. After every operation has completed (the rig settles),
//! every DMA must do exactly what the reference says: land where it is
//! mapped with write permission, otherwise fault, be reported to the right
//! context, and leave every byte of RAM untouched (I1, I4 as seen by the
//! device).

use iommu_test_support::Rng;
use iommu_test_support::driver_rig::{Event, PAGE, RAM_PAGES, Rig};
use iommu_test_support::test_memory;
use kernel::ErrorCode;
use kernel::hil::iommu::{Attach, ContextId, DomainId, Domains, FaultCause, Map, Permissions};
use std::collections::BTreeMap;

const DEVICES: [u32; 2] = [8, 9];
const WINDOW_PAGES: usize = 48;
const IOVA_BASE: usize = 0x40_0000;

/// IOVA page -> (RAM page, writable).
type Mappings = BTreeMap<usize, (usize, bool)>;

#[derive(Default)]
struct Reference {
    domains: BTreeMap<usize, Mappings>,
    attached: [Option<usize>; 2],
}

fn iova(page: usize) -> usize {
    IOVA_BASE + page * PAGE
}

fn run(seed: u64, steps: usize) {
    let mut rig = Rig::new();
    let mut reference = Reference::default();
    let mut random = Rng(seed);
    // Pages the devices used last: unmaps and DMAs aim at them half of
    // the time, so cached translations meet unmaps.
    let mut recent: Vec<usize> = vec![0];
    for step in 0..steps {
        let context = random.below(2);
        let domain = random.below(4);
        let near = recent[random.below(recent.len())];
        match random.below(16) {
            0 => match rig.iommu.create_domain() {
                Ok(DomainId(id)) => {
                    assert!(reference.domains.insert(id, Mappings::new()).is_none());
                }
                Err(error) => {
                    assert_eq!(error, ErrorCode::NOMEM, "step {step}");
                    assert_eq!(reference.domains.len(), 4, "step {step}");
                }
            },
            1 => {
                let result = rig.iommu.destroy_domain(DomainId(domain));
                let attached = reference.attached.contains(&Some(domain));
                match (reference.domains.contains_key(&domain), attached) {
                    (false, _) => assert_eq!(result, Err(ErrorCode::INVAL), "step {step}"),
                    (true, true) => assert_eq!(result, Err(ErrorCode::BUSY), "step {step}"),
                    (true, false) => {
                        assert_eq!(result, Ok(()), "step {step}");
                        reference.domains.remove(&domain);
                    }
                }
            }
            2..=4 => {
                let first = random.below(WINDOW_PAGES);
                let count = (1 + random.below(4)).min(WINDOW_PAGES - first);
                let ram = random.below(RAM_PAGES - count + 1);
                let writable = random.below(2) == 0;
                let permissions = if writable {
                    Permissions::READ_WRITE
                } else {
                    Permissions::READ
                };
                let len = count * PAGE;
                let result = rig.iommu.map(
                    DomainId(domain),
                    iova(first),
                    test_memory(rig.ram_page(ram), len),
                    permissions,
                );
                match reference.domains.get_mut(&domain) {
                    None => assert_eq!(result, Err(ErrorCode::INVAL), "step {step}"),
                    Some(mappings) if mappings.range(first..first + count).next().is_some() => {
                        assert_eq!(result, Err(ErrorCode::ALREADY), "step {step}");
                    }
                    Some(mappings) => {
                        assert_eq!(result, Ok(()), "step {step}");
                        for i in 0..count {
                            mappings.insert(first + i, (ram + i, writable));
                        }
                    }
                }
            }
            5 | 6 => {
                let first = if random.below(2) == 0 {
                    near.min(WINDOW_PAGES - 1)
                } else {
                    random.below(WINDOW_PAGES)
                };
                let count = (1 + random.below(8)).min(WINDOW_PAGES - first);
                let result = rig.iommu.unmap(DomainId(domain), iova(first), count * PAGE);
                match reference.domains.get_mut(&domain) {
                    None => assert_eq!(result, Err(ErrorCode::INVAL), "step {step}"),
                    Some(mappings) => {
                        assert_eq!(result, Ok(()), "step {step}");
                        mappings.retain(|&page, _| page < first || page >= first + count);
                    }
                }
            }
            7 => {
                let result = rig.iommu.attach(ContextId(context), DomainId(domain));
                if !reference.domains.contains_key(&domain) {
                    assert_eq!(result, Err(ErrorCode::INVAL), "step {step}");
                } else if reference.attached[context] == Some(domain) {
                    assert_eq!(result, Err(ErrorCode::ALREADY), "step {step}");
                } else {
                    assert_eq!(result, Ok(()), "step {step}");
                    reference.attached[context] = Some(domain);
                }
            }
            8 => {
                let result = rig.iommu.detach(ContextId(context));
                if reference.attached[context].take().is_some() {
                    assert_eq!(result, Ok(()), "step {step}");
                } else {
                    assert_eq!(result, Err(ErrorCode::ALREADY), "step {step}");
                }
            }
            _ => {
                rig.settle();
                rig.client.take();
                let page = if random.below(2) == 0 {
                    near
                } else {
                    random.below(WINDOW_PAGES + 4)
                };
                dma_and_check(&mut rig, &reference, &mut random, context, page, step);
                recent.push(page);
                if recent.len() > 4 {
                    recent.remove(0);
                }
            }
        }
        rig.settle();
        for event in rig.client.take() {
            let ok = match event {
                Event::MapDone(_, _, _, result)
                | Event::UnmapDone(_, _, _, result)
                | Event::AttachDone(_, _, result)
                | Event::DetachDone(_, result)
                | Event::FenceDone(result) => result == Ok(()),
                Event::Fault(_) | Event::FaultsLost => false,
            };
            assert!(ok, "step {step}: {event:?}");
        }
    }
}

/// One 4-byte DMA by the device of `context`, checked against the
/// reference and a snapshot of all RAM.
fn dma_and_check(
    rig: &mut Rig,
    reference: &Reference,
    random: &mut Rng,
    context: usize,
    page: usize,
    step: usize,
) {
    let offset = 4 * random.below(PAGE / 4);
    let address = iova(page) + offset;
    let before = rig.peek(rig.ram, RAM_PAGES * PAGE);
    let mapping = reference.attached[context]
        .and_then(|domain| reference.domains.get(&domain))
        .and_then(|mappings| mappings.get(&page).copied());
    let write = random.below(2) == 0;
    let marker = (step as u32).to_le_bytes();
    let (result, data) = if write {
        (
            rig.dma_write(DEVICES[context], address, &marker),
            Vec::new(),
        )
    } else {
        rig.dma_read(DEVICES[context], address, 4)
    };
    let mut expected_ram = before.clone();
    let allowed = match mapping {
        Some((ram_page, writable)) if write && writable => {
            let at = ram_page * PAGE + offset;
            expected_ram[at..at + 4].copy_from_slice(&marker);
            true
        }
        Some((ram_page, _)) if !write => {
            let at = ram_page * PAGE + offset;
            assert_eq!(data, before[at..at + 4], "step {step}: read data");
            true
        }
        _ => false,
    };
    assert_eq!(
        result.faulted,
        usize::from(!allowed),
        "step {step}: {mapping:?}"
    );
    assert!(
        rig.peek(rig.ram, RAM_PAGES * PAGE) == expected_ram,
        "step {step}: RAM changed beyond the mapping"
    );
    rig.settle();
    let faults = rig.faults();
    if allowed {
        assert!(faults.is_empty(), "step {step}");
    } else {
        assert_eq!(faults.len(), 1, "step {step}");
        assert_eq!(faults[0].context, Some(ContextId(context)), "step {step}");
        let expected_cause = if reference.attached[context].is_some() {
            FaultCause::PageFault
        } else {
            FaultCause::Blocked
        };
        assert_eq!(faults[0].cause, expected_cause, "step {step}");
        assert_eq!(faults[0].iova, address as u64, "step {step}");
    }
}

#[test]
fn random_sequences_match_the_reference() {
    for seed in 1..=8 {
        run(0x9e37_79b9_7f4a_7c15 ^ seed, 1500);
    }
}
