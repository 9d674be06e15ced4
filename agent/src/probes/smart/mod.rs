//! Probe `smart`: disk health read by the agent itself through ioctls, without smartmontools. ATA
//! disks (`sd*`) through `SG_IO` with ATA PASS-THROUGH(16); NVMe controllers (`nvme*`) through
//! `NVME_IOCTL_ADMIN_CMD`. One [`AtaDiskV1`] or [`NvmeDiskV1`] reading per disk.
//!
//! Parts: [`ata`] and [`nvme`] parse the bytes (pure), [`read`] runs one disk's command sequence
//! over a trait, [`verdict`] judges a reading, `ioctl` is the only unsafe code.
//!
//! Discovery, under [`HostPaths`]: `<sys>/block/sd*` (only `sd` names, so virtio `vd*`, md, dm,
//! loop, zram... are never touched; an `sd*` of size 0, a card reader without a card, is skipped),
//! opened as `<dev>/sdX`; controllers `<sys>/class/nvme/nvmeN`, else `<dev>/nvmeN`, opened as
//! `<dev>/nvmeN`. An `sd*` disk is sent ATA commands when its INQUIRY vendor (sysfs
//! `device/vendor`) is `ATA`, when it hangs off USB (a bridge that may pass ATA through), or when
//! the vendor cannot be read; any other SCSI disk (SAS, hardware RAID volume, virtual disk) is
//! reported `NotSupported` without a command.
//!
//! Invariants:
//! - Not applicable when there is no ATA candidate and no NVMe controller (a virtual machine, a
//!   server behind hardware RAID); the reason names the SCSI disks that were skipped.
//! - Every disk found yields exactly one reading, whatever fails; per-disk problems (no privilege,
//!   a refused command, a bad page) go into the reading and never fail the probe.
//! - A disk in standby is not woken up (CHECK POWER MODE first).
//!
//! Verdict defaults (reasons in Spanish):
//!
//! | condition | level |
//! |---|---|
//! | ATA SMART RETURN STATUS FAILING | Critical: "el disco se declara en falla (SMART FAILING)" |
//! | ATA pre-fail attribute at or below its non-zero threshold | Critical, naming it |
//! | ATA reallocated (5), pending (197), offline uncorrectable (198), reported uncorrectable (187) > 0 | Warning, with the count |
//! | ATA UDMA CRC errors (199) > 0 | Warning: check the SATA cable |
//! | ATA SMART status neither PASSED nor FAILING | Warning |
//! | ATA temperature ≥ 60 °C / ≥ 70 °C (SSD, word 217 = 1: ≥ 70 / ≥ 80) | Warning / Critical |
//! | NVMe any critical warning bit | Critical, naming the bits |
//! | NVMe available spare below its threshold | Critical |
//! | NVMe percentage used ≥ 100 | Warning |
//! | NVMe media and data integrity errors > 0 | Warning |
//! | NVMe temperature ≥ WCTEMP / ≥ CCTEMP (the controller's own; 70 / 80 °C if it gives none) | Warning / Critical |
//! | some command or page failed (`errors` not empty) | Warning: "lectura incompleta" |
//! | standby, or not supported (bridge, RAID, SCSI disk, no SMART) | Ok, with the reason |
//! | permission denied, or nothing could be read | Warning, with the reason |
//!
//! Command timeout (188) is reported but not judged: some firmware packs three counters into it.
//!
//! State between samples: the probe keeps, per device, the error counts of the last sample in
//! which the disk was read (with its serial). When a count grew since then, its reason adds
//! "(+N desde la muestra anterior)"; the level is the same. A disk with another serial starts over;
//! a disk in standby keeps its previous counts; a disk that disappears is forgotten.

pub mod ata;
mod ioctl;
pub mod nvme;
pub mod read;
pub mod verdict;

use super::ProbeError;
use crate::host::HostPaths;
use centinela_shared::{AtaDiskV1, DiskAccess, NvmeDiskV1, Reading};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use verdict::Counts;

