//! The QEMU hardware lab (`shared/hwlab/`, beside the repository) for the agent's integration
//! tests: the agent built static once per test binary, hwlab runs, and JSON helpers.
//!
//! The agent is built into `target/hwlab`, a target directory of its own so the nested cargo does
//! not wait on the lock of the cargo running the tests. A lab failure (hwlab exit 124 or 125) fails
//! the test with hwlab's stderr; it never passes silently.
#![allow(dead_code)] // each test binary uses part of this module

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const HWLAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/hwlab/hwlab");
const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The agent built as a static-pie binary (the VM has only a few of the host's libraries).
pub fn static_agent() -> &'static Path {
    static AGENT: OnceLock<PathBuf> = OnceLock::new();
    AGENT.get_or_init(|| {
        let target_dir = Path::new(WORKSPACE).join("target/hwlab");
        let cargo = option_env!("CARGO").unwrap_or("cargo");
        let out = Command::new(cargo)
            .current_dir(WORKSPACE)
            .args(["build", "-p", "centinela-agent", "--bin", "centinela-agent", "--target", TARGET])
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env("CARGO_TARGET_DIR", &target_dir)
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .output()
            .expect("cannot run cargo to build the static agent");
        assert!(out.status.success(), "static build failed:\n{}", String::from_utf8_lossy(&out.stderr));
        target_dir.join(TARGET).join("debug/centinela-agent")
    })
}

/// Runs hwlab with `args`; returns its stdout. Lab failures fail the test with hwlab's stderr.
pub fn hwlab(args: &[&str]) -> String {
    assert!(Path::new(HWLAB).is_file(), "the hwlab script is missing at {HWLAB}");
    // `bash` because a copied script may have lost its executable bit.
    let out = Command::new("bash").arg(HWLAB).args(args).output().expect("cannot start bash");
    let code = out.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(code != 124 && code != 125, "hwlab failed (exit {code}):\n{stderr}");
    assert!(code != 127, "hwlab could not run the program (exit 127):\n{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The sample's readings of one kind (`AtaDiskV1`, `NvmeDiskV1`, `RaidArrayV1`).
pub fn readings<'a>(sample: &'a Value, kind: &str) -> Vec<&'a Value> {
    sample["body"]["SampleV1"]["readings"].as_array().expect("readings").iter().filter_map(|r| r.get(kind)).collect()
}

pub fn probe_outcome<'a>(sample: &'a Value, name: &str) -> &'a Value {
    let probes = sample["body"]["SampleV1"]["probes"].as_array().expect("probes");
    &probes.iter().find(|p| p["probe"] == name).unwrap_or_else(|| panic!("no {name} probe: {probes:?}"))["outcome"]
}

pub fn parse(what: &str, text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not JSON ({e}):\n{text}"))
}
