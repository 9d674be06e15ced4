//! Stage 2 in a real browser (Debian's chromium over WebDriver): the UACT chief generates the
//! year's plan; the technician opens a month's software maintenance, presses "Verificar ahora"
//! (a real agent answers through a real Mosquitto), confirms the checklist the evidence
//! pre-filled, and reports; the chief analyses the report. Screenshots go to
//! `target/ci-artifacts/`.

use centinela_e2e::browser::Browser;
use centinela_e2e::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

#[test]
fn a_technician_verifies_now_and_reports_and_the_chief_analyses_in_a_real_browser() {
    if std::env::var("CENTINELA_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("skipped: CENTINELA_SKIP_BROWSER=1");
        return;
    }
    let tmp = test_dir();
    let root = tmp.path().join("root");
    install_tree("raid-raid1-degraded", &root);
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let _agent = Agent::start_on_root(&tmp.path().join("agent"), "pbx-renta", &broker.url(), "1s", &root);
    wait_until("samples", T, || collector.sample_count("pbx-renta") >= 1);
    // The admin places the server in its call center (ids 1: the first dependencia and center).
    let port = collector.http_port;
    for form in [
        "csrf=x&what=dependencia&name=Impuestos+Internos",
        "csrf=x&what=center&dependencia=1&name=Centro+Renta",
        "csrf=x&what=place&server=pbx-renta&center=1",
    ] {
        let (code, body) = http_post_as(port, "/admin/organizacion", collector.token(), form);
        assert_eq!(code, 303, "{form}: {body}");
    }
    let chief_otp = collector.add_user("jefe", "jefe_uact");
    let tech_otp = collector.add_user("tecnico.ana", "tecnico");
    let tech_id: i64 = rusqlite::Connection::open(tmp.path().join("collector/data/centinela.db"))
        .expect("db")
        .query_row("SELECT id FROM users WHERE username = 'tecnico.ana'", [], |r| r.get(0))
        .expect("the technician's id");
    let base = format!("http://127.0.0.1:{}", collector.http_port);
    let year = chrono::Utc::now().format("%Y").to_string();
    let b = Browser::start();

    // The chief generates the plan, choosing the technician.
    b.first_login(&base, "jefe", &chief_otp, "jefe-clave-larga-2026");
    b.goto(&format!("{base}/mantenimiento?anio={year}"));
    b.fill("#generar-plan input[name=anio]", &year);
    b.click(&format!("#generar-plan input[name=tecnicos][value='{tech_id}']"));
    b.submit("#generar-plan");
    b.wait_text("p.notice", "12 mantenimientos de software", Duration::from_secs(10));
    b.screenshot(&ci_artifacts().join("mantenimiento-plan.png"));
    b.click("form[action='/logout'] button");
    b.wait_for("form[action='/login']", Duration::from_secs(5));

    // The technician verifies now: the degraded array comes back as a fault in the checklist.
    b.first_login(&base, "tecnico.ana", &tech_otp, "ana-clave-larga-2026");
    b.goto(&format!("{base}/mantenimiento?anio={year}&mes=1"));
    b.click("table.plan tbody tr td a");
    b.wait_for("#verificar", Duration::from_secs(5));
    assert!(b.text("#tecnico").contains("tecnico.ana"), "the plan assigned her");
    b.submit("#verificar");
    b.wait_for("table.evidence tr[data-evidence]", Duration::from_secs(30));
    assert!(b.text("table.evidence").contains("Respuesta del agente"));
    assert_eq!(b.text("#estado"), "En curso");
    let disks = b.text("tr[data-item='discos_raid']");
    assert!(disks.contains("Falla") && disks.contains("degradado"), "{disks}");
    // Confirm each item as the evidence says; backups by hand, with a note.
    b.click("select[name=marca_respaldos] option[value='ok']");
    b.fill("input[name=nota_respaldos]", "Respaldo nocturno verificado en /var/backups");
    b.fill("input[name=nota_discos_raid]", "md0 degradado: sdb fuera del arreglo");
    b.submit("#lista-form");
    b.wait_for("#informar", Duration::from_secs(5));
    b.fill("#informar textarea[name=resumen]", "Revisión mensual: md0 degradado, resto correcto");
    b.screenshot(&ci_artifacts().join("mantenimiento-software-tecnico.png"));
    b.submit("#informar form");
    b.wait_text("#estado", "Informado al jefe", Duration::from_secs(5));
    let url = b.url();
    b.click("form[action='/logout'] button");
    b.wait_for("form[action='/login']", Duration::from_secs(5));

    // The chief analyses: a fault, with the action; a corrective ticket is linked.
    b.login(&base, "jefe", "jefe-clave-larga-2026");
    b.goto(&url);
    b.click("#analizar input[value='falla']");
    b.fill("#analizar textarea[name=accion]", "Reemplazar sdb y reconstruir md0");
    b.submit("#analizar form");
    b.wait_text("#estado", "Analizado", Duration::from_secs(5));
    assert!(b.text("#analisis").contains("Falla detectada"));
    assert!(b.text("#requerimiento").starts_with('#'), "a linked corrective ticket");
    b.screenshot(&ci_artifacts().join("mantenimiento-software-analizado.png"));
    let tickets = collector.tickets();
    assert!(tickets.iter().any(|t| t.2.contains("mantenimiento preventivo")), "{tickets:?}");
}
