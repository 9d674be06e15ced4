//! Preventive software maintenance over real HTTP and SQLite: the chief generates a year's plan,
//! a technician leaves evidence (here the collector has no broker, so "verificar ahora" records
//! the agent's silence as a finding, and a manual check is recorded), confirms the checklist,
//! attaches a screenshot and reports; the chief analyses it and a fault opens a linked corrective
//! ticket. Roles, the center chief's scope, attachments' type checks, the CSV and the audit log are
//! checked on the way. The round trip with a real agent is in the e2e suite.

mod web;

use centinela_collector::auth::{Role, store};
use web::{Server, form};

struct Org {
    s: Server,
    tokens: std::collections::HashMap<&'static str, String>,
    ids: std::collections::HashMap<&'static str, i64>,
}

const PEOPLE: [(&str, Role, Option<i64>); 6] = [
    ("jefe", Role::JefeUact, None),
    ("tec", Role::Tecnico, None),
    ("otro.tec", Role::Tecnico, None),
    ("jefa.renta", Role::JefeCentro, Some(1)),
    ("jefe.aduana", Role::JefeCentro, Some(2)),
    ("director", Role::Director, None),
];

async fn org() -> Org {
    let s = Server::start().await;
    s.writer
        .run(|tx| {
            for agent in ["pbx-renta", "pbx-aduana"] {
                tx.execute("INSERT INTO servers (agent_id, first_seen, status_since) VALUES (?1, 0, 0)", [agent])?;
            }
            let d = centinela_collector::org::create_dependencia(tx, "t", 1, "Impuestos Internos").unwrap();
            let c1 = centinela_collector::org::create_center(tx, "t", 1, d, "Centro Renta").unwrap();
            let c2 = centinela_collector::org::create_center(tx, "t", 1, d, "Centro Aduana").unwrap();
            centinela_collector::org::place_server(tx, "t", 1, "pbx-renta", Some(c1)).unwrap();
            centinela_collector::org::place_server(tx, "t", 1, "pbx-aduana", Some(c2)).unwrap();
            Ok(())
        })
        .await
        .unwrap();
    let mut tokens = std::collections::HashMap::new();
    let mut ids = std::collections::HashMap::new();
    for (name, role, center) in PEOPLE {
        s.add_user_in(name, role, center.into_iter().collect()).await;
        let (token, id) = s
            .writer
            .run(move |tx| {
                let t = store::create_token(tx, "t", 1, name, "tests").unwrap();
                Ok((t, store::find_user(tx, name)?.unwrap().0.id))
            })
            .await
            .unwrap();
        tokens.insert(name, token);
        ids.insert(name, id);
    }
    Org { s, tokens, ids }
}

impl Org {
    /// A form POST as `who` (a bearer token: no cookie, so no CSRF to echo).
    async fn post(&self, who: &str, path: &str, pairs: &[(&str, &str)]) -> web::Reply {
        let auth = format!("Bearer {}", self.tokens[who]);
        self.s
            .request(
                "POST",
                path,
                Some(("Authorization", &auth)),
                Some(("application/x-www-form-urlencoded", &form(pairs))),
            )
            .await
    }

    async fn get(&self, who: &str, path: &str) -> web::Reply {
        self.s.get_bearer(path, &self.tokens[who]).await
    }

    async fn json(&self, who: &str, path: &str) -> serde_json::Value {
        let r = self.get(who, path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        serde_json::from_str(&r.body).unwrap()
    }

    /// The software instance of `agent` in January 2027.
    async fn january(&self, agent: &str) -> i64 {
        let v = self.json("jefe", "/api/v1/maintenance?anio=2027&mes=1&tipo=software").await;
        v["items"].as_array().unwrap().iter().find(|i| i["agent_id"] == agent).unwrap()["id"].as_i64().unwrap()
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.s.dir.path().join("centinela.db")).unwrap()
    }

    /// A multipart upload of `bytes` as `archivo`.
    async fn upload(&self, who: &str, id: i64, name: &str, ct: &str, bytes: &[u8]) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let boundary = "----centinela-prueba";
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nx\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"archivo\"; filename=\"{name}\"\r\nContent-Type: {ct}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.s.port)).await.unwrap();
        let head = format!(
            "POST /mantenimiento/{id}/adjuntos HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
            self.tokens[who],
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&body).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, text)
    }
}

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89";

