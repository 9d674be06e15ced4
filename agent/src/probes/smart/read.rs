//! Reading one disk: the command sequence for an ATA disk and for an NVMe controller, written
//! against the [`AtaDevice`] and [`NvmeController`] traits so tests replay captured replies and
//! only `ioctl.rs` touches the kernel.
//!
//! Invariants:
//! - A disk always yields a reading: what could be read, and `errors` for what could not.
//! - A sleeping ATA disk receives CHECK POWER MODE and nothing else.
//! - A missing privilege (EPERM/EACCES) stops the sequence, since every later command would be
//!   refused the same way; the reading names the capability (CAP_SYS_RAWIO for SG_IO,
//!   CAP_SYS_ADMIN for NVMe admin commands).
//! - When nothing of the disk's health was read, access says why: `NotSupported` when every
//!   refusal was the device not passing commands through (sense key 5, ASC 0x20/0x24; ENOTTY),
//!   `Error` otherwise. The verdict is never computed here.

use super::ata::{self, Command, SECTOR, SgReply};
use super::nvme::{self, Controller};
use centinela_shared::{AtaDiskV1, DiskAccess, NvmeDiskV1, Verdict};
use nix::errno::Errno;

/// Why one command gave nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    /// EPERM/EACCES: the agent lacks a capability.
    Denied(String),
    /// The device, its bridge or its driver does not take the command set.
    Unsupported(String),
    /// Anything else: the command did not complete.
    Failed(String),
}

impl CmdError {
    fn context(self, what: &str) -> Self {
        match self {
            CmdError::Denied(w) => CmdError::Denied(format!("{what}: {w}")),
            CmdError::Unsupported(w) => CmdError::Unsupported(format!("{what}: {w}")),
            CmdError::Failed(w) => CmdError::Failed(format!("{what}: {w}")),
        }
    }
}

/// A device that takes ATA PASS-THROUGH(16) through `SG_IO`.
pub trait AtaDevice {
    /// Sends `cdb`; `data` is the data-in buffer of a reading command. `Err` is the ioctl's errno.
    fn pass_through(&mut self, cdb: &[u8; 16], data: Option<&mut [u8]>) -> Result<SgReply, Errno>;
}

/// An NVMe controller that takes admin commands.
pub trait NvmeController {
    /// Sends an admin command reading into `data`; `Ok(0)` is success, `Ok(n)` an NVMe status.
    fn admin(&mut self, opcode: u8, nsid: u32, cdw10: u32, data: &mut [u8]) -> Result<u32, Errno>;
}

/// An errno from an ioctl, classified. `capability` is what the kernel wants for the command.
pub fn errno_error(e: Errno, ioctl: &str, capability: &str) -> CmdError {
    match e {
        Errno::EPERM | Errno::EACCES => {
            CmdError::Denied(format!("{ioctl} needs {capability} ({e}); run the agent as root or give it {capability}"))
        }
        Errno::ENOTTY | Errno::EINVAL | Errno::EOPNOTSUPP => {
            CmdError::Unsupported(format!("the driver refuses {ioctl} ({e})"))
        }
        _ => CmdError::Failed(format!("{ioctl}: {e}")),
    }
}

/// An ATA reading with nothing read yet.
pub fn blank_ata(device: &str, access: DiskAccess) -> AtaDiskV1 {
    AtaDiskV1 {
        device: device.to_string(),
        model: None,
        serial: None,
        firmware: None,
        capacity_bytes: None,
        rotational: None,
        access,
        smart_status: None,
        attributes: Vec::new(),
        reallocated: None,
        pending: None,
        offline_uncorrectable: None,
        reported_uncorrectable: None,
        command_timeout: None,
        udma_crc_errors: None,
        power_on_hours: None,
        temperature_c: None,
        errors: Vec::new(),
        verdict: Verdict::ok(),
    }
}

