//! The quick start: one collector process with its embedded broker and a local agent, plus an agent
//! process on "another server", seen through the JSON API, the Spanish pages and a real browser.

use centinela_e2e::browser::Browser;
use centinela_e2e::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn embedded_collector(dir: &Path) -> (Collector, u16) {
    let (http, mqtt) = (free_port(), free_port());
    let conf = format!(
        "data_dir = \"{d}/data\"\n[embedded_broker]\nlisten = \"127.0.0.1:{mqtt}\"\n[http]\nlisten = \"127.0.0.1:{http}\"\n",
        d = dir.display()
    );
    let c = Collector::start_with(dir, &conf, http, &["--local-agent", "--local-agent-interval", "200ms"]);
    (c, mqtt)
}

fn local_agent_id() -> String {
    centinela_agent::config::hostname()
}

#[test]
fn the_embedded_broker_carries_the_local_agent_and_a_remote_agent_to_the_dashboard() {
    let tmp = test_dir();
    let (mut collector, mqtt_port) = embedded_collector(&tmp.path().join("collector"));
    let mut remote =
        Agent::start(&tmp.path().join("agent"), "pbx-remoto", &format!("mqtt://127.0.0.1:{mqtt_port}"), "200ms");
    let local = local_agent_id();

    wait_until("both servers to report", T, || {
        collector.sample_count(&local) >= 3 && collector.sample_count("pbx-remoto") >= 3
    });

    let (code, body) = collector.get("/api/v1/servers");
    assert_eq!(code, 200);
    let servers: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let remote_row = servers.iter().find(|s| s["id"] == "pbx-remoto").expect("remote server listed");
    assert_eq!(remote_row["status"], "online");
    assert!(remote_row["samples"].as_i64().unwrap() >= 3);
    assert!(remote_row["last_seq"].as_i64().unwrap() >= 3);
    let last_seen = remote_row["last_seen"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(last_seen).is_ok(), "last_seen is RFC 3339: {last_seen}");
    assert!(servers.iter().any(|s| s["id"] == local.as_str()), "the local agent is listed");
    // The retained birth message: version, hostname, probes and the config file's hash.
    assert_eq!(remote_row["agent_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(remote_row["hostname"], centinela_agent::config::hostname());
    let probes: Vec<&str> = centinela_agent::probes::ProbeKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(remote_row["probes"], serde_json::json!(probes));
    let conf = std::fs::read(tmp.path().join("agent/agent.toml")).unwrap();
    assert_eq!(remote_row["config_hash"], centinela_agent::config::sha256_hex(&conf));

    let (code, body) = collector.get("/api/v1/servers/pbx-remoto");
    assert_eq!(code, 200);
    let latest: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(latest["agent"], "pbx-remoto");
    let probes = latest["body"]["SampleV1"]["probes"].as_array().unwrap();
    assert!(probes.iter().any(|p| p["probe"] == "host" && p["outcome"] == "Ok"), "{probes:?}");

    let (code, page) = collector.get("/");
    assert_eq!(code, 200);
    assert!(page.contains("data-server=\"pbx-remoto\""), "{page}");
    assert!(!page.contains("data-server=\"pbx-remoto\" data-status=\"silent\""), "it reports: {page}");
    let (code, page) = collector.get("/server/pbx-remoto");
    assert_eq!(code, 200);
    assert!(page.contains("Sistemas de archivos") && page.contains("Sondas") && page.contains("correcto"), "{page}");
    let (code, page) = collector.get("/server/no-existe");
    assert_eq!(code, 404);
    assert!(page.contains("No se encontró"), "{page}");
    assert_eq!(collector.get("/healthz").0, 200);

    // The remote agent stops cleanly: its retained `stopped` reaches the collector.
    assert_eq!(remote.proc().terminate(), Some(0));
    wait_until("the remote server to show as stopped", T, || {
        collector.server_status("pbx-remoto").as_deref() == Some("stopped")
    });
    let n = remote.last_seq();
    assert_exactly_once(&collector.seqs("pbx-remoto"), n);

    // The collector stops cleanly, and its local agent says so first.
    assert_eq!(collector.proc().terminate(), Some(0));
    assert_eq!(collector.server_status(&local).as_deref(), Some("stopped"));
}

#[test]
fn a_server_that_falls_silent_turns_stale_and_one_that_dies_turns_offline() {
    let tmp = test_dir();
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let mut agent = Agent::start(&tmp.path().join("agent"), "pbx-silencio", &broker.url(), "200ms");
    wait_until("first samples", T, || collector.sample_count("pbx-silencio") >= 2);
    assert_eq!(collector.server_status("pbx-silencio").as_deref(), Some("online"));

    // SIGSTOP: the TCP session stays up, so no Last Will; only the staleness timer can notice.
    nix::sys::signal::kill(agent.proc().pid(), nix::sys::signal::Signal::SIGSTOP).unwrap();
    wait_until("the silent server to turn stale", T, || {
        collector.server_status("pbx-silencio").as_deref() == Some("stale")
    });
    nix::sys::signal::kill(agent.proc().pid(), nix::sys::signal::Signal::SIGCONT).unwrap();
    wait_until("the server to come back online", T, || {
        collector.server_status("pbx-silencio").as_deref() == Some("online")
    });

    // SIGKILL: the broker publishes the Last Will.
    agent.proc().kill9();
    wait_until("the Last Will to mark the server offline", Duration::from_secs(90), || {
        collector.server_status("pbx-silencio").as_deref() == Some("offline")
    });
    let (_, page) = collector.get("/");
    assert!(page.contains("data-status=\"silent\"") && page.contains("el agente se desconectó"), "{page}");
}

/// `CENTINELA_SKIP_BROWSER=1` skips the real-browser tests (a machine without Chromium).
fn skip_browser() -> bool {
    let skip = std::env::var("CENTINELA_SKIP_BROWSER").as_deref() == Ok("1");
    if skip {
        eprintln!("skipped: CENTINELA_SKIP_BROWSER=1");
    }
    skip
}

/// What the people in these tests choose when their one-time password is used up.
const NEW_PASSWORD: &str = "faro-del-sur-2025";

#[test]
fn the_dashboard_renders_in_a_real_browser_with_local_times() {
    if skip_browser() {
        return;
    }
    let tmp = test_dir();
    let (collector, _) = embedded_collector(&tmp.path().join("collector"));
    let local = local_agent_id();
    wait_until("the local agent to report", T, || collector.sample_count(&local) >= 2);
    let one_time = collector.add_user("jefa", "jefe_uact");
    let base = format!("http://127.0.0.1:{}", collector.http_port);

    let browser = Browser::start();
    browser.first_login(&base, "jefa", &one_time, NEW_PASSWORD);
    assert_eq!(browser.path(), "/", "after the forced change the dashboard opens");
    assert_eq!(browser.text("header .who"), "jefa · Jefe de UACT");
    let card = format!("article[data-server=\"{local}\"]");
    browser.wait_for(&card, T);
    // Read the whole DOM at once: the live stream may replace the cards between two commands.
    let html = browser.html();
    assert!(html.contains(&format!("data-server=\"{local}\" data-status=\"")), "{html}");
    assert!(!html.contains(&format!("data-server=\"{local}\" data-status=\"silent\"")), "it reports: {html}");
    assert!(browser.text("#live-state").contains("En vivo"), "the live stream is connected");
    // app.js ran: every <time> now reads as a local time with a relative hint.
    wait_until("every <time> to read as a local time", T, || {
        let times = browser.texts("time");
        !times.is_empty() && times.iter().all(|t| t.contains("(hace "))
    });
}

#[test]
fn a_wrong_password_is_refused_and_logging_out_closes_the_dashboard() {
    if skip_browser() {
        return;
    }
    let tmp = test_dir();
    let (collector, _) = embedded_collector(&tmp.path().join("collector"));
    let one_time = collector.add_user("jefa", "jefe_uact");
    let base = format!("http://127.0.0.1:{}", collector.http_port);
    let browser = Browser::start();

    // Without a session the dashboard sends the browser to the login form.
    browser.goto(&format!("{base}/"));
    assert_eq!(browser.path(), "/login");
    browser.fill("input[name=username]", "jefa");
    browser.fill("input[name=password]", "no-es-la-clave");
    browser.submit("form[action='/login']");
    assert_eq!(browser.path(), "/login");
    assert_eq!(browser.text("[role=alert]"), "Usuario o contraseña incorrectos.");
    assert_eq!(browser.count("table.fleet, nav.me"), 0, "no dashboard without a login: {}", browser.html());

    browser.first_login(&base, "jefa", &one_time, NEW_PASSWORD);
    assert_eq!(browser.path(), "/");
    assert_eq!(browser.text("h1"), "Servidores de los centros telefónicos");

    let logout = "nav.me form[action='/logout'] button";
    assert_eq!(browser.text(logout), "Salir");
    browser.submit(logout);
    assert_eq!(browser.path(), "/login", "Salir returns to the login page");
    assert_eq!(browser.text("h1"), "Iniciar sesión");
    browser.goto(&format!("{base}/"));
    assert_eq!(browser.path(), "/login", "the session ended with the logout");
    assert_eq!(browser.count("nav.me"), 0);
}

#[test]
fn a_taken_broker_port_is_reported_with_the_way_out() {
    let tmp = test_dir();
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let dir = tmp.path().join("collector");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("collector.toml");
    std::fs::write(
        &conf,
        format!(
            "data_dir = \"{}/data\"\n[embedded_broker]\nlisten = \"127.0.0.1:{port}\"\n[http]\nlisten = \"127.0.0.1:{}\"\n",
            dir.display(),
            free_port()
        ),
    )
    .unwrap();
    let out = Command::new(collector_bin()).args(["serve", "--config"]).arg(&conf).output().unwrap();
    assert!(!out.status.success(), "the collector must not start without its broker");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")) && err.contains("[mqtt] url"), "{err}");
}