#[tokio::test]
async fn only_the_chief_generates_the_plan_and_regenerating_adds_only_what_is_missing() {
    let o = org().await;
    let tec = o.ids["tec"].to_string();
    let r = o.post("tec", "/mantenimiento/plan", &[("csrf", "x"), ("anio", "2027")]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("solo el Jefe de UACT"), "{}", r.body);
    let r = o.post("jefe", "/mantenimiento/plan", &[("csrf", "x"), ("anio", "dos mil")]).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("indique el año del plan"), "{}", r.body);

    let r = o.post("jefe", "/mantenimiento/plan", &[("csrf", "x"), ("anio", "2027"), ("tecnicos", &tec)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("24 mantenimientos de software y 0 visitas"), "{}", r.body);
    let r = o.post("jefe", "/mantenimiento/plan", &[("csrf", "x"), ("anio", "2027"), ("tecnicos", &tec)]).await;
    assert!(
        r.body.contains("0 mantenimientos de software y 0 visitas de hardware agregados; 24 ya estaban"),
        "{}",
        r.body
    );

    let v = o.json("jefe", "/api/v1/maintenance?anio=2027").await;
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 24);
    assert!(items.iter().all(|i| i["technician_id"] == o.ids["tec"]), "dealt to the one technician chosen");
    assert_eq!(v["compliance"]["year"]["planned"], 24);
    assert_eq!(v["compliance"]["percent"], "0 %");
    // The center chief sees only their own center's instances.
    let v = o.json("jefa.renta", "/api/v1/maintenance?anio=2027").await;
    let agents: std::collections::BTreeSet<&str> =
        v["items"].as_array().unwrap().iter().map(|i| i["agent_id"].as_str().unwrap()).collect();
    assert_eq!(agents.into_iter().collect::<Vec<_>>(), ["pbx-renta"]);
    let aduana = o.january("pbx-aduana").await;
    assert_eq!(o.get("jefa.renta", &format!("/mantenimiento/{aduana}")).await.status, 404);
    assert_eq!(o.get("director", &format!("/mantenimiento/{aduana}")).await.status, 200);

    // Views: the calendar, the printable page and the CSV.
    let cal = o.get("jefe", "/mantenimiento?anio=2027&mes=1&vista=calendario").await;
    assert!(cal.body.contains("class=\"cal-item") && cal.body.contains("pbx-aduana"), "{}", cal.body);
    let print = o.get("jefe", "/mantenimiento/imprimir?anio=2027").await;
    assert!(print.body.contains("Plan de mantenimiento preventivo") && print.body.contains("enero"));
    let csv = o.get("jefe", "/mantenimiento.csv?anio=2027&mes=3").await;
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(lines[0].starts_with("id,tipo,anio,mes,servidor,centro,tecnico,programado,vence,estado"));
    assert_eq!(lines.len(), 3, "{}", csv.body);
    assert!(lines[1].contains(",software,2027,3,") && lines[1].contains(",2027-03-31,programado,"), "{}", lines[1]);
}

