//! ATA through SAT (SCSI/ATA Translation), as pure code: the ATA PASS-THROUGH(16) CDBs the probe
//! sends, the reading of an `SG_IO` reply and its sense data, and the parsers of the 512-byte pages
//! (IDENTIFY DEVICE, SMART READ DATA, SMART READ THRESHOLDS). Layouts are `rust-stack.md` §4.
//!
//! Invariants: nothing here panics on hostile bytes. A page shorter than 512 bytes is
//! [`PageError::Truncated`]; a bad checksum is a flag on the parsed page, not a refusal (smartctl
//! also shows the attributes and warns, and some firmware is known to get the checksum wrong);
//! strings are decoded lossily and trimmed.

use super::read::CmdError;
use centinela_shared::{AtaAttributeV1, SmartStatus};

/// Every page this module parses is one 512-byte sector.
pub const SECTOR: usize = 512;

/// The ATA commands the probe sends, all as ATA PASS-THROUGH(16) (opcode 0x85). The 12-byte form
/// (0xA1) is not used: it collides with MMC BLANK on some devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// E5h, non-data, registers back through CK_COND: count 0x00/0x01 = standby.
    CheckPowerMode,
    /// ECh, PIO data-in, one sector.
    IdentifyDevice,
    /// B0h/DAh, non-data, registers back through CK_COND: lba_mid/lba_high say PASSED or FAILING.
    SmartReturnStatus,
    /// B0h/D0h, PIO data-in, one sector.
    SmartReadData,
    /// B0h/D1h, PIO data-in, one sector (obsolete since ATA-8 but still answered by most disks).
    SmartReadThresholds,
}

impl Command {
    /// The name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Command::CheckPowerMode => "CHECK POWER MODE",
            Command::IdentifyDevice => "IDENTIFY DEVICE",
            Command::SmartReturnStatus => "SMART RETURN STATUS",
            Command::SmartReadData => "SMART READ DATA",
            Command::SmartReadThresholds => "SMART READ THRESHOLDS",
        }
    }

    /// Whether the command reads one sector (else it is non-data and returns the registers).
    pub fn reads_data(self) -> bool {
        matches!(self, Command::IdentifyDevice | Command::SmartReadData | Command::SmartReadThresholds)
    }

    /// The ATA PASS-THROUGH(16) CDB, as smartmontools builds it: `[1]=(protocol<<1)|extend`,
    /// `[2]=(ck_cond<<5)|(t_dir<<3)|(byt_blok<<2)|t_length`, `[4]` features, `[6]` count,
    /// `[10]` lba_mid, `[12]` lba_high, `[14]` command; the odd (48-bit high) bytes stay 0.
    pub fn cdb(self) -> [u8; 16] {
        const PIO_IN: u8 = 4 << 1;
        const NON_DATA: u8 = 3 << 1;
        // T_DIR=in, BYT_BLOK=1, T_LENGTH=count field.
        const DATA_IN: u8 = 0x0E;
        // CK_COND=1 so the registers come back in the sense data.
        const CK_COND: u8 = 0x2C;
        let (protocol, flags, features, count, lba_mid, lba_high, command) = match self {
            Command::CheckPowerMode => (NON_DATA, CK_COND, 0, 0, 0, 0, 0xE5),
            Command::IdentifyDevice => (PIO_IN, DATA_IN, 0, 1, 0, 0, 0xEC),
            Command::SmartReturnStatus => (NON_DATA, CK_COND, 0xDA, 0, 0x4F, 0xC2, 0xB0),
            Command::SmartReadData => (PIO_IN, DATA_IN, 0xD0, 1, 0x4F, 0xC2, 0xB0),
            Command::SmartReadThresholds => (PIO_IN, DATA_IN, 0xD1, 1, 0x4F, 0xC2, 0xB0),
        };
        let mut cdb = [0u8; 16];
        cdb[0] = 0x85;
        cdb[1] = protocol;
        cdb[2] = flags;
        cdb[4] = features;
        cdb[6] = count;
        cdb[10] = lba_mid;
        cdb[12] = lba_high;
        cdb[14] = command;
        cdb
    }
}

/// What `SG_IO` handed back, copied out of `sg_io_hdr` (see `ioctl.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SgReply {
    /// SCSI status: 0x00 GOOD, 0x02 CHECK CONDITION (expected with CK_COND).
    pub status: u8,
    /// 0 = DID_OK; anything else is a transport failure.
    pub host_status: u16,
    /// Low nibble 0 or 0x08 (DRIVER_SENSE); anything else is a driver failure.
    pub driver_status: u16,
    /// Bytes of the data transfer that did not happen.
    pub resid: i32,
    /// The `sb_len_wr` bytes of sense data the kernel wrote.
    pub sense: Vec<u8>,
}

impl SgReply {
    /// How many bytes of a `len`-byte data-in buffer were actually transferred.
    pub fn transferred(&self, len: usize) -> usize {
        len.saturating_sub(usize::try_from(self.resid).unwrap_or(0))
    }
}

/// The ATA registers as returned with CK_COND.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AtaRegisters {
    pub error: u8,
    pub count: u8,
    pub lba_low: u8,
    pub lba_mid: u8,
    pub lba_high: u8,
    pub device: u8,
    pub status: u8,
}

/// Decoded sense data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sense {
    /// 0x70/0x71 fixed, 0x72/0x73 descriptor.
    pub response_code: u8,
    pub key: u8,
    pub asc: u8,
    pub ascq: u8,
    /// The ATA Status Return (descriptor 0x09, or the fixed-format fields with ASC/ASCQ 00/1D).
    pub ata: Option<AtaRegisters>,
}

