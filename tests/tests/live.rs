//! The live fleet view: a server turns critical on the open page, without a reload, when its agent
//! reports a degraded array, through a real Mosquitto; the server-sent event arrives within one
//! sampling interval. Screenshots go to `target/ci-artifacts/` (kept by CI).

use centinela_e2e::browser::Browser;
use centinela_e2e::*;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);
/// The agent's sampling interval in these tests.
const INTERVAL: Duration = Duration::from_secs(3);

/// Where screenshots are kept for CI.
pub fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ci-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

#[test]
fn the_event_stream_delivers_a_status_change_within_one_sampling_interval() {
    let tmp = test_dir();
    let root = tmp.path().join("root");
    install_tree("raid-raid1-healthy", &root);
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let _agent = Agent::start_on_root(&tmp.path().join("agent"), "pbx-vivo", &broker.url(), "3s", &root);
    wait_until("the first samples", T, || collector.sample_count("pbx-vivo") >= 1);

    let mut s = std::net::TcpStream::connect(("127.0.0.1", collector.http_port)).expect("connect");
    write!(
        s,
        "GET /eventos/flota HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
        collector.token()
    )
    .expect("request");
    s.set_read_timeout(Some(Duration::from_secs(20))).ok();
    let mut lines = BufReader::new(s).lines();
    let mut next_event = || -> String {
        let mut data = String::new();
        for line in lines.by_ref() {
            let line = line.expect("the stream stays open");
            if line.is_empty() && !data.is_empty() {
                return data;
            }
            if let Some(d) = line.strip_prefix("data:") {
                data.push_str(d.trim_start());
                data.push('\n');
            }
        }
        panic!("the stream ended")
    };
    let first = next_event();
    assert!(first.contains("data-server=\"pbx-vivo\""), "the first event is the whole fleet: {first}");
    assert!(!first.contains("data-status=\"critical\""), "{first}");

    install_tree("raid-raid1-degraded", &root);
    let swapped = Instant::now();
    // The agent's next sample comes within one interval; the event must follow within another.
    let seen = collector.sample_count("pbx-vivo");
    wait_until("the first degraded sample", 2 * INTERVAL, || collector.sample_count("pbx-vivo") > seen);
    let stored = Instant::now();
    loop {
        let event = next_event();
        if event.contains("data-server=\"pbx-vivo\" data-status=\"critical\"") {
            assert!(event.contains("degradado"), "the card says why: {event}");
            break;
        }
        assert!(stored.elapsed() < INTERVAL, "no critical status {:?} after the sample was stored", stored.elapsed());
    }
    assert!(stored.elapsed() <= INTERVAL, "delivered {:?} after the sample was stored", stored.elapsed());
    assert!(swapped.elapsed() <= 2 * INTERVAL + Duration::from_secs(1));
}

#[test]
fn a_server_turns_critical_on_the_open_page_in_a_real_browser() {
    if std::env::var("CENTINELA_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("skipped: CENTINELA_SKIP_BROWSER=1");
        return;
    }
    let tmp = test_dir();
    let root = tmp.path().join("root");
    install_tree("raid-raid1-healthy", &root);
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let _agent = Agent::start_on_root(&tmp.path().join("agent"), "pbx-vivo", &broker.url(), "1s", &root);
    wait_until("the first samples", T, || collector.sample_count("pbx-vivo") >= 2);
    let otp = collector.add_user("jefa", "jefe_uact");
    let base = format!("http://127.0.0.1:{}", collector.http_port);
    let b = Browser::start();
    b.first_login(&base, "jefa", &otp, "jefa-clave-larga-2026");
    b.wait_for("article[data-server='pbx-vivo']", T);
    assert!(!b.html().contains("data-server=\"pbx-vivo\" data-status=\"critical\""));
    b.screenshot(&artifacts().join("flota-correcta.png"));

    install_tree("raid-raid1-degraded", &root);
    let url = b.url();
    b.wait_for("article[data-server='pbx-vivo'][data-status='critical']", Duration::from_secs(10));
    assert_eq!(b.url(), url, "no reload: the page changed by itself");
    assert!(b.html().contains("degradado"), "the card says why");
    b.screenshot(&artifacts().join("flota-critica.png"));
    assert!(artifacts().join("flota-critica.png").metadata().map(|m| m.len() > 1000).unwrap_or(false));

    // The server page's charts, once the rollup job has the first five minutes (it waits 30 s
    // for late samples, then runs every 5 s).
    b.click("article[data-server='pbx-vivo'] h3 a");
    b.wait_for("section#historial", Duration::from_secs(10));
    assert_eq!(b.text("#salud"), "Crítico", "the server page says its health, not only that it reports");
    b.wait_for("#historial div.chart[data-state='chart'] canvas", Duration::from_secs(90));
    b.wait_for("section#historial[data-rendered='1']", Duration::from_secs(10));
    let html = b.html();
    assert!(html.contains("grafico-agente") || html.contains("grafico-sistemas-de-archivos"), "charts are there");
    b.screenshot(&artifacts().join("servidor.png"));
    // The charts themselves, scrolled into view.
    b.goto(&format!("{}#historial", b.url().split('#').next().unwrap_or_default()));
    b.wait_for("section#historial[data-rendered='1'] div.chart[data-state='chart'] canvas", Duration::from_secs(30));
    b.screenshot(&artifacts().join("servidor-graficos.png"));
}