/// An NVMe reading with nothing read yet.
pub fn blank_nvme(device: &str, access: DiskAccess) -> NvmeDiskV1 {
    NvmeDiskV1 {
        device: device.to_string(),
        model: None,
        serial: None,
        firmware: None,
        access,
        critical_warning: None,
        critical_warnings: Vec::new(),
        temperature_c: None,
        available_spare_pct: None,
        spare_threshold_pct: None,
        percentage_used: None,
        media_errors: None,
        unsafe_shutdowns: None,
        power_on_hours: None,
        data_written_bytes: None,
        errors: Vec::new(),
        verdict: Verdict::ok(),
    }
}

fn sg_errno(e: Errno, cmd: Command) -> CmdError {
    errno_error(e, "SG_IO", "CAP_SYS_RAWIO").context(cmd.name())
}

fn ata_registers(dev: &mut impl AtaDevice, cmd: Command) -> Result<ata::AtaRegisters, CmdError> {
    let reply = dev.pass_through(&cmd.cdb(), None).map_err(|e| sg_errno(e, cmd))?;
    ata::check_registers_reply(&reply).map_err(|e| e.context(cmd.name()))
}

fn ata_sector(dev: &mut impl AtaDevice, cmd: Command) -> Result<Vec<u8>, CmdError> {
    let mut buf = vec![0u8; SECTOR];
    let reply = dev.pass_through(&cmd.cdb(), Some(&mut buf)).map_err(|e| sg_errno(e, cmd))?;
    ata::check_data_reply(&reply).map_err(|e| e.context(cmd.name()))?;
    buf.truncate(reply.transferred(SECTOR));
    Ok(buf)
}

/// Collects the failures of one disk's sequence.
struct Failures {
    /// Every refusal so far was "not passed through".
    only_unsupported: bool,
}

impl Failures {
    /// Records a failure; `true` when the sequence must stop (missing privilege).
    fn note<D: Readout>(&mut self, disk: &mut D, e: CmdError) -> bool {
        match e {
            CmdError::Denied(w) => {
                disk.set_access(DiskAccess::PermissionDenied(w));
                true
            }
            CmdError::Unsupported(w) => {
                disk.errors().push(w);
                false
            }
            CmdError::Failed(w) => {
                self.only_unsupported = false;
                disk.errors().push(w);
                false
            }
        }
    }

    /// When nothing of the disk's health was read: `NotSupported` if every failure was a refusal
    /// to pass commands through (the repeated refusals then say nothing more), else `Error`.
    fn conclude<D: Readout>(self, disk: &mut D, health_read: bool) {
        if health_read || !matches!(disk.access(), DiskAccess::Read) {
            return;
        }
        let first = disk.errors().first().cloned().unwrap_or_else(|| "no health data was returned".into());
        if self.only_unsupported && !disk.errors().is_empty() {
            disk.errors().clear();
            disk.set_access(DiskAccess::NotSupported(first));
        } else {
            disk.set_access(DiskAccess::Error(first));
        }
    }
}

/// The parts of a disk reading the sequence bookkeeping touches.
trait Readout {
    fn access(&self) -> &DiskAccess;
    fn set_access(&mut self, access: DiskAccess);
    fn errors(&mut self) -> &mut Vec<String>;
}

impl Readout for AtaDiskV1 {
    fn access(&self) -> &DiskAccess {
        &self.access
    }
    fn set_access(&mut self, access: DiskAccess) {
        self.access = access;
    }
    fn errors(&mut self) -> &mut Vec<String> {
        &mut self.errors
    }
}

impl Readout for NvmeDiskV1 {
    fn access(&self) -> &DiskAccess {
        &self.access
    }
    fn set_access(&mut self, access: DiskAccess) {
        self.access = access;
    }
    fn errors(&mut self) -> &mut Vec<String> {
        &mut self.errors
    }
}

