//! Probe `filesystems`: every mounted filesystem with its size and free space, read through sysinfo
//! (always the live machine). The recordings partition filling up is a classic Asterisk outage, so
//! nothing real is filtered out; only pseudo filesystems without storage are skipped.

use super::ProbeError;
use crate::host::HostPaths;
use centinela_shared::{FilesystemV1, Reading};
use sysinfo::{DiskRefreshKind, Disks};

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
        let mut seen = std::collections::HashSet::new();
        let before = out.len();
        for d in disks.iter() {
            let fs_type = d.file_system().to_string_lossy().into_owned();
            if SKIPPED_TYPES.contains(&fs_type.as_str()) {
                continue;
            }
            let mount_point = d.mount_point().to_string_lossy().into_owned();
            if !seen.insert(mount_point.clone()) {
                continue;
            }
            out.push(Reading::FilesystemV1(FilesystemV1 {
                mount_point,
                device: d.name().to_string_lossy().into_owned(),
                fs_type,
                total_bytes: d.total_space(),
                available_bytes: d.available_space(),
                read_only: d.is_read_only(),
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