/// The probe, with the counts of the previous sample per device.
#[derive(Default)]
pub struct Smart {
    previous: HashMap<String, Counts>,
}

/// One `sd*` block device as sysfs describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScsiDisk {
    pub name: String,
    /// INQUIRY vendor (`device/vendor`), trimmed; `ATA` for SATA disks behind libata.
    pub vendor: Option<String>,
    pub model: Option<String>,
    /// Attached through USB (a bridge).
    pub usb: bool,
}

impl ScsiDisk {
    /// Whether ATA PASS-THROUGH is worth sending.
    pub fn ata_candidate(&self) -> bool {
        self.usb || self.vendor.as_deref().is_none_or(|v| v == "ATA")
    }
}

fn is_sd_name(name: &str) -> bool {
    name.strip_prefix("sd").is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_lowercase()))
}

/// `nvme<N>`, the controller (not `nvme0n1`, a namespace, nor `ng0n1`, its generic node).
fn nvme_number(name: &str) -> Option<u32> {
    name.strip_prefix("nvme").filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))?.parse().ok()
}

/// Entry names of a directory; a missing directory is empty, any other error fails the probe.
fn names(dir: &Path) -> Result<Option<Vec<String>>, ProbeError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            Ok(Some(entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ProbeError::Failed(format!("no se puede listar {}: {e}", dir.display()))),
    }
}

