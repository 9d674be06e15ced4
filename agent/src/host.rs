//! Where the host's kernel interfaces live. [`HostPaths`] is the only place `/proc`, `/sys` and
//! `/dev` are spelled; every probe receives it as a value, so fixture trees can stand in for the
//! real machine (`centinela-agent check --root DIR`) and tests can run in parallel.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    pub proc: PathBuf,
    pub sys: PathBuf,
    pub dev: PathBuf,
}

impl HostPaths {
    /// The live machine.
    pub fn live() -> Self {
        Self::under(Path::new("/"))
    }

    /// A tree laid out like `/`, e.g. a fixture with `proc/`, `sys/` and `dev/` inside.
    pub fn under(root: &Path) -> Self {
        Self { proc: root.join("proc"), sys: root.join("sys"), dev: root.join("dev") }
    }

    /// True when this is the running machine (sysinfo readings agree with the files).
    pub fn is_live(&self) -> bool {
        self.proc == Path::new("/proc")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_moves_every_interface_under_it() {
        let p = HostPaths::under(Path::new("/fixtures/degraded"));
        assert_eq!(p.proc, Path::new("/fixtures/degraded/proc"));
        assert_eq!(p.sys, Path::new("/fixtures/degraded/sys"));
        assert_eq!(p.dev, Path::new("/fixtures/degraded/dev"));
        assert!(!p.is_live());
        assert!(HostPaths::live().is_live());
    }
}
