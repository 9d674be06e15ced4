//! The `raid` probe on fixture trees laid out like the kernel's (`tests/fixtures/raid-*/{proc,sys}`),
//! compared with golden outputs (`CENTINELA_BLESS=1` rewrites them), and on hostile trees.

mod support;
use support::fixture;

use centinela_agent::HostPaths;
use centinela_agent::probes::ProbeError;
use centinela_agent::probes::raid::{Raid, parse_mdstat};
use centinela_shared::{Level, RaidArrayV1, Reading};
use std::path::{Path, PathBuf};
use std::process::Command;

const SHAPES: [&str; 6] = [
    "raid-raid1-healthy",
    "raid-raid1-degraded",
    "raid-raid5-recovering",
    "raid-raid6-check",
    "raid-inactive",
    "raid-mdstat-only",
];

fn probe(root: &Path) -> (Result<(), ProbeError>, Vec<Reading>) {
    let mut out = Vec::new();
    let result = Raid::default().collect(&HostPaths::under(root), &mut out);
    (result, out)
}

fn arrays(out: &[Reading]) -> Vec<&RaidArrayV1> {
    out.iter()
        .map(|r| match r {
            Reading::RaidArrayV1(a) => a,
            other => panic!("the raid probe pushed {other:?}"),
        })
        .collect()
}

/// Runs the probe on a fixture, expects success, and compares with (or blesses) its golden file.
fn golden(shape: &str) -> Vec<RaidArrayV1> {
    let (result, out) = probe(&fixture(shape));
    assert_eq!(result, Ok(()), "{shape}");
    support::assert_golden(shape, "raid.golden.json", &out);
    arrays(&out).into_iter().cloned().collect()
}

#[test]
fn a_host_without_md_arrays_is_not_applicable_naming_what_was_looked_for() {
    let (result, out) = probe(&fixture("debian12-vm"));
    let Err(ProbeError::NotApplicable(why)) = result else { panic!("not applicable expected: {result:?}") };
    assert!(why.contains("sys/block/md*/md") && why.contains("proc/mdstat"), "{why}");
    assert!(out.is_empty());
}

#[test]
fn a_healthy_raid1_is_ok_without_reasons() {
    let [a] = golden("raid-raid1-healthy").try_into().unwrap();
    assert_eq!((a.name.as_str(), a.level.as_str(), a.array_state.as_str()), ("md0", "raid1", "clean"));
    assert_eq!((a.raid_disks, a.degraded, a.sync_action.as_str(), a.from_mdstat), (2, 0, "idle", false));
    assert_eq!(
        a.members.iter().map(|m| (m.device.as_str(), m.slot)).collect::<Vec<_>>(),
        [("sda1", Some(0)), ("sdb1", Some(1))]
    );
    assert_eq!((a.verdict.level, a.verdict.reasons.len()), (Level::Ok, 0));
}

#[test]
fn a_failed_member_still_listed_makes_the_raid1_critical() {
    let [a] = golden("raid-raid1-degraded").try_into().unwrap();
    assert_eq!((a.degraded, a.from_mdstat), (1, false));
    let sdb1 = a.members.iter().find(|m| m.device == "sdb1").unwrap();
    assert_eq!((sdb1.slot, sdb1.state.as_slice()), (None, ["faulty".to_string()].as_slice()));
    assert_eq!(a.verdict.level, Level::Critical);
    assert_eq!(a.verdict.reasons, ["arreglo RAID degradado: falta 1 de 2 miembros", "miembro fallido: sdb1"]);
}

#[test]
fn a_recovering_raid5_is_critical_and_says_how_far_the_rebuild_is() {
    let [a] = golden("raid-raid5-recovering").try_into().unwrap();
    assert_eq!(
        (a.sync_action.as_str(), a.sync_completed, a.sync_speed_kib),
        ("recover", Some((1_767_898_616, 3_906_762_752)), Some(151_234))
    );
    assert_eq!(a.verdict.level, Level::Critical);
    assert_eq!(
        a.verdict.reasons,
        ["arreglo RAID degradado: falta 1 de 3 miembros", "reconstruyendo 45.2 % en sdd1 (quedan ~1 h 57 min)"]
    );
}