/// One ATA disk: CHECK POWER MODE (a sleeping disk is left alone), IDENTIFY DEVICE, SMART RETURN
/// STATUS, SMART READ DATA, SMART READ THRESHOLDS.
pub fn read_ata(device: &str, dev: &mut impl AtaDevice) -> AtaDiskV1 {
    let mut disk = blank_ata(device, DiskAccess::Read);
    let mut failures = Failures { only_unsupported: true };

    // Standby first: every other command would spin the disk up. If the power mode cannot be read,
    // the disk is read anyway (as `smartctl -n standby` does).
    match ata_registers(dev, Command::CheckPowerMode) {
        Ok(regs) if ata::is_standby(&regs) => {
            disk.access = DiskAccess::Standby;
            return disk;
        }
        Ok(_) => {}
        Err(e) => {
            if failures.note(&mut disk, e) {
                return disk;
            }
        }
    }

    let mut smart_usable = true;
    match ata_sector(dev, Command::IdentifyDevice)
        .and_then(|p| ata::parse_identify(&p).map_err(|e| CmdError::Failed(e.to_string())))
    {
        Ok(id) => {
            disk.model = id.model;
            disk.serial = id.serial;
            disk.firmware = id.firmware;
            disk.capacity_bytes = id.capacity_bytes;
            disk.rotational = id.rotational;
            if id.checksum_ok == Some(false) {
                failures.only_unsupported = false;
                disk.errors.push("IDENTIFY DEVICE: bad checksum (word 255); identity shown as read".into());
            }
            if !id.smart_supported {
                disk.access = DiskAccess::NotSupported("the disk does not support SMART (IDENTIFY word 82)".into());
                return disk;
            }
            if !id.smart_enabled {
                failures.only_unsupported = false;
                disk.errors.push(format!(
                    "SMART is disabled on the disk (IDENTIFY word 85); enable it with `smartctl -s on /dev/{device}`"
                ));
                smart_usable = false;
            }
        }
        Err(e) => {
            if failures.note(&mut disk, e) {
                return disk;
            }
        }
    }

    if smart_usable {
        match ata_registers(dev, Command::SmartReturnStatus) {
            Ok(regs) => disk.smart_status = Some(ata::smart_status(&regs)),
            Err(e) => {
                if failures.note(&mut disk, e) {
                    return disk;
                }
            }
        }
        let data = match ata_sector(dev, Command::SmartReadData)
            .and_then(|p| ata::parse_smart_data(&p).map_err(|e| CmdError::Failed(e.to_string())))
        {
            Ok(d) => Some(d),
            Err(e) => {
                if failures.note(&mut disk, e) {
                    return disk;
                }
                None
            }
        };
        if let Some(data) = data {
            if !data.checksum_ok {
                failures.only_unsupported = false;
                disk.errors.push(
                    "SMART READ DATA: bad checksum (the 512 bytes do not sum to 0 mod 256); attributes shown as read"
                        .into(),
                );
            }
            let thresholds = match ata_sector(dev, Command::SmartReadThresholds)
                .and_then(|p| ata::parse_thresholds(&p).map_err(|e| CmdError::Failed(e.to_string())))
            {
                Ok(t) => {
                    if !t.checksum_ok {
                        disk.errors.push("SMART READ THRESHOLDS: bad checksum; thresholds shown as read".into());
                    }
                    Some(t)
                }
                Err(e) => {
                    if failures.note(&mut disk, e) {
                        return disk;
                    }
                    None
                }
            };
            disk.attributes = ata::attributes(&data, thresholds.as_ref());
            let k = ata::key_figures(&disk.attributes);
            disk.reallocated = k.reallocated;
            disk.pending = k.pending;
            disk.offline_uncorrectable = k.offline_uncorrectable;
            disk.reported_uncorrectable = k.reported_uncorrectable;
            disk.command_timeout = k.command_timeout;
            disk.udma_crc_errors = k.udma_crc_errors;
            disk.power_on_hours = k.power_on_hours;
            disk.temperature_c = k.temperature_c;
        }
    }

    let health_read = disk.smart_status.is_some() || !disk.attributes.is_empty();
    failures.conclude(&mut disk, health_read);
    disk
}

/// An NVMe reading plus what the verdict needs that the wire does not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvmeRead {
    pub disk: NvmeDiskV1,
    pub controller: Option<Controller>,
}

