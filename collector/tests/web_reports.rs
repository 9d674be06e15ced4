//! Monthly reports (stage 4) over real HTTP and SQLite: the chief drafts October 2025's reports,
//! a technician recalculates the figures from CDR rows, records the outgoing-call verification,
//! proposes the recording sample and scores every call (a falta grave among them), and sends the
//! report; the chief returns it with observations, it is sent again and approved; the call
//! center's chief, who sees only their center's remitted reports, forwards it. Roles, scope, the
//! frozen figures, the immutable scores, the audit log, both CSVs and the PDF (read back with
//! `pdftotext`) are checked on the way.

mod web;

use centinela_collector::auth::{Role, store};
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use web::{Server, form};

struct Org {
    s: Server,
    tokens: HashMap<&'static str, String>,
}

const PEOPLE: [(&str, Role, Option<i64>); 6] = [
    ("jefe", Role::JefeUact, None),
    ("tec", Role::Tecnico, None),
    ("jefa.renta", Role::JefeCentro, Some(1)),
    ("jefe.aduana", Role::JefeCentro, Some(2)),
    ("director", Role::Director, None),
    ("admin", Role::Admin, None),
];

const TRUNK: &str = "PJSIP/carrier-00000";

/// October 2025 at pbx-renta: 60 calls, every fourth one made, the rest received (the received
/// ones in two legs: the trunk and the agent's phone), spread over days and hours; and a few calls
/// at pbx-aduana.
fn calls(tx: &rusqlite::Connection) -> rusqlite::Result<()> {
    let mut n = 0;
    let mut row = |server: i64, calldate: &str, cols: [&str; 7], billsec: i64| -> rusqlite::Result<()> {
        let [uniqueid, linkedid, dcontext, dst, channel, dstchannel, did] = cols;
        n += 1;
        tx.execute(
            "INSERT INTO cdr (server_id, row_key, calldate, clid, src, dst, dcontext, channel, dstchannel, lastapp,
                lastdata, duration, billsec, disposition, amaflags, accountcode, uniqueid, userfield, linkedid, did,
                recordingfile, received_ms)
             VALUES (?1, ?2, ?3, '', '22001000', ?4, ?5, ?6, ?7, 'Dial', '', ?8 + 10, ?8, 'ANSWERED', '', '', ?9, '',
                     ?10, NULLIF(?11, ''), ?12, 0)",
            rusqlite::params![
                server,
                format!("k{n}").into_bytes(),
                calldate,
                dst,
                dcontext,
                channel,
                dstchannel,
                billsec,
                uniqueid,
                linkedid,
                did,
                format!("q-{uniqueid}.wav")
            ],
        )?;
        Ok(())
    };
    for i in 0..60 {
        let when = format!("2025-10-{:02} {:02}:{:02}:00", 1 + i % 28, 8 + i % 9, i % 60);
        let id = format!("1759300000.{i}");
        if i % 4 == 0 {
            row(1, &when, [&id, &id, "from-internal", "77001234", "PJSIP/2201-1", TRUNK, ""], 90)?;
        } else {
            // The queue's member is a Local channel: its ;2 half rings the agent's phone.
            let local = format!("Local/2201@from-queue-{i:08x}");
            row(1, &when, [&id, &id, "from-trunk", "s", TRUNK, &format!("{local};1"), "22001000"], 130)?;
            let leg = format!("1759300000.{}", 1000 + i);
            row(1, &when, [&leg, &id, "from-queue", "2201", &format!("{local};2"), "PJSIP/2201-3", ""], 120)?;
        }
    }
    for i in 0..3 {
        let id = format!("1759400000.{i}");
        row(
            2,
            &format!("2025-10-0{} 10:00:00", i + 1),
            [&id, &id, "from-trunk", "s", TRUNK, "PJSIP/3301-1", "22002000"],
            60,
        )?;
    }
    Ok(())
}

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
            calls(tx)?;
            Ok(())
        })
        .await
        .unwrap();
    let mut tokens = HashMap::new();
    for (name, role, center) in PEOPLE {
        s.add_user_in(name, role, center.into_iter().collect()).await;
        let token = s.writer.run(move |tx| Ok(store::create_token(tx, "t", 1, name, "tests").unwrap())).await.unwrap();
        tokens.insert(name, token);
    }
    Org { s, tokens }
}

