//! NVMe, as pure code: the admin commands the probe sends and the parsers of Identify Controller
//! and the SMART / Health Information log (page 0x02). Layouts are `rust-stack.md` §4 (the same as
//! nvme-cli's `nvme_smart_log`).
//!
//! Invariants: nothing here panics on hostile bytes (short pages are [`PageError::Truncated`]);
//! the log's 128-bit counters saturate into `u64`; strings are decoded lossily and trimmed.

use super::ata::{PageError, clean_string};

/// Identify (opcode 06h) with CNS 01h: the controller data structure, 4096 bytes.
pub const IDENTIFY_OPCODE: u8 = 0x06;
pub const IDENTIFY_CNS_CONTROLLER: u32 = 0x01;
pub const IDENTIFY_LEN: usize = 4096;
/// Get Log Page (opcode 02h), log 02h for all namespaces, 512 bytes: CDW10 = (dwords-1) << 16 | 02h.
pub const GET_LOG_PAGE_OPCODE: u8 = 0x02;
pub const SMART_LOG_LEN: usize = 512;
pub const SMART_LOG_CDW10: u32 = ((SMART_LOG_LEN as u32 / 4 - 1) << 16) | 0x02;
pub const NSID_ALL: u32 = 0xFFFF_FFFF;

/// What Identify Controller says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Controller {
    pub serial: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    /// WCTEMP (bytes 266-267) and CCTEMP (268-269) in °C; `None` when the controller reports 0.
    pub warning_temp_c: Option<i16>,
    pub critical_temp_c: Option<i16>,
}

fn le_u16(p: &[u8], at: usize) -> u16 {
    match p.get(at..at + 2) {
        Some(&[lo, hi]) => u16::from_le_bytes([lo, hi]),
        _ => 0,
    }
}

/// Kelvin to °C (273, as smartctl does). 0 K means "not reported"; anything outside -40..=150 °C
/// is a broken sensor, not a temperature, and is dropped rather than raising an alarm.
fn kelvin_to_c(k: u16) -> Option<i16> {
    let c = i32::from(k) - 273;
    (k != 0 && (-40..=150).contains(&c)).then(|| i16::try_from(c).ok()).flatten()
}

/// Identify Controller: SN bytes 4-23, MN 24-63, FR 64-71. Needs at least 72 bytes; the temperature
/// thresholds are read when the page reaches them.
pub fn parse_identify_controller(page: &[u8]) -> Result<Controller, PageError> {
    let Some(head) = page.get(..72) else {
        return Err(PageError::Truncated { what: "Identify Controller", got: page.len(), want: IDENTIFY_LEN });
    };
    Ok(Controller {
        serial: clean_string(&head[4..24]),
        model: clean_string(&head[24..64]),
        firmware: clean_string(&head[64..72]),
        warning_temp_c: kelvin_to_c(le_u16(page, 266)),
        critical_temp_c: kelvin_to_c(le_u16(page, 268)),
    })
}

/// The SMART / Health Information log (page 0x02).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmartLog {
    pub critical_warning: u8,
    /// Composite temperature (bytes 1-2, Kelvin) in °C.
    pub temperature_c: Option<i16>,
    pub available_spare_pct: u8,
    pub spare_threshold_pct: u8,
    /// May exceed 100.
    pub percentage_used: u8,
    pub data_units_read: u64,
    pub data_units_written: u64,
    pub power_cycles: u64,
    pub power_on_hours: u64,
    pub unsafe_shutdowns: u64,
    pub media_errors: u64,
    pub error_log_entries: u64,
}

impl SmartLog {
    /// Data units written × 512,000 bytes, saturating.
    pub fn data_written_bytes(&self) -> u64 {
        self.data_units_written.saturating_mul(512_000)
    }
}