const NO_SENSE: u8 = 0x0;
const RECOVERED_ERROR: u8 = 0x1;
const ILLEGAL_REQUEST: u8 = 0x5;
const ABORTED_COMMAND: u8 = 0xB;
const SCSI_GOOD: u8 = 0x00;
const SCSI_CHECK_CONDITION: u8 = 0x02;
const DRIVER_SENSE: u16 = 0x08;

/// Parses sense data in fixed (0x70/0x71) or descriptor (0x72/0x73) format; `None` for anything
/// else (including an empty buffer).
pub fn parse_sense(b: &[u8]) -> Option<Sense> {
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let response_code = b.first()? & 0x7F;
    match response_code {
        0x72 | 0x73 => {
            if b.len() < 4 {
                return None;
            }
            // Descriptors run from byte 8 for `additional length` (byte 7) bytes, clamped to what
            // was written.
            let end = (8 + usize::from(at(7))).min(b.len());
            let mut ata = None;
            let mut off = 8;
            while off + 2 <= end {
                let len = usize::from(at(off + 1));
                let Some(d) = b.get(off..(off + 2 + len).min(end)) else { break };
                // ATA Status Return: code 0x09, additional length 0x0C (14 bytes in all).
                if d[0] == 0x09 && d.len() >= 14 {
                    ata = Some(AtaRegisters {
                        error: d[3],
                        count: d[5],
                        lba_low: d[7],
                        lba_mid: d[9],
                        lba_high: d[11],
                        device: d[12],
                        status: d[13],
                    });
                    break;
                }
                off += 2 + len;
            }
            Some(Sense { response_code, key: at(1) & 0x0F, asc: at(2), ascq: at(3), ata })
        }
        0x70 | 0x71 => {
            if b.len() < 3 {
                return None;
            }
            let (asc, ascq) = (at(12), at(13));
            // SAT-2+ puts the registers in the information and command-specific fields, and only
            // says so with ASC/ASCQ 00/1D. (Linux before 6.10 wrote them at other offsets in its own
            // error replies, which is why other ASCs are not read as registers.)
            let ata = (b.len() >= 12 && (asc, ascq) == (0x00, 0x1D)).then(|| AtaRegisters {
                error: at(3),
                status: at(4),
                device: at(5),
                count: at(6),
                lba_low: at(9),
                lba_mid: at(10),
                lba_high: at(11),
            });
            Some(Sense { response_code, key: at(2) & 0x0F, asc, ascq, ata })
        }
        _ => None,
    }
}

fn sense_key_name(key: u8) -> &'static str {
    match key {
        0x0 => "NO SENSE",
        0x1 => "RECOVERED ERROR",
        0x2 => "NOT READY",
        0x3 => "MEDIUM ERROR",
        0x4 => "HARDWARE ERROR",
        0x5 => "ILLEGAL REQUEST",
        0x6 => "UNIT ATTENTION",
        0x7 => "DATA PROTECT",
        0xB => "ABORTED COMMAND",
        _ => "other",
    }
}

fn asc_meaning(asc: u8, ascq: u8) -> &'static str {
    match (asc, ascq) {
        (0x20, 0x00) => "invalid command operation code",
        (0x24, 0x00) => "invalid field in CDB",
        (0x00, 0x1D) => "ATA pass-through information available",
        (0x3A, _) => "medium not present",
        (0x04, _) => "logical unit not ready",
        (0x44, _) => "internal target failure",
        _ => "",
    }
}

/// The error a sense says, in words. Sense key 5 with ASC 0x20/0x24 means the device (a USB bridge,
/// a hardware RAID volume, a SCSI disk) does not pass ATA commands through: not a disk failure.
fn sense_error(s: &Sense) -> CmdError {
    let meaning = asc_meaning(s.asc, s.ascq);
    let what = format!(
        "sense key {:X}, ASC/ASCQ {:02X}/{:02X} = {}{}{}",
        s.key,
        s.asc,
        s.ascq,
        sense_key_name(s.key),
        if meaning.is_empty() { "" } else { ", " },
        meaning
    );
    if s.key == ILLEGAL_REQUEST && matches!(s.asc, 0x20 | 0x24) {
        CmdError::Unsupported(format!(
            "the device does not pass ATA commands through ({what}): a USB bridge, a RAID controller or \
             a SCSI disk"
        ))
    } else if s.key == ABORTED_COMMAND {
        CmdError::Failed(format!("the disk rejected the command ({what})"))
    } else {
        CmdError::Failed(what)
    }
}

/// A failure of the transport itself, whatever the sense says: a successful ioctl does not mean
/// the command succeeded.
fn transport_error(r: &SgReply) -> Option<CmdError> {
    if r.host_status != 0 {
        let name = match r.host_status {
            0x01 => "DID_NO_CONNECT",
            0x02 => "DID_BUS_BUSY",
            0x03 => "DID_TIME_OUT",
            0x04 => "DID_BAD_TARGET",
            0x05 => "DID_ABORT",
            0x07 => "DID_ERROR",
            0x08 => "DID_RESET",
            _ => "host error",
        };
        return Some(CmdError::Failed(format!("SG_IO host_status 0x{:02X} ({name})", r.host_status)));
    }
    let driver = r.driver_status & 0x0F;
    if driver != 0 && driver != DRIVER_SENSE {
        return Some(CmdError::Failed(format!("SG_IO driver_status 0x{:02X}", r.driver_status)));
    }
    match r.status {
        SCSI_GOOD | SCSI_CHECK_CONDITION => None,
        s => Some(CmdError::Failed(format!("SCSI status 0x{s:02X}"))),
    }
}

