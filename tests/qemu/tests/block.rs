// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Block storage (0x50005) over virtio-blk behind the IOMMU: the device
//! moves sectors straight between the disk and a process's buffer, mapped
//! in the kernel's domain for one request. Each run has a disk file of its
//! own, which the tests read back afterwards.

use std::path::PathBuf;

use qemu_tests::{Run, TIMEOUT, boot, boot_with_disk, image, root, variant_image};

const SECTOR: usize = 512;

/// Boots `image` on a zeroed disk of its own, the size of `build/disk.img`
/// (which `image` makes); returns the run and the disk's contents after.
fn run_on_own_disk(name: &str, image: &std::path::Path) -> (Run, Vec<u8>) {
    let dir = root().join("build/test-disks");
    std::fs::create_dir_all(&dir).unwrap();
    let disk: PathBuf = dir.join(format!("{name}-{}.img", std::process::id()));
    let size = std::fs::metadata(root().join("build/disk.img"))
        .expect("build/disk.img")
        .len();
    let file = std::fs::File::create(&disk).unwrap();
    file.set_len(size).unwrap();
    drop(file);
    let run = boot_with_disk(image, &disk, &[], TIMEOUT);
    let contents = std::fs::read(&disk).unwrap();
    let _ = std::fs::remove_file(&disk);
    (run, contents)
}

/// The bytes of absolute sectors `first..first + count` of `disk`.
fn sectors(disk: &[u8], first: usize, count: usize) -> &[u8] {
    &disk[first * SECTOR..(first + count) * SECTOR]
}

#[test]
fn blk_demo_round_trip_reaches_its_own_sectors_of_the_disk() {
    let (run, disk) = run_on_own_disk("blk_demo", &image("blk_demo", &["blk_demo"]));
    run.expect(
        "IOMMU 0x03010000: context 3 = virtio-blk requester id 0x0020, kernel-owned, blocking",
    )
    .expect("virtio-blk: ready behind IOMMU context 3: queue at IOVA 0x10000000, requests at IOVA 0x10001000, request window at IOVA 0x20000000, 1024 sectors")
    .expect("blk_demo: 64 sectors of 512 bytes are mine")
    .expect("blk_demo: wrote 3 sectors from my buffer, read 3 back into another: verified")
    .expect("Process 'blk_demo' exited with code 0")
    .expect_absent("FAIL")
    .expect_absent("IOMMU fault");
    run.expect_pass();
    // The app's sectors 1..4 are the disk's 1..4 (its range starts at 0):
    // its pattern is there, and nothing else of the disk was written.
    let pattern: Vec<u8> = (0..3 * SECTOR)
        .map(|index| (index as u8).wrapping_mul(31) ^ 0xa5)
        .collect();
    assert_eq!(sectors(&disk, 1, 3), pattern.as_slice());
    assert!(sectors(&disk, 0, 1).iter().all(|&b| b == 0));
    assert!(disk[4 * SECTOR..].iter().all(|&b| b == 0));
}

#[test]
fn requests_outside_the_range_are_refused_before_the_device() {
    let (run, disk) = run_on_own_disk("blk_thief", &image("blk_thief", &["blk_thief", "blk_demo"]));
    run.expect("blk_thief: 64 sectors are mine")
        .expect("blk_thief: 6 requests outside my range refused: INVAL")
        .expect("blk_demo: wrote 3 sectors from my buffer, read 3 back into another: verified")
        .expect("Process 'blk_thief' exited with code 0")
        .expect("Process 'blk_demo' exited with code 0")
        .expect_absent("FAIL");
    run.expect_pass();
    // The refused writes (at the end of its range 64..128 and past it)
    // never reached the disk: only blk_demo's sectors were written.
    assert!(sectors(&disk, 4, 1020).iter().all(|&b| b == 0));
}

#[test]
fn a_process_killed_mid_read_gets_no_device_write_into_its_next_instance() {
    let (run, disk) = run_on_own_disk(
        "blk_restart",
        &image("blk_restart", &["blk_restart", "blk_demo"]),
    );
    for instance in 1..=4 {
        run.expect(&format!(
            "blk_restart: instance {instance}: target still holds only the marker"
        ));
    }
    for instance in 1..=3 {
        run.expect(&format!(
            "blk_restart: instance {instance}: starting a read of 8 sectors, then faulting"
        ));
        run.expect(&format!(
            "---| Process 'blk_restart' restarted (restart {instance}) |---"
        ));
    }
    run.expect("blk_restart: done: 3 instances killed mid-read, no device write reached the next")
        .expect("Process 'blk_restart' exited with code 0")
        .expect("Process 'blk_demo' exited with code 0")
        .expect("All processes finished (3 faulted, 0 exited with a non-zero code).")
        .expect_absent("FAIL");
    assert_eq!(
        run.count("---| Process 'blk_restart' faulted: load access fault at 0x00000000 |---"),
        3
    );
    run.expect_pass();
    // Its range starts at sector 128: the instance count went back to 0
    // and the data the killed reads were after is there.
    assert!(sectors(&disk, 128, 1).iter().all(|&b| b == 0));
    assert!(sectors(&disk, 136, 8).iter().all(|&b| b == 0x5a));
}

#[test]
fn device_dma_past_the_request_window_is_faulted_and_contained() {
    // The test build's device moves one page more than blk_overreach's
    // read maps: the writes past the window (IOVA 0x20000000) fault.
    let image = variant_image(
        "block-overreach",
        "block-overreach",
        &["blk_overreach", "blk_demo"],
    );
    let run = boot(&image, &[], TIMEOUT);
    run.expect(
        "virtio-blk: IOMMU fault: PageFault, access Write, IOVA 0x20001000, hardware cause 15: blocked",
    )
    .expect("blk_overreach: my buffer holds the sectors, the page past it is untouched")
    .expect("blk_overreach: the device serves requests on: 8 sectors verified")
    .expect("blk_demo: wrote 3 sectors from my buffer, read 3 back into another: verified")
    .expect("Process 'blk_overreach' exited with code 0")
    .expect("Process 'blk_demo' exited with code 0")
    .expect_absent("FAIL");
    // Only the page past the window faulted: nothing else of the device's
    // memory or another IOVA.
    let faults: Vec<&str> = run
        .output
        .lines()
        .filter(|line| line.starts_with("virtio-blk: IOMMU fault:"))
        .collect();
    assert!(
        faults.iter().all(|line| line.contains("IOVA 0x20001")),
        "{}",
        run.output
    );
    run.expect_pass();
}