/// A raw answer, for binary bodies (the PDF).
struct Raw {
    status: u16,
    head: String,
    body: Vec<u8>,
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

    async fn act(&self, who: &str, id: i64, pairs: &[(&str, &str)]) -> web::Reply {
        let mut all = vec![("csrf", "x")];
        all.extend_from_slice(pairs);
        self.post(who, &format!("/reportes/{id}/accion"), &all).await
    }

    async fn raw(&self, who: &str, path: &str) -> Raw {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.s.port)).await.unwrap();
        let req =
            format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n", self.tokens[who]);
        s.write_all(req.as_bytes()).await.unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).await.unwrap();
        let split = all.windows(4).position(|w| w == b"\r\n\r\n").expect("end of the head");
        let head = String::from_utf8_lossy(&all[..split]).into_owned();
        let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        Raw { status, head, body: all[split + 4..].to_vec() }
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.s.dir.path().join("centinela.db")).unwrap()
    }

    async fn report_of(&self, center: &str) -> i64 {
        let v = self.json("jefe", "/api/v1/reports?anio=2025&mes=10").await;
        v["items"].as_array().unwrap().iter().find(|i| i["center"] == center).unwrap()["id"].as_i64().unwrap()
    }

    async fn state(&self, id: i64) -> String {
        let v = self.json("jefe", &format!("/api/v1/reports/{id}")).await;
        v["report"]["state"].as_str().unwrap().to_string()
    }

    /// The sampled calls' ids, in order.
    async fn sample(&self, id: i64) -> Vec<i64> {
        let v = self.json("jefe", &format!("/api/v1/reports/{id}")).await;
        v["qa"]["calls"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect()
    }
}

fn all_marks(mark: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = (0..6).map(|i| (format!("i{i}"), mark.to_string())).collect();
    v.push(("i6".into(), "no_ocurrio".into()));
    v
}