/// Checks the reply to a data-in command: GOOD, or CHECK CONDITION that only reports a recovered
/// error.
pub fn check_data_reply(r: &SgReply) -> Result<(), CmdError> {
    if let Some(e) = transport_error(r) {
        return Err(e);
    }
    if r.status == SCSI_GOOD {
        return Ok(());
    }
    match parse_sense(&r.sense) {
        Some(s) if s.key == NO_SENSE || s.key == RECOVERED_ERROR => Ok(()),
        Some(s) => Err(sense_error(&s)),
        None => Err(CmdError::Failed("CHECK CONDITION without readable sense data".into())),
    }
}

/// Checks the reply to a non-data command sent with CK_COND and returns the ATA registers. The
/// normal reply is CHECK CONDITION, RECOVERED ERROR (or NO SENSE) with ASC/ASCQ 00/1D.
pub fn check_registers_reply(r: &SgReply) -> Result<AtaRegisters, CmdError> {
    if let Some(e) = transport_error(r) {
        return Err(e);
    }
    let Some(s) = parse_sense(&r.sense) else {
        return Err(CmdError::Failed("no ATA registers in the reply (no sense data: CK_COND ignored)".into()));
    };
    if s.key != NO_SENSE && s.key != RECOVERED_ERROR {
        return Err(sense_error(&s));
    }
    let Some(regs) = s.ata else {
        return Err(CmdError::Failed(format!(
            "no ATA Status Return in the sense data (response code 0x{:02X}, ASC/ASCQ {:02X}/{:02X})",
            s.response_code, s.asc, s.ascq
        )));
    };
    // ERR (bit 0) or DF (bit 5): the disk did not complete the command.
    if regs.status & 0x21 != 0 {
        return Err(CmdError::Failed(format!(
            "the disk aborted the command (ATA status 0x{:02X}, error 0x{:02X})",
            regs.status, regs.error
        )));
    }
    Ok(regs)
}

/// SMART RETURN STATUS as read from lba_mid/lba_high.
pub fn smart_status(regs: &AtaRegisters) -> SmartStatus {
    match (regs.lba_mid, regs.lba_high) {
        (0x4F, 0xC2) => SmartStatus::Passed,
        (0xF4, 0x2C) => SmartStatus::Failing,
        _ => SmartStatus::Unknown,
    }
}

/// CHECK POWER MODE's count: 0x00 standby, 0x01 standby (ATA-8 "standby_y"); 0x80-0x83 idle,
/// 0x40/0x41 NV cache, 0xFF active.
pub fn is_standby(regs: &AtaRegisters) -> bool {
    matches!(regs.count, 0x00 | 0x01)
}

/// A page that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("{what}: truncated page ({got} of {want} bytes)")]
    Truncated { what: &'static str, got: usize, want: usize },
}

fn sector<'a>(page: &'a [u8], what: &'static str) -> Result<&'a [u8; SECTOR], PageError> {
    page.get(..SECTOR).and_then(|p| p.try_into().ok()).ok_or(PageError::Truncated {
        what,
        got: page.len(),
        want: SECTOR,
    })
}

/// Sum of all bytes ≡ 0 (mod 256), the checksum of IDENTIFY (when signed) and of the SMART pages.
fn checksum_ok(page: &[u8; SECTOR]) -> bool {
    page.iter().fold(0u8, |sum, b| sum.wrapping_add(*b)) == 0
}

fn word(page: &[u8; SECTOR], i: usize) -> u16 {
    match page.get(2 * i..2 * i + 2) {
        Some(&[lo, hi]) => u16::from_le_bytes([lo, hi]),
        _ => 0,
    }
}

/// An ATA string: `n` words from word `first`, each word's two bytes swapped, space padded.
fn ata_string(page: &[u8; SECTOR], first: usize, n: usize) -> Option<String> {
    let bytes: Vec<u8> = (first..first + n).flat_map(|i| word(page, i).to_be_bytes()).collect();
    clean_string(&bytes)
}

/// Lossy UTF-8, control characters (NUL padding included) made spaces, trimmed; `None` when nothing
/// is left.
pub fn clean_string(bytes: &[u8]) -> Option<String> {
    let s: String = String::from_utf8_lossy(bytes).chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// What IDENTIFY DEVICE says about the disk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware: Option<String>,
    pub capacity_bytes: Option<u64>,
    /// Word 217: 1 = solid state, 0x0401..=0xFFFE = rpm; otherwise not reported.
    pub rotational: Option<bool>,
    /// Word 82 bit 0.
    pub smart_supported: bool,
    /// Word 85 bit 0.
    pub smart_enabled: bool,
    /// `Some(false)` when word 255 carries the 0xA5 signature and the checksum is wrong.
    pub checksum_ok: Option<bool>,
}

