//! The `raid` probe against real md arrays: the lab VM assembles a RAID1 with `mdadm` at each boot,
//! and `--raid-state` puts it in the state under test (`removed`, `recovering`, `resync`; the
//! degraded state with a failed member is covered in `smart_hwlab.rs`, together with SATA members).

mod lab;

use lab::*;
use serde_json::Value;

/// Boots the lab with `--raid-state state` and returns md0's reading and the raid probe's outcome.
fn md0_in_state(state: &str) -> (Value, Value) {
    let agent = static_agent().to_string_lossy().into_owned();
    let out = hwlab(&["run", "--raid-state", state, "--timeout", "120", "--", &agent, "check", "--json"]);
    let sample = parse("the agent's check --json", &out);
    let md0 = readings(&sample, "RaidArrayV1")
        .into_iter()
        .find(|a| a["name"] == "md0")
        .unwrap_or_else(|| panic!("no md0 in {out}"))
        .clone();
    (md0, probe_outcome(&sample, "raid").clone())
}

fn devices_and_states(md0: &Value) -> Vec<(String, Vec<String>)> {
    md0["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            let states = m["state"].as_array().expect("state").iter().map(|s| s.as_str().unwrap_or("").to_string());
            (m["device"].as_str().unwrap_or("").to_string(), states.collect())
        })
        .collect()
}

#[test]
fn a_raid1_with_its_failed_member_removed_is_critical_and_says_what_is_missing() {
    let (md0, outcome) = md0_in_state("removed");
    assert_eq!(outcome, "Ok");
    assert_eq!(
        (md0["level"].as_str(), md0["raid_disks"].as_u64(), md0["degraded"].as_u64()),
        (Some("raid1"), Some(2), Some(1))
    );
    assert_eq!(devices_and_states(&md0), vec![("vda".to_string(), vec!["in_sync".to_string()])]);
    assert_eq!(md0["from_mdstat"], false, "read from sysfs");
    assert_eq!(md0["verdict"]["level"], "Critical");
    assert_eq!(md0["verdict"]["reasons"][0], "arreglo RAID degradado: falta 1 de 2 miembros");
}

#[test]
fn a_raid1_rebuilding_onto_a_re_added_disk_is_critical_with_its_progress() {
    let (md0, _) = md0_in_state("recovering");
    assert_eq!(md0["sync_action"], "recover");
    assert_eq!(md0["degraded"], 1);
    let members = devices_and_states(&md0);
    assert!(members.contains(&("vdb".to_string(), vec!["spare".to_string()])), "{members:?}");
    let total = md0["sync_completed"][1].as_u64().expect("a sync in progress has a total");
    assert!(total > 0 && md0["sync_completed"][0].as_u64().unwrap_or(u64::MAX) <= total);
    assert_eq!(md0["verdict"]["level"], "Critical");
    let reasons = md0["verdict"]["reasons"].to_string();
    assert!(reasons.contains("reconstruyendo") && reasons.contains("en vdb"), "{reasons}");
}

#[test]
fn a_fresh_raid1_in_its_initial_resync_is_ok_with_its_progress() {
    let (md0, _) = md0_in_state("resync");
    assert_eq!(md0["sync_action"], "resync");
    assert_eq!(md0["degraded"], 0);
    assert_eq!(devices_and_states(&md0).len(), 2);
    assert_eq!(md0["verdict"]["level"], "Ok");
    assert!(md0["verdict"]["reasons"][0].as_str().unwrap_or("").starts_with("sincronización en curso"), "{md0}");
}