#[test]
fn a_check_on_a_healthy_raid6_is_ok_and_reports_its_progress() {
    let [a] = golden("raid-raid6-check").try_into().unwrap();
    assert_eq!((a.sync_action.as_str(), a.mismatch_cnt, a.degraded), ("check", Some(0), 0));
    assert_eq!(a.verdict.level, Level::Ok);
    assert_eq!(a.verdict.reasons, ["verificación en curso 23.5 %"]);
}

#[test]
fn an_inactive_array_is_critical_and_names_the_members_present() {
    let [a] = golden("raid-inactive").try_into().unwrap();
    assert_eq!((a.name.as_str(), a.array_state.as_str(), a.level.as_str(), a.raid_disks), ("md127", "inactive", "", 0));
    // No redundancy attributes exist for an array that never started: absent, not failed.
    assert_eq!((a.sync_action.as_str(), a.sync_completed, a.mismatch_cnt), ("", None, None));
    assert_eq!(a.verdict.level, Level::Critical);
    assert_eq!(
        a.verdict.reasons,
        ["arreglo RAID inactivo: el kernel no lo puso en servicio (miembros presentes: sdb)"]
    );
}

#[test]
fn without_sysfs_md_directories_mdstat_is_the_fallback() {
    let [md0, md1] = golden("raid-mdstat-only").try_into().unwrap();
    assert!(md0.from_mdstat && md1.from_mdstat);
    assert_eq!((md0.name.as_str(), md0.degraded, md0.sync_action.as_str()), ("md0", 1, "recover"));
    assert_eq!(md0.verdict.level, Level::Critical);
    assert_eq!(
        md0.verdict.reasons,
        [
            "arreglo RAID degradado: falta 1 de 2 miembros",
            "miembro fallido: sde1",
            "reconstruyendo 12.6 % (quedan ~48 min)",
        ]
    );
    assert_eq!((md1.name.as_str(), md1.level.as_str(), md1.raid_disks), ("md1", "raid10", 4));
    assert_eq!((md1.verdict.level, md1.verdict.reasons.len()), (Level::Ok, 0));
    assert!(md1.members.iter().all(|m| m.state == ["in_sync"]), "{md1:?}");
}

/// Each sysfs fixture's proc/mdstat must tell the same story, as the kernel would print both.
#[test]
fn every_sysfs_fixture_agrees_with_its_own_mdstat() {
    for shape in SHAPES.iter().filter(|s| **s != "raid-mdstat-only") {
        let (_, out) = probe(&fixture(shape));
        let sys = arrays(&out);
        let text = std::fs::read_to_string(fixture(shape).join("proc/mdstat")).unwrap();
        let md: Vec<RaidArrayV1> = parse_mdstat(&text).iter().map(|m| m.to_reading()).collect();
        assert_eq!(sys.len(), md.len(), "{shape}");
        for (s, m) in sys.iter().zip(&md) {
            let names = |a: &RaidArrayV1| {
                let mut v: Vec<_> =
                    a.members.iter().map(|m| (m.device.clone(), m.state.contains(&"faulty".into()))).collect();
                v.sort();
                v
            };
            assert_eq!(
                (&s.name, &s.level, s.raid_disks, s.degraded),
                (&m.name, &m.level, m.raid_disks, m.degraded),
                "{shape}"
            );
            assert_eq!((&s.sync_action, s.sync_speed_kib), (&m.sync_action, m.sync_speed_kib), "{shape}");
            assert_eq!(names(s), names(m), "{shape}");
            assert_eq!(s.verdict.level, m.verdict.level, "{shape}");
            // sysfs reports the completed position, mdstat the issued one: close, never equal by rule.
            if let (Some((sd, st)), Some((md_done, mt))) = (s.sync_completed, m.sync_completed) {
                assert_eq!(st, mt, "{shape}");
                assert!(sd <= md_done && md_done - sd < st / 1000, "{shape}: {sd} vs {md_done}");
            }
        }
    }
}