/// IDENTIFY DEVICE: serial words 10-19, firmware 23-26, model 27-46, capacity from words 100-103
/// (48-bit, when word 83 says the feature set is supported) else 60-61, times the logical sector
/// size (words 106, 117-118; 512 unless said otherwise).
pub fn parse_identify(page: &[u8]) -> Result<Identity, PageError> {
    let p = sector(page, "IDENTIFY DEVICE")?;
    let w83 = word(p, 83);
    let lba48_supported = w83 & 0xC000 == 0x4000 && w83 & (1 << 10) != 0;
    let lba48 = (0..4).rev().fold(0u64, |acc, i| acc << 16 | u64::from(word(p, 100 + i)));
    let lba28 = u64::from(word(p, 60)) | u64::from(word(p, 61)) << 16;
    let sectors = if lba48_supported && lba48 != 0 { lba48 } else { lba28 };
    let w106 = word(p, 106);
    let logical = if w106 & 0xC000 == 0x4000 && w106 & (1 << 12) != 0 {
        (u64::from(word(p, 117)) | u64::from(word(p, 118)) << 16) * 2
    } else {
        512
    };
    let logical = if logical == 0 { 512 } else { logical };
    let capacity_bytes = sectors.checked_mul(logical).filter(|b| *b != 0);
    let rotational = match word(p, 217) {
        1 => Some(false),
        0x0401..=0xFFFE => Some(true),
        _ => None,
    };
    let valid = |w: u16| w != 0 && w != 0xFFFF;
    let (w82, w85) = (word(p, 82), word(p, 85));
    let w255 = word(p, 255);
    Ok(Identity {
        model: ata_string(p, 27, 20),
        serial: ata_string(p, 10, 10),
        firmware: ata_string(p, 23, 4),
        capacity_bytes,
        rotational,
        smart_supported: valid(w82) && w82 & 1 != 0,
        smart_enabled: valid(w85) && w85 & 1 != 0,
        checksum_ok: (w255 & 0xFF == 0xA5).then(|| checksum_ok(p)),
    })
}

/// One attribute slot of SMART READ DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttribute {
    pub id: u8,
    pub flags: u16,
    pub value: u8,
    pub worst: u8,
    /// 48 bits, little-endian as stored.
    pub raw: u64,
}

/// SMART READ DATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmartData {
    pub revision: u16,
    /// The used slots (id ≠ 0), in page order.
    pub attributes: Vec<RawAttribute>,
    pub checksum_ok: bool,
}

/// The 30 twelve-byte slots from offset 2 (shared by the data and thresholds pages).
fn slots(p: &[u8; SECTOR]) -> impl Iterator<Item = &[u8]> {
    p[2..2 + 30 * 12].chunks_exact(12)
}

/// SMART READ DATA: revision (bytes 0-1), 30 attribute slots of 12 bytes from offset 2 (`id`,
/// `flags` u16, `value`, `worst`, `raw[6]`, reserved), checksum byte 511.
pub fn parse_smart_data(page: &[u8]) -> Result<SmartData, PageError> {
    let p = sector(page, "SMART READ DATA")?;
    let attributes = slots(p)
        .filter(|s| s[0] != 0)
        .map(|s| RawAttribute {
            id: s[0],
            flags: u16::from_le_bytes([s[1], s[2]]),
            value: s[3],
            worst: s[4],
            raw: s[5..11].iter().rev().fold(0u64, |acc, b| acc << 8 | u64::from(*b)),
        })
        .collect();
    Ok(SmartData { revision: u16::from_le_bytes([p[0], p[1]]), attributes, checksum_ok: checksum_ok(p) })
}

/// SMART READ THRESHOLDS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    /// `(id, threshold)` for the used slots.
    pub entries: Vec<(u8, u8)>,
    pub checksum_ok: bool,
}

impl Thresholds {
    pub fn of(&self, id: u8) -> Option<u8> {
        self.entries.iter().find(|(i, _)| *i == id).map(|(_, t)| *t)
    }
}

/// SMART READ THRESHOLDS: 30 slots of 12 bytes from offset 2 (`id`, `threshold`, reserved).
pub fn parse_thresholds(page: &[u8]) -> Result<Thresholds, PageError> {
    let p = sector(page, "SMART READ THRESHOLDS")?;
    let entries = slots(p).filter(|s| s[0] != 0).map(|s| (s[0], s[1])).collect();
    Ok(Thresholds { entries, checksum_ok: checksum_ok(p) })
}

/// smartctl's default attribute names (its drive database's `DEFAULT` entry).
pub fn attribute_name(id: u8) -> &'static str {
    match id {
        1 => "Raw_Read_Error_Rate",
        2 => "Throughput_Performance",
        3 => "Spin_Up_Time",
        4 => "Start_Stop_Count",
        5 => "Reallocated_Sector_Ct",
        6 => "Read_Channel_Margin",
        7 => "Seek_Error_Rate",
        8 => "Seek_Time_Performance",
        9 => "Power_On_Hours",
        10 => "Spin_Retry_Count",
        11 => "Calibration_Retry_Count",
        12 => "Power_Cycle_Count",
        13 => "Read_Soft_Error_Rate",
        175 => "Program_Fail_Count_Chip",
        176 => "Erase_Fail_Count_Chip",
        177 => "Wear_Leveling_Count",
        178 => "Used_Rsvd_Blk_Cnt_Chip",
        179 => "Used_Rsvd_Blk_Cnt_Tot",
        180 => "Unused_Rsvd_Blk_Cnt_Tot",
        181 => "Program_Fail_Cnt_Total",
        182 => "Erase_Fail_Count_Total",
        183 => "Runtime_Bad_Block",
        184 => "End-to-End_Error",
        187 => "Reported_Uncorrect",
        188 => "Command_Timeout",
        189 => "High_Fly_Writes",
        190 => "Airflow_Temperature_Cel",
        191 => "G-Sense_Error_Rate",
        192 => "Power-Off_Retract_Count",
        193 => "Load_Cycle_Count",
        194 => "Temperature_Celsius",
        195 => "Hardware_ECC_Recovered",
        196 => "Reallocated_Event_Count",
        197 => "Current_Pending_Sector",
        198 => "Offline_Uncorrectable",
        199 => "UDMA_CRC_Error_Count",
        200 => "Multi_Zone_Error_Rate",
        201 => "Soft_Read_Error_Rate",
        202 => "Data_Address_Mark_Errs",
        203 => "Run_Out_Cancel",
        204 => "Soft_ECC_Correction",
        205 => "Thermal_Asperity_Rate",
        206 => "Flying_Height",
        207 => "Spin_High_Current",
        208 => "Spin_Buzz",
        209 => "Offline_Seek_Performnce",
        220 => "Disk_Shift",
        221 => "G-Sense_Error_Rate",
        222 => "Loaded_Hours",
        223 => "Load_Retry_Count",
        224 => "Load_Friction",
        225 => "Load_Cycle_Count",
        226 => "Load-in_Time",
        227 => "Torq-amp_Count",
        228 => "Power-off_Retract_Count",
        230 => "Head_Amplitude",
        231 => "Temperature_Celsius",
        232 => "Available_Reservd_Space",
        233 => "Media_Wearout_Indicator",
        240 => "Head_Flying_Hours",
        241 => "Total_LBAs_Written",
        242 => "Total_LBAs_Read",
        250 => "Read_Error_Retry_Rate",
        254 => "Free_Fall_Sensor",
        _ => "Unknown_Attribute",
    }
}

