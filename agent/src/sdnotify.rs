//! systemd's service notification protocol (sd_notify(3)), for the packaged units' `Type=notify`
//! and `WatchdogSec=`: the agent says "READY=1" once the outbox is open and the loop is about to
//! run, "WATCHDOG=1" from that same loop, "STOPPING=1" when it leaves. The collector uses it too
//! (`centinela_collector::serve`), pinging after a round trip through its writer thread.
//!
//! Invariants:
//! - Outside systemd (no `NOTIFY_SOCKET`) every call does nothing; a notification that cannot be
//!   sent is logged once and never stops the agent.
//! - The agent pings the watchdog from its one loop ([`crate::runner`]), never from a task of its
//!   own: a probe or a store that hangs the loop stops the pings, and systemd restarts the agent.
//!   A ping is due every half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3) advises.
//! - `WATCHDOG_PID`, when set, must be this process: a child that inherited the environment does
//!   not ping on its parent's behalf.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Where and how often to tell systemd; `Notify::default()` tells nothing.
#[derive(Debug, Default)]
pub struct Notify {
    target: Option<Target>,
    /// Half the watchdog timeout: how often the loop must ping.
    watchdog_every: Option<Duration>,
    warned: AtomicBool,
}

#[derive(Debug)]
struct Target {
    socket: UnixDatagram,
    addr: SocketAddr,
    shown: String,
}

/// What the environment says, before any socket is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// A path, or an abstract name (`@name` in the variable, without the `@` here).
    pub socket: Option<Socket>,
    pub watchdog_every: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Socket {
    Path(std::path::PathBuf),
    Abstract(Vec<u8>),
}

/// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` as systemd sets them for process
/// `pid`. Anything malformed means "not asked": a unit without the setting behaves the same.
pub fn settings(
    notify_socket: Option<&std::ffi::OsStr>,
    watchdog_usec: Option<&str>,
    watchdog_pid: Option<&str>,
    pid: u32,
) -> Settings {
    use std::os::unix::ffi::OsStrExt;
    let socket = notify_socket.map(|s| s.as_bytes()).filter(|s| !s.is_empty()).and_then(|s| match s {
        [b'@', name @ ..] => Some(Socket::Abstract(name.to_vec())),
        [b'/', ..] => Some(Socket::Path(std::ffi::OsStr::from_bytes(s).into())),
        _ => None,
    });
    let for_us = watchdog_pid.is_none_or(|p| p.trim().parse::<u32>().ok() == Some(pid));
    let watchdog_every = watchdog_usec
        .and_then(|u| u.trim().parse::<u64>().ok())
        .filter(|&u| u > 0 && for_us)
        .map(|u| Duration::from_micros(u / 2));
    let watchdog_every = watchdog_every.filter(|_| socket.is_some());
    Settings { socket, watchdog_every }
}

impl Notify {
    /// From this process's environment, as systemd started it.
    pub fn from_env() -> Notify {
        let s = settings(
            std::env::var_os("NOTIFY_SOCKET").as_deref(),
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
            std::process::id(),
        );
        Notify::new(&s)
    }

    pub fn new(s: &Settings) -> Notify {
        let target = s.socket.as_ref().and_then(|socket| {
            let (addr, shown) = match socket {
                Socket::Path(p) => (SocketAddr::from_pathname(p), p.display().to_string()),
                Socket::Abstract(name) => {
                    use std::os::linux::net::SocketAddrExt;
                    (SocketAddr::from_abstract_name(name), format!("@{}", String::from_utf8_lossy(name)))
                }
            };
            let opened = addr.and_then(|addr| Ok((UnixDatagram::unbound()?, addr)));
            match opened {
                Ok((socket, addr)) => Some(Target { socket, addr, shown }),
                Err(e) => {
                    tracing::warn!(socket = %shown, error = %e, "cannot open systemd's notification socket; not notifying");
                    None
                }
            }
        });
        let watchdog_every = s.watchdog_every.filter(|_| target.is_some());
        Notify { target, watchdog_every, warned: AtomicBool::new(false) }
    }

