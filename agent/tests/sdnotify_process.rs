//! The real agent binary under a stand-in for systemd's notification socket, with the variables
//! systemd sets for `Type=notify` and `WatchdogSec=`: it says READY=1 once running, pings the
//! watchdog from its loop at half the timeout, and says STOPPING=1 on SIGTERM. (The packaged unit
//! under real systemd is booted by `packaging/test-install`.)

mod ports;

use ports::closed_port;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/debian12-vm");

fn next(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let len = socket.recv(&mut buf).expect("a notification within the read timeout");
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

#[test]
fn the_agent_says_ready_pings_the_watchdog_from_its_loop_and_says_stopping_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // A broker port that refuses: the loop runs and fills the outbox all the same.
    let (_closed, port) = closed_port();
    let conf = dir.path().join("agent.toml");
    std::fs::write(
        &conf,
        format!(
            "id = \"pbx-notify\"\ninterval = \"1s\"\nstate_dir = \"{}/state\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_centinela-agent"))
        .arg("run")
        .arg("--config")
        .arg(&conf)
        .args(["--root", FIXTURE])
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "1000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let ready = next(&socket);
    assert!(ready.starts_with("READY=1\n"), "{ready}");
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(next(&socket), "WATCHDOG=1");
    }
    let took = started.elapsed();
    // Three pings at 0.5 s each: about 1.5 s; a loop that did not ping would have timed out.
    assert!(took >= Duration::from_millis(1200), "pinged every half timeout, not faster: {took:?}");

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let stopping = std::iter::repeat_with(|| next(&socket)).find(|m| m != "WATCHDOG=1").unwrap();
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping}");
    assert!(child.wait().unwrap().success());
}