fn sysfs_text(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The `sd*` disks under `<sys>/block`, in kernel order (sda..sdz, sdaa..).
pub fn discover_scsi_disks(sys: &Path) -> Result<Vec<ScsiDisk>, ProbeError> {
    let block = sys.join("block");
    let sys_root = std::fs::canonicalize(sys).ok();
    let mut disks: Vec<ScsiDisk> = names(&block)?
        .unwrap_or_default()
        .into_iter()
        .filter(|n| is_sd_name(n))
        .filter_map(|name| {
            let dir = block.join(&name);
            // A card reader or an ejected medium: nothing to ask.
            if sysfs_text(&dir.join("size")).and_then(|s| s.parse::<u64>().ok()) == Some(0) {
                return None;
            }
            // The device path below the sysfs root passes through `usbN` for a disk behind USB.
            let usb = std::fs::canonicalize(&dir)
                .ok()
                .and_then(|p| Some(p.strip_prefix(sys_root.as_ref()?).ok()?.to_path_buf()))
                .is_some_and(|p| p.components().any(|c| c.as_os_str().to_string_lossy().starts_with("usb")));
            Some(ScsiDisk {
                vendor: sysfs_text(&dir.join("device/vendor")),
                model: sysfs_text(&dir.join("device/model")),
                usb,
                name,
            })
        })
        .collect();
    disks.sort_by(|a, b| (a.name.len(), &a.name).cmp(&(b.name.len(), &b.name)));
    Ok(disks)
}

/// The NVMe controllers: `<sys>/class/nvme/nvmeN`, else the `<dev>/nvmeN` nodes; by number.
pub fn discover_nvme(sys: &Path, dev: &Path) -> Result<Vec<String>, ProbeError> {
    let found = match names(&sys.join("class/nvme"))? {
        Some(n) => n,
        None => names(dev)?.unwrap_or_default(),
    };
    let mut ctrls: Vec<(u32, String)> = found.into_iter().filter_map(|n| Some((nvme_number(&n)?, n))).collect();
    ctrls.sort();
    Ok(ctrls.into_iter().map(|(_, n)| n).collect())
}

/// Opens a device node read-only (`O_NONBLOCK`: a removable drive without medium must not block).
fn open_node(path: &Path, capability: &str) -> Result<File, DiskAccess> {
    OpenOptions::new().read(true).custom_flags(nix::libc::O_NONBLOCK).open(path).map_err(|e| match e.kind() {
        io::ErrorKind::PermissionDenied => DiskAccess::PermissionDenied(format!(
            "cannot open {}: {e}; the agent needs read access to the node (root, or group disk) and {capability}",
            path.display()
        )),
        _ => DiskAccess::Error(format!("cannot open {}: {e}", path.display())),
    })
}

fn not_ata(disk: &ScsiDisk) -> AtaDiskV1 {
    let vendor = disk.vendor.as_deref().unwrap_or("?");
    let mut d = read::blank_ata(
        &disk.name,
        DiskAccess::NotSupported(format!(
            "INQUIRY vendor {vendor:?} is not ATA: a SAS/SCSI disk, a hardware RAID volume or a virtual disk \
             (SMART over SCSI LOG SENSE is not implemented)"
        )),
    );
    d.model.clone_from(&disk.model);
    d
}

impl Smart {
    pub fn collect(&mut self, paths: &HostPaths, out: &mut Vec<Reading>) -> Result<(), ProbeError> {
        let scsi = discover_scsi_disks(&paths.sys)?;
        let nvme = discover_nvme(&paths.sys, &paths.dev)?;
        if nvme.is_empty() && !scsi.iter().any(ScsiDisk::ata_candidate) {
            let mut why = format!(
                "sin discos ATA (sd*) bajo {} ni controladoras NVMe bajo {}",
                paths.sys.join("block").display(),
                paths.sys.join("class/nvme").display()
            );
            if !scsi.is_empty() {
                let skipped: Vec<String> = scsi
                    .iter()
                    .map(|d| {
                        format!(
                            "{} ({} {})",
                            d.name,
                            d.vendor.as_deref().unwrap_or("?"),
                            d.model.as_deref().unwrap_or("?")
                        )
                    })
                    .collect();
                why.push_str(&format!("; discos SCSI que no son ATA: {}", skipped.join(", ")));
            }
            return Err(ProbeError::NotApplicable(why));
        }

        let mut seen = Vec::new();
        for disk in &scsi {
            let mut reading = if disk.ata_candidate() {
                match open_node(&paths.dev.join(&disk.name), "CAP_SYS_RAWIO") {
                    Ok(file) => read::read_ata(&disk.name, &mut ioctl::SgDevice(file)),
                    Err(access) => read::blank_ata(&disk.name, access),
                }
            } else {
                not_ata(disk)
            };
            reading.verdict = verdict::ata_verdict(&reading, self.previous.get(&disk.name));
            if reading.access == DiskAccess::Read {
                self.previous.insert(disk.name.clone(), Counts::of_ata(&reading));
            }
            seen.push(disk.name.clone());
            out.push(Reading::AtaDiskV1(reading));
        }
        for name in &nvme {
            let (mut reading, controller): (NvmeDiskV1, _) = match open_node(&paths.dev.join(name), "CAP_SYS_ADMIN") {
                Ok(file) => {
                    let r = read::read_nvme(name, &mut ioctl::NvmeDevice(file));
                    (r.disk, r.controller)
                }
                Err(access) => (read::blank_nvme(name, access), None),
            };
            reading.verdict = verdict::nvme_verdict(&reading, controller.as_ref(), self.previous.get(name));
            if reading.access == DiskAccess::Read {
                self.previous.insert(name.clone(), Counts::of_nvme(&reading));
            }
            seen.push(name.clone());
            out.push(Reading::NvmeDiskV1(reading));
        }
        self.previous.retain(|name, _| seen.contains(name));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use centinela_shared::Level;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// A `/sys/block/<name>` entry with its vendor and model.
    fn sd(root: &Path, name: &str, vendor: &str, model: &str, size: &str) {
        let dir = root.join("sys/block").join(name);
        write(&dir.join("size"), size);
        write(&dir.join("device/vendor"), vendor);
        write(&dir.join("device/model"), model);
    }

    #[test]
    fn a_host_without_disks_is_not_applicable() {
        let dir = tempfile::tempdir().unwrap();
        let err = Smart::default().collect(&HostPaths::under(dir.path()), &mut Vec::new()).unwrap_err();
        let ProbeError::NotApplicable(why) = err else { panic!("not applicable expected") };
        assert!(why.contains("sin discos ATA"), "{why}");
    }

    #[test]
    fn a_virtual_machine_with_virtio_md_and_a_vmware_disk_is_not_applicable_naming_the_skipped_disk() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["vda", "vdb", "md0", "dm-0", "loop0", "zram0", "nvme0n1"] {
            write(&dir.path().join("sys/block").join(name).join("size"), "65536\n");
        }
        sd(dir.path(), "sda", "VMware  \n", "Virtual disk    \n", "41943040\n");
        let err = Smart::default().collect(&HostPaths::under(dir.path()), &mut Vec::new()).unwrap_err();
        let ProbeError::NotApplicable(why) = err else { panic!("not applicable expected") };
        assert!(why.contains("sda (VMware Virtual disk)"), "{why}");
    }

    #[test]
    fn discovery_keeps_sd_disks_in_kernel_order_and_nvme_controllers_by_number() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["sdb", "sdaa", "sda", "sdc"] {
            sd(dir.path(), name, "ATA     \n", "QEMU HARDDISK   \n", "131072\n");
        }
        sd(dir.path(), "sdd", "Generic-\n", "SD/MMC          \n", "0\n"); // card reader, no card
        write(&dir.path().join("sys/block/sda1/size"), "2048\n"); // never a top-level entry, but harmless
        let disks = discover_scsi_disks(&dir.path().join("sys")).unwrap();
        let names: Vec<&str> = disks.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["sda", "sdb", "sdc", "sdaa"]);
        assert_eq!(disks[0].vendor.as_deref(), Some("ATA"));
        assert!(disks[0].ata_candidate() && !disks[0].usb);

        for name in ["nvme10", "nvme2", "nvme0n1", "ng0n1", "nvme-fabrics", "nvme0"] {
            write(&dir.path().join("dev").join(name), "");
        }
        let ctrls = discover_nvme(&dir.path().join("sys"), &dir.path().join("dev")).unwrap();
        assert_eq!(ctrls, ["nvme0", "nvme2", "nvme10"]);
        std::fs::create_dir_all(dir.path().join("sys/class/nvme/nvme3")).unwrap();
        assert_eq!(discover_nvme(&dir.path().join("sys"), &dir.path().join("dev")).unwrap(), ["nvme3"]);
    }

    #[test]
    fn a_disk_whose_node_is_missing_still_yields_a_reading_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        sd(dir.path(), "sda", "ATA     \n", "ST4000NM0035    \n", "7814037168\n");
        sd(dir.path(), "sdb", "SEAGATE \n", "ST600MM0006     \n", "1172123568\n");
        std::fs::create_dir_all(dir.path().join("dev")).unwrap();
        let mut out = Vec::new();
        Smart::default().collect(&HostPaths::under(dir.path()), &mut out).unwrap();
        let [Reading::AtaDiskV1(a), Reading::AtaDiskV1(b)] = out.as_slice() else { panic!("two disks: {out:?}") };
        assert!(matches!(&a.access, DiskAccess::Error(w) if w.contains("dev/sda")), "{a:?}");
        assert_eq!(a.verdict.level, Level::Warning);
        assert!(matches!(&b.access, DiskAccess::NotSupported(w) if w.contains("\"SEAGATE\"")), "{b:?}");
        assert_eq!((b.model.as_deref(), b.verdict.level), (Some("ST600MM0006"), Level::Ok));
    }

    #[test]
    fn a_usb_disk_is_an_ata_candidate_whatever_its_vendor() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("sys/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/block/sdb");
        write(&real.join("size"), "1953525168\n");
        write(&real.join("device/vendor"), "WD      \n");
        std::fs::create_dir_all(dir.path().join("sys/block")).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("sys/block/sdb")).unwrap();
        let disks = discover_scsi_disks(&dir.path().join("sys")).unwrap();
        assert_eq!(disks.len(), 1);
        assert!(disks[0].usb && disks[0].ata_candidate(), "{disks:?}");
    }
}
