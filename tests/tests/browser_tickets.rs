//! The corrective-ticket procedure in a real browser (Debian's chromium over WebDriver): the UACT
//! chief logs in, sees the ticket Centinela opened for a degraded array, assesses and assigns it;
//! the technician logs in, records the contact with the requester and closes it with the solution.

use centinela_e2e::browser::Browser;
use centinela_e2e::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

#[test]
fn the_chief_assigns_and_the_technician_closes_an_automatic_ticket_in_a_real_browser() {
    if std::env::var("CENTINELA_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("skipped: CENTINELA_SKIP_BROWSER=1");
        return;
    }
    let tmp = test_dir();
    let root = tmp.path().join("root");
    install_tree("raid-raid1-degraded", &root);
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let _agent = Agent::start_on_root(&tmp.path().join("agent"), "pbx-renta", &broker.url(), "200ms", &root);
    wait_until("the automatic ticket", T, || !collector.tickets().is_empty());
    let id = collector.tickets()[0].0;

    let chief_otp = collector.add_user("jefe", "jefe_uact");
    let tech_otp = collector.add_user("tecnico.ana", "tecnico");
    let tech_id: i64 = rusqlite::Connection::open(tmp.path().join("collector/data/centinela.db"))
        .expect("db")
        .query_row("SELECT id FROM users WHERE username = 'tecnico.ana'", [], |r| r.get(0))
        .expect("the technician's id");
    let base = format!("http://127.0.0.1:{}", collector.http_port);
    let b = Browser::start();

    // The UACT chief sees the ticket and assesses it.
    b.first_login(&base, "jefe", &chief_otp, "jefe-clave-larga-2026");
    b.goto(&format!("{base}/tickets"));
    b.wait_text(&format!("tr[data-ticket='{id}']"), "generado automáticamente", Duration::from_secs(5));
    b.click(&format!("tr[data-ticket='{id}'] td a"));
    b.wait_for("form[data-action='assign']", Duration::from_secs(5));
    assert!(b.text("h1").contains("md0"), "the ticket says which array");
    assert_eq!(b.text("#estado"), "Solicitado");
    b.click("form[data-action='assign'] select[name=prioridad] option[value='alta']");
    b.click(&format!("form[data-action='assign'] select[name=tecnico] option[value='{tech_id}']"));
    b.fill("form[data-action='assign'] textarea[name=texto]", "Revisar el disco sdb del arreglo md0");
    b.submit("form[data-action='assign']");
    assert_eq!(b.text("#estado"), "Asignado");
    assert_eq!(b.text("#prioridad"), "Alta");
    assert!(b.text("#tecnico").contains("tecnico.ana"));
    assert_eq!(b.count("form[data-action='close']"), 0, "the chief cannot close before the contact");
    b.click("form[action='/logout'] button");
    b.wait_for("form[action='/login']", Duration::from_secs(5));

    // The technician records the contact and closes it with the solution.
    b.first_login(&base, "tecnico.ana", &tech_otp, "ana-clave-larga-2026");
    b.goto(&format!("{base}/tickets/{id}"));
    b.fill("form[data-action='record_contact'] textarea[name=texto]", "Llamé a la jefa del centro a las 10:05");
    b.submit("form[data-action='record_contact']");
    assert_eq!(b.text("#estado"), "En atención");
    b.fill("form[data-action='close'] textarea[name=texto]", "Se reemplazó el disco sdb y se reconstruyó md0");
    b.submit("form[data-action='close']");
    assert_eq!(b.text("#estado"), "Cerrado");
    let history = b.texts("ol.timeline li").join("\n");
    for step in ["Generado automáticamente", "Evaluado y asignado", "Contacto con el solicitante", "Cerrado"] {
        assert!(history.contains(step), "{step} missing from the timeline: {history}");
    }
    let (_, state, _, _) = collector.tickets().into_iter().find(|t| t.0 == id).expect("the ticket");
    assert_eq!(state, "cerrado");
}
