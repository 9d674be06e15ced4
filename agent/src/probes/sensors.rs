//! Probe `sensors`: the temperatures and fans of every hwmon chip, read from
//! `<sys>/class/hwmon/hwmon*` under [`HostPaths`] (sysinfo has no fans, limits or alarms, see
//! `rust-stack.md` §5). Parsers and verdicts are pure; the I/O sits in [`Sensors::collect`].
//!
//! Invariants:
//! - A sensor is identified by chip `name` + device path + label. `hwmonN` numbers change with module
//!   load order, so they never reach a reading; `device` is the chip's parent relative to
//!   `<sys>/devices` (`platform/coretemp.0`, `.../nvme/nvme0`), or "" for a chip without one.
//! - "No value" is `None`, never 0: a read failing with EIO, ENODATA, EAGAIN or ETIMEDOUT, a set
//!   `_fault`, a non-number, a temperature outside -60..=200 °C, a negative or absurd rpm.
//! - Readings are sorted by chip name, device, then temperatures and fans by index, so golden files
//!   and dashboards are stable. Input is never trusted: nothing here panics on what sysfs holds.
//! - No chip, or chips without any `temp*_input`/`fan*_input`: not applicable. Failed only when
//!   inputs exist and not one of them could be read, or every hwmon entry is a broken link.
//! - Sensor files sit in the hwmon directory; on old kernels (2.6.x) they and `name` sit in `device/`.
//!
//! Verdict defaults (the chip's own limits; Centinela adds no thresholds of its own):
//! - Temperature ≥ `crit` → Critical; else ≥ `max` → Warning. `crit_alarm` → Critical; `alarm` or
//!   `max_alarm` → Warning. A limit at or below 0 °C is "not set" (nct677x boards leave `max` at 0).
//! - A temperature in `_fault` → Ok, with a reason: it is usually an unconnected input.
//! - Fan at 0 rpm with a `min` above 0 → Critical (stopped); below `min` → Warning; `alarm`,
//!   `min_alarm` or `fault` → Warning. At 0 rpm with no `min` → Ok, with a reason: it is usually a
//!   header with no fan plugged in.
//! - Reasons are in Spanish, as the technicians read them; an Ok verdict carries a reason only when
//!   it explains a missing or zero value.

use super::ProbeError;
use crate::host::HostPaths;
use centinela_shared::{FanV1, Level, Reading, TemperatureV1, Verdict};
use nix::errno::Errno;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The probe. It keeps no state between samples: chips come and go with modules and hot-plug.
/// Braced, not a unit struct, so `Sensors::default()` in `probes::mod` builds it like every other
/// probe (clippy flags `default()` on unit structs).
#[derive(Default)]
pub struct Sensors {}

/// Temperatures beyond this range are a broken read (an open diode reads -128 °C, an unset nvme
/// threshold 65261.85 °C), not a measurement.
const CELSIUS_RANGE: std::ops::RangeInclusive<i64> = -60_000..=200_000;

/// No fan spins this fast; a glitched 8-bit counter reads 1 350 000 rpm.
const MAX_RPM: u32 = 100_000;

/// sysfs attributes are at most one page; a larger file is not a kernel attribute.
const MAX_ATTR_BYTES: u64 = 4096;

/// The result of reading one attribute file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    /// The file does not exist: the chip does not have this attribute.
    Absent,
    /// The driver answered "no value now" (EIO, ENODATA, EAGAIN, ETIMEDOUT).
    NoValue,
    /// Any other error: the attribute exists but cannot be read.
    Unreadable(String),
    /// The file's content.
    Value(Vec<u8>),
}

