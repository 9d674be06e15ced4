//! "Verificar ahora" end to end: a technician presses it on a month's software maintenance, the
//! real collector sends the command through a real Mosquitto to a real agent, and the agent's full
//! sample comes back as immutable evidence (its SHA-256 over the stored bytes) that pre-fills the
//! checklist; a degraded array shows up as a fault in the next evidence; and a stopped agent's
//! silence is recorded as a finding.

use centinela_e2e::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn json(collector: &Collector, token: &str, path: &str) -> serde_json::Value {
    let (code, body) = http_get_as(collector.http_port, path, Some(token));
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn line<'a>(v: &'a serde_json::Value, item: &str) -> &'a serde_json::Value {
    v["data"]["lines"].as_array().unwrap().iter().find(|l| l["item"] == item).unwrap_or_else(|| panic!("{item}: {v}"))
}

#[test]
fn verificar_ahora_stores_the_agents_full_sample_as_evidence_and_a_silent_agent_as_a_finding() {
    let tmp = test_dir();
    let root = tmp.path().join("root");
    install_tree("raid-raid1-healthy", &root);
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let mut agent = Agent::start_on_root(&tmp.path().join("agent"), "pbx-mant", &broker.url(), "1s", &root);
    wait_until("samples", T, || collector.sample_count("pbx-mant") >= 2);
    let jefe = collector.user_token("jefe", "jefe_uact");
    let tec = collector.user_token("tec", "tecnico");
    let port = collector.http_port;

    let year = chrono::Utc::now().format("%Y").to_string();
    let (code, body) = http_post_as(port, "/mantenimiento/plan", &jefe, &format!("csrf=x&anio={year}"));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("12 mantenimientos de software"), "{body}");
    let plan = json(&collector, &tec, &format!("/api/v1/maintenance?anio={year}&mes=1"));
    let id = plan["items"][0]["id"].as_i64().unwrap();
    let page = format!("/mantenimiento/{id}");

    let (code, body) = http_post_as(port, &format!("{page}/verificar"), &tec, "csrf=x");
    assert_eq!(code, 303, "{body}");
    let v = json(&collector, &tec, &format!("/api/v1/maintenance/{id}"));
    let ev = &v["evidence"][0];
    assert_eq!(ev["outcome"], "respuesta", "{v}");
    // The stored bytes are a postcard sample of this agent, and the hash is theirs.
    let db = rusqlite::Connection::open_with_flags(
        tmp.path().join("collector/data/centinela.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let (payload, sha): (Vec<u8>, Vec<u8>) = db
        .query_row(
            "SELECT payload, sha256 FROM maintenance_evidence WHERE id = ?1",
            [ev["id"].as_i64().unwrap()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(ev["sha256"], hex);
    let env = centinela_shared::decode_envelope(&payload).expect("the evidence decodes");
    assert_eq!(env.agent, "pbx-mant");
    let centinela_shared::Body::SampleV1(sample) = env.body else { panic!("not a sample") };
    assert!(sample.probes.len() >= 5, "every probe ran: {:?}", sample.probes);
    // The fixture tree has the md array but no disk device nodes: SMART warns, RAID is healthy.
    // Filesystems are always the live machine's (a CI disk may well be 90 % full), so a fault here
    // may only come from a filesystem's usage, never from the array.
    let disks = line(&v, "discos_raid");
    let why: Vec<String> =
        disks["auto"]["why"].as_array().unwrap().iter().map(|w| w.as_str().unwrap().to_owned()).collect();
    assert!(!why.iter().any(|w| w.contains("degradado") || w.contains("md0")), "{disks}");
    if disks["auto"]["mark"] == "falla" {
        assert!(why.iter().any(|w| w.contains("% de uso")), "only a full host filesystem makes it a fault: {disks}");
        let host_usage = |w: &String| w.contains("% de uso") || w.contains("salud del disco");
        assert!(why.iter().all(host_usage), "a fault with a healthy array is the host's disks: {disks}");
    }
    assert_eq!(line(&v, "asterisk")["auto"]["mark"], "no_aplica", "no [asterisk] section on this agent");
    assert_eq!(line(&v, "respaldos")["auto"], serde_json::Value::Null, "the agent does not measure backups");
    let (code, html) = http_get_as(port, &format!("{page}/evidencia/{}", ev["id"]), Some(&tec));
    assert_eq!(code, 200);
    assert!(html.contains("md0") && html.contains(&hex), "the evidence page shows the readings and the hash");

    // The array degrades: the next evidence marks disks as a fault, with the agent's reason.
    install_tree("raid-raid1-degraded", &root);
    let (code, _) = http_post_as(port, &format!("{page}/verificar"), &tec, "csrf=x");
    assert_eq!(code, 303);
    let v = json(&collector, &tec, &format!("/api/v1/maintenance/{id}"));
    let disks = line(&v, "discos_raid");
    assert_eq!(disks["auto"]["mark"], "falla", "{v}");
    assert!(disks["auto"]["why"].to_string().contains("degradado"), "{disks}");
    assert_eq!(v["evidence"].as_array().unwrap().len(), 2, "both kept");

    // The agent stops: "verificar ahora" waits its timeout and records the silence.
    agent.proc().terminate();
    let (code, body) = http_post_as(port, &format!("{page}/verificar"), &tec, "csrf=x");
    assert_eq!(code, 303, "{body}");
    let v = json(&collector, &tec, &format!("/api/v1/maintenance/{id}"));
    assert_eq!(v["evidence"][0]["outcome"], "sin_respuesta", "{v}");
    assert!(v["evidence"][0]["detail"].as_str().unwrap().contains("no respondió"), "{v}");
    let (_, html) = http_get_as(port, &page, Some(&tec));
    assert!(html.contains("El agente no respondió a «verificar ahora»"), "{html}");
}
