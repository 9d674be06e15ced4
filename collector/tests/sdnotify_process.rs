//! The real collector binary under a stand-in for systemd's notification socket, with the variables
//! systemd sets for `Type=notify` and `WatchdogSec=`: READY=1 (with the dashboard's address) once
//! it listens, watchdog pings after round trips through its writer thread, STOPPING=1 on SIGTERM.
//! It uses the machine's Mosquitto (127.0.0.1:1883). The packaged unit under real systemd is booted
//! by `packaging/test-install`.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

fn next(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let len = socket.recv(&mut buf).expect("a notification within the read timeout");
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

#[test]
fn the_collector_says_ready_with_its_dashboard_pings_the_watchdog_and_says_stopping_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let conf = dir.path().join("collector.toml");
    std::fs::write(
        &conf,
        format!(
            "data_dir = \"{}/data\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\nclient_id = \"centinela-sdnotify-{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
            dir.path().display(),
            std::process::id()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_centinela-collector"))
        .arg("serve")
        .arg("--config")
        .arg(&conf)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "1000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let ready = next(&socket);
    assert!(ready.starts_with("READY=1\nSTATUS=recibiendo muestras; panel en http://127.0.0.1:"), "{ready}");
    // The address it names answers: READY comes after the listener, not before.
    let addr = ready.rsplit("http://").next().unwrap().trim_end_matches('/').to_string();
    assert!(std::net::TcpStream::connect(&addr).is_ok(), "{addr}");
    for _ in 0..2 {
        assert_eq!(next(&socket), "WATCHDOG=1");
    }

    let term = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(term.success());
    let stopping = std::iter::repeat_with(|| next(&socket)).find(|m| m != "WATCHDOG=1").unwrap();
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping}");
    assert!(child.wait().unwrap().success());
}
