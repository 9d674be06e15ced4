//! The provider's hardware visit in a real browser (Debian's chromium over WebDriver): the UACT
//! chief registers the provider and the contract and generates the plan; the technician fills the
//! maintenance form and signs; the chief stamps it. Screenshots go to `target/ci-artifacts/`.

use centinela_e2e::browser::Browser;
use centinela_e2e::*;
use chrono::{Datelike, Utc};
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
const S: Duration = Duration::from_secs(5);

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ci-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

/// Sets a date input's value as the page's own date picker would (typing into one depends on the
/// browser's locale).
fn set_value(b: &Browser, css: &str, value: &str) {
    b.js("document.querySelector(arguments[0]).value = arguments[1]", vec![css.into(), value.into()]);
}

#[test]
fn the_technician_signs_the_visit_form_and_the_chief_stamps_it_in_a_real_browser() {
    if std::env::var("CENTINELA_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("skipped: CENTINELA_SKIP_BROWSER=1");
        return;
    }
    let tmp = test_dir();
    let root = tmp.path().join("root");
    install_tree("raid-raid1-healthy", &root);
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let _agent = Agent::start_on_root(&tmp.path().join("agent"), "pbx-hw", &broker.url(), "1s", &root);
    wait_until("the server registers", T, || collector.sample_count("pbx-hw") >= 1);
    let chief_otp = collector.add_user("jefe", "jefe_uact");
    let out = collector.cli(&["user", "add", "ana", "--role", "tecnico", "--full-name", "Ana Técnica"]);
    let tech_otp = out.lines().find_map(|l| l.strip_prefix("Contraseña de un solo uso: ")).expect("otp").trim();
    let db = rusqlite::Connection::open_with_flags(
        tmp.path().join("collector/data/centinela.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("db");
    let id_of = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}")) };
    let (tech_id, server_id) = (
        id_of("SELECT id FROM users WHERE username = 'ana'"),
        id_of("SELECT id FROM servers WHERE agent_id = 'pbx-hw'"),
    );
    let base = format!("http://127.0.0.1:{}", collector.http_port);
    let b = Browser::start();
    b.set_window_size(1280, 1600);

    // The chief: provider, contract (1 January this year to the end of the next, every 3 months).
    b.first_login(&base, "jefe", &chief_otp, "jefe-clave-larga-2026");
    b.goto(&format!("{base}/proveedores"));
    b.fill("#nuevo-proveedor input[name=nombre]", "Servicios Técnicos SA");
    b.fill("#nuevo-proveedor input[name=contacto]", "Carlos Méndez");
    b.fill("#nuevo-proveedor input[name=correo]", "soporte@servtec.example");
    b.submit("#nuevo-proveedor");
    let year = Utc::now().year();
    b.fill("#nuevo-contrato input[name=numero]", "MH-UACT-014");
    set_value(&b, "#nuevo-contrato input[name=inicio]", &format!("{year}-01-01"));
    set_value(&b, "#nuevo-contrato input[name=fin]", &format!("{}-12-31", year + 1));
    b.fill("#nuevo-contrato input[name=periodo]", "3");
    b.click(&format!("#nuevo-contrato select[name=servidores] option[value='{server_id}']"));
    b.submit("#nuevo-contrato");
    b.wait_for("tr[data-contract]", S);
    assert!(b.text("tr[data-contract]").contains("pbx-hw"), "the contract covers the server");
    b.screenshot(&artifacts().join("proveedores.png"));

    // Next year's plan, with the technician.
    b.goto(&format!("{base}/mantenimiento"));
    b.fill("#generar-plan input[name=anio]", &(year + 1).to_string());
    b.click(&format!("#generar-plan input[name=tecnicos][value='{tech_id}']"));
    b.submit("#generar-plan");
    let visit = id_of("SELECT id FROM maintenance WHERE kind = 'hardware' ORDER BY scheduled_on, id LIMIT 1");
    let page = format!("{base}/mantenimiento/visitas/{visit}");
    b.goto(&page);
    assert_eq!(b.text("#estado"), "Programada");
    assert!(b.text("#tecnico").contains("Ana Técnica"));
    assert_eq!(b.count("#firmar"), 0, "the chief does not sign for the technician");
    b.click("form[action='/logout'] button");
    b.wait_for("form[action='/login']", S);

    // The technician verifies the provider's work, fills the form and signs.
    b.first_login(&base, "ana", tech_otp, "ana-clave-larga-2026");
    b.goto(&page);
    set_value(&b, "#formato input[name=fecha_visita]", &Utc::now().date_naive().to_string());
    b.fill("#formato input[name=personal]", "Carlos Méndez (Servicios Técnicos SA)");
    b.fill("#formato textarea[name=trabajo]", "Limpieza interna y cambio del ventilador trasero.");
    b.fill("#formato textarea[name=repuestos]", "Ventilador 80 mm, serie FN-20931");
    for key in ["limpieza", "ventiladores", "fuentes", "discos", "temperaturas"] {
        b.click(&format!("#formato input[name=chk_{key}][value=ok]"));
    }
    b.click("#formato input[name=chk_cableado][value=no_aplica]");
    b.fill("#formato textarea[name=verificacion]", "El servidor arranca y el RAID está sincronizado.");
    b.submit("#firmar");
    assert_eq!(b.text("#estado"), "Firmada, espera sello", "{}", b.texts("[role=alert]").join(" "));
    assert_eq!(b.count("form[data-action='stamp']"), 0, "a technician does not stamp");
    assert!(b.text("#historial").contains("Verificada y firmada por el técnico"));
    b.screenshot(&artifacts().join("visita-firmada.png"));
    b.click("form[action='/logout'] button");
    b.wait_for("form[action='/login']", S);

    // The chief stamps: authorized, with a valid stamp and the printable form.
    b.login(&base, "jefe", "jefe-clave-larga-2026");
    b.goto(&page);
    b.submit("form[data-action='stamp']");
    assert_eq!(b.text("#estado"), "Autorizada (sellada)");
    assert!(b.text("#sello-estado").contains("Sello válido"));
    assert!(b.text("#sello").contains("jefe"));
    b.screenshot(&artifacts().join("visita-sellada.png"));
    b.click("#imprimir");
    b.wait_for("#firma", S);
    assert!(b.text("#firma").contains("Ana Técnica"), "the signature line names the technician");
    assert!(b.text("#sello").contains("Sello válido"));
    b.screenshot(&artifacts().join("visita-imprimir.png"));
    let state: String =
        db.query_row("SELECT state FROM maintenance WHERE id = ?1", [visit], |r| r.get(0)).expect("the visit");
    assert_eq!(state, "autorizado");
}
