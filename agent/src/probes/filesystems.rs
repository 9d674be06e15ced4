//! Probe `filesystems`: every mounted filesystem with its size and free space, read through sysinfo
//! (always the live machine). The recordings partition filling up is a classic Asterisk outage, so
//! nothing real is filtered out; only pseudo filesystems without storage are skipped.
//!
//! The agent runs in its systemd unit's own mount namespace (`ProtectSystem=strict`, `PrivateTmp`,
//! `StateDirectory`), which remounts every filesystem read-only *for the agent* and adds bind
//! mounts of directories (`/tmp`, `/var/tmp`, `/var/lib/centinela-agent`). So `/proc/self/mountinfo`
//! decides two things: `read_only` is the filesystem's own state (its superblock options: what an
//! `errors=remount-ro` ext4 shows), not the namespace's view of it; and a mount of a directory of a
//! filesystem already visible at another mount point repeats it and is not reported again.

use super::ProbeError;
use crate::host::HostPaths;
use centinela_shared::{FilesystemV1, Reading};
use std::collections::HashMap;
use sysinfo::{DiskRefreshKind, Disks};

/// The live mount table with each mount's filesystem and root (proc(5)), as sysinfo reads the live
/// machine too.
const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Filesystem types that never hold data worth watching (read-only images, kernel views).
const SKIPPED_TYPES: &[&str] = &["squashfs", "devtmpfs", "overlay", "iso9660", "efivarfs", "ramfs"];

pub struct Filesystems {
    disks: Option<Disks>,
}

impl Filesystems {
    pub fn new() -> Self {
        Self { disks: Disks::new().ok() }
    }

    pub fn collect(&mut self, _paths: &HostPaths, out: &mut Vec<Reading>) -> Result<(), ProbeError> {
        let disks = self
            .disks
            .as_mut()
            .ok_or_else(|| ProbeError::Failed("sysinfo no puede listar los montajes (¿está montado /proc?)".into()))?;
        disks.refresh_specifics(true, DiskRefreshKind::nothing().with_storage());
        // Unreadable (no /proc?): sysinfo's own view, as before.
        let view = std::fs::read_to_string(MOUNTINFO).map(|t| mount_view(&parse_mountinfo(&t))).unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        let before = out.len();
        for d in disks.iter() {
            let fs_type = d.file_system().to_string_lossy().into_owned();
            if SKIPPED_TYPES.contains(&fs_type.as_str()) {
                continue;
            }
            let mount_point = d.mount_point().to_string_lossy().into_owned();
            let facts = view.get(&mount_point);
            if facts.is_some_and(|f| f.repeats_another) || !seen.insert(mount_point.clone()) {
                continue;
            }
            out.push(Reading::FilesystemV1(FilesystemV1 {
                mount_point,
                device: d.name().to_string_lossy().into_owned(),
                fs_type,
                total_bytes: d.total_space(),
                available_bytes: d.available_space(),
                read_only: facts.map_or_else(|| d.is_read_only(), |f| f.fs_read_only),
            }));
        }
        if out.len() == before {
            return Err(ProbeError::NotApplicable(
                "no se encontró ningún sistema de archivos montado con almacenamiento".into(),
            ));
        }
        Ok(())
    }
}

impl Default for Filesystems {
    fn default() -> Self {
        Self::new()
    }
}

/// One line of `/proc/self/mountinfo`, as far as this probe needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `major:minor` of the filesystem.
    pub device: String,
    /// The directory of the filesystem mounted here: `/` for a whole filesystem, a subdirectory
    /// for a bind mount (or a btrfs subvolume).
    pub root: String,
    pub mount_point: String,
    /// The filesystem itself is read-only (superblock options), whatever this mount says.
    pub fs_read_only: bool,
}

/// What the mount table says about one visible mount point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountFacts {
    pub fs_read_only: bool,
    /// A directory of a filesystem that is also visible, higher up its tree, at another mount point.
    pub repeats_another: bool,
}

/// Parses `/proc/self/mountinfo` (proc(5)): `id parent major:minor root mount-point options
/// [optional fields...] - fstype source super-options`. Lines that do not fit are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            if sep < 6 {
                return None;
            }
            let super_options = fields.get(sep + 3)?;
            Some(Mount {
                device: fields[2].to_string(),
                root: unescape(fields[3]),
                mount_point: unescape(fields[4]),
                fs_read_only: super_options.split(',').any(|o| o == "ro"),
            })
        })
        .collect()
}