fn nvme_admin(
    ctrl: &mut impl NvmeController,
    what: &str,
    opcode: u8,
    nsid: u32,
    cdw10: u32,
    len: usize,
) -> Result<Vec<u8>, CmdError> {
    let mut buf = vec![0u8; len];
    match ctrl.admin(opcode, nsid, cdw10, &mut buf) {
        Ok(0) => Ok(buf),
        Ok(status) => Err(CmdError::Failed(format!("{what}: {}", nvme::status_text(status)))),
        Err(e) => Err(errno_error(e, "NVME_IOCTL_ADMIN_CMD", "CAP_SYS_ADMIN").context(what)),
    }
}

/// One NVMe controller: Identify Controller, then the SMART / Health log (page 0x02).
pub fn read_nvme(device: &str, ctrl: &mut impl NvmeController) -> NvmeRead {
    let mut disk = blank_nvme(device, DiskAccess::Read);
    let mut failures = Failures { only_unsupported: true };
    let mut controller = None;

    match nvme_admin(
        ctrl,
        "Identify Controller",
        nvme::IDENTIFY_OPCODE,
        0,
        nvme::IDENTIFY_CNS_CONTROLLER,
        nvme::IDENTIFY_LEN,
    )
    .and_then(|p| nvme::parse_identify_controller(&p).map_err(|e| CmdError::Failed(e.to_string())))
    {
        Ok(c) => {
            disk.model.clone_from(&c.model);
            disk.serial.clone_from(&c.serial);
            disk.firmware.clone_from(&c.firmware);
            controller = Some(c);
        }
        Err(e) => {
            if failures.note(&mut disk, e) {
                return NvmeRead { disk, controller };
            }
        }
    }

    match nvme_admin(
        ctrl,
        "Get Log Page 0x02",
        nvme::GET_LOG_PAGE_OPCODE,
        nvme::NSID_ALL,
        nvme::SMART_LOG_CDW10,
        nvme::SMART_LOG_LEN,
    )
    .and_then(|p| nvme::parse_smart_log(&p).map_err(|e| CmdError::Failed(e.to_string())))
    {
        Ok(log) => {
            disk.critical_warning = Some(log.critical_warning);
            disk.critical_warnings = nvme::critical_warning_names(log.critical_warning);
            disk.temperature_c = log.temperature_c;
            disk.available_spare_pct = Some(log.available_spare_pct);
            disk.spare_threshold_pct = Some(log.spare_threshold_pct);
            disk.percentage_used = Some(log.percentage_used);
            disk.media_errors = Some(log.media_errors);
            disk.unsafe_shutdowns = Some(log.unsafe_shutdowns);
            disk.power_on_hours = Some(log.power_on_hours);
            disk.data_written_bytes = Some(log.data_written_bytes());
        }
        Err(e) => {
            if failures.note(&mut disk, e) {
                return NvmeRead { disk, controller };
            }
        }
    }

    let health_read = disk.critical_warning.is_some();
    failures.conclude(&mut disk, health_read);
    NvmeRead { disk, controller }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::ata::tests::{
        DATA, IDENTIFY, SENSE_ACTIVE, SENSE_FAILING, SENSE_INVALID_OPCODE, SENSE_PASSED, SENSE_STANDBY, THRESHOLDS,
        ck_reply, edit_attribute, hex,
    };
    use super::super::nvme::tests::{IDENTIFY as NVME_IDENTIFY, LOG, LOG_CRITICAL_04};
    use super::*;
    use centinela_shared::SmartStatus;

    /// A disk that answers each ATA command with a canned reply (and page), and logs what it got.
    #[derive(Default)]
    pub(crate) struct FakeAta {
        pub power: Option<Result<SgReply, Errno>>,
        pub identify: Option<Result<Vec<u8>, Errno>>,
        pub status: Option<Result<SgReply, Errno>>,
        pub data: Option<Result<Vec<u8>, Errno>>,
        pub thresholds: Option<Result<Vec<u8>, Errno>>,
        /// Applies to every data-in command instead of GOOD (e.g. a refusal).
        pub data_reply: Option<SgReply>,
        pub sent: Vec<u8>,
    }

    impl FakeAta {
        /// The lab's SATA disk, as captured.
        pub(crate) fn lab() -> Self {
            Self {
                power: Some(Ok(ck_reply(SENSE_ACTIVE))),
                identify: Some(Ok(hex(IDENTIFY))),
                status: Some(Ok(ck_reply(SENSE_PASSED))),
                data: Some(Ok(hex(DATA))),
                thresholds: Some(Ok(hex(THRESHOLDS))),
                data_reply: None,
                sent: Vec::new(),
            }
        }

        /// A device that answers every command with the same sense.
        pub(crate) fn refusing(sense: &str) -> Self {
            Self {
                power: Some(Ok(ck_reply(sense))),
                status: Some(Ok(ck_reply(sense))),
                data_reply: Some(ck_reply(sense)),
                ..Self::default()
            }
        }
    }

    impl AtaDevice for FakeAta {
        fn pass_through(&mut self, cdb: &[u8; 16], data: Option<&mut [u8]>) -> Result<SgReply, Errno> {
            let (command, features) = (cdb[14], cdb[4]);
            self.sent.push(if command == 0xB0 { features } else { command });
            let page = match (command, features) {
                (0xE5, _) => return self.power.clone().unwrap_or(Err(Errno::EIO)),
                (0xB0, 0xDA) => return self.status.clone().unwrap_or(Err(Errno::EIO)),
                (0xEC, _) => self.identify.clone(),
                (0xB0, 0xD0) => self.data.clone(),
                (0xB0, 0xD1) => self.thresholds.clone(),
                _ => None,
            };
            if let Some(reply) = &self.data_reply {
                return Ok(reply.clone());
            }
            let page = page.unwrap_or(Err(Errno::EIO))?;
            let buf = data.ok_or(Errno::EINVAL)?;
            let n = page.len().min(buf.len());
            buf[..n].copy_from_slice(&page[..n]);
            let resid = i32::try_from(buf.len() - n).unwrap_or(0);
            Ok(SgReply { resid, ..SgReply::default() })
        }
    }

    /// A controller that answers Identify and the log with canned pages or statuses.
    pub(crate) struct FakeNvme {
        pub identify: Result<(u32, Vec<u8>), Errno>,
        pub log: Result<(u32, Vec<u8>), Errno>,
    }

    impl FakeNvme {
        pub(crate) fn lab(log: &str) -> Self {
            Self { identify: Ok((0, hex(NVME_IDENTIFY))), log: Ok((0, hex(log))) }
        }
    }

    impl NvmeController for FakeNvme {
        fn admin(&mut self, opcode: u8, nsid: u32, cdw10: u32, data: &mut [u8]) -> Result<u32, Errno> {
            let (status, page) = match (opcode, nsid, cdw10) {
                (0x06, 0, 1) => self.identify.clone()?,
                (0x02, 0xFFFF_FFFF, 0x007F_0002) => self.log.clone()?,
                _ => return Ok(0x4002),
            };
            let n = page.len().min(data.len());
            data[..n].copy_from_slice(&page[..n]);
            Ok(status)
        }
    }

    #[test]
    fn the_lab_disk_reads_completely() {
        let mut dev = FakeAta::lab();
        let d = read_ata("sda", &mut dev);
        assert_eq!(d.access, DiskAccess::Read);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        assert_eq!(d.model.as_deref(), Some("QEMU HARDDISK"));
        assert_eq!(d.smart_status, Some(SmartStatus::Passed));
        assert_eq!(d.attributes.len(), 7);
        assert_eq!((d.temperature_c, d.power_on_hours, d.reallocated), (Some(31), Some(1), Some(0)));
        assert_eq!(dev.sent, [0xE5, 0xEC, 0xDA, 0xD0, 0xD1], "power mode first");
    }

    #[test]
    fn a_sleeping_disk_gets_only_check_power_mode() {
        let mut dev = FakeAta { power: Some(Ok(ck_reply(SENSE_STANDBY))), ..FakeAta::lab() };
        let d = read_ata("sdb", &mut dev);
        assert_eq!(d.access, DiskAccess::Standby);
        assert_eq!(dev.sent, [0xE5]);
        assert!(d.attributes.is_empty() && d.model.is_none());
    }

    #[test]
    fn a_bridge_that_refuses_ata_pass_through_is_not_supported_not_failing() {
        let mut dev = FakeAta::refusing(SENSE_INVALID_OPCODE);
        let d = read_ata("sdc", &mut dev);
        let DiskAccess::NotSupported(why) = &d.access else { panic!("not supported expected: {d:?}") };
        assert!(why.contains("sense key 5, ASC/ASCQ 20/00"), "{why}");
        assert!(d.errors.is_empty(), "the repeated refusal is said once: {:?}", d.errors);
        assert_eq!(d.smart_status, None);
    }

    #[test]
    fn without_cap_sys_rawio_the_disk_is_permission_denied_naming_the_capability() {
        let mut dev = FakeAta { power: Some(Err(Errno::EPERM)), ..FakeAta::lab() };
        let d = read_ata("sda", &mut dev);
        let DiskAccess::PermissionDenied(why) = &d.access else { panic!("denied expected: {d:?}") };
        assert!(why.contains("CAP_SYS_RAWIO"), "{why}");
        assert_eq!(dev.sent, [0xE5], "no point in sending more");
    }

    #[test]
    fn a_failing_status_and_a_bad_checksum_are_reported_with_what_was_read() {
        let mut data = hex(DATA);
        data[511] ^= 0xFF;
        let mut dev = FakeAta { status: Some(Ok(ck_reply(SENSE_FAILING))), data: Some(Ok(data)), ..FakeAta::lab() };
        let d = read_ata("sda", &mut dev);
        assert_eq!(d.access, DiskAccess::Read);
        assert_eq!(d.smart_status, Some(SmartStatus::Failing));
        assert_eq!(d.attributes.len(), 7);
        assert_eq!(d.errors.len(), 1);
        assert!(d.errors[0].contains("bad checksum"), "{:?}", d.errors);
    }

    #[test]
    fn a_truncated_data_page_and_a_failed_thresholds_read_still_report_the_rest() {
        let mut dev =
            FakeAta { data: Some(Ok(hex(DATA)[..200].to_vec())), thresholds: Some(Err(Errno::EIO)), ..FakeAta::lab() };
        let d = read_ata("sda", &mut dev);
        assert_eq!(d.access, DiskAccess::Read, "the status was read");
        assert_eq!(d.smart_status, Some(SmartStatus::Passed));
        assert_eq!(d.serial.as_deref(), Some("HWLAB-SATA-0001"));
        assert!(d.attributes.is_empty());
        assert!(d.errors.iter().any(|e| e.contains("truncated page (200 of 512 bytes)")), "{:?}", d.errors);
        // The thresholds are not even asked for without data.
        assert_eq!(dev.sent, [0xE5, 0xEC, 0xDA, 0xD0]);

        let mut dev = FakeAta { thresholds: Some(Err(Errno::EIO)), ..FakeAta::lab() };
        let d = read_ata("sda", &mut dev);
        assert!(d.attributes.iter().all(|a| a.threshold.is_none()) && d.attributes.len() == 7);
        assert!(d.errors.iter().any(|e| e.contains("SG_IO: EIO")), "{:?}", d.errors);
    }

    #[test]
    fn a_disk_where_nothing_answers_is_an_error_that_keeps_its_identity() {
        let mut dev = FakeAta { status: Some(Err(Errno::EIO)), data: Some(Err(Errno::EIO)), ..FakeAta::lab() };
        let d = read_ata("sda", &mut dev);
        let DiskAccess::Error(why) = &d.access else { panic!("error expected: {d:?}") };
        assert!(why.contains("EIO"), "{why}");
        assert_eq!(d.model.as_deref(), Some("QEMU HARDDISK"));
        assert_eq!(d.errors.len(), 2);
    }

    #[test]
    fn smart_disabled_or_unsupported_is_said() {
        let mut id = hex(IDENTIFY);
        id[85 * 2] &= !1;
        let mut dev = FakeAta { identify: Some(Ok(id.clone())), ..FakeAta::lab() };
        let d = read_ata("sda", &mut dev);
        assert!(matches!(&d.access, DiskAccess::Error(w) if w.contains("smartctl -s on /dev/sda")), "{d:?}");
        assert_eq!(dev.sent, [0xE5, 0xEC]);
        id[82 * 2] &= !1;
        let d = read_ata("sda", &mut FakeAta { identify: Some(Ok(id)), ..FakeAta::lab() });
        assert!(matches!(&d.access, DiskAccess::NotSupported(w) if w.contains("word 82")), "{d:?}");
    }

    #[test]
    fn an_edited_page_with_counts_is_read_into_the_key_figures() {
        let mut data = hex(DATA);
        edit_attribute(&mut data, 5, 100, 12);
        let d = read_ata("sda", &mut FakeAta { data: Some(Ok(data)), ..FakeAta::lab() });
        assert_eq!(d.reallocated, Some(12));
    }

    #[test]
    fn the_lab_controller_reads_completely() {
        let r = read_nvme("nvme0", &mut FakeNvme::lab(LOG));
        let d = &r.disk;
        assert_eq!(d.access, DiskAccess::Read);
        assert!(d.errors.is_empty());
        assert_eq!((d.model.as_deref(), d.serial.as_deref()), (Some("QEMU NVMe Ctrl"), Some("HWLAB-NVME-0001")));
        assert_eq!((d.critical_warning, d.temperature_c), (Some(0), Some(50)));
        assert_eq!((d.percentage_used, d.media_errors, d.data_written_bytes), (Some(0), Some(0), Some(0)));
        assert_eq!(r.controller.and_then(|c| c.warning_temp_c), Some(70));
        let r = read_nvme("nvme0", &mut FakeNvme::lab(LOG_CRITICAL_04));
        assert_eq!(r.disk.critical_warnings, ["reliability"]);
    }

    #[test]
    fn an_nvme_log_without_cap_sys_admin_is_permission_denied_keeping_the_identity() {
        let mut ctrl = FakeNvme { log: Err(Errno::EACCES), ..FakeNvme::lab(LOG) };
        let d = read_nvme("nvme0", &mut ctrl).disk;
        let DiskAccess::PermissionDenied(why) = &d.access else { panic!("denied expected: {d:?}") };
        assert!(why.contains("CAP_SYS_ADMIN") && why.contains("Get Log Page"), "{why}");
        assert_eq!(d.serial.as_deref(), Some("HWLAB-NVME-0001"));
    }

    #[test]
    fn an_nvme_status_code_is_a_failure() {
        let mut ctrl = FakeNvme { log: Ok((0x4002, vec![0; 512])), ..FakeNvme::lab(LOG) };
        let d = read_nvme("nvme0", &mut ctrl).disk;
        assert!(matches!(&d.access, DiskAccess::Error(w) if w.contains("NVMe status 0x4002")), "{d:?}");
        assert_eq!(d.critical_warning, None, "a failed command's buffer is not read");
        let mut ctrl = FakeNvme { identify: Ok((0x0006, vec![])), ..FakeNvme::lab(LOG) };
        let d = read_nvme("nvme0", &mut ctrl).disk;
        assert_eq!(d.access, DiskAccess::Read);
        assert_eq!(d.model, None);
        assert_eq!(d.errors.len(), 1);
        let d = read_nvme("nvme0", &mut FakeNvme { identify: Err(Errno::ENOTTY), log: Err(Errno::ENOTTY) }).disk;
        assert!(matches!(&d.access, DiskAccess::NotSupported(w) if w.contains("ENOTTY")), "{d:?}");
    }
}
