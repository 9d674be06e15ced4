//! The live pages: a server turns critical on the open fleet view and on its own page, without a
//! reload, when its agent reports a degraded array, through a real Mosquitto; the server-sent event
//! arrives within one sampling interval. Both pages fit a phone's width. Screenshots go to
//! `target/ci-artifacts/` (kept by CI).

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

fn skip_browser() -> bool {
    let skip = std::env::var("CENTINELA_SKIP_BROWSER").as_deref() == Ok("1");
    if skip {
        eprintln!("skipped: CENTINELA_SKIP_BROWSER=1");
    }
    skip
}

#[test]
fn the_server_page_turns_critical_without_a_reload_and_keeps_what_was_typed_in_the_silence_form() {
    if skip_browser() {
        return;
    }
    let tmp = test_dir();
    let root = tmp.path().join("root");
    install_tree("raid-raid1-healthy", &root);
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let mut collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let _agent = Agent::start_on_root(&tmp.path().join("agent"), "pbx-vivo", &broker.url(), "1s", &root);
    wait_until("the first samples", T, || collector.sample_count("pbx-vivo") >= 2);
    let otp = collector.add_user("jefa", "jefe_uact");
    let base = format!("http://127.0.0.1:{}", collector.http_port);
    let b = Browser::start();
    b.first_login(&base, "jefa", &otp, "jefa-clave-larga-2026");
    b.goto(&format!("{base}/server/pbx-vivo"));
    b.wait_text("#live-state", "En vivo · actualizado a las", Duration::from_secs(10));
    assert_ne!(b.text("#salud"), "Crítico", "a healthy array");
    assert_eq!(b.count("meta[http-equiv=refresh]"), 0, "the page does not reload itself");

    // Marks that a reload (or a re-created chart section) would lose, and a reason half typed.
    b.js("window.sinRecargar = 'marca'; window.historial = document.getElementById('historial'); return true", vec![]);
    let motivo = "Cambio de disco programado con el proveedor";
    b.fill("form.silence input[name=motivo]", motivo);

    install_tree("raid-raid1-degraded", &root);
    b.wait_text("#salud", "Crítico", Duration::from_secs(15));
    assert_eq!(b.js("return window.sinRecargar", vec![]), "marca", "no reload: the page changed by itself");
    assert_eq!(
        b.js("return window.historial === document.getElementById('historial')", vec![]),
        true,
        "the charts are not re-created by an update"
    );
    assert_eq!(
        b.js("return document.querySelector('form.silence input[name=motivo]').value", vec![]),
        motivo,
        "the silence form is outside the swapped parts: what was typed stays"
    );
    assert!(b.text("[data-live-part=cabecera] ul.why").contains("degradado"), "the header says why");
    b.wait_text("[data-live-part=lecturas]", "arreglo RAID degradado", Duration::from_secs(5));
    assert!(b.text("#live-state").starts_with("En vivo"), "{}", b.text("#live-state"));
    b.screenshot(&artifacts().join("servidor-vivo-critico.png"));

    // The stream falls silent: the page says it may be out of date.
    collector.proc().kill9();
    b.wait_text("#live-state.stale", "Sin conexión con el colector", Duration::from_secs(10));
    assert!(b.text("#live-state").contains("puede estar desactualizada"));
    b.screenshot(&artifacts().join("servidor-sin-conexion.png"));
}

/// The page's width against the viewport's, and the elements that stick out on the right.
const WIDTH: &str = "const d = document.documentElement;
  const out = Array.from(document.querySelectorAll('body *'))
    .filter((e) => e.getBoundingClientRect().right > d.clientWidth + 0.5)
    .slice(0, 8)
    .map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && e.className.baseVal === undefined ? '.' + e.className.split(' ').join('.') : '') + ' ' + Math.round(e.getBoundingClientRect().right));
  return { scroll: d.scrollWidth, client: d.clientWidth, inner: window.innerWidth, out: out };";

#[test]
fn the_fleet_and_the_server_page_fit_a_phone_without_sideways_scrolling() {
    if skip_browser() {
        return;
    }
    let tmp = test_dir();
    let root = tmp.path().join("root");
    install_tree("raid-raid1-degraded", &root);
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let _agent = Agent::start_on_root(&tmp.path().join("agent"), "pbx-movil", &broker.url(), "1s", &root);
    // A critical server with its problem and its automatic ticket, and history for the charts
    // (rolled up once samples are 30 s old): the longest content these pages have.
    wait_until("the automatic ticket", T, || !collector.tickets().is_empty());
    wait_until("the first history", Duration::from_secs(90), || {
        collector.get("/api/v1/servers/pbx-movil/series").1.contains("outbox_backlog")
    });
    let otp = collector.add_user("jefa", "jefe_uact");
    let base = format!("http://127.0.0.1:{}", collector.http_port);
    let b = Browser::start();
    b.first_login(&base, "jefa", &otp, "jefa-clave-larga-2026");
    b.set_window_size(390, 844);
    for (path, ready, shot) in [
        ("/", "article[data-server='pbx-movil'][data-status='critical']", "flota-telefono.png"),
        (
            "/server/pbx-movil",
            "section#historial[data-rendered='1'] div.chart[data-state='chart'] canvas",
            "servidor-telefono.png",
        ),
    ] {
        b.goto(&format!("{base}{path}"));
        b.wait_for(ready, Duration::from_secs(20));
        b.wait_text("#live-state", "En vivo", Duration::from_secs(10));
        let w = b.js(WIDTH, vec![]);
        assert_eq!(w["inner"], 390, "{path}: {w}");
        assert!(w["scroll"].as_u64() <= w["inner"].as_u64(), "{path} scrolls sideways at 390 px: {w}");
        assert!(w["scroll"].as_u64() <= w["client"].as_u64(), "{path} is wider than its viewport: {w}");
        b.screenshot(&artifacts().join(shot));
    }
    // The whole server page, as one tall screenshot.
    let height = b.js("return document.documentElement.scrollHeight", vec![]).as_u64().unwrap_or(844);
    b.set_window_size(390, height.clamp(844, 8000) as u32);
    b.screenshot(&artifacts().join("servidor-telefono-completo.png"));
    assert!(artifacts().join("servidor-telefono.png").metadata().map(|m| m.len() > 1000).unwrap_or(false));
}