    /// How often [`Notify::watchdog`] must be called; `None` when systemd watches nothing.
    pub fn watchdog_every(&self) -> Option<Duration> {
        self.watchdog_every
    }

    /// Ready, with the status line `systemctl status` shows (Spanish: the operator reads it).
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    pub fn watchdog(&self) {
        if self.watchdog_every.is_some() {
            self.send("WATCHDOG=1");
        }
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=entregando lo pendiente antes de salir");
    }

    fn send(&self, message: &str) {
        let Some(t) = &self.target else { return };
        if let Err(e) = t.socket.send_to_addr(message.as_bytes(), &t.addr)
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(socket = %t.shown, error = %e, "cannot notify systemd (is NotifyAccess= set for the main process?)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn without_notify_socket_nothing_is_asked_even_with_a_watchdog() {
        assert_eq!(settings(None, Some("120000000"), None, 7), Settings { socket: None, watchdog_every: None });
        assert_eq!(settings(Some(OsStr::new("")), None, None, 7).socket, None);
        assert_eq!(settings(Some(OsStr::new("relative/path")), None, None, 7).socket, None);
    }

    #[test]
    fn the_watchdog_is_pinged_every_half_timeout_and_only_by_the_named_pid() {
        let sock = Some(OsStr::new("/run/systemd/notify"));
        let s = settings(sock, Some("120000000"), Some("7"), 7);
        assert_eq!(s.socket, Some(Socket::Path("/run/systemd/notify".into())));
        assert_eq!(s.watchdog_every, Some(Duration::from_secs(60)));
        assert_eq!(settings(sock, Some("120000000"), None, 7).watchdog_every, Some(Duration::from_secs(60)));
        assert_eq!(settings(sock, Some("120000000"), Some("8"), 7).watchdog_every, None, "another process's");
        for bad in ["0", "-5", "soon", ""] {
            assert_eq!(settings(sock, Some(bad), None, 7).watchdog_every, None, "{bad}");
        }
    }

    #[test]
    fn an_abstract_socket_name_loses_its_at_sign() {
        let s = settings(Some(OsStr::new("@/org/freedesktop/systemd1/notify/123")), None, None, 1);
        assert_eq!(s.socket, Some(Socket::Abstract(b"/org/freedesktop/systemd1/notify/123".to_vec())));
    }

    #[test]
    fn ready_watchdog_and_stopping_reach_a_real_socket_as_systemd_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        listener.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = Notify::new(&settings(Some(path.as_os_str()), Some("10000000"), None, 1));
        assert_eq!(n.watchdog_every(), Some(Duration::from_secs(5)));
        n.ready("tomando muestras");
        n.watchdog();
        n.stopping();
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        for _ in 0..3 {
            let len = listener.recv(&mut buf).unwrap();
            got.push(String::from_utf8(buf[..len].to_vec()).unwrap());
        }
        assert_eq!(got[0].lines().next(), Some("READY=1"));
        assert_eq!(got[1], "WATCHDOG=1");
        assert_eq!(got[2].lines().next(), Some("STOPPING=1"));
    }

    #[test]
    fn an_abstract_socket_is_reached_too() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("centinela-test-{}", std::process::id());
        let listener = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        listener.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let at = format!("@{name}");
        Notify::new(&settings(Some(OsStr::new(&at)), None, None, 1)).ready("tomando muestras");
        let mut buf = [0u8; 64];
        let len = listener.recv(&mut buf).unwrap();
        assert!(buf[..len].starts_with(b"READY=1"));
    }

    #[test]
    fn a_socket_nobody_listens_on_is_no_error_for_the_agent() {
        let dir = tempfile::tempdir().unwrap();
        let n = Notify::new(&settings(Some(dir.path().join("gone").as_os_str()), Some("1000000"), None, 1));
        n.ready("tomando muestras");
        n.watchdog();
        assert!(n.warned.load(Ordering::Relaxed), "the failure was noticed (and logged once)");
    }
}
