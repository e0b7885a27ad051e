// Licensed under the Apache License, Version 2.0 or the MIT License.
// SPDX-License-Identifier: Apache-2.0 OR MIT

//! Runs board images on QEMU with a timeout and checks their output.
//!
//! Every run boots `qemu-system-riscv32 -M virt,iommu-sys=on` with two `edu`
//! devices (00:01.0, 00:02.0), a virtio-rng device behind the IOMMU
//! (00:03.0, [`VIRTIO_RNG`]), a virtio-blk device behind it (00:04.0,
//! [`VIRTIO_BLK`]) on a copy of `build/disk.img` of its own, and the image
//! as `-bios`, captures the serial console, and ends
//! either through the virt test finisher (the board writes pass or
//! fail(code)) or by the timeout, which kills QEMU and counts as a failure.
//! Images are made by `tools/build.sh flash` (kernel + apps installed with
//! tockloader); `make test` builds the kernel and apps once beforehand.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How a QEMU run ended.
#[derive(Debug)]
pub struct Run {
    /// QEMU's exit status: 0 after finisher pass, the code after
    /// finisher fail(code); `None` if the timeout killed it.
    pub exit_code: Option<i32>,
    /// Everything written to the serial console.
    pub output: String,
    pub elapsed: Duration,
}

impl Run {
    /// True if the board ended through the finisher with pass.
    pub fn passed(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// Asserts QEMU exited through the finisher's pass, showing the exit
    /// status, the time and the output if not.
    pub fn expect_pass(&self) -> &Self {
        assert!(
            self.passed(),
            "exit {:?} after {:?}\n{}",
            self.exit_code,
            self.elapsed,
            self.output
        );
        self
    }

    /// Asserts `needle` appears in the output, showing the output if not.
    pub fn expect(&self, needle: &str) -> &Self {
        assert!(
            self.output.contains(needle),
            "expected {needle:?} in QEMU output:\n{}",
            self.output
        );
        self
    }

    /// Asserts `needle` does not appear.
    pub fn expect_absent(&self, needle: &str) -> &Self {
        assert!(
            !self.output.contains(needle),
            "did not expect {needle:?} in QEMU output:\n{}",
            self.output
        );
        self
    }

    /// Number of lines containing `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.output.lines().filter(|l| l.contains(needle)).count()
    }

    /// Index of the first line containing `needle`.
    pub fn line_of(&self, needle: &str) -> Option<usize> {
        self.output.lines().position(|l| l.contains(needle))
    }
}

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Makes a flash image with `apps` installed (kernel and apps must have
/// been built: `tools/build.sh kernel` and `tools/apps.sh build`).
pub fn image(name: &str, apps: &[&str]) -> PathBuf {
    flash(name, None, apps)
}

/// Builds the board kernel with the cargo `features` (a test build) as
/// `build/kernels/NAME.bin` and makes a flash image of it with `apps`
/// installed (the apps must have been built).
pub fn variant_image(name: &str, features: &str, apps: &[&str]) -> PathBuf {
    let status = Command::new("bash")
        .arg(root().join("tools/build.sh"))
        .args(["variant", name, features])
        .current_dir(root())
        .stdin(Stdio::null())
        .status()
        .expect("cannot run tools/build.sh");
    assert!(
        status.success(),
        "building kernel {name} ({features}) failed"
    );
    let kernel = root().join(format!("build/kernels/{name}.bin"));
    flash(name, Some(&kernel), apps)
}

/// `build/test-images/NAME.bin`: `kernel` (the default board kernel if
/// `None`) with `apps` installed by `tools/build.sh flash`.
fn flash(name: &str, kernel: Option<&Path>, apps: &[&str]) -> PathBuf {
    let dir = root().join("build/test-images");
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join(format!("{name}.bin"));
    let mut command = Command::new("bash");
    command
        .arg(root().join("tools/build.sh"))
        .arg("flash")
        .args(apps)
        .env("SKIP_BUILD", "1")
        .env("FLASH_IMAGE", &image)
        .current_dir(root())
        .stdin(Stdio::null());
    if let Some(kernel) = kernel {
        command.env("KERNEL_BIN", kernel);
    }
    let status = command.status().expect("cannot run tools/build.sh");
    assert!(status.success(), "building image {name} failed");
    image
}

/// The board's virtio-rng device: modern only, and translating through the
/// IOMMU (`VIRTIO_F_ACCESS_PLATFORM`), which the board insists on.
pub const VIRTIO_RNG: &str = "virtio-rng-pci,iommu_platform=on,disable-legacy=on";

/// The board's virtio-blk device, modern only and behind the IOMMU, on
/// the drive `d0` that [`boot`] adds.
pub const VIRTIO_BLK: &str = "virtio-blk-pci,drive=d0,iommu_platform=on,disable-legacy=on";

/// A fresh copy of `build/disk.img` (made by `tools/build.sh disk`) for
/// one boot: runs in parallel never write one file,
/// and each starts from the same disk.
fn disk_copy(image: &Path) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = root().join("build/test-disks");
    std::fs::create_dir_all(&dir).unwrap();
    let stem = image.file_stem().and_then(|s| s.to_str()).unwrap_or("run");
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    let disk = dir.join(format!("{stem}-{}-{number}.img", std::process::id()));
    let source = root().join("build/disk.img");
    if !source.exists() {
        let status = Command::new("bash")
            .arg(root().join("tools/build.sh"))
            .arg("disk")
            .current_dir(root())
            .stdin(Stdio::null())
            .status()
            .expect("cannot run tools/build.sh");
        assert!(status.success(), "building build/disk.img failed");
    }
    std::fs::copy(&source, &disk).expect("copying build/disk.img");
    disk
}

/// Boots `image` on QEMU with `extra` arguments; kills it after `timeout`.
pub fn boot(image: &Path, extra: &[&str], timeout: Duration) -> Run {
    let disk = disk_copy(image);
    let run = boot_with_disk(image, &disk, extra, timeout);
    let _ = std::fs::remove_file(&disk);
    run
}

/// [`boot`] with the disk file `disk`, which the run may write.
pub fn boot_with_disk(image: &Path, disk: &Path, extra: &[&str], timeout: Duration) -> Run {
    let start = Instant::now();
    let drive = format!("file={},if=none,format=raw,id=d0", disk.display());
    let mut child = Command::new("qemu-system-riscv32")
        .args([
            "-M",
            "virt,iommu-sys=on",
            "-m",
            "256M",
            "-nographic",
            "-monitor",
            "none",
        ])
        .args(["-serial", "stdio"])
        .arg("-bios")
        .arg(image)
        .args(["-device", "edu", "-device", "edu", "-device", VIRTIO_RNG])
        .args(["-drive", &drive, "-device", VIRTIO_BLK])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start qemu-system-riscv32 (run tools/setup.sh)");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let exit_code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    Run {
        exit_code,
        output,
        elapsed: start.elapsed(),
    }
}

/// Default per-run timeout (virtual time runs about as fast as real time;
/// a run that takes longer is stuck).
pub const TIMEOUT: Duration = Duration::from_secs(60);