/// The kernel writes space, tab, newline and backslash in paths as `\040`, `\011`, `\012`, `\134`.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The facts of each visible mount point (the last mount listed at a point is the one on top).
pub fn mount_view(mounts: &[Mount]) -> HashMap<String, MountFacts> {
    let mut top: HashMap<&str, &Mount> = HashMap::new();
    for m in mounts {
        top.insert(&m.mount_point, m);
    }
    let within = |dir: &str, path: &str| {
        (dir == "/" && path != "/") || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
    };
    top.iter()
        .map(|(&point, m)| {
            let repeats_another = top
                .values()
                .any(|o| o.mount_point != m.mount_point && o.device == m.device && within(&o.root, &m.root));
            (point.to_string(), MountFacts { fs_read_only: m.fs_read_only, repeats_another })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from the agent's process under its systemd unit (Debian 12, systemd 252) in the
    /// install test's nspawn container, whose own root is a bind mount of a directory: `/` is
    /// read-only for the agent but not on disk; PrivateTmp's `/var/tmp` and StateDirectory's
    /// `/var/lib/centinela-agent` are directories of the same ext4 (some lines left out).
    const SANDBOXED: &str = "\
164 72 254:0 /work/main/target/packaging/root-bookworm / ro,nosuid,relatime shared:22 master:1 - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
165 164 0:39 / /tmp rw,nosuid,nodev shared:23 master:2 - tmpfs tmpfs rw,size=2468368k,nr_inodes=409600
166 164 0:40 / /sys ro,nosuid,nodev,noexec,relatime shared:25 master:3 - tmpfs tmpfs rw,size=4096k,nr_inodes=1024,mode=555
181 164 0:43 / /run rw,nosuid,nodev shared:41 master:6 - tmpfs tmpfs rw,size=4936732k,nr_inodes=819200,mode=755
183 182 254:0 /usr/lib/os-release /run/host/os-release ro,nosuid,nodev,noexec,relatime shared:43 master:7 - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
192 164 0:54 / /proc rw,nosuid,nodev,noexec,relatime shared:51 - proc proc rw,hidepid=invisible
305 165 0:39 /systemd-private-c2cbf067c1fa4a99b5f30815dfa7fa3c-centinela-agent.service-FQNbBo/tmp /tmp rw,nosuid,nodev shared:24 master:2 - tmpfs tmpfs rw,size=2468368k,nr_inodes=409600
306 164 254:0 /work/main/target/packaging/root-bookworm/var/lib/centinela-agent /var/lib/centinela-agent rw,nosuid,relatime shared:60 master:1 - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
307 164 254:0 /work/main/target/packaging/root-bookworm/var/tmp/systemd-private-c2cbf067c1fa4a99b5f30815dfa7fa3c-centinela-agent.service-TvQa0v/tmp /var/tmp rw,nosuid,relatime shared:61 master:1 - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
";

    #[test]
    fn parses_the_root_the_mount_point_and_the_filesystems_own_read_only_state() {
        let mounts = parse_mountinfo(SANDBOXED);
        assert_eq!(mounts.len(), 9);
        assert_eq!(
            mounts[0],
            Mount {
                device: "254:0".into(),
                root: "/work/main/target/packaging/root-bookworm".into(),
                mount_point: "/".into(),
                fs_read_only: false,
            }
        );
        assert_eq!(mounts[3].mount_point, "/run");
        assert!(parse_mountinfo("not a mountinfo line\n\n").is_empty());
    }

    #[test]
    fn the_sandbox_read_only_view_and_its_bind_mounts_do_not_change_what_is_reported() {
        let view = mount_view(&parse_mountinfo(SANDBOXED));
        let facts = |p: &str| view[p];
        assert_eq!(facts("/"), MountFacts { fs_read_only: false, repeats_another: false });
        assert!(facts("/var/tmp").repeats_another);
        assert!(facts("/var/lib/centinela-agent").repeats_another);
        // The private /tmp is mounted over the container's tmpfs /tmp: it is the one visible.
        assert!(!facts("/tmp").repeats_another);
    }

    #[test]
    fn a_filesystem_remounted_read_only_after_errors_is_read_only() {
        let text = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda1 rw,errors=remount-ro
40 27 8:17 / /var/spool/asterisk rw,relatime - ext4 /dev/sdb1 ro,errors=remount-ro
";
        let view = mount_view(&parse_mountinfo(text));
        assert!(!view["/"].fs_read_only);
        assert!(view["/var/spool/asterisk"].fs_read_only);
    }

    #[test]
    fn btrfs_subvolumes_and_a_whole_filesystem_bound_twice_are_each_reported() {
        let text = "\
30 1 0:31 /@ / rw,relatime - btrfs /dev/sda2 rw,subvol=/@
31 30 0:31 /@home /home rw,relatime - btrfs /dev/sda2 rw,subvol=/@home
32 30 8:33 / /srv/grabaciones rw,relatime - ext4 /dev/sdc1 rw
33 30 8:33 / /var/spool/asterisk/monitor rw,relatime - ext4 /dev/sdc1 rw
34 30 8:33 /2026 /mnt/este-anio rw,relatime - ext4 /dev/sdc1 rw
";
        let view = mount_view(&parse_mountinfo(text));
        assert!(!view["/"].repeats_another && !view["/home"].repeats_another);
        assert!(!view["/srv/grabaciones"].repeats_another && !view["/var/spool/asterisk/monitor"].repeats_another);
        assert!(view["/mnt/este-anio"].repeats_another);
    }

    #[test]
    fn escaped_paths_are_read_as_the_kernel_wrote_them() {
        let text = "50 27 8:1 / /mnt/disco\\040externo rw - ext4 /dev/sdd1 rw\n";
        assert_eq!(parse_mountinfo(text)[0].mount_point, "/mnt/disco externo");
        assert_eq!(unescape(r"a\134b\011c\0"), "a\\b\tc\\0");
    }
}