#[tokio::test]
async fn a_software_check_goes_from_evidence_to_a_fault_that_opens_a_linked_ticket() {
    let o = org().await;
    let tec = o.ids["tec"].to_string();
    o.post("jefe", "/mantenimiento/plan", &[("csrf", "x"), ("anio", "2027"), ("tecnicos", &tec)]).await;
    let id = o.january("pbx-renta").await;
    let page = format!("/mantenimiento/{id}");

    // Nothing to report without evidence.
    let r = o.post("tec", &format!("{page}/informar"), &[("csrf", "x"), ("resumen", "listo")]).await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("deje evidencia antes de informar"), "{}", r.body);

    // No broker here: the agent cannot answer, and that is kept as a finding.
    let r = o.post("tec", &format!("{page}/verificar"), &[("csrf", "x")]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let v = o.json("tec", &format!("/api/v1/maintenance/{id}")).await;
    assert_eq!(v["instance"]["state"], "en_curso");
    assert_eq!(v["evidence"][0]["outcome"], "sin_respuesta");
    assert!(v["evidence"][0]["detail"].as_str().unwrap().contains("no está conectado al broker"), "{v}");
    assert!(v["data"]["findings"][0].as_str().unwrap().contains("El agente no respondió"), "{v}");
    let html = o.get("tec", &page).await.body;
    assert!(html.contains("El agente no respondió a «verificar ahora»"), "{html}");

    let r = o.post("tec", &format!("{page}/manual"), &[("csrf", "x"), ("nota", "  ")]).await;
    assert_eq!(r.status, 422);
    let r = o
        .post(
            "tec",
            &format!("{page}/manual"),
            &[("csrf", "x"), ("nota", "Revisé por SSH: asterisk -rx 'core show uptime'")],
        )
        .await;
    assert_eq!(r.status, 303);

    // An attachment: a PNG is kept with its sha256; an executable is refused whatever it claims.
    let (status, _) = o.upload("tec", id, "consola.png", "image/png", PNG).await;
    assert_eq!(status, 303);
    let (status, body) = o.upload("tec", id, "foto.png", "image/png", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("tipo de archivo no admitido"), "{body}");
    let v = o.json("tec", &format!("/api/v1/maintenance/{id}")).await;
    let att = &v["attachments"][0];
    assert_eq!((att["filename"].as_str(), att["content_type"].as_str()), (Some("consola.png"), Some("image/png")));
    use sha2::Digest;
    let sha: String = sha2::Sha256::digest(PNG).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(att["sha256"], sha);
    let file = format!("{page}/adjuntos/{}", att["id"]);
    assert_eq!(o.get("jefe.aduana", &file).await.status, 404, "another center's chief");
    let got = o.get("jefa.renta", &file).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("image/png"));

    // The checklist: overriding nothing here (no evidence of the agent), a fault needs a note.
    let r = o
        .post(
            "tec",
            &format!("{page}/lista"),
            &[("csrf", "x"), ("marca_discos_raid", "falla"), ("nota_discos_raid", "")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("describa la falla"), "{}", r.body);
    let marks = [
        ("marca_asterisk", "ok"),
        ("marca_base_datos", "ok"),
        ("marca_app_admin", "ok"),
        ("marca_discos_raid", "falla"),
        ("nota_discos_raid", "sdb con sectores reasignados en aumento"),
        ("marca_temperaturas", "ok"),
        ("marca_respaldos", "advertencia"),
        ("nota_respaldos", "el respaldo nocturno tardó 5 h"),
    ];
    let mut pairs = vec![("csrf", "x")];
    pairs.extend(marks);
    let r = o.post("otro.tec", &format!("{page}/lista"), &pairs[..3]).await;
    assert_eq!(r.status, 303, "any technician may work a check: {}", r.body);
    let r = o.post("tec", &format!("{page}/lista"), &pairs).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = o.post("tec", &format!("{page}/informar"), &[("csrf", "x"), ("resumen", "Revisión de enero")]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = o.post("tec", &format!("{page}/lista"), &pairs).await;
    assert_eq!(r.status, 409, "frozen once reported");
    let (status, _) = o.upload("tec", id, "tarde.png", "image/png", PNG).await;
    assert_eq!(status, 409);

    // The chief analyses: a technician may not; a fault needs its action; then a ticket opens.
    let r = o.post("tec", &format!("{page}/analizar"), &[("csrf", "x"), ("resultado", "sin_novedad")]).await;
    assert_eq!(r.status, 403);
    let r =
        o.post("jefe", &format!("{page}/analizar"), &[("csrf", "x"), ("resultado", "falla"), ("accion", " ")]).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("defina la acción"), "{}", r.body);
    let r = o
        .post("jefe", &format!("{page}/analizar"), &[("csrf", "x"), ("resultado", "falla"), ("accion", "Cambiar sdb")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let v = o.json("jefe", &format!("/api/v1/maintenance/{id}")).await;
    assert_eq!(v["instance"]["state"], "analizado");
    assert_eq!(v["instance"]["outcome"], "falla");
    assert_eq!(v["instance"]["on_time"], true);
    let ticket = v["instance"]["ticket_id"].as_i64().expect("a linked ticket");
    let t = o.json("jefa.renta", &format!("/api/v1/tickets/{ticket}")).await;
    assert_eq!(t["ticket"]["state"], "solicitado");
    let desc = t["ticket"]["description"].as_str().unwrap();
    assert!(
        desc.contains(&format!("#{id}")) && desc.contains("Cambiar sdb") && desc.contains("sectores reasignados"),
        "{desc}"
    );

    let conn = o.db();
    let actions: Vec<String> = conn
        .prepare("SELECT action FROM audit WHERE object = ?1 ORDER BY id")
        .unwrap()
        .query_map([format!("maintenance:{id}")], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        actions,
        [
            "maintenance.verify",
            "maintenance.manual",
            "maintenance.attach",
            "maintenance.checklist",
            "maintenance.checklist",
            "maintenance.submit",
            "maintenance.analyse"
        ]
    );
    assert!(centinela_collector::audit::verify(&conn).is_ok());
    let e = conn.execute("UPDATE maintenance_evidence SET detail = 'otra cosa'", []).unwrap_err();
    assert!(e.to_string().contains("immutable"), "{e}");
}

#[tokio::test]
async fn the_chief_adjusts_and_cancels_with_a_reason_and_cancelled_ones_leave_compliance() {
    let o = org().await;
    o.post("jefe", "/mantenimiento/plan", &[("csrf", "x"), ("anio", "2027")]).await;
    let id = o.january("pbx-aduana").await;
    let adjust = format!("/mantenimiento/{id}/ajustar");
    let tec = o.ids["otro.tec"].to_string();
    let r = o.post("tec", &adjust, &[("csrf", "x"), ("tecnico", &tec)]).await;
    assert_eq!(r.status, 403);
    let r = o.post("jefe", &adjust, &[("csrf", "x"), ("vence", "2027-01-02"), ("programado", "2027-01-10")]).await;
    assert_eq!(r.status, 422, "due before scheduled");
    let r = o.post("jefe", &adjust, &[("csrf", "x"), ("tecnico", &tec), ("vence", "2027-01-15")]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let v = o.json("jefe", &format!("/api/v1/maintenance/{id}")).await;
    assert_eq!(v["instance"]["technician_id"], o.ids["otro.tec"]);
    assert_eq!(v["instance"]["due_on"], "2027-01-15");
    let r = o.post("jefe", &adjust, &[("csrf", "x"), ("anular", "1")]).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("motivo"), "{}", r.body);
    let r = o.post("jefe", &adjust, &[("csrf", "x"), ("anular", "1"), ("motivo", "Servidor dado de baja")]).await;
    assert_eq!(r.status, 303);
    let v = o.json("jefe", "/api/v1/maintenance?anio=2027&mes=1").await;
    assert_eq!(v["compliance"]["months"][0]["all"]["planned"], 1);
    assert_eq!(v["compliance"]["months"][0]["all"]["cancelled"], 1);
}

#[tokio::test]
async fn the_fleet_view_counts_this_months_pending_maintenance_within_the_viewers_scope() {
    let o = org().await;
    let cal = centinela_collector::calendar::Calendar::default();
    let today = cal.local_date(chrono::Utc::now());
    let year = chrono::Datelike::year(&today).to_string();
    let r = o.post("jefe", "/mantenimiento/plan", &[("csrf", "x"), ("anio", &year)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let count = |html: &str| -> String {
        let at = html.find("id=\"mantenimiento-mes\"").unwrap_or_else(|| panic!("no counter in {html}"));
        let rest = &html[at..];
        let b = rest.find("<b>").unwrap() + 3;
        rest[b..b + rest[b..].find("</b>").unwrap()].to_string()
    };
    assert_eq!(count(&o.get("jefe", "/").await.body), "2", "one software check per server this month");
    assert_eq!(count(&o.get("jefa.renta", "/").await.body), "1", "only her center's server");
    // The server's page lists its maintenance around today, linked.
    let page = o.get("tec", "/server/pbx-renta").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let section = &page.body[page.body.find("id=\"mantenimiento\"").expect("a maintenance section")..];
    assert!(section.contains("href=\"/mantenimiento/") && section.contains("Programado"), "{section}");
}

#[tokio::test]
async fn the_server_api_shows_a_center_chief_only_the_servers_of_their_centers() {
    // (This file's organisation has two centers with one server each, so the scope is tested here.)
    let o = org().await;
    let ids = |v: serde_json::Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(o.json("jefa.renta", "/api/v1/servers").await), ["pbx-renta"]);
    let mut all = ids(o.json("director", "/api/v1/servers").await);
    all.sort();
    assert_eq!(all, ["pbx-aduana", "pbx-renta"]);
    for path in ["/api/v1/servers/pbx-aduana", "/api/v1/servers/pbx-aduana/series?metric=temperature"] {
        let r = o.get("jefa.renta", path).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(r.body.contains("no existe el servidor"), "{}", r.body);
    }
    assert_eq!(o.get("jefa.renta", "/api/v1/servers/pbx-renta/series").await.status, 200);
}
