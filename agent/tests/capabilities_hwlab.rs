//! The packaged unit's capabilities are exactly what the `smart` probe needs (issue 9), measured in
//! the hwlab QEMU VM (`shared/hwlab/`, beside the repository): the agent runs as a non-root user in
//! group disk with only the capabilities `AmbientCapabilities=` of
//! `packaging/systemd/centinela-agent.service` names, then with each of them taken away.
//!
//! The VM has no udev, so the script sets the device nodes as Debian's udev does (`/dev/sdX`, `sgN`
//! `root:disk 0660`) and as the package's `60-centinela-nvme.rules` does (`/dev/nvme0`
//! `root:disk 0640`). The host's `setpriv` (util-linux) and its libcap-ng go into the VM.

mod lab;

use lab::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/systemd/centinela-agent.service");

/// The capabilities the unit grants, lowercase without the prefix, as setpriv spells them.
fn unit_capabilities() -> Vec<String> {
    let unit = std::fs::read_to_string(UNIT).expect("the agent's unit file");
    let line =
        unit.lines().find_map(|l| l.strip_prefix("AmbientCapabilities=")).expect("AmbientCapabilities= in the unit");
    line.split_whitespace().map(|c| c.trim_start_matches("CAP_").to_lowercase()).collect()
}

/// setpriv and the libraries it needs that the VM may lack, in one directory for `--file`.
fn setpriv_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hwlab-setpriv");
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::copy("/usr/bin/setpriv", dir.join("setpriv")).expect("setpriv (util-linux) on the host");
    let ldd = Command::new("ldd").arg("/usr/bin/setpriv").output().expect("ldd");
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // "libcap-ng.so.0 => /lib/x86_64-linux-gnu/libcap-ng.so.0 (0x...)"
        if let Some((name, path)) = line.trim().split_once(" => ")
            && let Some(path) = path.split_whitespace().next().filter(|p| p.starts_with('/'))
        {
            std::fs::copy(path, dir.join("lib").join(name)).unwrap();
        }
    }
    dir
}

#[test]
fn the_units_capabilities_read_both_disks_and_each_one_is_needed() {
    let caps = unit_capabilities();
    assert_eq!(caps, ["sys_rawio", "sys_admin"], "the unit's capabilities changed: measure them again here");
    let agent = static_agent().to_string_lossy().into_owned();
    let setpriv = setpriv_dir().to_string_lossy().into_owned();
    let run = |label: &str, caps: &[&str]| {
        let set = caps.iter().map(|c| format!(",+{c}")).collect::<String>();
        format!(
            "echo @@{label}@@; LD_LIBRARY_PATH=/hwlab/files/sp/lib /hwlab/files/sp/setpriv --reuid=999 --regid=999 \
             --groups=6 --no-new-privs --inh-caps=-all{set} --ambient-caps=-all{set} --bounding-set=-all{set} \
             /hwlab/files/centinela-agent check --json; "
        )
    };
    let script = format!(
        "chgrp 6 /dev/sda /dev/sg0 /dev/nvme0; chmod 0660 /dev/sda /dev/sg0; chmod 0640 /dev/nvme0; {}{}{}echo @@END@@",
        run("UNIT", &["sys_rawio", "sys_admin"]),
        run("NO_RAWIO", &["sys_admin"]),
        run("NO_ADMIN", &["sys_rawio"]),
    );
    let out = hwlab(&[
        "shell-cmd",
        "--timeout",
        "150",
        "--file",
        &format!("{agent}:/hwlab/files/centinela-agent"),
        "--file",
        &format!("{setpriv}:/hwlab/files/sp"),
        &script,
    ]);
    let section = |from: &str, to: &str| -> serde_json::Value {
        let start = out.find(from).map(|i| i + from.len()).unwrap_or_else(|| panic!("no {from} in:\n{out}"));
        let end = out[start..].find(to).map_or(out.len(), |i| start + i);
        parse(from, &out[start..end])
    };
    let access = |sample: &serde_json::Value, kind: &str| -> serde_json::Value {
        let disks = readings(sample, kind);
        let [disk] = disks.as_slice() else { panic!("one {kind} expected: {disks:?}") };
        disk["access"].clone()
    };

    let unit = section("@@UNIT@@", "@@NO_RAWIO@@");
    assert_eq!(access(&unit, "AtaDiskV1"), "Read", "SATA with the unit's capabilities");
    assert_eq!(access(&unit, "NvmeDiskV1"), "Read", "NVMe with the unit's capabilities");

    let no_rawio = section("@@NO_RAWIO@@", "@@NO_ADMIN@@");
    let why = access(&no_rawio, "AtaDiskV1")["PermissionDenied"].as_str().map(str::to_owned).unwrap_or_default();
    assert!(why.contains("CAP_SYS_RAWIO") && why.contains("EPERM"), "SATA without CAP_SYS_RAWIO: {why}");
    assert_eq!(access(&no_rawio, "NvmeDiskV1"), "Read");

    let no_admin = section("@@NO_ADMIN@@", "@@END@@");
    assert_eq!(access(&no_admin, "AtaDiskV1"), "Read");
    let why = access(&no_admin, "NvmeDiskV1")["PermissionDenied"].as_str().map(str::to_owned).unwrap_or_default();
    assert!(why.contains("CAP_SYS_ADMIN") && why.contains("EACCES"), "NVMe without CAP_SYS_ADMIN: {why}");
}