async fn score(o: &Org, id: i64, call: i64, marks: &[(String, String)], extra: &[(&str, &str)]) -> web::Reply {
    let mut pairs: Vec<(&str, &str)> = vec![("csrf", "x"), ("evaluable", "1")];
    pairs.extend(marks.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    pairs.extend_from_slice(extra);
    o.post("tec", &format!("/reportes/{id}/calidad/{call}"), &pairs).await
}

/// Drafts October 2025 and prepares the Renta report up to the point of sending.
async fn prepared(o: &Org) -> i64 {
    let r = o.post("jefe", "/reportes/generar", &[("csrf", "x"), ("anio", "2025"), ("mes", "10")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = o.report_of("Centro Renta").await;
    assert_eq!(o.act("tec", id, &[("accion", "recalcular")]).await.status, 303);
    assert_eq!(o.act("tec", id, &[("accion", "salientes"), ("resultado", "ok"), ("notas", "")]).await.status, 303);
    let r = o.act("tec", id, &[("accion", "muestra")]).await;
    assert_eq!((r.status, r.header("location")), (303, Some(format!("/reportes/{id}/calidad").as_str())));
    let calls = o.sample(id).await;
    let mut grave = all_marks("cumple");
    grave[6].1 = "ocurrio".into();
    let r = score(o, id, calls[0], &grave, &[("observaciones", "Indicó un plazo equivocado para declarar")]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = o
        .post(
            "tec",
            &format!("/reportes/{id}/calidad/{}", calls[1]),
            &[("csrf", "x"), ("evaluable", "0"), ("observaciones", "Grabación inaudible")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    for c in &calls[2..] {
        assert_eq!(score(o, id, *c, &all_marks("cumple"), &[]).await.status, 303);
    }
    id
}

#[tokio::test]
async fn the_review_loop_keeps_every_round_with_roles_scope_and_audit() {
    let o = org().await;
    // Drafting: the chief only, a month that is over, once.
    let r = o.post("tec", "/reportes/generar", &[("csrf", "x"), ("anio", "2025"), ("mes", "10")]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = o.post("jefe", "/reportes/generar", &[("csrf", "x"), ("anio", "2025"), ("mes", "10")]).await;
    assert!(r.body.contains("Se generaron 2 borradores de octubre 2025"), "{}", r.body);
    let r = o.post("jefe", "/reportes/generar", &[("csrf", "x"), ("anio", "2025"), ("mes", "10")]).await;
    assert!(r.body.contains("ya existían"), "{}", r.body);
    let next_year = (chrono::Utc::now().format("%Y").to_string().parse::<i32>().unwrap() + 1).to_string();
    let r = o.post("jefe", "/reportes/generar", &[("csrf", "x"), ("anio", &next_year), ("mes", "1")]).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let id = o.report_of("Centro Renta").await;
    let aduana = o.report_of("Centro Aduana").await;

    // A draft: provisional figures, overdue (due 03/11/2025), nothing sent.
    let page = o.get("tec", &format!("/reportes/{id}")).await;
    assert_eq!(page.status, 200);
    for needle in ["Cifras provisionales", "vencido (vencía el 03/11)", "Borrador", "Fórmulas de las cifras"] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }
    let list = o.get("tec", "/reportes?anio=2025").await;
    assert!(list.body.contains("vencido") && list.body.contains("Centro Aduana"), "{}", list.body);
    let r = o.act("tec", id, &[("accion", "enviar")]).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("llamadas salientes") && r.body.contains("muestra de grabaciones"), "{}", r.body);
    for who in ["jefe", "director", "admin"] {
        assert_eq!(o.act(who, id, &[("accion", "recalcular")]).await.status, 403, "{who}");
    }
    // The center chief does not see a draft, even of their own center.
    assert_eq!(o.get("jefa.renta", &format!("/reportes/{id}")).await.status, 404);

    // The technician prepares: the figures come from the CDR rows (45 received, 15 made).
    assert_eq!(o.act("tec", id, &[("accion", "recalcular")]).await.status, 303);
    let v = o.json("tec", &format!("/api/v1/reports/{id}")).await;
    assert_eq!(v["figures_provisional"], false);
    assert_eq!(
        (v["figures"]["received"]["calls"].as_u64(), v["figures"]["made"]["calls"].as_u64()),
        (Some(45), Some(15))
    );
    let r = o.act("tec", id, &[("accion", "salientes"), ("resultado", "falla")]).await;
    assert_eq!(r.status, 422, "a fault needs its notes");
    assert_eq!(o.act("tec", id, &[("accion", "salientes"), ("resultado", "ok")]).await.status, 303);
    assert_eq!(o.act("tec", id, &[("accion", "muestra")]).await.status, 303);
    let calls = o.sample(id).await;
    assert_eq!(calls.len(), 20, "the default sample size");
    let sample = o.json("tec", &format!("/api/v1/reports/{id}")).await;
    let made =
        sample["qa"]["calls"].as_array().unwrap().iter().filter(|c| c["call"]["direction"] == "realizada").count();
    assert!((4..=6).contains(&made), "15 of 60 calls were made: {made} of 20 sampled");
    // Proposing again before any score gives the same sample (seeded per report).
    assert_eq!(o.act("tec", id, &[("accion", "muestra")]).await.status, 303);
    assert_eq!(o.sample(id).await, calls);
    let qa = o.get("tec", &format!("/reportes/{id}/calidad")).await;
    assert!(
        qa.body.contains("<audio controls preload=\"none\" src=\"/grabaciones/pbx-renta/1759300000."),
        "{}",
        qa.body
    );
    let read_only = o.get("director", &format!("/reportes/{id}/calidad")).await;
    assert!(read_only.status == 200 && !read_only.body.contains("<audio"), "the director reads, does not listen");
    let one = o.get("tec", &format!("/reportes/{id}/calidad/{}", calls[0])).await;
    assert!(
        one.body.contains("Filas de CDR de esta llamada") && one.body.contains("PJSIP/carrier-00000"),
        "{}",
        one.body
    );

    // Scoring: every item, observations for a falta grave, once.
    let r = score(&o, id, calls[0], &all_marks("cumple")[..3], &[]).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("marque cada punto"), "{}", r.body);
    let mut grave = all_marks("cumple");
    grave[6].1 = "ocurrio".into();
    let r = score(&o, id, calls[0], &grave, &[]).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("observaciones"), "{}", r.body);
    let r = score(&o, id, calls[0], &grave, &[("observaciones", "Indicó un plazo equivocado para declarar")]).await;
    assert_eq!((r.status, r.header("location")), (303, Some(format!("/reportes/{id}/calidad/{}", calls[1]).as_str())));
    let r = score(&o, id, calls[0], &all_marks("cumple"), &[]).await;
    assert_eq!(r.status, 409, "a submitted score is final");
    assert_eq!(o.act("tec", id, &[("accion", "muestra")]).await.status, 409, "a scored sample stays");
    let e = o.db().execute("UPDATE report_qa_scores SET points = 100", []).unwrap_err();
    assert!(e.to_string().contains("immutable"), "{e}");
    let r = o
        .post(
            "jefe",
            &format!("/reportes/{id}/calidad/{}", calls[1]),
            &[("csrf", "x"), ("evaluable", "0"), ("observaciones", "x")],
        )
        .await;
    assert_eq!(r.status, 403, "the chief reviews, the technician listens");
    let r = o
        .post(
            "tec",
            &format!("/reportes/{id}/calidad/{}", calls[1]),
            &[("csrf", "x"), ("evaluable", "0"), ("observaciones", "Grabación inaudible")],
        )
        .await;
    assert_eq!(r.status, 303);
    let r = o.act("tec", id, &[("accion", "enviar")]).await;
    assert!(r.body.contains("faltan 18 de 20"), "{}", r.body);
    for c in &calls[2..] {
        assert_eq!(score(&o, id, *c, &all_marks("cumple"), &[]).await.status, 303);
    }
    let r =
        o.act("tec", id, &[("accion", "conclusiones"), ("texto", "Mes normal; una falta grave en atención.")]).await;
    assert_eq!(r.status, 303);

    // Round 1: sent, frozen, returned with observations.
    assert_eq!(o.act("tec", id, &[("accion", "enviar")]).await.status, 303);
    assert_eq!(o.state(id).await, "enviado");
    assert_eq!(o.act("tec", id, &[("accion", "recalcular")]).await.status, 409, "frozen once sent");
    assert_eq!(o.act("tec", id, &[("accion", "aprobar")]).await.status, 403);
    assert_eq!(o.get("jefa.renta", &format!("/reportes/{id}")).await.status, 404, "not remitted yet");
    assert_eq!(o.act("jefe", id, &[("accion", "devolver"), ("texto", " ")]).await.status, 422);
    let obs = "Explique la falta grave de la llamada 1";
    assert_eq!(o.act("jefe", id, &[("accion", "devolver"), ("texto", obs)]).await.status, 303);
    assert_eq!(o.state(id).await, "devuelto");
    let page = o.get("tec", &format!("/reportes/{id}")).await;
    assert!(page.body.contains(obs) && page.body.contains("Devuelto con observaciones"), "{}", page.body);

    // Round 2: sent again and approved; remitted to the center's chief only.
    let r = o
        .act("tec", id, &[("accion", "conclusiones"), ("texto", "Mes normal; la falta grave se comunicó al centro.")])
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(o.act("tec", id, &[("accion", "enviar")]).await.status, 303);
    assert_eq!(o.act("jefe", id, &[("accion", "aprobar")]).await.status, 303);
    assert_eq!(o.state(id).await, "aprobado");
    assert_eq!(o.act("jefe", id, &[("accion", "devolver"), ("texto", "tarde")]).await.status, 409);
    assert_eq!(o.get("jefe.aduana", &format!("/reportes/{id}")).await.status, 404, "another center's");
    assert_eq!(o.act("jefe.aduana", id, &[("accion", "remitir")]).await.status, 404);
    assert_eq!(o.get("jefa.renta", &format!("/reportes/{id}")).await.status, 200);
    let theirs = o.json("jefa.renta", "/api/v1/reports").await;
    let ids: Vec<i64> = theirs["items"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [id], "only their remitted report, not Aduana's draft ({aduana})");
    let list = o.get("jefa.renta", "/reportes").await;
    assert!(list.body.contains("Centro Renta") && !list.body.contains("Centro Aduana"), "{}", list.body);
    assert!(list.body.contains("href=\"/reportes\">Reportes</a>"), "the nav link");
    assert_eq!(o.act("jefe", id, &[("accion", "remitir")]).await.status, 403);
    let r = o.act("jefa.renta", id, &[("accion", "remitir"), ("nota", "Remitido a la Dirección de Renta")]).await;
    assert_eq!(r.status, 303);
    assert_eq!(o.state(id).await, "remitido");

    // Every step is in the history and the audit log; both rounds are kept as sent.
    let db = o.db();
    let actions: Vec<String> = db
        .prepare("SELECT action FROM audit WHERE object = ?1 ORDER BY id")
        .unwrap()
        .query_map([format!("report:{id}")], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut expected = vec!["report.draft", "report.recalculate", "report.outbound"];
    expected.extend(["report.sample", "report.sample", "report.summary", "report.send", "report.return"]);
    expected.extend(["report.summary", "report.resend", "report.approve", "report.forward"]);
    assert_eq!(actions, expected);
    let scores: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM audit WHERE action = 'report.qa_score' AND object LIKE ?1",
            [format!("report:{id}:call:%")],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(scores, 20);
    let rounds: Vec<(i64, Vec<u8>)> = db
        .prepare("SELECT round, figures_hash FROM report_rounds WHERE report_id = ?1 ORDER BY round")
        .unwrap()
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rounds.len(), 2);
    assert_eq!(rounds[0].1, rounds[1].1, "the figures did not change between the rounds");
    let by: String = db
        .query_row("SELECT actor FROM report_events WHERE report_id = ?1 AND kind = 'return'", [id], |r| r.get(0))
        .unwrap();
    assert_eq!(by, "jefe");
    assert!(centinela_collector::audit::verify(&db).is_ok());
}

#[tokio::test]
async fn the_exports_say_the_figures_and_the_observations_and_the_pdf_reads_back() {
    let o = org().await;
    let id = prepared(&o).await;
    assert_eq!(o.act("tec", id, &[("accion", "enviar")]).await.status, 303);

    let csv = o.get("jefe", &format!("/reportes/{id}/cifras.csv")).await;
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert!(csv.header("content-disposition").unwrap().contains("informe-centro-renta-2025-10-cifras.csv"));
    for line in [
        "seccion,concepto,serie,valor",
        "informe,centro,,Centro Renta",
        "totales,llamadas,recibidas,45",
        "totales,llamadas,realizadas,15",
        "totales,conversacion_s,recibidas,5400",
        "por_dia,2025-10-01,recibidas,",
        "por_hora,08,realizadas,",
    ] {
        assert!(csv.body.contains(line), "{line}: {}", csv.body);
    }
    let qa = o.get("jefe", &format!("/reportes/{id}/calidad.csv")).await;
    assert_eq!(qa.status, 200);
    assert_eq!(qa.body.lines().count(), 21, "a header and 20 calls");
    assert!(
        qa.body.contains("Falta grave") && qa.body.contains("Indicó un plazo equivocado para declarar"),
        "{}",
        qa.body
    );
    assert!(qa.body.contains("Información incorrecta") && qa.body.contains("No evaluable"), "{}", qa.body);

    let pdf = o.raw("jefe", &format!("/reportes/{id}/informe.pdf")).await;
    assert_eq!(pdf.status, 200, "{}", pdf.head);
    assert!(pdf.head.to_ascii_lowercase().contains("content-type: application/pdf"), "{}", pdf.head);
    assert!(pdf.body.starts_with(b"%PDF-"));
    let text = pdftotext(&pdf.body);
    let first_formula = centinela_collector::reports::figures::FORMULAS.first().map(|f| f.0).unwrap_or("");
    for needle in [
        "Informe mensual de servicios",
        "Centro Telefónico Centro Renta",
        "octubre de 2025",
        "Enviado al Jefe de UACT",
        "Llamadas recibidas y realizadas",
        "45",
        "15",
        "Llamadas por día",
        "Perfil por hora del día",
        "Funciona correctamente",
        "Indicó un plazo", // the observation (a table cell: it wraps)
        "Fórmulas de las cifras",
        first_formula,
    ] {
        assert!(text.contains(needle), "{needle:?} not in the PDF:\n{text}");
    }

    // Scope: another center's chief and a center chief before approval get nothing.
    for path in ["cifras.csv", "calidad.csv", "informe.pdf"] {
        assert_eq!(o.raw("jefe.aduana", &format!("/reportes/{id}/{path}")).await.status, 404, "{path}");
        assert_eq!(o.raw("jefa.renta", &format!("/reportes/{id}/{path}")).await.status, 404, "{path}");
    }
    assert_eq!(o.act("jefe", id, &[("accion", "aprobar")]).await.status, 303);
    assert_eq!(o.raw("jefa.renta", &format!("/reportes/{id}/informe.pdf")).await.status, 200);
}

/// The PDF's text, as `pdftotext` (poppler-utils, installed by .ci/run) reads it.
fn pdftotext(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("informe.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext: apt-get install poppler-utils");
    assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