/// A 128-bit little-endian counter, saturated into `u64`.
fn counter(p: &[u8; SMART_LOG_LEN], at: usize) -> u64 {
    let v = p[at..at + 16].iter().rev().fold(0u128, |acc, b| acc << 8 | u128::from(*b));
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// Log page 0x02: critical warning (0), composite temperature (1-2), available spare (3), spare
/// threshold (4), percentage used (5), and the 16-byte counters from 32 on (data units read 32,
/// written 48, power cycles 112, power-on hours 128, unsafe shutdowns 144, media errors 160,
/// error-log entries 176).
pub fn parse_smart_log(page: &[u8]) -> Result<SmartLog, PageError> {
    let p: &[u8; SMART_LOG_LEN] = page
        .get(..SMART_LOG_LEN)
        .and_then(|p| p.try_into().ok())
        .ok_or(PageError::Truncated { what: "SMART / Health log", got: page.len(), want: SMART_LOG_LEN })?;
    Ok(SmartLog {
        critical_warning: p[0],
        temperature_c: kelvin_to_c(u16::from_le_bytes([p[1], p[2]])),
        available_spare_pct: p[3],
        spare_threshold_pct: p[4],
        percentage_used: p[5],
        data_units_read: counter(p, 32),
        data_units_written: counter(p, 48),
        power_cycles: counter(p, 112),
        power_on_hours: counter(p, 128),
        unsafe_shutdowns: counter(p, 144),
        media_errors: counter(p, 160),
        error_log_entries: counter(p, 176),
    })
}

/// The wire names of the critical warning bits 0-5; a set reserved bit (6, 7) is named `bitN`.
pub fn critical_warning_names(byte: u8) -> Vec<String> {
    const NAMES: [&str; 6] = ["spare", "temperature", "reliability", "read_only", "volatile_backup", "pmr_read_only"];
    (0..8)
        .filter(|b| byte & (1 << b) != 0)
        .map(|b| NAMES.get(b).map_or_else(|| format!("bit{b}"), |n| (*n).to_string()))
        .collect()
}

/// An NVMe status field (as the ioctl returns it) in words: SCT, SC and the DNR bit.
pub fn status_text(status: u32) -> String {
    let sct = (status >> 8) & 0x7;
    let sc = status & 0xFF;
    let what = match (sct, sc) {
        (0, 0x01) => "invalid command opcode",
        (0, 0x02) => "invalid field in command",
        (0, 0x04) => "data transfer error",
        (0, 0x06) => "internal error",
        (0, 0x0B) => "invalid namespace or format",
        (1, 0x09) => "invalid log page",
        _ => "error",
    };
    let dnr = if status & 0x4000 != 0 { ", do not retry" } else { "" };
    format!("NVMe status 0x{status:04X} (SCT {sct}, SC 0x{sc:02X}: {what}{dnr})")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::ata::tests::hex;
    use super::*;

    pub(crate) const IDENTIFY: &str = include_str!("../../../tests/fixtures/smart/nvme_identify_controller.hex");
    pub(crate) const LOG: &str = include_str!("../../../tests/fixtures/smart/nvme_smart_log.hex");
    pub(crate) const LOG_CRITICAL_04: &str =
        include_str!("../../../tests/fixtures/smart/nvme_smart_log_critical_0x04.hex");

    #[test]
    fn the_lab_controller_identifies_as_smartctl_says() {
        let c = parse_identify_controller(&hex(IDENTIFY)).unwrap();
        assert_eq!(c.model.as_deref(), Some("QEMU NVMe Ctrl"));
        assert_eq!(c.serial.as_deref(), Some("HWLAB-NVME-0001"));
        assert_eq!(c.firmware.as_deref(), Some("7.2.22"));
        // smartctl: "Warning Comp. Temp. Threshold: 70 Celsius", "Critical ...: 100 Celsius".
        assert_eq!((c.warning_temp_c, c.critical_temp_c), (Some(70), Some(100)));
    }

    #[test]
    fn the_lab_smart_log_reads_as_smartctl_says() {
        let log = parse_smart_log(&hex(LOG)).unwrap();
        assert_eq!(log.critical_warning, 0);
        assert!(critical_warning_names(log.critical_warning).is_empty());
        assert_eq!(log.temperature_c, Some(50));
        assert_eq!((log.available_spare_pct, log.spare_threshold_pct, log.percentage_used), (0, 0, 0));
        assert_eq!((log.data_units_read, log.data_units_written), (1, 0));
        assert_eq!((log.power_on_hours, log.unsafe_shutdowns, log.media_errors, log.error_log_entries), (0, 0, 0, 0));
    }

    #[test]
    fn a_reliability_warning_is_named() {
        let log = parse_smart_log(&hex(LOG_CRITICAL_04)).unwrap();
        assert_eq!(log.critical_warning, 0x04);
        assert_eq!(critical_warning_names(log.critical_warning), ["reliability"]);
        assert_eq!(
            critical_warning_names(0xFF),
            ["spare", "temperature", "reliability", "read_only", "volatile_backup", "pmr_read_only", "bit6", "bit7"]
        );
    }

    #[test]
    fn huge_counters_saturate_and_units_become_bytes() {
        let mut p = hex(LOG);
        p[48..64].fill(0xFF); // data units written: 2^128 - 1
        p[160] = 7; // media errors
        p[128..136].copy_from_slice(&40_000u64.to_le_bytes());
        let log = parse_smart_log(&p).unwrap();
        assert_eq!(log.data_units_written, u64::MAX);
        assert_eq!(log.data_written_bytes(), u64::MAX);
        assert_eq!((log.media_errors, log.power_on_hours), (7, 40_000));
        p[48..64].fill(0);
        p[48] = 3;
        assert_eq!(parse_smart_log(&p).unwrap().data_written_bytes(), 1_536_000);
    }

    #[test]
    fn absurd_temperatures_and_short_pages_do_not_panic() {
        let mut p = hex(LOG);
        p[1..3].copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert_eq!(parse_smart_log(&p).unwrap().temperature_c, None, "65262 °C is no temperature");
        p[1..3].fill(0);
        assert_eq!(parse_smart_log(&p).unwrap().temperature_c, None);
        assert!(matches!(parse_smart_log(&p[..100]), Err(PageError::Truncated { got: 100, .. })));
        assert!(parse_identify_controller(&[0xFF; 10]).is_err());
        // Just the strings: the thresholds are simply absent.
        let short = parse_identify_controller(&hex(IDENTIFY)[..72]).unwrap();
        assert_eq!((short.model.as_deref(), short.warning_temp_c), (Some("QEMU NVMe Ctrl"), None));
        let garbage = parse_identify_controller(&[0xC3; 4096]).unwrap();
        assert!(garbage.model.is_some());
    }

    #[test]
    fn the_log_command_asks_for_512_bytes_of_page_2() {
        assert_eq!(SMART_LOG_CDW10, 0x007F_0002);
        assert_eq!(status_text(0x4002), "NVMe status 0x4002 (SCT 0, SC 0x02: invalid field in command, do not retry)");
    }
}
