//! Stage 4 in a real browser (Debian's chromium over WebDriver): the UACT chief drafts October
//! 2025's report; the technician recalculates its figures (the charts draw), records the
//! outgoing-call verification, proposes the recording sample, plays a sampled call (the audio
//! element loads the recording from a real agent through a real Mosquitto), scores every call with
//! the scorecard and sends the report; the chief approves it. Screenshots go to
//! `target/ci-artifacts/`.

use centinela_e2e::browser::Browser;
use centinela_e2e::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
const PAGE: Duration = Duration::from_secs(10);

/// One second of a 440 Hz tone, 8 kHz mono 16-bit PCM: what Asterisk's MixMonitor writes.
fn wav() -> Vec<u8> {
    let samples: Vec<i16> =
        (0..8000).map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 8000.0).sin() * 8000.0) as i16).collect();
    let data_len = (samples.len() * 2) as u32;
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        w.extend_from_slice(&s.to_le_bytes());
    }
    w
}

/// Six calls of October 2025 at pbx-renta (four received through the trunk, two made), each with
/// its recording in the agent's recordings directory.
fn seed_calls(db: &std::path::Path, monitor: &std::path::Path) {
    let conn = rusqlite::Connection::open(db).expect("the collector's database");
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let server: i64 = conn.query_row("SELECT id FROM servers WHERE agent_id = 'pbx-renta'", [], |r| r.get(0)).unwrap();
    for i in 0..6 {
        let uniqueid = format!("1759500000.{i}");
        let file = format!("q-{uniqueid}.wav");
        std::fs::write(monitor.join(&file), wav()).unwrap();
        let made = i % 3 == 0;
        let (dcontext, dst, channel, dstchannel, did) = if made {
            ("from-internal", "77001234", "PJSIP/2201-00000001", "PJSIP/carrier-00000001", None)
        } else {
            ("from-trunk", "s", "PJSIP/carrier-00000002", "PJSIP/2201-00000002", Some("22001000"))
        };
        conn.execute(
            "INSERT INTO cdr (server_id, row_key, calldate, clid, src, dst, dcontext, channel, dstchannel, lastapp,
                lastdata, duration, billsec, disposition, amaflags, accountcode, uniqueid, userfield, linkedid, did,
                recordingfile, received_ms)
             VALUES (?1, ?2, ?3, '', '22001000', ?4, ?5, ?6, ?7, 'Dial', '', 70, 60, 'ANSWERED', '', '', ?8, '', ?8,
                     ?9, ?10, 0)",
            rusqlite::params![
                server,
                format!("browser-{i}").into_bytes(),
                format!("2025-10-{:02} {:02}:15:00", 6 + i, 9 + i),
                dst,
                dcontext,
                channel,
                dstchannel,
                uniqueid,
                did,
                file
            ],
        )
        .unwrap();
    }
}

