//! "Verificar ahora" end to end: the collector asks one agent, through a real Mosquitto, to run
//! every probe at once, and gets that agent's full sample back; with the agent gone, it gets a
//! timeout after the time it was given.

use centinela_e2e::*;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

/// A technician's API token (maintenance is UACT staff's; the harness's admin may not ask).
fn technician_token(c: &Collector) -> String {
    c.add_user("e2e-tecnico", "tecnico");
    let out = c.cli(&["token", "create", "e2e-tecnico", "--label", "e2e"]);
    out.lines().find(|l| l.starts_with("cnt_")).unwrap_or_else(|| panic!("no token in: {out}")).to_string()
}

/// `POST path` with a JSON body and a bearer token: (status code, parsed JSON body).
fn post_json(port: u16, path: &str, token: &str, body: &str) -> (u16, serde_json::Value) {
    let (code, body) = http_request(port, "POST", path, Some(token), Some(("application/json", body)));
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: not JSON: {body}"));
    (code, json)
}

#[test]
fn verify_now_returns_the_agents_full_sample_through_a_real_broker() {
    let tmp = test_dir();
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    // A long interval: the only periodic sample is the first one, so anything else is the answer.
    let agent = Agent::start(&tmp.path().join("agent"), "pbx-verifica", &broker.url(), "1h");
    wait_until("the first sample", T, || collector.sample_count("pbx-verifica") >= 1);
    let token = technician_token(&collector);

    let asked = Instant::now();
    let (code, v) =
        post_json(collector.http_port, "/api/v1/servers/pbx-verifica/verify", &token, r#"{"timeout_s": 25}"#);
    let took = asked.elapsed();
    assert_eq!(code, 200, "{v}");
    assert!(took < Duration::from_secs(25), "answered within the timeout, in {took:?}");
    assert_eq!(v["server"], "pbx-verifica");

    // Every probe the agent runs reported, and what they read came back.
    let sample = &v["sample"];
    assert_eq!(sample["agent"], "pbx-verifica");
    assert_eq!(sample["seq"], 0, "an on-demand sample is outside the periodic series");
    let body = &sample["body"]["SampleV1"];
    let probes: Vec<&str> =
        body["probes"].as_array().expect("probes").iter().filter_map(|p| p["probe"].as_str()).collect();
    assert_eq!(
        probes,
        ["host", "filesystems", "raid", "sensors", "smart", "asterisk", "database", "admin_app"],
        "every probe, in run order"
    );
    assert_eq!(v["probes"], 8);
    let readings = body["readings"].as_array().expect("readings");
    assert_eq!(v["readings"].as_u64(), Some(readings.len() as u64));
    assert!(readings.iter().any(|r| r.get("HostV1").is_some()), "the host probe's reading is there: {readings:?}");
    assert!(readings.iter().any(|r| r.get("FilesystemV1").is_some()), "and the filesystems': {readings:?}");
    let taken = v["taken_ms"].as_i64().expect("taken_ms");
    assert!((chrono::Utc::now().timestamp_millis() - taken).abs() < 60_000, "taken just now");

    // The answer took no seq and was not stored as a sample.
    assert_eq!(agent.last_seq(), 1, "the periodic numbering is untouched");
    assert_eq!(collector.seqs("pbx-verifica"), vec![1]);
    assert_eq!(collector.rejected(), vec![], "nothing reached the writer");

    // Twice in a row works too (a fresh request id each time).
    let (code, v2) =
        post_json(collector.http_port, "/api/v1/servers/pbx-verifica/verify", &token, r#"{"timeout_s": 25}"#);
    assert_eq!(code, 200, "{v2}");
    assert_ne!(v["request_id"], v2["request_id"]);

    // The harness's admin may not ask: maintenance is UACT staff's.
    let (code, v) = post_json(collector.http_port, "/api/v1/servers/pbx-verifica/verify", collector.token(), "{}");
    assert_eq!(code, 403, "{v}");
}

#[test]
fn verify_now_times_out_when_the_agent_is_stopped() {
    let tmp = test_dir();
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let mut agent = Agent::start(&tmp.path().join("agent"), "pbx-apagado", &broker.url(), "1h");
    wait_until("the first sample", T, || collector.sample_count("pbx-apagado") >= 1);
    assert_eq!(agent.proc().terminate(), Some(0), "the agent exits cleanly on SIGTERM");
    wait_until("the agent to be seen stopped", T, || {
        collector.server_status("pbx-apagado").as_deref() == Some("stopped")
    });
    let token = technician_token(&collector);

    let asked = Instant::now();
    let (code, v) = post_json(collector.http_port, "/api/v1/servers/pbx-apagado/verify", &token, r#"{"timeout_s": 2}"#);
    let took = asked.elapsed();
    assert_eq!(code, 504, "{v}");
    assert_eq!(v["error"], "el agente no respondió en 2 s; revise que el servidor esté en línea y vuelva a intentarlo");
    assert!(took >= Duration::from_secs(2), "it waited the whole timeout ({took:?})");
    assert!(took < Duration::from_secs(10), "and not much longer ({took:?})");
}

#[test]
fn verify_now_through_the_embedded_broker_leaves_the_sample_stream_intact() {
    // rumqttd drops a client that acknowledges out of order, and the agent pairs publishes with
    // PUBACKs by order: replies interleaved with a fast sample stream must disturb neither.
    let tmp = test_dir();
    let (http, mqtt) = (free_port(), free_port());
    let dir = tmp.path().join("collector");
    let conf = format!(
        "data_dir = \"{d}/data\"\n[embedded_broker]\nlisten = \"127.0.0.1:{mqtt}\"\n[http]\nlisten = \"127.0.0.1:{http}\"\n",
        d = dir.display()
    );
    let collector = Collector::start_with(&dir, &conf, http, &[]);
    let mut agent = Agent::start(&tmp.path().join("agent"), "pbx-flujo", &format!("mqtt://127.0.0.1:{mqtt}"), "100ms");
    wait_until("samples flowing", T, || collector.sample_count("pbx-flujo") >= 5);
    let token = technician_token(&collector);

    for _ in 0..5 {
        let (code, v) = post_json(http, "/api/v1/servers/pbx-flujo/verify", &token, r#"{"timeout_s": 20}"#);
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["probes"], 8);
    }
    let before = collector.sample_count("pbx-flujo");
    wait_until("samples still flowing", T, || collector.sample_count("pbx-flujo") >= before + 5);

    assert_eq!(agent.proc().terminate(), Some(0), "the agent exits cleanly on SIGTERM");
    let n = agent.last_seq();
    wait_until("every sample stored", T, || collector.sample_count("pbx-flujo") >= n);
    assert_eq!(agent.backlog(), 0, "every sample was acknowledged");
    assert_exactly_once(&collector.seqs("pbx-flujo"), n);
    assert_eq!(collector.rejected(), vec![]);
    let log = std::fs::read_dir(&dir)
        .expect("collector dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("collector-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    // (It may retry once at start, before the embedded broker listens.)
    assert_eq!(log.matches("ingest connected").count(), 1, "the collector's session never dropped:\n{log}");
}
