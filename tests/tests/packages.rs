//! The Debian packages installed for real (issue 9): `packaging/test-install` builds both .debs,
//! lints them, and installs, boots (systemd-nspawn), upgrades, removes and purges them in throwaway
//! Debian 12 and 13 roots made with debootstrap. It needs root; without root or debootstrap this test
//! says so and passes, and `.ci/run` (root) installs what the script needs.
//!
//! The nested build shares the workspace's target directory with `packaging/build-debs` (Cargo holds no
//! lock on it while tests run), so after a first build only what changed is rebuilt.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn missing_prerequisite() -> Option<String> {
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX);
    if uid != 0 {
        return Some(format!("not root (uid {uid}): chroot, debootstrap and systemd-nspawn need root"));
    }
    for tool in ["debootstrap", "systemd-nspawn", "lintian"] {
        let found = std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
        if !found {
            return Some(format!("{tool} is not installed (.ci/run installs it)"));
        }
    }
    None
}

#[test]
fn packages_install_boot_upgrade_remove_and_purge_on_debian_12_and_13() {
    if let Some(why) = missing_prerequisite() {
        eprintln!("SKIPPED packages_install_boot_upgrade_remove_and_purge_on_debian_12_and_13: {why}");
        return;
    }
    let script = Path::new(WORKSPACE).join("packaging/test-install");
    let out = Command::new("bash")
        .arg(&script)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .output()
        .expect("cannot run bash packaging/test-install");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Every check line, so `cargo test -- --nocapture` shows what was tested and the log keeps it.
    println!("{stdout}");
    assert!(
        out.status.success(),
        "packaging/test-install failed (exit {:?}):\n{stdout}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}
