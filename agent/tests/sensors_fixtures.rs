//! Probe `sensors` on sysfs trees laid out like real kernels (`tests/fixtures/sensors-*/sys`), with
//! golden outputs, plus hostile trees built on the fly. `CENTINELA_BLESS=1` rewrites the goldens.

mod support;
use support::fixture;

use centinela_agent::HostPaths;
use centinela_agent::probes::ProbeError;
use centinela_agent::probes::sensors::Sensors;
use centinela_shared::{FanV1, Level, Reading, TemperatureV1};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

fn collect(root: &Path) -> (Result<(), ProbeError>, Vec<Reading>) {
    let mut out = Vec::new();
    let result = Sensors::default().collect(&HostPaths::under(root), &mut out);
    (result, out)
}

fn assert_golden(shape: &str, readings: &[Reading]) {
    support::assert_golden(shape, "sensors.golden.json", readings);
}

fn temps(readings: &[Reading]) -> Vec<&TemperatureV1> {
    readings.iter().filter_map(|r| if let Reading::TemperatureV1(t) = r { Some(t) } else { None }).collect()
}

fn fans(readings: &[Reading]) -> Vec<&FanV1> {
    readings.iter().filter_map(|r| if let Reading::FanV1(f) = r { Some(f) } else { None }).collect()
}