impl Attr {
    fn value(&self) -> Option<&[u8]> {
        match self {
            Attr::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// Maps a read to an [`Attr`]. Drivers return EIO/ENODATA for a sensor with no reading (drivetemp
/// with a disk that does not answer, nvme sensors the controller does not report) and
/// EAGAIN/ETIMEDOUT when an SMBus transfer times out: none of those is a zero.
pub fn attr_from_read(result: io::Result<Vec<u8>>) -> Attr {
    const NO_VALUE: [Errno; 4] = [Errno::EIO, Errno::ENODATA, Errno::EAGAIN, Errno::ETIMEDOUT];
    match result {
        Ok(bytes) => Attr::Value(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Attr::Absent,
        Err(e) if e.raw_os_error().is_some_and(|code| NO_VALUE.iter().any(|n| *n as i32 == code)) => Attr::NoValue,
        Err(e) => Attr::Unreadable(e.to_string()),
    }
}

fn parse_int(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

/// A `temp<i>_input` in millidegrees Celsius, as degrees; `None` outside -60..=200 °C.
pub fn parse_millicelsius(bytes: &[u8]) -> Option<f32> {
    let milli = parse_int(bytes).filter(|m| CELSIUS_RANGE.contains(m))?;
    // Through f64 so 85850 becomes the f32 nearest to 85.85, which serializes as 85.85.
    Some((milli as f64 / 1000.0) as f32)
}

/// A `temp<i>_max` or `_crit`; a limit at or below 0 °C is not a limit but an unset register.
pub fn parse_temp_limit(bytes: &[u8]) -> Option<f32> {
    parse_millicelsius(bytes).filter(|c| *c > 0.0)
}

/// A `fan<i>_input` in rpm; `None` when negative, not a number or absurdly high.
pub fn parse_rpm(bytes: &[u8]) -> Option<u32> {
    u32::try_from(parse_int(bytes)?).ok().filter(|r| *r <= MAX_RPM)
}

/// A `fan<i>_min`: 0 means no minimum is configured.
pub fn parse_fan_min(bytes: &[u8]) -> Option<u32> {
    parse_rpm(bytes).filter(|m| *m > 0)
}

/// An alarm or fault flag: `0` or `1`. Anything else is not a flag the ABI defines: `None`.
pub fn parse_flag(bytes: &[u8]) -> Option<bool> {
    match parse_int(bytes)? {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

/// A `name` or `_label`: lossy UTF-8, control characters blanked (they would break the table and the
/// dashboard), trimmed; `None` when empty.
pub fn parse_label(bytes: &[u8]) -> Option<String> {
    let text: String = String::from_utf8_lossy(bytes).chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The `<i>` of `<prefix><i>_input` (`temp3_input` → 3), or `None` for any other file name.
pub fn input_index(file_name: &str, prefix: &str) -> Option<u32> {
    let digits = file_name.strip_prefix(prefix)?.strip_suffix("_input")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The chip's device path relative to `devices_root` (both canonical). From the resolved `device`
/// link when there is one; otherwise from the hwmon directory itself, without its `hwmonN` and the
/// kernel's `hwmon` glue directory. "" when that leaves nothing but `virtual` or lies outside.
pub fn device_path(devices_root: &Path, device_link: Option<&Path>, hwmon_dir: &Path) -> String {
    let target = match device_link {
        Some(d) => d,
        None => {
            let parent = hwmon_dir.parent().unwrap_or(hwmon_dir);
            match parent.file_name() {
                Some(n) if n == "hwmon" => parent.parent().unwrap_or(parent),
                _ => parent,
            }
        }
    };
    match target.strip_prefix(devices_root) {
        Ok(rel) if rel != Path::new("virtual") => rel.to_string_lossy().into_owned(),
        _ => String::new(),
    }
}

/// What the chip says about one temperature input, parsed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TempState {
    pub celsius: Option<f32>,
    pub max: Option<f32>,
    pub crit: Option<f32>,
    /// `temp<i>_alarm` or `temp<i>_max_alarm`.
    pub alarm: bool,
    pub crit_alarm: bool,
    pub fault: bool,
}

/// What the chip says about one fan, parsed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FanState {
    pub rpm: Option<u32>,
    /// Only a configured minimum (above 0).
    pub min: Option<u32>,
    /// `fan<i>_alarm` or `fan<i>_min_alarm`.
    pub alarm: bool,
    pub fault: bool,
}

/// Degrees as the reading carries them (`86.85`), with at least one decimal (`98.0`), so a reason
/// never shows a different number from the value next to it.
fn degrees(c: f32) -> String {
    let shortest = c.to_string();
    if shortest.contains('.') { shortest } else { format!("{c:.1}") }
}

/// The verdict on a temperature, from the chip's own limits and alarms (module doc).
pub fn temperature_verdict(t: &TempState) -> Verdict {
    let mut v = Verdict::ok();
    if let Some(c) = t.celsius {
        if let Some(crit) = t.crit.filter(|crit| c >= *crit) {
            v.raise(Level::Critical, format!("temperatura {} °C ≥ crítica {} °C", degrees(c), degrees(crit)));
        } else if let Some(max) = t.max.filter(|max| c >= *max) {
            v.raise(Level::Warning, format!("temperatura {} °C ≥ máxima {} °C", degrees(c), degrees(max)));
        }
    }
    if t.crit_alarm {
        v.raise(Level::Critical, "el chip señala alarma de temperatura crítica");
    }
    if t.alarm {
        v.raise(Level::Warning, "el chip señala alarma de temperatura");
    }
    if t.fault {
        // An unconnected thermistor or diode input reports a fault on every sample; alerting on it
        // would teach technicians to ignore the dashboard.
        v.raise(Level::Ok, "sin lectura: el chip marca fallo del sensor (suele ser una entrada sin conectar)");
    }
    v
}

/// The verdict on a fan (module doc).
pub fn fan_verdict(f: &FanState) -> Verdict {
    let mut v = Verdict::ok();
    match (f.rpm, f.min.filter(|m| *m > 0)) {
        (Some(0), Some(min)) => v.raise(Level::Critical, format!("ventilador detenido: 0 rpm con mínimo de {min} rpm")),
        (Some(rpm), Some(min)) if rpm < min => {
            v.raise(Level::Warning, format!("ventilador lento: {rpm} rpm < mínimo {min} rpm"))
        }
        // Boards expose every fan header; an empty one reads 0 rpm and nobody set a minimum for it.
        (Some(0), None) if !f.alarm && !f.fault => {
            v.raise(Level::Ok, "0 rpm sin mínimo configurado: probablemente un conector sin ventilador")
        }
        _ => {}
    }
    if f.fault {
        v.raise(Level::Warning, "el chip señala fallo del ventilador");
    }
    if f.alarm {
        v.raise(Level::Warning, "el chip señala alarma del ventilador");
    }
    v
}

fn read_attr(dir: &Path, name: &str) -> Attr {
    let result = File::open(dir.join(name)).and_then(|f| {
        let mut buf = Vec::new();
        f.take(MAX_ATTR_BYTES).read_to_end(&mut buf)?;
        Ok(buf)
    });
    attr_from_read(result)
}

fn read_flag(dir: &Path, name: &str) -> bool {
    read_attr(dir, name).value().and_then(parse_flag).unwrap_or(false)
}

/// One hwmon chip that has at least one temperature or fan input.
struct Chip {
    name: String,
    device: String,
    /// Where the sensor files are: the hwmon directory, or `device/` on old kernels.
    dir: PathBuf,
    /// The canonical hwmon directory; only breaks ties between chips with the same name and device.
    hwmon_dir: PathBuf,
    temps: Vec<u32>,
    fans: Vec<u32>,
}

/// The temperature and fan input indices in `dir`, sorted.
fn inputs_in(dir: &Path) -> io::Result<(Vec<u32>, Vec<u32>)> {
    let (mut temps, mut fans) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        if let Some(i) = input_index(&name, "temp") {
            temps.push(i);
        } else if let Some(i) = input_index(&name, "fan") {
            fans.push(i);
        }
    }
    temps.sort_unstable();
    fans.sort_unstable();
    Ok((temps, fans))
}

/// What is under `<sys>/class/hwmon`.
#[derive(Default)]
struct Discovery {
    chips: Vec<Chip>,
    /// Names of chips with neither a temperature nor a fan input (e.g. a voltage-only chip).
    without_inputs: Vec<String>,
    /// Entries that could not be followed or listed, with the error.
    broken: Vec<String>,
}

fn discover(class: &Path, devices: &Path) -> Result<Discovery, ProbeError> {
    let entries = match std::fs::read_dir(class) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ProbeError::NotApplicable(format!("sin chips hwmon: {} no existe", class.display())));
        }
        Err(e) => return Err(ProbeError::Failed(format!("no se puede listar {}: {e}", class.display()))),
    };
    // Canonical, so symlinked roots (a fixture under a symlinked checkout) still strip cleanly.
    let devices_root = std::fs::canonicalize(devices).unwrap_or_else(|_| devices.to_path_buf());
    let mut found = Discovery::default();
    for entry in entries {
        let Ok(entry) = entry else { continue };
        // Git needs a placeholder in an empty fixture directory; sysfs only holds hwmonN here.
        if !entry.file_name().to_string_lossy().starts_with("hwmon") {
            continue;
        }
        let link = entry.path();
        let hwmon_dir = match std::fs::canonicalize(&link) {
            Ok(d) if d.is_dir() => d,
            Ok(d) => {
                found.broken.push(format!("{} is not a directory", d.display()));
                continue;
            }
            Err(e) => {
                found.broken.push(format!("{}: {e}", link.display()));
                continue;
            }
        };
        let device_dir = std::fs::canonicalize(hwmon_dir.join("device")).ok().filter(|d| d.is_dir());
        let name = read_attr(&hwmon_dir, "name")
            .value()
            .and_then(parse_label)
            .or_else(|| device_dir.as_deref().and_then(|d| read_attr(d, "name").value().and_then(parse_label)))
            .unwrap_or_default();
        let device = device_path(&devices_root, device_dir.as_deref(), &hwmon_dir);
        let (temps, fans) = match inputs_in(&hwmon_dir) {
            Ok(inputs) => inputs,
            Err(e) => {
                found.broken.push(format!("{}: {e}", hwmon_dir.display()));
                continue;
            }
        };
        let (dir, temps, fans) = if !temps.is_empty() || !fans.is_empty() {
            (hwmon_dir.clone(), temps, fans)
        } else {
            // Kernels before the hwmon core grew attribute groups put the files on the parent device.
            match device_dir.as_deref().map(|d| (d, inputs_in(d))) {
                Some((d, Ok((t, f)))) if !t.is_empty() || !f.is_empty() => (d.to_path_buf(), t, f),
                _ => {
                    found.without_inputs.push(if name.is_empty() { "(unnamed)".to_string() } else { name });
                    continue;
                }
            }
        };
        found.chips.push(Chip { name, device, dir, hwmon_dir, temps, fans });
    }
    Ok(found)
}

/// Counts what a chip's inputs answered, to tell "broken" from "no value".
#[derive(Default)]
struct InputTally {
    answered: usize,
    errors: Vec<String>,
}

impl InputTally {
    fn note(&mut self, dir: &Path, file: &str, attr: &Attr) {
        match attr {
            Attr::Value(_) | Attr::NoValue => self.answered += 1,
            Attr::Unreadable(e) => self.errors.push(format!("{}: {e}", dir.join(file).display())),
            // Listed a moment ago and gone now: the module was unloaded in between.
            Attr::Absent => self.errors.push(format!("{}: disappeared while reading", dir.join(file).display())),
        }
    }
}

fn read_temperature(chip: &Chip, i: u32, tally: &mut InputTally) -> TemperatureV1 {
    let dir = &chip.dir;
    let input_file = format!("temp{i}_input");
    let input = read_attr(dir, &input_file);
    tally.note(dir, &input_file, &input);
    let fault = read_flag(dir, &format!("temp{i}_fault"));
    let limit = |suffix: &str| read_attr(dir, &format!("temp{i}{suffix}")).value().and_then(parse_temp_limit);
    let state = TempState {
        celsius: if fault { None } else { input.value().and_then(parse_millicelsius) },
        max: limit("_max"),
        crit: limit("_crit"),
        alarm: read_flag(dir, &format!("temp{i}_alarm")) || read_flag(dir, &format!("temp{i}_max_alarm")),
        crit_alarm: read_flag(dir, &format!("temp{i}_crit_alarm")),
        fault,
    };
    TemperatureV1 {
        chip: chip.name.clone(),
        device: chip.device.clone(),
        label: read_attr(dir, &format!("temp{i}_label"))
            .value()
            .and_then(parse_label)
            .unwrap_or_else(|| format!("temp{i}")),
        celsius: state.celsius,
        max: state.max,
        crit: state.crit,
        alarm: state.alarm || state.crit_alarm,
        verdict: temperature_verdict(&state),
    }
}

fn read_fan(chip: &Chip, i: u32, tally: &mut InputTally) -> FanV1 {
    let dir = &chip.dir;
    let input_file = format!("fan{i}_input");
    let input = read_attr(dir, &input_file);
    tally.note(dir, &input_file, &input);
    let fault = read_flag(dir, &format!("fan{i}_fault"));
    let state = FanState {
        rpm: if fault { None } else { input.value().and_then(parse_rpm) },
        min: read_attr(dir, &format!("fan{i}_min")).value().and_then(parse_fan_min),
        alarm: read_flag(dir, &format!("fan{i}_alarm")) || read_flag(dir, &format!("fan{i}_min_alarm")),
        fault,
    };
    FanV1 {
        chip: chip.name.clone(),
        device: chip.device.clone(),
        label: read_attr(dir, &format!("fan{i}_label"))
            .value()
            .and_then(parse_label)
            .unwrap_or_else(|| format!("fan{i}")),
        rpm: state.rpm,
        min: state.min,
        alarm: state.alarm,
        verdict: fan_verdict(&state),
    }
}

impl Sensors {
    pub fn collect(&mut self, paths: &HostPaths, out: &mut Vec<Reading>) -> Result<(), ProbeError> {
        let class = paths.sys.join("class/hwmon");
        let Discovery { mut chips, without_inputs, broken } = discover(&class, &paths.sys.join("devices"))?;
        if chips.is_empty() {
            return Err(if !broken.is_empty() {
                ProbeError::Failed(format!(
                    "ningún chip hwmon bajo {} se puede leer: {}",
                    class.display(),
                    broken.join("; ")
                ))
            } else if without_inputs.is_empty() {
                ProbeError::NotApplicable(format!("sin chips hwmon bajo {}", class.display()))
            } else {
                ProbeError::NotApplicable(format!(
                    "ningún chip hwmon tiene temp*_input ni fan*_input ({})",
                    without_inputs.join(", ")
                ))
            });
        }
        chips.sort_by(|a, b| (&a.name, &a.device, &a.hwmon_dir).cmp(&(&b.name, &b.device, &b.hwmon_dir)));
        let mut tally = InputTally::default();
        let mut readings = Vec::new();
        for chip in &chips {
            readings.extend(chip.temps.iter().map(|&i| Reading::TemperatureV1(read_temperature(chip, i, &mut tally))));
            readings.extend(chip.fans.iter().map(|&i| Reading::FanV1(read_fan(chip, i, &mut tally))));
        }
        if tally.answered == 0 {
            let first = tally.errors.first().map(String::as_str).unwrap_or("no error reported");
            return Err(ProbeError::Failed(format!(
                "no se pudo leer ninguna de las {} entradas de temperatura y ventilador ({first})",
                tally.errors.len()
            )));
        }
        out.append(&mut readings);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(celsius: f32) -> TempState {
        TempState { celsius: Some(celsius), ..TempState::default() }
    }

    #[test]
    fn a_temperature_at_or_above_crit_is_critical_and_says_both_values() {
        let v = temperature_verdict(&TempState { max: Some(80.0), crit: Some(95.0), ..temp(98.0) });
        assert_eq!(v.level, Level::Critical);
        assert_eq!(v.reasons, ["temperatura 98.0 °C ≥ crítica 95.0 °C"]);
        let v = temperature_verdict(&TempState { crit: Some(95.0), ..temp(95.0) });
        assert_eq!(v.level, Level::Critical, "at crit is already critical");
    }

    #[test]
    fn a_temperature_at_or_above_max_but_below_crit_is_a_warning() {
        let v = temperature_verdict(&TempState { max: Some(60.0), crit: Some(85.0), ..temp(64.0) });
        assert_eq!(v.level, Level::Warning);
        assert_eq!(v.reasons, ["temperatura 64.0 °C ≥ máxima 60.0 °C"]);
        let v = temperature_verdict(&TempState { max: Some(81.85), crit: Some(84.85), ..temp(83.5) });
        assert_eq!(v.reasons, ["temperatura 83.5 °C ≥ máxima 81.85 °C"], "the limit as the reading carries it");
    }

    #[test]
    fn a_temperature_below_its_limits_is_ok_without_reasons() {
        assert_eq!(temperature_verdict(&TempState { max: Some(80.0), crit: Some(100.0), ..temp(45.0) }), Verdict::ok());
        assert_eq!(temperature_verdict(&temp(150.0)), Verdict::ok(), "no limits, no judgement");
    }

    #[test]
    fn a_chip_alarm_raises_at_least_a_warning_and_a_crit_alarm_is_critical() {
        let v = temperature_verdict(&TempState { alarm: true, max: Some(80.0), ..temp(40.0) });
        assert_eq!(
            (v.level, v.reasons.as_slice()),
            (Level::Warning, &["el chip señala alarma de temperatura".to_string()][..])
        );
        let v = temperature_verdict(&TempState { crit_alarm: true, ..temp(40.0) });
        assert_eq!(v.level, Level::Critical);
        let v = temperature_verdict(&TempState { alarm: true, celsius: None, ..TempState::default() });
        assert_eq!(v.level, Level::Warning, "an alarm counts even without a reading");
    }

    #[test]
    fn a_faulted_temperature_sensor_is_ok_with_a_reason_that_explains_the_missing_value() {
        let v = temperature_verdict(&TempState { fault: true, ..TempState::default() });
        assert_eq!(v.level, Level::Ok);
        assert!(v.reasons[0].contains("sin lectura"), "{v:?}");
    }

    #[test]
    fn a_fan_at_zero_rpm_with_a_minimum_is_a_stopped_fan() {
        let v = fan_verdict(&FanState { rpm: Some(0), min: Some(600), ..FanState::default() });
        assert_eq!(v.level, Level::Critical);
        assert_eq!(v.reasons, ["ventilador detenido: 0 rpm con mínimo de 600 rpm"]);
    }

    #[test]
    fn a_fan_below_its_minimum_is_a_warning() {
        let v = fan_verdict(&FanState { rpm: Some(250), min: Some(300), ..FanState::default() });
        assert_eq!(v.level, Level::Warning);
        assert_eq!(v.reasons, ["ventilador lento: 250 rpm < mínimo 300 rpm"]);
        assert_eq!(fan_verdict(&FanState { rpm: Some(300), min: Some(300), ..FanState::default() }), Verdict::ok());
    }

    #[test]
    fn a_fan_at_zero_rpm_without_a_minimum_is_an_empty_header_and_ok() {
        let v = fan_verdict(&FanState { rpm: Some(0), ..FanState::default() });
        assert_eq!(v.level, Level::Ok);
        assert!(v.reasons[0].contains("conector sin ventilador"), "{v:?}");
        let v = fan_verdict(&FanState { rpm: Some(0), min: Some(0), ..FanState::default() });
        assert_eq!(v.level, Level::Ok, "a minimum of 0 is no minimum, even if a caller passes it");
    }

    #[test]
    fn a_fan_alarm_or_fault_is_a_warning_and_a_spinning_fan_is_ok() {
        assert_eq!(
            fan_verdict(&FanState { rpm: Some(1200), alarm: true, ..FanState::default() }).level,
            Level::Warning
        );
        let v = fan_verdict(&FanState { rpm: None, fault: true, ..FanState::default() });
        assert_eq!((v.level, v.reasons.len()), (Level::Warning, 1), "{v:?}");
        let v = fan_verdict(&FanState { rpm: Some(0), alarm: true, ..FanState::default() });
        assert!(!v.reasons.iter().any(|r| r.contains("conector")), "an alarm is not an empty header: {v:?}");
        assert_eq!(fan_verdict(&FanState { rpm: Some(1205), min: Some(301), ..FanState::default() }), Verdict::ok());
    }

    #[test]
    fn eio_and_enodata_mean_no_value_and_a_missing_file_means_absent() {
        for errno in [Errno::EIO, Errno::ENODATA, Errno::EAGAIN, Errno::ETIMEDOUT] {
            assert_eq!(attr_from_read(Err(io::Error::from_raw_os_error(errno as i32))), Attr::NoValue, "{errno}");
        }
        assert_eq!(attr_from_read(Err(io::ErrorKind::NotFound.into())), Attr::Absent);
        assert!(matches!(attr_from_read(Err(io::Error::from_raw_os_error(Errno::EACCES as i32))), Attr::Unreadable(_)));
        assert!(matches!(attr_from_read(Err(io::Error::from_raw_os_error(Errno::EISDIR as i32))), Attr::Unreadable(_)));
        assert_eq!(attr_from_read(Ok(b"42\n".to_vec())), Attr::Value(b"42\n".to_vec()));
    }

    #[test]
    fn millidegrees_become_degrees_and_absurd_temperatures_are_no_value() {
        assert_eq!(parse_millicelsius(b"45000\n"), Some(45.0));
        assert_eq!(parse_millicelsius(b"86850\n"), Some(86.85));
        assert_eq!(parse_millicelsius(b"-5500\n"), Some(-5.5));
        assert_eq!(parse_millicelsius(b"-128000\n"), None, "an open diode");
        assert_eq!(parse_millicelsius(b"65261850\n"), None, "an unset nvme threshold");
        assert_eq!(parse_millicelsius(b"-273150\n"), None);
        assert_eq!(parse_millicelsius(b"200001"), None);
        assert_eq!(parse_millicelsius(b"4.5e4"), None);
        assert_eq!(parse_millicelsius(b""), None);
        assert_eq!(parse_millicelsius(b"\xff\xfe"), None);
        assert_eq!(parse_millicelsius(b"99999999999999999999999"), None);
    }

    #[test]
    fn a_temperature_limit_at_or_below_zero_is_not_set() {
        assert_eq!(parse_temp_limit(b"0\n"), None);
        assert_eq!(parse_temp_limit(b"-5000\n"), None);
        assert_eq!(parse_temp_limit(b"80000\n"), Some(80.0));
    }

    #[test]
    fn hostile_fan_values_are_no_value_not_zero_and_never_panic() {
        assert_eq!(parse_rpm(b"1205\n"), Some(1205));
        assert_eq!(parse_rpm(b"0\n"), Some(0));
        assert_eq!(parse_rpm(b"-1\n"), None);
        assert_eq!(parse_rpm(b"1350000\n"), None, "a glitched counter");
        assert_eq!(parse_rpm(b"4294967296"), None);
        assert_eq!(parse_rpm(b"fast"), None);
        assert_eq!(parse_fan_min(b"0\n"), None, "0 means not configured");
        assert_eq!(parse_fan_min(b"600\n"), Some(600));
    }

    #[test]
    fn flags_are_zero_or_one_and_anything_else_is_not_a_flag() {
        assert_eq!(parse_flag(b"1\n"), Some(true));
        assert_eq!(parse_flag(b"0\n"), Some(false));
        assert_eq!(parse_flag(b"2\n"), None);
        assert_eq!(parse_flag(b"yes"), None);
    }

    #[test]
    fn labels_are_trimmed_lossy_and_free_of_control_characters() {
        assert_eq!(parse_label(b"Package id 0\n").as_deref(), Some("Package id 0"));
        assert_eq!(parse_label(b"Core\xff 1\n").as_deref(), Some("Core\u{fffd} 1"));
        assert_eq!(parse_label(b"a\x1b[31mb\0c").as_deref(), Some("a [31mb c"));
        assert_eq!(parse_label(b"  \n"), None);
        assert_eq!(parse_label(b""), None);
    }

    #[test]
    fn only_numbered_input_files_are_sensors() {
        assert_eq!(input_index("temp1_input", "temp"), Some(1));
        assert_eq!(input_index("temp12_input", "temp"), Some(12));
        assert_eq!(input_index("fan3_input", "fan"), Some(3));
        assert_eq!(input_index("temp1_max", "temp"), None);
        assert_eq!(input_index("temp_input", "temp"), None);
        assert_eq!(input_index("temp+1_input", "temp"), None);
        assert_eq!(input_index("fan1_input", "temp"), None);
        assert_eq!(input_index("in0_input", "temp"), None);
        assert_eq!(input_index("temp99999999999_input", "temp"), None);
    }

    #[test]
    fn the_device_path_is_the_parent_relative_to_devices_without_hwmon_numbers() {
        let root = Path::new("/sys/devices");
        let hw = Path::new("/sys/devices/platform/coretemp.0/hwmon/hwmon3");
        assert_eq!(device_path(root, Some(Path::new("/sys/devices/platform/coretemp.0")), hw), "platform/coretemp.0");
        assert_eq!(device_path(root, None, hw), "platform/coretemp.0", "no link: the glue directory is skipped");
        let nvme = Path::new("/sys/devices/pci0000:00/0000:00:01.1/0000:01:00.0/nvme/nvme0");
        assert_eq!(device_path(root, None, &nvme.join("hwmon1")), "pci0000:00/0000:00:01.1/0000:01:00.0/nvme/nvme0");
        assert_eq!(device_path(root, None, Path::new("/sys/devices/virtual/hwmon/hwmon0")), "");
        assert_eq!(device_path(root, Some(Path::new("/elsewhere/dev")), hw), "");
    }
}