#[test]
fn a_technician_plays_and_scores_the_sample_sends_the_report_and_the_chief_approves_it_in_a_real_browser() {
    if std::env::var("CENTINELA_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("skipped: CENTINELA_SKIP_BROWSER=1");
        return;
    }
    let tmp = test_dir();
    let monitor = tmp.path().join("monitor");
    std::fs::create_dir_all(&monitor).unwrap();
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let recordings = format!("[recordings]\ndir = \"{}\"\n", monitor.display());
    let _agent =
        Agent::start_with_sections(&tmp.path().join("agent"), "pbx-renta", &broker.url(), "1s", "", &recordings);
    wait_until("samples", T, || collector.sample_count("pbx-renta") >= 1);
    let port = collector.http_port;
    for form in [
        "csrf=x&what=dependencia&name=Impuestos+Internos",
        "csrf=x&what=center&dependencia=1&name=Centro+Renta",
        "csrf=x&what=place&server=pbx-renta&center=1",
    ] {
        let (code, body) = http_post_as(port, "/admin/organizacion", collector.token(), form);
        assert_eq!(code, 303, "{form}: {body}");
    }
    seed_calls(&tmp.path().join("collector/data/centinela.db"), &monitor);
    let chief_otp = collector.add_user("jefe", "jefe_uact");
    let tech_otp = collector.add_user("tecnico.ana", "tecnico");
    let base = format!("http://127.0.0.1:{port}");
    let b = Browser::start();

    // The chief drafts October 2025 (the collector drafts the previous month by itself on the 1st).
    b.first_login(&base, "jefe", &chief_otp, "jefe-clave-larga-2026");
    b.goto(&format!("{base}/reportes"));
    b.fill("#generar input[name=anio]", "2025");
    b.click("#generar select[name=mes] option[value='10']");
    b.submit("#generar");
    b.wait_text("#mensaje", "Se generó 1 borrador de octubre 2025", PAGE);
    assert!(b.text("table.reports").contains("vencido"), "due on 03/11/2025");
    b.click("form[action='/logout'] button");
    b.wait_for("form[action='/login']", PAGE);

    // The technician: figures and charts, the outgoing-call verification, the sample.
    b.first_login(&base, "tecnico.ana", &tech_otp, "ana-clave-larga-2026");
    b.goto(&format!("{base}/reportes?anio=2025"));
    b.click("table.reports tbody tr td a");
    b.wait_for("#recalcular", PAGE);
    let report_url = b.url();
    assert!(b.text("#provisional").contains("provisionales"));
    b.submit("#recalcular");
    b.wait_for("#huella", PAGE);
    b.wait_for("#graficos[data-rendered='1']", PAGE);
    assert_eq!(b.attr("[data-chart=dias]", "data-state").as_deref(), Some("chart"));
    assert_eq!(b.count("#graficos canvas"), 2, "two uPlot charts");
    let totals = b.text("#totales");
    assert!(totals.contains("Llamadas\t4\t2") || totals.contains("Llamadas 4 2"), "{totals}");
    b.screenshot(&ci_artifacts().join("reporte-cifras.png"));
    b.js("document.getElementById('graficos').scrollIntoView()", vec![]);
    b.screenshot(&ci_artifacts().join("reporte-graficos.png"));
    b.click("#salientes input[value='ok']");
    b.fill("#salientes textarea[name=notas]", "Llamadas de prueba a fijo y celular por la troncal principal");
    b.submit("#salientes form");
    b.wait_text("#salientes-resultado", "Funciona correctamente", PAGE);
    b.submit("#proponer");
    b.wait_for("#muestra", PAGE);
    assert_eq!(b.count("#muestra tbody tr"), 6, "a month smaller than the sample is taken whole");
    b.screenshot(&ci_artifacts().join("reporte-muestra.png"));

    // Play a sampled call: the recording comes from the agent, through the collector.
    b.click("#muestra tbody tr td a");
    b.wait_for("audio#grabacion", PAGE);
    let src = b.attr("audio#grabacion", "src").expect("the audio element has a src");
    assert!(src.starts_with("/grabaciones/pbx-renta/1759500000."), "{src}");
    let probe = b.js(
        "return fetch(arguments[0], { headers: { Range: 'bytes=0-43' } })
           .then((r) => r.arrayBuffer().then((body) => [r.status, r.headers.get('content-type'), body.byteLength]));",
        vec![src.clone().into()],
    );
    assert_eq!(probe, serde_json::json!([206, "audio/wav", 44]), "the recording route answers with the audio");
    b.js(
        "const a = document.getElementById('grabacion'); a.preload = 'auto'; a.muted = true; a.load();
         a.play().catch(() => {});",
        vec![],
    );
    let deadline = std::time::Instant::now() + T;
    loop {
        let state = b.js("const a = document.getElementById('grabacion'); return [a.readyState, a.duration || 0, a.error ? a.error.code : 0];", vec![]);
        if state[0].as_u64().unwrap_or(0) >= 1 && state[1].as_f64().unwrap_or(0.0) > 0.9 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the browser did not load the recording: {state}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(b.text("#cdr summary").contains("Filas de CDR de esta llamada (1)"));

    // Score every call: the first one with a falta grave, with its observation; each submit moves on.
    let mut scored = 0;
    while b.count("#ficha") == 1 {
        for item in 0..6 {
            b.click(&format!("#ficha input[name=i{item}][value=cumple]"));
        }
        if scored == 0 {
            b.click("#ficha input[name=i6][value=ocurrio]");
            b.fill("#ficha textarea[name=observaciones]", "Indicó al contribuyente un plazo de declaración equivocado");
            b.screenshot(&ci_artifacts().join("reporte-ficha.png"));
        } else {
            b.click("#ficha input[name=i6][value=no_ocurrio]");
        }
        b.submit("#ficha");
        scored += 1;
        assert!(scored <= 6, "more forms than sampled calls");
    }
    assert_eq!(scored, 6);
    b.wait_for("#muestra", PAGE);
    assert_eq!(b.count("#muestra tr[data-scored='1']"), 6);
    assert!(b.text("#muestra").contains("Falta grave"));
    b.screenshot(&ci_artifacts().join("reporte-muestra-evaluada.png"));

    // Send to the chief.
    b.goto(&report_url);
    b.wait_for("#enviar", PAGE);
    assert!(b.text("#calidad-texto").contains("6 llamadas en la muestra, 6 evaluadas"));
    b.submit("#entregar form");
    b.wait_text("#estado", "Enviado al Jefe de UACT", PAGE);
    let url = b.url();
    b.click("form[action='/logout'] button");
    b.wait_for("form[action='/login']", PAGE);

    // The chief approves and remits it to the call center's chief.
    b.login(&base, "jefe", "jefe-clave-larga-2026");
    b.goto(&url);
    b.wait_for("#aprobar", PAGE);
    b.submit("#revision form[data-action=approve]");
    b.wait_text("#estado", "Aprobado y remitido al jefe de centro", PAGE);
    assert!(b.text("#historial").contains("Enviado al Jefe de UACT"));
    b.screenshot(&ci_artifacts().join("reporte-aprobado.png"));
}