fn write(path: &Path, text: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A one-chip tree at `<root>/sys/devices/platform/<dev>/hwmon/hwmon0` with the given files.
fn one_chip(root: &Path, dev: &str, files: &[(&str, &[u8])]) {
    let hw = root.join("sys/devices/platform").join(dev).join("hwmon/hwmon0");
    std::fs::create_dir_all(&hw).unwrap();
    for (name, text) in files {
        write(&hw.join(name), text);
    }
    symlink(format!("../../../{dev}"), hw.join("device")).unwrap();
    std::fs::create_dir_all(root.join("sys/class/hwmon")).unwrap();
    symlink(format!("../../devices/platform/{dev}/hwmon/hwmon0"), root.join("sys/class/hwmon/hwmon0")).unwrap();
}

#[test]
fn a_coretemp_and_nct6775_host_reads_every_temperature_and_fan_and_matches_its_golden() {
    let (result, readings) = collect(&fixture("sensors-coretemp-nct6775"));
    result.unwrap();
    let t = temps(&readings);
    let labels: Vec<_> = t.iter().map(|t| (t.chip.as_str(), t.label.as_str())).collect();
    assert_eq!(
        labels,
        [
            ("coretemp", "Package id 0"),
            ("coretemp", "Core 0"),
            ("coretemp", "Core 1"),
            ("coretemp", "Core 2"),
            ("coretemp", "Core 3"),
            ("nct6775", "SYSTIN"),
            ("nct6775", "CPUTIN"),
            ("nct6775", "AUXTIN"),
        ]
    );
    assert!(t[..5].iter().all(|t| t.device == "platform/coretemp.0" && t.max == Some(80.0) && t.crit == Some(100.0)));
    assert!(t.iter().all(|t| !t.device.contains("hwmon")), "hwmonN is never part of the identity");
    assert_eq!(t[6].celsius, Some(41.5));
    let auxtin = t[7];
    assert_eq!((auxtin.celsius, auxtin.verdict.level), (None, Level::Ok), "a faulted input has no value, not 96 °C");
    assert!(t.iter().all(|t| t.verdict.level == Level::Ok), "{t:#?}");

    let f = fans(&readings);
    let summary: Vec<_> = f.iter().map(|f| (f.label.as_str(), f.rpm, f.min, f.verdict.level)).collect();
    assert_eq!(
        summary,
        [
            ("fan1", Some(1205), Some(301), Level::Ok),
            ("fan2", Some(0), Some(602), Level::Critical),
            ("fan3", Some(0), None, Level::Ok),
        ]
    );
    assert_eq!(f[1].verdict.reasons[0], "ventilador detenido: 0 rpm con mínimo de 602 rpm");
    assert!(f[2].verdict.reasons[0].contains("conector sin ventilador"));
    assert!(f.iter().all(|f| f.device == "platform/nct6775.656"));
    assert_golden("sensors-coretemp-nct6775", &readings);
}

#[test]
fn a_hot_sata_disk_warns_and_an_nvme_above_crit_is_critical() {
    let (result, readings) = collect(&fixture("sensors-hot-disk"));
    result.unwrap();
    let t = temps(&readings);
    assert_eq!(t.len(), 3);
    let disk = t[0];
    assert_eq!((disk.chip.as_str(), disk.label.as_str()), ("drivetemp", "temp1"), "drivetemp has no label");
    assert_eq!(disk.device, "pci0000:00/0000:00:01.3/0000:03:00.1/ata1/host0/target0:0:0/0:0:0:0");
    assert_eq!((disk.celsius, disk.max, disk.crit), (Some(64.0), Some(60.0), Some(85.0)));
    assert_eq!(disk.verdict.level, Level::Warning);
    assert_eq!(disk.verdict.reasons, ["temperatura 64.0 °C ≥ máxima 60.0 °C"]);

    let composite = t[1];
    assert_eq!((composite.chip.as_str(), composite.label.as_str()), ("nvme", "Composite"));
    assert_eq!(composite.device, "pci0000:00/0000:00:01.1/0000:01:00.0/nvme/nvme0");
    assert_eq!((composite.celsius, composite.crit), (Some(86.85), Some(84.85)));
    assert_eq!(composite.verdict.level, Level::Critical);
    assert!(composite.alarm);
    assert_eq!(composite.verdict.reasons[0], "temperatura 86.85 °C ≥ crítica 84.85 °C");

    let sensor1 = t[2];
    assert_eq!(sensor1.label, "Sensor 1");
    assert_eq!(sensor1.max, None, "the controller's unset threshold reads 65261.85 °C: not a limit");
    assert!(fans(&readings).is_empty());
    assert_golden("sensors-hot-disk", &readings);
}

#[test]
fn an_old_kernel_with_sensor_files_on_the_parent_device_is_read_too() {
    let (result, readings) = collect(&fixture("sensors-old-kernel"));
    result.unwrap();
    let t = temps(&readings);
    let summary: Vec<_> =
        t.iter().map(|t| (t.chip.as_str(), t.device.as_str(), t.label.as_str(), t.verdict.level)).collect();
    assert_eq!(
        summary,
        [
            ("coretemp", "platform/coretemp.0", "Core 0", Level::Ok),
            ("coretemp", "platform/coretemp.1", "Core 1", Level::Warning),
        ]
    );
    assert_golden("sensors-old-kernel", &readings);
}

#[test]
fn an_empty_class_hwmon_is_not_applicable_and_says_what_was_looked_for() {
    let (result, readings) = collect(&fixture("sensors-none"));
    let Err(ProbeError::NotApplicable(why)) = result else { panic!("not applicable expected: {result:?}") };
    assert!(why.contains("class/hwmon"), "{why}");
    assert!(readings.is_empty());
    assert_golden("sensors-none", &readings);
}

#[test]
fn the_captured_debian_vm_without_class_hwmon_is_not_applicable() {
    let (result, readings) = collect(&fixture("debian12-vm"));
    let Err(ProbeError::NotApplicable(why)) = result else { panic!("not applicable expected: {result:?}") };
    assert!(why.contains("class/hwmon"), "{why}");
    assert!(readings.is_empty());
}

#[test]
fn renumbered_hwmon_entries_give_the_same_readings() {
    // Same devices, hwmon numbers swapped and shifted, as after a different module load order.
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().join("sys");
    std::fs::create_dir_all(sys.join("class/hwmon")).unwrap();
    symlink(fixture("sensors-coretemp-nct6775").join("sys/devices"), sys.join("devices")).unwrap();
    symlink("../../devices/platform/nct6775.656/hwmon/hwmon1", sys.join("class/hwmon/hwmon3")).unwrap();
    symlink("../../devices/platform/coretemp.0/hwmon/hwmon0", sys.join("class/hwmon/hwmon7")).unwrap();
    let (result, renumbered) = collect(dir.path());
    result.unwrap();
    assert_eq!(renumbered, collect(&fixture("sensors-coretemp-nct6775")).1);
}

#[test]
fn hostile_sysfs_values_become_no_value_and_lossy_labels_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    one_chip(
        dir.path(),
        "it87.2608",
        &[
            ("name", b"it87\n"),
            ("temp1_input", b"banana\n"),
            ("temp1_label", b"CPU\xff\xfe\n"),
            ("temp2_input", b"250000\n"),
            ("temp2_max", b"-1\n"),
            ("temp3_input", b""),
            ("temp3_crit", b"99999999999999999999999999\n"),
            ("temp3_alarm", b"7\n"),
            ("temp4_input", b"-128000\n"),
            ("temp5_input", b"40000\n"),
            ("temp5_max", b"0\n"),
            ("fan1_input", b"-5\n"),
            ("fan2_input", b"1350000\n"),
            ("fan3_input", b"\0\0\0"),
            ("fan3_min", b"-300\n"),
            ("fan4_input", b"900\n"),
            ("fan4_label", b"\n"),
            ("fan4_min", b"1200\n"),
        ],
    );
    let (result, readings) = collect(dir.path());
    result.unwrap();
    let t = temps(&readings);
    assert_eq!(t.len(), 5);
    assert!(t[..4].iter().all(|t| t.celsius.is_none() && t.max.is_none() && t.crit.is_none()), "{t:#?}");
    assert_eq!(t[0].label, "CPU\u{fffd}\u{fffd}");
    assert!(!t[2].alarm, "7 is not a flag the ABI defines");
    assert_eq!((t[4].celsius, t[4].max, t[4].verdict.level), (Some(40.0), None, Level::Ok), "max 0 is unset");
    let f = fans(&readings);
    assert!(f[..3].iter().all(|f| f.rpm.is_none() && f.min.is_none()), "{f:#?}");
    assert_eq!((f[3].label.as_str(), f[3].verdict.level), ("fan4", Level::Warning), "an empty label falls back");
    assert!(readings.iter().all(|r| match r {
        Reading::TemperatureV1(t) => t.device == "platform/it87.2608",
        Reading::FanV1(f) => f.device == "platform/it87.2608",
        _ => false,
    }));
}

