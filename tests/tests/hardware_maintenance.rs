//! Stage 3, the provider's hardware maintenance, end to end over real HTTP with sessions and CSRF
//! tokens: the UACT chief registers a provider and a contract and generates the plan; the
//! technician verifies and signs the visit's form; the chief sends observations, the technician
//! corrects and signs again, the chief stamps; an edit after the stamp invalidates it. And the visit
//! window silences a real agent's degraded RAID array until it ends.

use centinela_e2e::*;
use chrono::{Datelike, Duration as Days, Utc};
use rusqlite::{Connection, OpenFlags};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
const AGENT: &str = "pbx-hw";
const PROVIDER_MAIL: &str = "soporte@servtec.example";

/// `application/x-www-form-urlencoded` of the pairs.
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

/// One HTTP/1.0 exchange: (status, headers, body).
fn exchange(port: u16, method: &str, path: &str, cookie: Option<&str>, body: Option<&str>) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the collector");
    s.set_read_timeout(Some(Duration::from_secs(20))).ok();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: {c}\r\n"));
    }
    match body {
        Some(b) => req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        )),
        None => req.push_str("\r\n"),
    }
    s.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_lowercase(), v.trim().into())).collect();
    Reply { status, headers, body: body.to_string() }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The CSRF token in a page's forms.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap_or_else(|| panic!("no csrf field in: {html}"));
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').expect("closing quote")].to_string()
}

/// A person logged in through the login form, with their session cookie.
struct Session {
    port: u16,
    cookie: String,
    name: String,
}

impl Session {
    /// Logs in with the one-time password the CLI printed and sets a real one.
    fn first_login(port: u16, name: &str, otp: &str) -> Session {
        let r = exchange(port, "POST", "/login", None, Some(&form(&[("username", name), ("password", otp)])));
        assert_eq!(r.status, 303, "login of {name}: {}", r.body);
        let cookie = r.header("set-cookie").expect("a session cookie").split(';').next().expect("pair").to_string();
        let s = Session { port, cookie, name: name.to_string() };
        let csrf = csrf_of(&s.get("/cuenta/contrasena").body);
        let new = format!("{name}-clave-larga-2026");
        let r = s.post_raw(
            "/cuenta/contrasena",
            &form(&[("csrf", &csrf), ("current", otp), ("new", &new), ("confirm", &new)]),
        );
        assert_eq!(r.status, 303, "password change of {name}: {}", r.body);
        s
    }

    fn get(&self, path: &str) -> Reply {
        exchange(self.port, "GET", path, Some(&self.cookie), None)
    }

    fn post_raw(&self, path: &str, body: &str) -> Reply {
        exchange(self.port, "POST", path, Some(&self.cookie), Some(body))
    }

    /// Posts a form from `page` (whose CSRF token it sends along) to `path`.
    fn post(&self, page: &str, path: &str, pairs: &[(&str, &str)]) -> Reply {
        let page = self.get(page);
        assert_eq!(page.status, 200, "{} opens {}: {}", self.name, path, page.body);
        let csrf = csrf_of(&page.body);
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(pairs);
        self.post_raw(path, &form(&all))
    }
}

/// A collector in UTC (so the test writes window times as the collector reads them) that queues
/// email to a loopback port where nothing listens (the rows stay in the queue, which is enough).
fn collector(dir: &std::path::Path, broker_url: &str) -> Collector {
    let http_port = free_port();
    let conf = format!(
        "data_dir = \"{d}/data\"\n[mqtt]\nurl = \"{broker_url}\"\nclient_id = \"centinela-collector-e2e\"\n\
         [http]\nlisten = \"127.0.0.1:{http_port}\"\n[calendar]\ntime_zone = \"UTC\"\n\
         [notify.email]\nhost = \"127.0.0.1\"\nport = {smtp}\nsecurity = \"none\"\nfrom = \"Centinela UACT <centinela@uact.example>\"\n",
        d = dir.display(),
        smtp = free_port()
    );
    Collector::start_with(dir, &conf, http_port, &[])
}

fn db(c: &Collector) -> Connection {
    Connection::open_with_flags(c.dir.join("data/centinela.db"), OpenFlags::SQLITE_OPEN_READ_ONLY).expect("db")
}