#[test]
fn check_json_shows_the_degraded_array_reading() {
    let out = Command::new(env!("CARGO_BIN_EXE_centinela-agent"))
        .args(["check", "--json", "--root"])
        .arg(fixture("raid-raid1-degraded"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["body"]["SampleV1"];
    let probes = s["probes"].as_array().unwrap();
    assert!(probes.iter().any(|p| p["probe"] == "raid" && p["outcome"] == "Ok"), "{probes:?}");
    let md0 = s["readings"].as_array().unwrap().iter().find_map(|r| r.get("RaidArrayV1")).expect("a raid reading");
    assert_eq!(md0["name"], "md0");
    assert_eq!(md0["degraded"], 1);
    assert_eq!(md0["verdict"]["level"], "Critical");
    let reasons = md0["verdict"]["reasons"].as_array().unwrap();
    assert!(reasons.iter().any(|r| r == "miembro fallido: sdb1"), "{reasons:?}");
}

// ------------------------------------------------------------------------------------------------
// Hostile trees

/// Copies a fixture (files, directories and symlinks) so a test can damage it.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

fn damaged(shape: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture(shape), dir.path());
    dir
}

fn md(root: &Path, name: &str) -> PathBuf {
    root.join("sys/devices/virtual/block").join(name).join("md")
}

#[test]
fn an_unreadable_array_state_falls_back_to_mdstat() {
    let dir = damaged("raid-raid1-degraded");
    std::fs::write(md(dir.path(), "md0").join("array_state"), b"cl\xff\xfe\x00an\n").unwrap();
    let (result, out) = probe(dir.path());
    assert_eq!(result, Ok(()));
    let [a] = arrays(&out).try_into().unwrap();
    assert!(a.from_mdstat);
    assert_eq!(a.verdict.reasons, ["arreglo RAID degradado: falta 1 de 2 miembros", "miembro fallido: sdb1"]);
}

#[test]
fn a_broken_array_that_mdstat_does_not_list_fails_naming_the_file() {
    let dir = damaged("raid-raid1-healthy");
    std::fs::remove_file(md(dir.path(), "md0").join("dev-sdb1/state")).unwrap();
    std::fs::remove_file(dir.path().join("proc/mdstat")).unwrap();
    let (result, out) = probe(dir.path());
    let Err(ProbeError::Failed(why)) = result else { panic!("failed expected: {result:?}") };
    assert!(why.contains("dev-sdb1/state is missing") && why.contains("does not list md0"), "{why}");
    assert!(out.is_empty());
}

#[test]
fn garbled_attributes_become_none_and_the_probe_reports_them() {
    let dir = damaged("raid-raid6-check");
    let m = md(dir.path(), "md0");
    std::fs::write(m.join("mismatch_cnt"), "99999999999999999999999\n").unwrap();
    std::fs::write(m.join("sync_completed"), "920133144 / \n").unwrap();
    std::fs::write(m.join("sync_speed"), b"\xff\n").unwrap();
    std::fs::write(m.join("dev-sdb1/slot"), "-1\n").unwrap();
    std::fs::write(m.join("raid_disks"), "4294967296\n").unwrap();
    let (result, out) = probe(dir.path());
    let Err(ProbeError::Failed(why)) = result else { panic!("failed expected: {result:?}") };
    for file in ["mismatch_cnt", "sync_completed", "sync_speed", "dev-sdb1/slot", "raid_disks"] {
        assert!(why.contains(&format!("md/{file}: ")), "{file} not reported: {why}");
    }
    // What was read is still reported, without the broken fields.
    let [a] = arrays(&out).try_into().unwrap();
    assert_eq!((a.mismatch_cnt, a.sync_completed, a.sync_speed_kib, a.raid_disks), (None, None, None, 0));
    assert_eq!(a.verdict.reasons, ["verificación en curso (aún sin progreso)"]);
}

#[test]
fn non_utf8_names_fifos_huge_files_and_symlink_loops_neither_panic_nor_hang() {
    use std::os::unix::ffi::OsStrExt;
    let dir = damaged("raid-raid1-healthy");
    let m = md(dir.path(), "md0");
    // A member directory whose name is not UTF-8.
    let odd = m.join(std::ffi::OsStr::from_bytes(b"dev-sd\xffc1"));
    std::fs::create_dir(&odd).unwrap();
    std::fs::write(odd.join("state"), b"spare,\xfe\n").unwrap();
    std::fs::write(odd.join("slot"), "none\n").unwrap();
    // A FIFO where a value should be: opening it would block for ever.
    std::fs::remove_file(m.join("sync_action")).unwrap();
    nix::unistd::mkfifo(&m.join("sync_action"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    // A huge value is read up to the cap, then rejected.
    std::fs::write(m.join("level"), "r".repeat(10 << 20)).unwrap();
    // A symlink loop among the block devices.
    std::os::unix::fs::symlink("md9", dir.path().join("sys/block/md9")).unwrap();
    let (result, out) = probe(dir.path());
    let Err(ProbeError::Failed(why)) = result else { panic!("failed expected: {result:?}") };
    assert!(why.contains("sync_action is not a regular file") && why.contains("md/level: "), "{why}");
    let [a] = arrays(&out).try_into().unwrap();
    assert_eq!(a.name, "md0");
    let odd = a.members.iter().find(|m| m.device.starts_with("sd") && m.device.ends_with("c1")).unwrap();
    assert_eq!(odd.device, "sd\u{fffd}c1");
    assert_eq!(odd.state, ["spare", "\u{fffd}"]);
    assert_eq!(a.verdict.level, Level::Ok, "a hot spare with odd words does not degrade a full mirror");
}

#[test]
fn mdstat_that_cannot_be_read_fails_when_sysfs_shows_no_array() {
    let dir = damaged("raid-mdstat-only");
    let mdstat = dir.path().join("proc/mdstat");
    std::fs::remove_file(&mdstat).unwrap();
    std::fs::create_dir(&mdstat).unwrap();
    let (result, _) = probe(dir.path());
    let Err(ProbeError::Failed(why)) = result else { panic!("failed expected: {result:?}") };
    assert!(why.contains("proc/mdstat is not a regular file"), "{why}");
}

#[test]
fn an_mdstat_listing_no_array_is_not_applicable() {
    let dir = damaged("raid-mdstat-only");
    std::fs::write(dir.path().join("proc/mdstat"), "Personalities : [raid1] \nunused devices: <none>\n").unwrap();
    let (result, out) = probe(dir.path());
    let Err(ProbeError::NotApplicable(why)) = result else { panic!("not applicable expected: {result:?}") };
    assert!(why.contains("no lista ninguno"), "{why}");
    assert!(out.is_empty());
}

#[test]
fn a_truncated_mdstat_fallback_never_panics() {
    let text = std::fs::read(fixture("raid-mdstat-only").join("proc/mdstat")).unwrap();
    let dir = damaged("raid-mdstat-only");
    for cut in 0..text.len() {
        std::fs::write(dir.path().join("proc/mdstat"), &text[..cut]).unwrap();
        let (result, out) = probe(dir.path());
        assert!(matches!(result, Ok(()) | Err(ProbeError::NotApplicable(_))), "cut {cut}: {result:?}");
        assert!(arrays(&out).len() <= 2);
    }
}

#[test]
fn an_array_only_mdstat_knows_is_added_to_the_sysfs_ones() {
    let dir = damaged("raid-raid1-healthy");
    let mdstat = dir.path().join("proc/mdstat");
    let text = std::fs::read_to_string(&mdstat).unwrap().replace(
        "unused devices",
        "md1 : active raid1 sdb2[1] sda2[0]\n      1046528 blocks super 1.2 [2/2] [UU]\n      \n\nunused devices",
    );
    std::fs::write(&mdstat, text).unwrap();
    let (result, out) = probe(dir.path());
    assert_eq!(result, Ok(()));
    let got: Vec<_> = arrays(&out).iter().map(|a| (a.name.clone(), a.from_mdstat)).collect();
    assert_eq!(got, [("md0".to_string(), false), ("md1".to_string(), true)]);
}