#[test]
fn chips_without_temperature_or_fan_inputs_are_not_applicable_naming_the_chip() {
    let dir = tempfile::tempdir().unwrap();
    one_chip(dir.path(), "ina2xx.0", &[("name", b"ina219\n"), ("in0_input", b"12000\n"), ("power1_input", b"5\n")]);
    let (result, readings) = collect(dir.path());
    let Err(ProbeError::NotApplicable(why)) = result else { panic!("not applicable expected: {result:?}") };
    assert!(why.contains("ina219") && why.contains("temp*_input"), "{why}");
    assert!(readings.is_empty());
}

#[test]
fn inputs_that_exist_but_none_can_be_read_fail_the_probe() {
    // A directory where the attribute should be: reading it fails with EISDIR, even as root.
    let dir = tempfile::tempdir().unwrap();
    one_chip(dir.path(), "coretemp.0", &[("name", b"coretemp\n")]);
    std::fs::create_dir(dir.path().join("sys/devices/platform/coretemp.0/hwmon/hwmon0/temp1_input")).unwrap();
    let (result, readings) = collect(dir.path());
    let Err(ProbeError::Failed(why)) = result else { panic!("failed expected: {result:?}") };
    assert!(why.contains("temp1_input"), "{why}");
    assert!(readings.is_empty(), "nothing was read, so nothing is reported as read");
}

#[test]
fn only_dangling_hwmon_links_fail_the_probe_and_one_good_chip_is_enough() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sys/class/hwmon")).unwrap();
    symlink("../../devices/platform/gone.0/hwmon/hwmon9", dir.path().join("sys/class/hwmon/hwmon9")).unwrap();
    let (result, _) = collect(dir.path());
    let Err(ProbeError::Failed(why)) = result else { panic!("failed expected: {result:?}") };
    assert!(why.contains("hwmon9"), "{why}");

    one_chip(dir.path(), "coretemp.0", &[("name", b"coretemp\n"), ("temp1_input", b"40000\n")]);
    let (result, readings) = collect(dir.path());
    result.unwrap();
    assert_eq!(temps(&readings).len(), 1);
}

#[test]
fn check_json_on_the_fixture_shows_the_stopped_fan_as_critical() {
    let root = fixture("sensors-coretemp-nct6775");
    let out = Command::new(env!("CARGO_BIN_EXE_centinela-agent"))
        .args(["check", "--json", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["body"]["SampleV1"];
    let probes = s["probes"].as_array().unwrap();
    assert!(probes.iter().any(|p| p["probe"] == "sensors" && p["outcome"] == "Ok"), "{probes:?}");
    let stopped = s["readings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r.get("FanV1"))
        .find(|f| f["label"] == "fan2")
        .expect("the stopped fan");
    assert_eq!(stopped["chip"], "nct6775");
    assert_eq!(stopped["device"], "platform/nct6775.656");
    assert_eq!(stopped["rpm"], 0);
    assert_eq!(stopped["min"], 602);
    assert_eq!(stopped["verdict"]["level"], "Critical");
    assert_eq!(stopped["verdict"]["reasons"][0], "ventilador detenido: 0 rpm con mínimo de 602 rpm");
}