/// The wire attributes: data joined with thresholds by id. `failing_now` is set for a pre-fail
/// attribute (flag bit 0) whose value is at or below a non-zero threshold.
pub fn attributes(data: &SmartData, thresholds: Option<&Thresholds>) -> Vec<AtaAttributeV1> {
    data.attributes
        .iter()
        .map(|a| {
            let threshold = thresholds.and_then(|t| t.of(a.id));
            let prefail = a.flags & 1 != 0;
            AtaAttributeV1 {
                id: a.id,
                name: attribute_name(a.id).to_string(),
                flags: a.flags,
                prefail,
                value: a.value,
                worst: a.worst,
                threshold,
                raw: a.raw,
                failing_now: prefail && threshold.is_some_and(|t| t != 0 && a.value <= t),
            }
        })
        .collect()
}

/// The key figures of an ATA disk, from the raw values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyFigures {
    pub reallocated: Option<u64>,
    pub pending: Option<u64>,
    pub offline_uncorrectable: Option<u64>,
    pub reported_uncorrectable: Option<u64>,
    pub command_timeout: Option<u64>,
    pub udma_crc_errors: Option<u64>,
    pub power_on_hours: Option<u64>,
    pub temperature_c: Option<i16>,
}

/// Counters are the 48-bit raw values. Power-on hours are the low 32 bits (some firmware keeps
/// minutes or milliseconds above them). Temperature is raw byte 0 of 194, else 190 (the other bytes
/// often hold the min/max); 0 and values above 125 °C are taken as "not reported".
pub fn key_figures(attrs: &[AtaAttributeV1]) -> KeyFigures {
    let raw = |id: u8| attrs.iter().find(|a| a.id == id).map(|a| a.raw);
    let temp = |id: u8| raw(id).map(|r| (r & 0xFF) as i16).filter(|c| (1..=125).contains(c));
    KeyFigures {
        reallocated: raw(5),
        pending: raw(197),
        offline_uncorrectable: raw(198),
        reported_uncorrectable: raw(187),
        command_timeout: raw(188),
        udma_crc_errors: raw(199),
        power_on_hours: raw(9).map(|r| r & 0xFFFF_FFFF),
        temperature_c: temp(194).or_else(|| temp(190)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Decodes a `.hex` fixture: `#` lines are comments, the rest is hex digits and whitespace.
    pub(crate) fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.bytes())
            .filter(|b| b.is_ascii_hexdigit())
            .collect();
        digits.chunks_exact(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap()).collect()
    }

    pub(crate) const IDENTIFY: &str = include_str!("../../../tests/fixtures/smart/ata_identify.hex");
    pub(crate) const DATA: &str = include_str!("../../../tests/fixtures/smart/ata_smart_read_data.hex");
    pub(crate) const THRESHOLDS: &str = include_str!("../../../tests/fixtures/smart/ata_smart_read_thresholds.hex");
    pub(crate) const SENSE_ACTIVE: &str =
        include_str!("../../../tests/fixtures/smart/sense_check_power_mode_active.hex");
    pub(crate) const SENSE_STANDBY: &str =
        include_str!("../../../tests/fixtures/smart/sense_check_power_mode_standby.hex");
    pub(crate) const SENSE_PASSED: &str =
        include_str!("../../../tests/fixtures/smart/sense_smart_return_status_passed.hex");
    pub(crate) const SENSE_FAILING: &str =
        include_str!("../../../tests/fixtures/smart/sense_smart_return_status_failing.hex");
    const SENSE_FAILING_FIXED: &str =
        include_str!("../../../tests/fixtures/smart/sense_smart_return_status_failing_fixed.hex");
    pub(crate) const SENSE_ABORTED: &str = include_str!("../../../tests/fixtures/smart/sense_aborted_command.hex");
    pub(crate) const SENSE_INVALID_OPCODE: &str =
        include_str!("../../../tests/fixtures/smart/sense_invalid_opcode.hex");
    const SMARTCTL: &str = include_str!("../../../tests/fixtures/smart/smartctl-a.txt");

    /// A CK_COND reply as libata gives it: CHECK CONDITION, DRIVER_SENSE, the sense bytes.
    pub(crate) fn ck_reply(sense: &str) -> SgReply {
        SgReply { status: 2, host_status: 0, driver_status: 8, resid: 0, sense: hex(sense) }
    }

    /// Sets byte 511 so the page sums to 0 again after an edit.
    pub(crate) fn fix_checksum(page: &mut [u8]) {
        let sum = page[..511].iter().fold(0u8, |s, b| s.wrapping_add(*b));
        page[511] = 0u8.wrapping_sub(sum);
    }

    /// The data page with attribute `id`'s value and raw replaced (checksum kept valid).
    pub(crate) fn edit_attribute(page: &mut [u8], id: u8, value: u8, raw: u64) {
        let slot = (0..30).map(|i| 2 + i * 12).find(|o| page[*o] == id).expect("attribute in the page");
        page[slot + 3] = value;
        page[slot + 5..slot + 11].copy_from_slice(&raw.to_le_bytes()[..6]);
        fix_checksum(page);
    }

    /// A slot appended in the first free place (checksum kept valid).
    pub(crate) fn add_attribute(page: &mut [u8], id: u8, flags: u16, value: u8, raw: u64) {
        let slot = (0..30).map(|i| 2 + i * 12).find(|o| page[*o] == 0).expect("a free slot");
        page[slot] = id;
        page[slot + 1..slot + 3].copy_from_slice(&flags.to_le_bytes());
        page[slot + 3] = value;
        page[slot + 4] = value;
        page[slot + 5..slot + 11].copy_from_slice(&raw.to_le_bytes()[..6]);
        fix_checksum(page);
    }

    #[test]
    fn the_cdbs_are_the_ones_smartmontools_sends() {
        let read_data = Command::SmartReadData.cdb();
        assert_eq!(read_data, [0x85, 0x08, 0x0E, 0, 0xD0, 0, 1, 0, 0, 0, 0x4F, 0, 0xC2, 0, 0xB0, 0]);
        let status = Command::SmartReturnStatus.cdb();
        assert_eq!(status, [0x85, 0x06, 0x2C, 0, 0xDA, 0, 0, 0, 0, 0, 0x4F, 0, 0xC2, 0, 0xB0, 0]);
        assert_eq!(Command::SmartReadThresholds.cdb()[4], 0xD1);
        assert_eq!(Command::IdentifyDevice.cdb()[..3], [0x85, 0x08, 0x0E]);
        assert_eq!(Command::IdentifyDevice.cdb()[14], 0xEC);
        assert_eq!((Command::CheckPowerMode.cdb()[2], Command::CheckPowerMode.cdb()[14]), (0x2C, 0xE5));
        assert!(Command::IdentifyDevice.reads_data() && !Command::CheckPowerMode.reads_data());
    }

    #[test]
    fn the_lab_disk_identifies_as_smartctl_says() {
        let id = parse_identify(&hex(IDENTIFY)).unwrap();
        assert_eq!(id.model.as_deref(), Some("QEMU HARDDISK"));
        assert_eq!(id.serial.as_deref(), Some("HWLAB-SATA-0001"));
        assert_eq!(id.firmware.as_deref(), Some("2.5+"));
        // smartctl: "User Capacity: 67,108,864 bytes".
        assert_eq!(id.capacity_bytes, Some(67_108_864));
        assert_eq!(id.rotational, None, "QEMU leaves word 217 at 0");
        assert!(id.smart_supported && id.smart_enabled);
        assert_eq!(id.checksum_ok, None, "QEMU does not sign word 255");
    }

    #[test]
    fn identify_reports_solid_state_and_old_28_bit_capacity_and_a_bad_signature() {
        let mut p = hex(IDENTIFY);
        p[217 * 2..217 * 2 + 2].copy_from_slice(&1u16.to_le_bytes());
        // No 48-bit feature set: the capacity comes from words 60-61.
        p[83 * 2..83 * 2 + 2].copy_from_slice(&0x4000u16.to_le_bytes());
        p[60 * 2..60 * 2 + 4].copy_from_slice(&[0x00, 0x10, 0x00, 0x00]);
        p[255 * 2] = 0xA5;
        let id = parse_identify(&p).unwrap();
        assert_eq!(id.rotational, Some(false));
        assert_eq!(id.capacity_bytes, Some(0x1000 * 512));
        assert_eq!(id.checksum_ok, Some(false));
        p[217 * 2..217 * 2 + 2].copy_from_slice(&7200u16.to_le_bytes());
        fix_checksum(&mut p);
        let id = parse_identify(&p).unwrap();
        assert_eq!((id.rotational, id.checksum_ok), (Some(true), Some(true)));
    }

    #[test]
    fn identify_strings_that_are_not_ascii_are_decoded_lossily_and_trimmed() {
        let mut p = hex(IDENTIFY);
        // Model words 27-46 all 0xFF 0x00 (garbage firmware), serial all NUL.
        p[27 * 2..47 * 2].fill(0xFF);
        p[10 * 2..20 * 2].fill(0);
        let id = parse_identify(&p).unwrap();
        assert!(id.model.as_deref().is_some_and(|m| m.chars().all(|c| c == '\u{FFFD}')), "{:?}", id.model);
        assert_eq!(id.serial, None);
    }

    #[test]
    fn the_lab_smart_pages_match_smartctls_attribute_table() {
        let data = parse_smart_data(&hex(DATA)).unwrap();
        assert!(data.checksum_ok);
        assert_eq!(data.revision, 1);
        let thr = parse_thresholds(&hex(THRESHOLDS)).unwrap();
        let attrs = attributes(&data, Some(&thr));
        // The oracle: smartctl -a in the same VM. Columns: ID NAME FLAG VALUE WORST THRESH ... RAW.
        let table: Vec<Vec<&str>> = SMARTCTL
            .lines()
            .skip_while(|l| !l.starts_with("ID# ATTRIBUTE_NAME"))
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(table.len(), 7);
        assert_eq!(attrs.len(), table.len());
        for (a, row) in attrs.iter().zip(&table) {
            assert_eq!(a.id.to_string(), row[0]);
            assert_eq!(a.name, row[1]);
            assert_eq!(format!("0x{:04x}", a.flags), row[2]);
            assert_eq!(a.value, row[3].parse::<u8>().unwrap());
            assert_eq!(a.worst, row[4].parse::<u8>().unwrap());
            assert_eq!(a.threshold, Some(row[5].parse::<u8>().unwrap()));
            assert_eq!(a.prefail, row[6] == "Pre-fail");
            assert!(!a.failing_now);
            // smartctl shows 190 as "31 (Min/Max 31/31)": raw byte 0 plus the min/max bytes.
            let shown = if a.id == 190 { a.raw & 0xFF } else { a.raw };
            assert_eq!(shown.to_string(), row[9], "attribute {}", a.id);
        }
        let k = key_figures(&attrs);
        assert_eq!((k.reallocated, k.power_on_hours, k.temperature_c), (Some(0), Some(1), Some(31)));
        assert_eq!((k.pending, k.udma_crc_errors), (None, None));
    }

    #[test]
    fn a_prefail_attribute_at_its_threshold_is_failing_now_and_an_old_age_one_is_not() {
        let mut p = hex(DATA);
        edit_attribute(&mut p, 5, 36, 1234); // Reallocated_Sector_Ct, threshold 36, pre-fail
        edit_attribute(&mut p, 4, 20, 100); // Start_Stop_Count, threshold 20, old-age
        edit_attribute(&mut p, 3, 0, 16); // Spin_Up_Time, threshold 0: never failing
        let data = parse_smart_data(&p).unwrap();
        assert!(data.checksum_ok);
        let attrs = attributes(&data, Some(&parse_thresholds(&hex(THRESHOLDS)).unwrap()));
        let get = |id: u8| attrs.iter().find(|a| a.id == id).unwrap();
        assert!(get(5).failing_now);
        assert_eq!(get(5).raw, 1234);
        assert!(!get(4).failing_now, "old-age attributes do not fail the disk");
        assert!(!get(3).failing_now, "a zero threshold never fails");
        // Without thresholds nothing can be failing.
        assert!(attributes(&data, None).iter().all(|a| !a.failing_now && a.threshold.is_none()));
    }

    #[test]
    fn a_page_with_a_bad_checksum_is_parsed_and_flagged() {
        let mut p = hex(DATA);
        p[511] ^= 0x01;
        let data = parse_smart_data(&p).unwrap();
        assert!(!data.checksum_ok);
        assert_eq!(data.attributes.len(), 7);
    }

    #[test]
    fn truncated_and_empty_pages_are_refused_without_panicking() {
        let p = hex(DATA);
        let err = parse_smart_data(&p[..300]).unwrap_err();
        assert_eq!(err, PageError::Truncated { what: "SMART READ DATA", got: 300, want: 512 });
        assert!(err.to_string().contains("300 of 512"), "{err}");
        assert!(parse_thresholds(&[]).is_err());
        assert!(parse_identify(&p[..511]).is_err());
        // A longer buffer is read as its first sector.
        let mut long = p.clone();
        long.extend_from_slice(&[0xAA; 100]);
        assert_eq!(parse_smart_data(&long).unwrap(), parse_smart_data(&p).unwrap());
    }

    #[test]
    fn absurd_bytes_never_panic() {
        for fill in [0x00, 0xFF, 0x7F, 0x80] {
            let p = [fill; SECTOR];
            let id = parse_identify(&p).unwrap();
            let data = parse_smart_data(&p).unwrap();
            let thr = parse_thresholds(&p).unwrap();
            let attrs = attributes(&data, Some(&thr));
            let _ = key_figures(&attrs);
            let _ = id;
        }
        for len in 0..40 {
            let b: Vec<u8> = (0..len).map(|i| (i * 37 + 0x70) as u8).collect();
            let _ = parse_sense(&b);
            let mut d = vec![0x72, 1, 0, 0x1D, 0, 0, 0, 0xFF];
            d.extend(std::iter::repeat_n(0x09, len));
            let _ = parse_sense(&d);
        }
    }

    #[test]
    fn random_bytes_of_any_length_never_panic_any_parser() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..500 {
            let len = (next() % 700) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(first) = b.first_mut() {
                // Steer a share of the buffers into the sense formats.
                *first = [0x70, 0x72, *first][(next() % 3) as usize];
            }
            let _ = parse_sense(&b);
            let reply = SgReply { status: 2, sense: b.clone(), resid: next() as i32, ..SgReply::default() };
            let _ = (check_data_reply(&reply), check_registers_reply(&reply), reply.transferred(len));
            if let (Ok(d), t) = (parse_smart_data(&b), parse_thresholds(&b)) {
                let _ = key_figures(&attributes(&d, t.as_ref().ok()));
            }
            let _ = parse_identify(&b);
            let _ = super::super::nvme::parse_identify_controller(&b);
            let _ = super::super::nvme::parse_smart_log(&b).map(|l| l.data_written_bytes());
        }
    }

    #[test]
    fn the_key_figures_take_temperature_from_194_before_190_and_ignore_absurd_ones() {
        let mut p = hex(DATA);
        add_attribute(&mut p, 194, 0x0022, 36, 0x0000_3200_1A24); // 36 °C, min/max bytes above
        add_attribute(&mut p, 197, 0x0012, 100, 8);
        add_attribute(&mut p, 199, 0x003E, 200, 3);
        edit_attribute(&mut p, 9, 100, 0x0042_0000_1234); // hours in the low 32 bits
        let attrs = attributes(&parse_smart_data(&p).unwrap(), None);
        let k = key_figures(&attrs);
        assert_eq!(k.temperature_c, Some(36));
        assert_eq!((k.pending, k.udma_crc_errors, k.power_on_hours), (Some(8), Some(3), Some(0x1234)));
        assert_eq!(attrs.iter().find(|a| a.id == 194).unwrap().name, "Temperature_Celsius");
        let mut p = hex(DATA);
        add_attribute(&mut p, 194, 0x0022, 36, 0xFF); // 255 °C: not a temperature
        let k = key_figures(&attributes(&parse_smart_data(&p).unwrap(), None));
        assert_eq!(k.temperature_c, Some(31), "falls back to 190");
    }

    #[test]
    fn check_power_mode_and_return_status_read_the_registers_from_the_descriptor_sense() {
        let regs = check_registers_reply(&ck_reply(SENSE_ACTIVE)).unwrap();
        assert_eq!((regs.count, regs.status), (0xFF, 0x50));
        assert!(!is_standby(&regs));
        assert!(is_standby(&check_registers_reply(&ck_reply(SENSE_STANDBY)).unwrap()));
        let regs = check_registers_reply(&ck_reply(SENSE_PASSED)).unwrap();
        assert_eq!(smart_status(&regs), SmartStatus::Passed);
        let s = parse_sense(&hex(SENSE_PASSED)).unwrap();
        assert_eq!((s.response_code, s.key, s.asc, s.ascq), (0x72, 1, 0x00, 0x1D));
    }

    #[test]
    fn a_failing_status_is_read_from_descriptor_and_from_fixed_sense() {
        let regs = check_registers_reply(&ck_reply(SENSE_FAILING)).unwrap();
        assert_eq!((regs.lba_mid, regs.lba_high), (0xF4, 0x2C));
        assert_eq!(smart_status(&regs), SmartStatus::Failing);
        let regs = check_registers_reply(&ck_reply(SENSE_FAILING_FIXED)).unwrap();
        assert_eq!(smart_status(&regs), SmartStatus::Failing);
        let other = AtaRegisters { lba_mid: 0x00, lba_high: 0x00, ..regs };
        assert_eq!(smart_status(&other), SmartStatus::Unknown);
    }

    #[test]
    fn invalid_opcode_from_a_bridge_means_not_supported_naming_the_sense() {
        let err = check_registers_reply(&ck_reply(SENSE_INVALID_OPCODE)).unwrap_err();
        let CmdError::Unsupported(why) = err else { panic!("unsupported expected: {err:?}") };
        assert!(why.contains("sense key 5, ASC/ASCQ 20/00"), "{why}");
        let err = check_data_reply(&ck_reply(SENSE_INVALID_OPCODE)).unwrap_err();
        assert!(matches!(err, CmdError::Unsupported(_)), "{err:?}");
        // Invalid field in CDB (0x24) is the same refusal.
        let mut fixed = hex(SENSE_INVALID_OPCODE);
        fixed[12] = 0x24;
        let reply = SgReply { sense: fixed, ..ck_reply(SENSE_INVALID_OPCODE) };
        assert!(matches!(check_data_reply(&reply), Err(CmdError::Unsupported(w)) if w.contains("24/00")));
    }

    #[test]
    fn an_aborted_command_is_a_failure_not_a_refusal() {
        let err = check_registers_reply(&ck_reply(SENSE_ABORTED)).unwrap_err();
        let CmdError::Failed(why) = err else { panic!("failed expected: {err:?}") };
        assert!(why.contains("ABORTED COMMAND"), "{why}");
        // Registers with ERR set are a failure too.
        let mut s = hex(SENSE_PASSED);
        s[8 + 13] = 0x51;
        s[8 + 3] = 0x04;
        let reply = SgReply { sense: s, ..ck_reply(SENSE_PASSED) };
        assert!(matches!(check_registers_reply(&reply), Err(CmdError::Failed(w)) if w.contains("status 0x51")));
    }

    #[test]
    fn transport_errors_fail_even_when_the_ioctl_succeeded() {
        let good = SgReply::default();
        assert_eq!(check_data_reply(&good), Ok(()));
        let timeout = SgReply { host_status: 0x03, ..SgReply::default() };
        assert!(matches!(check_data_reply(&timeout), Err(CmdError::Failed(w)) if w.contains("DID_TIME_OUT")));
        let driver = SgReply { driver_status: 0x06, ..SgReply::default() };
        assert!(check_data_reply(&driver).is_err());
        let busy = SgReply { status: 0x08, ..SgReply::default() };
        assert!(check_data_reply(&busy).is_err());
        let no_sense = SgReply { status: 2, ..SgReply::default() };
        assert!(check_data_reply(&no_sense).is_err());
        // GOOD without registers: the SAT layer ignored CK_COND.
        assert!(check_registers_reply(&good).is_err());
        // A recovered error on a data command is a success.
        assert_eq!(check_data_reply(&ck_reply(SENSE_PASSED)), Ok(()));
        assert_eq!(SgReply { resid: 12, ..good.clone() }.transferred(512), 500);
        assert_eq!(SgReply { resid: -5, ..good }.transferred(512), 512);
    }
}