fn one<T: rusqlite::types::FromSql>(c: &Collector, sql: &str) -> T {
    db(c).query_row(sql, [], |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The UACT chief's setup: a provider, a contract covering the agent's server from 1 January of
/// this year to the end of the next, and next year's plan with `technician` (so every visit and its
/// window are in the future). Returns the first visit's id.
fn provider_contract_and_plan(c: &Collector, chief: &Session, technician: i64) -> i64 {
    let year = Utc::now().year();
    let r = chief.post(
        "/proveedores",
        "/proveedores",
        &[
            ("nombre", "Servicios Técnicos SA"),
            ("contacto", "Carlos Méndez"),
            ("telefono", "2222-0000"),
            ("correo", PROVIDER_MAIL),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let provider: i64 = one(c, "SELECT id FROM providers");
    let server: i64 = one(c, &format!("SELECT id FROM servers WHERE agent_id = '{AGENT}'"));
    let (provider, server) = (provider.to_string(), server.to_string());
    let (start, end) = (format!("{year}-01-01"), format!("{}-12-31", year + 1));
    let contract = |period: &'static str| {
        vec![
            ("proveedor", provider.as_str()),
            ("numero", "MH-UACT-014"),
            ("inicio", start.as_str()),
            ("fin", end.as_str()),
            ("periodo", period),
            ("servidores", server.as_str()),
            ("notas", "Incluye repuestos"),
        ]
    };
    let r = chief.post("/proveedores", "/proveedores/contratos", &contract("30"));
    assert_eq!(r.status, 422, "a period of 30 months is refused");
    assert!(r.body.contains("de 1 a 24 meses"), "the message names the fix: {}", r.body);
    let r = chief.post("/proveedores", "/proveedores/contratos", &contract("3"));
    assert_eq!(r.status, 303, "{}", r.body);
    let page = chief.get("/proveedores").body;
    assert!(page.contains("MH-UACT-014") && page.contains(AGENT), "{page}");

    let next = (year + 1).to_string();
    let r =
        chief.post("/mantenimiento", "/mantenimiento/plan", &[("anio", &next), ("tecnicos", &technician.to_string())]);
    assert!(r.status == 200 || r.status == 303, "the plan is generated: {} {}", r.status, r.body);
    one(c, "SELECT id FROM maintenance WHERE kind = 'hardware' ORDER BY scheduled_on, id LIMIT 1")
}

fn user_id(c: &Collector, name: &str) -> i64 {
    one(c, &format!("SELECT id FROM users WHERE username = '{name}'"))
}

fn state_of(c: &Collector, visit: i64) -> String {
    one(c, &format!("SELECT state FROM maintenance WHERE id = {visit}"))
}

/// The visit form, filled as the technician does.
fn filled<'a>(accion: &'a str, today: &'a str, parts: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("accion", accion),
        ("formato", "1"),
        ("fecha_visita", today),
        ("personal", "Carlos Méndez y Luis Rivas (Servicios Técnicos SA)"),
        ("trabajo", "Limpieza interna, cambio del ventilador trasero, revisión de fuentes."),
        ("repuestos", parts),
        ("chk_limpieza", "ok"),
        ("chk_ventiladores", "ok"),
        ("chk_fuentes", "ok"),
        ("chk_discos", "ok"),
        ("chk_temperaturas", "ok"),
        ("chk_cableado", "no_aplica"),
        ("verificacion", "El servidor arranca, el RAID está sincronizado y las temperaturas son normales."),
    ]
}

#[test]
fn the_visit_goes_through_signature_observations_resubmission_and_stamp_and_an_edit_voids_the_stamp() {
    let tmp = test_dir();
    let root = tmp.path().join("root");
    install_tree("raid-raid1-healthy", &root);
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let c = collector(&tmp.path().join("collector"), &broker.url());
    let _agent = Agent::start_on_root(&tmp.path().join("agent"), AGENT, &broker.url(), "1s", &root);
    wait_until("the server registers", T, || c.sample_count(AGENT) >= 1);

    // The organisation: the server in "Centro Renta"; another center, "Centro Aduanas".
    let admin = Session::first_login(c.http_port, "admin.e2e", &c.add_user("admin.e2e", "admin"));
    let r = admin.post(
        "/admin/organizacion",
        "/admin/organizacion",
        &[("what", "dependencia"), ("name", "Ministerio de Hacienda")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let dep: i64 = one(&c, "SELECT id FROM dependencias");
    for name in ["Centro Renta", "Centro Aduanas"] {
        let r = admin.post(
            "/admin/organizacion",
            "/admin/organizacion",
            &[("what", "center"), ("dependencia", &dep.to_string()), ("name", name)],
        );
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let renta: i64 = one(&c, "SELECT id FROM centers WHERE name = 'Centro Renta'");
    let aduanas: i64 = one(&c, "SELECT id FROM centers WHERE name = 'Centro Aduanas'");
    let r = admin.post(
        "/admin/organizacion",
        "/admin/organizacion",
        &[("what", "place"), ("server", AGENT), ("center", &renta.to_string())],
    );
    assert_eq!(r.status, 303, "{}", r.body);

    let chief = Session::first_login(c.http_port, "jefe", &c.add_user("jefe", "jefe_uact"));
    let tech_otp = c.cli(&["user", "add", "ana", "--role", "tecnico", "--full-name", "Ana Técnica"]);
    let tech_otp = tech_otp.lines().find_map(|l| l.strip_prefix("Contraseña de un solo uso: ")).expect("otp").trim();
    let tech = Session::first_login(c.http_port, "ana", tech_otp);
    let add_center_chief = |name: &str, center: i64| {
        let out = c.cli(&["user", "add", name, "--role", "jefe_centro", "--center", &center.to_string()]);
        let otp =
            out.lines().find_map(|l| l.strip_prefix("Contraseña de un solo uso: ")).expect("otp").trim().to_string();
        Session::first_login(c.http_port, name, &otp)
    };
    let renta_chief = add_center_chief("jefa.renta", renta);
    let aduanas_chief = add_center_chief("jefe.aduanas", aduanas);

    let visit = provider_contract_and_plan(&c, &chief, user_id(&c, "ana"));
    // Everyone in UACT sees providers and contracts; only the chief changes them; a center chief
    // does not see them.
    let list = tech.get("/proveedores");
    assert_eq!(list.status, 200);
    assert!(list.body.contains("MH-UACT-014") && !list.body.contains("nuevo-contrato"), "read-only for a technician");
    let r = tech.post("/proveedores", "/proveedores", &[("nombre", "Otro proveedor")]);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(renta_chief.get("/proveedores").status, 403);
    let contract: i64 = one(&c, "SELECT id FROM contracts");
    let edit = format!("/proveedores/contratos/{contract}/editar");
    let (provider, server) = (one::<i64>(&c, "SELECT id FROM providers"), one::<i64>(&c, "SELECT id FROM servers"));
    let year = Utc::now().year();
    let r = chief.post(
        &edit,
        &edit,
        &[
            ("proveedor", &provider.to_string()),
            ("numero", "MH-UACT-014"),
            ("inicio", &format!("{year}-01-01")),
            ("fin", &format!("{}-12-31", year + 1)),
            ("periodo", "3"),
            ("servidores", &server.to_string()),
            ("notas", "Incluye repuestos; visita en horario laboral"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(chief.get("/proveedores").body.contains("visita en horario laboral"));

    let page = format!("/mantenimiento/visitas/{visit}");
    let act = format!("{page}/accion");
    let today = Utc::now().date_naive().to_string();
    assert_eq!(state_of(&c, visit), "programado");
    let p = tech.get(&page);
    assert_eq!(p.status, 200);
    assert!(
        p.body.contains("Servicios Técnicos SA") && p.body.contains("MH-UACT-014") && p.body.contains("Ana Técnica")
    );

    // Signing a form without the verification: the form is kept, the signature refused, saying why.
    let mut incomplete = filled("firmar", &today, "Ventilador 80 mm");
    incomplete.retain(|(k, _)| *k != "verificacion");
    let r = tech.post(&page, &act, &incomplete);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("Se guardó el formato, pero no se firmó") && r.body.contains("verificación"), "{}", r.body);
    assert_eq!(state_of(&c, visit), "en_curso");

    // The technician verifies and signs.
    let r = tech.post(&page, &act, &filled("firmar", &today, "Ventilador 80 mm"));
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(state_of(&c, visit), "firmado");

    // A technician cannot stamp; the center chiefs see only their own center and change nothing.
    let r = tech.post(&page, &act, &[("accion", "sellar")]);
    assert_eq!(r.status, 403, "a technician's stamp is refused: {}", r.body);
    assert!(r.body.contains("sello"), "{}", r.body);
    assert_eq!(state_of(&c, visit), "firmado");
    assert_eq!(aduanas_chief.get(&page).status, 403, "another center's visit");
    assert_eq!(aduanas_chief.get(&format!("{page}/imprimir")).status, 403);
    let own = renta_chief.get(&page);
    assert_eq!(own.status, 200, "their own center's visit");
    assert!(!own.body.contains("name=\"accion\""), "no actions for a center chief");
    let r = renta_chief.post(&page, &act, &[("accion", "sellar")]);
    assert_eq!(r.status, 403, "{}", r.body);

    // The chief sends observations back; the provider's contact gets them by email.
    let r =
        chief.post(&page, &act, &[("accion", "observaciones"), ("texto", "Falta el número de serie del ventilador")]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(state_of(&c, visit), "observado");
    let mails: i64 = one(
        &c,
        &format!("SELECT count(*) FROM notifications WHERE event = 'observaciones' AND recipient = '{PROVIDER_MAIL}'"),
    );
    assert_eq!(mails, 1, "the observations are queued to the provider");
    assert!(tech.get(&page).body.contains("Observaciones enviadas por correo a: soporte@servtec.example"));

    // The technician corrects and signs again; the chief stamps.
    let r = tech.post(&page, &act, &filled("firmar", &today, "Ventilador 80 mm, serie FN-20931"));
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(state_of(&c, visit), "firmado");
    let r = chief.post(&page, &act, &[("accion", "sellar")]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(state_of(&c, visit), "autorizado");
    let (stamped_form, stamped_hash): (String, Vec<u8>) = db(&c)
        .query_row("SELECT form, form_hash FROM maintenance_stamps WHERE maintenance_id = ?1", [visit], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("one stamp");
    assert!(stamped_form.contains("FN-20931"), "the stamp keeps the form as signed: {stamped_form}");
    let full_hash: String = stamped_hash.iter().map(|b| format!("{b:02x}")).collect();
    let p = chief.get(&page).body;
    assert!(p.contains("Sello válido") && !p.contains("Sello invalidado"), "{p}");
    let print = tech.get(&format!("{page}/imprimir"));
    assert_eq!(print.status, 200);
    assert!(print.body.contains("Ana Técnica · firmado el"), "the signature line: {}", print.body);
    assert!(print.body.contains("Jefe de UACT: jefe") && print.body.contains(&full_hash), "the stamp block");

    // An edit after the stamp is allowed, and voids it, visibly.
    let r = chief.post(&page, &act, &filled("guardar", &today, "Ventilador 80 mm, serie FN-20931 (garantía 1 año)"));
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(state_of(&c, visit), "en_curso", "back to verification: a new signature and stamp are needed");
    let p = tech.get(&page).body;
    assert!(p.contains("Sello invalidado: el formulario cambió después de la autorización"), "{p}");
    assert!(tech.get(&format!("{page}/imprimir")).body.contains("Sello invalidado"));

    // Every round is in the history with the form's hash, and in the audit log, whose chain holds.
    let events: Vec<(String, Option<Vec<u8>>)> = db(&c)
        .prepare("SELECT kind, form_hash FROM maintenance_events WHERE maintenance_id = ?1 ORDER BY n")
        .unwrap()
        .query_map([visit], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        kinds,
        ["programado", "edit", "edit", "sign", "observe", "aviso", "edit", "resubmit", "stamp", "edit"],
        "every step, in order"
    );
    for (kind, hash) in &events {
        if ["edit", "sign", "observe", "resubmit", "stamp"].contains(&kind.as_str()) {
            assert_eq!(hash.as_ref().map(Vec::len), Some(32), "{kind} keeps the form's hash");
        }
    }
    let stamp_event = events.iter().find(|e| e.0 == "stamp").and_then(|e| e.1.clone());
    assert_eq!(stamp_event, Some(stamped_hash), "the stamp's hash is the one in the history");
    let audited: Vec<String> = db(&c)
        .prepare("SELECT action FROM audit WHERE object = ?1 ORDER BY id")
        .unwrap()
        .query_map([format!("maintenance:{visit}")], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        audited,
        [
            "maintenance.edit",
            "maintenance.edit",
            "maintenance.sign",
            "maintenance.observe",
            "maintenance.edit",
            "maintenance.resubmit",
            "maintenance.stamp",
            "maintenance.edit"
        ]
    );
    let setup: i64 =
        one(&c, "SELECT count(*) FROM audit WHERE action IN ('provider.create', 'contract.create', 'contract.update')");
    assert_eq!(setup, 3);
    let out = c.cli(&["audit", "verify"]);
    assert!(out.contains("Registro de auditoría íntegro"), "{out}");
}

#[test]
fn a_degraded_array_during_the_visit_window_opens_no_ticket_and_after_the_window_it_does() {
    let tmp = test_dir();
    let root = tmp.path().join("root");
    install_tree("raid-raid1-healthy", &root);
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let c = collector(&tmp.path().join("collector"), &broker.url());
    let _agent = Agent::start_on_root(&tmp.path().join("agent"), AGENT, &broker.url(), "200ms", &root);
    wait_until("healthy samples", T, || c.sample_count(AGENT) >= 3);
    let chief = Session::first_login(c.http_port, "jefe", &c.add_user("jefe", "jefe_uact"));
    c.add_user("ana", "tecnico");
    let tech = user_id(&c, "ana");
    let visit = provider_contract_and_plan(&c, &chief, tech);
    let planned_window: i64 = one(&c, &format!("SELECT silence_id FROM maintenance WHERE id = {visit}"));

    // The chief moves the visit to now: a one-minute window that has just begun.
    let now = Utc::now();
    let (start, end) = (now - Days::seconds(15), now + Days::seconds(45));
    let fmt = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let page = format!("/mantenimiento/visitas/{visit}");
    let r = chief.post(
        &page,
        &format!("{page}/accion"),
        &[
            ("accion", "ajustar"),
            ("fecha", &now.date_naive().to_string()),
            ("tecnico", &tech.to_string()),
            ("ventana_inicio", &fmt(start)),
            ("ventana_fin", &fmt(end)),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let ended: Option<i64> = one(&c, &format!("SELECT ended_at FROM silences WHERE id = {planned_window}"));
    assert!(ended.is_some(), "the planned window was ended");
    let (window, kind, ends_at): (i64, String, i64) = db(&c)
        .query_row(
            "SELECT s.id, s.kind, s.ends_at FROM maintenance m JOIN silences s ON s.id = m.silence_id WHERE m.id = ?1",
            [visit],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("the visit's new window");
    assert_ne!(window, planned_window);
    assert_eq!(kind, "mantenimiento");
    assert_eq!(ends_at / 1000, end.timestamp(), "the window ends when the chief said");
    let r = chief.get(&page);
    assert!(r.body.contains("En mantenimiento"), "the visit says its window is on now");

    // The provider pulls a disk during the visit: the problem is recorded, suppressed, no ticket.
    install_tree("raid-raid1-degraded", &root);
    wait_until("the suppressed problem", T, || {
        db(&c)
            .query_row("SELECT suppressed FROM problems WHERE rule = 'raid_degraded'", [], |r| {
                r.get::<_, Option<String>>(0)
            })
            .ok()
            .flatten()
            .is_some_and(|s| s.contains("en mantenimiento"))
    });
    assert!(Utc::now() < end, "the problem fired inside the window (the test ran too slowly otherwise)");
    assert!(c.tickets().is_empty(), "no ticket during the window: {:?}", c.tickets());
    let (_, server_page) = c.get(&format!("/server/{AGENT}"));
    assert!(server_page.contains("Sin requerimiento: en mantenimiento"), "the server page says why");

    // The array is still degraded when the window ends: now it opens its ticket.
    wait_until("the ticket after the window", Duration::from_secs(90), || !c.tickets().is_empty());
    let opened: i64 = one(&c, "SELECT created_at FROM tickets");
    assert!(opened >= end.timestamp() * 1000, "opened when the window ended, not before");
    let tickets = c.tickets();
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    assert!(tickets[0].2.contains(AGENT) && tickets[0].2.contains("md0"), "{:?}", tickets[0]);
    let suppressed: Option<String> = one(&c, "SELECT suppressed FROM problems WHERE rule = 'raid_degraded'");
    assert_eq!(suppressed, None);
}
