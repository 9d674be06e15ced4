//! `centinela-agent check` as a technician runs it: the real binary, a fixture tree, bad configs.

use std::process::Command;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/debian12-vm");

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_centinela-agent"))
}

#[test]
fn check_with_a_root_reads_proc_from_the_fixture_tree() {
    let out = agent().args(["check", "--json", "--root", FIXTURE]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["body"]["SampleV1"];
    let host = s["readings"].as_array().unwrap().iter().find_map(|r| r.get("HostV1")).expect("a host reading");
    assert_eq!(host["load1"].as_f64().map(|x| (x * 100.0).round()), Some(123.0));
    assert_eq!(host["uptime_s"], 1828);
    assert_eq!(host["hostname"], "vm");
    assert_eq!(host["mem_total_bytes"], 24_684_084u64 * 1024);
    let probes = s["probes"].as_array().unwrap();
    assert!(probes.iter().any(|p| p["probe"] == "host" && p["outcome"] == "Ok"), "{probes:?}");
    assert_eq!(v["seq"], 0, "evidence samples are not part of the delivered sequence");
}

#[test]
fn check_prints_a_spanish_table_by_default() {
    let out = agent().args(["check", "--root", FIXTURE]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("SONDA") && text.contains("correcto") && text.contains("Carga:         1.23 1.02 0.88"),
        "{text}"
    );
}

#[test]
fn a_bad_config_value_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("agent.toml");
    std::fs::write(&conf, "interval = \"soon\"\n").unwrap();
    let out = agent().arg("check").arg("--config").arg(&conf).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`interval`"), "{err}");
    let out = agent().args(["run", "--config", "/nonexistent/agent.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/agent.toml"));
}

#[test]
fn a_root_that_is_not_a_directory_is_refused() {
    let out = agent().args(["check", "--root", "/nonexistent-root"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
}
