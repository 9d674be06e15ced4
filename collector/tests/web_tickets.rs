//! Corrective tickets over real HTTP: the procedure's path from request to closing, the role ×
//! action matrix enforced by the server, the scope of a call-center chief, and CSRF.

mod web;

use centinela_collector::auth::{Role, store};
use web::{Server, csrf_of, form};

/// Two call centers, one server in the first, and one user per role (tokens for the API).
struct Org {
    s: Server,
    tokens: std::collections::HashMap<&'static str, String>,
    ids: std::collections::HashMap<&'static str, i64>,
}

const PEOPLE: [(&str, Role, Option<i64>); 7] = [
    ("admin", Role::Admin, None),
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
            tx.execute("INSERT INTO servers (agent_id, first_seen, status_since) VALUES ('pbx-renta', 0, 0)", [])?;
            let d = centinela_collector::org::create_dependencia(tx, "t", 1, "Impuestos Internos").unwrap();
            let c1 = centinela_collector::org::create_center(tx, "t", 1, d, "Centro Renta").unwrap();
            centinela_collector::org::create_center(tx, "t", 1, d, "Centro Aduana").unwrap();
            centinela_collector::org::place_server(tx, "t", 1, "pbx-renta", Some(c1)).unwrap();
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
    async fn file(&self, who: &str, center: i64) -> (u16, serde_json::Value) {
        let body = serde_json::json!({
            "centro": center.to_string(), "servidor": if center == 1 { "pbx-renta" } else { "" },
            "titulo": "No entran llamadas a la cola de renta", "descripcion": "Desde las 14:00 suena ocupado.",
            "canal": "telefono", "solicitante": "Ana Pérez",
        });
        let r = self.s.post_json("/api/v1/tickets", &self.tokens[who], &body.to_string()).await;
        (r.status, serde_json::from_str(&r.body).unwrap_or_default())
    }

    async fn act(&self, who: &str, id: i64, action: serde_json::Value) -> (u16, serde_json::Value) {
        let r =
            self.s.post_json(&format!("/api/v1/tickets/{id}/actions"), &self.tokens[who], &action.to_string()).await;
        (r.status, serde_json::from_str(&r.body).unwrap_or_default())
    }

    fn assign(&self, to: &str) -> serde_json::Value {
        serde_json::json!({ "accion": "asignar", "prioridad": "alta", "tecnico": self.ids[to].to_string(), "texto": "Revisar la troncal" })
    }

    /// A ticket of center 1 brought to `state` by the people allowed to.
    async fn ticket_in(&self, state: &str) -> i64 {
        let (_, t) = self.file("jefe", 1).await;
        let id = t["id"].as_i64().unwrap();
        if state == "solicitado" {
            return id;
        }
        assert_eq!(self.act("jefe", id, self.assign("tec")).await.0, 200);
        if state == "asignado" {
            return id;
        }
        let contact = serde_json::json!({ "accion": "contacto", "texto": "Llamé a Ana Pérez a las 14:20" });
        assert_eq!(self.act("tec", id, contact).await.0, 200);
        if state == "en_atencion" {
            return id;
        }
        let close = serde_json::json!({ "accion": "cerrar", "texto": "Se reinició la troncal" });
        assert_eq!(self.act("tec", id, close).await.0, 200);
        id
    }
}

#[tokio::test]
async fn a_request_goes_from_solicitado_to_cerrado_with_its_timeline_and_audit() {
    let o = org().await;
    let (status, t) = o.file("jefa.renta", 1).await;
    assert_eq!(status, 201, "{t}");
    let id = t["id"].as_i64().unwrap();
    let id = o.ticket_in_from(id).await;
    let r = o.s.get_bearer(&format!("/api/v1/tickets/{id}"), &o.tokens["jefa.renta"]).await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["ticket"]["state"], "cerrado");
    assert_eq!(v["ticket"]["resolution"], "Se reinició la troncal");
    assert_eq!(v["ticket"]["channel"], "centinela", "a chief's own request comes through Centinela");
    let events: Vec<&str> =
        v["timeline"].as_array().unwrap().iter().map(|e| e["event"]["kind"].as_str().unwrap()).collect();
    assert_eq!(events, ["filed", "assigned", "contacted", "closed"]);

    let page = o.s.get_bearer(&format!("/tickets/{id}"), &o.tokens["jefe"]).await;
    assert!(page.body.contains("Cerrado") && page.body.contains("Se reinició la troncal"), "{}", page.body);
    assert!(page.body.contains("Evaluado y asignado") && page.body.contains("Contacto con el solicitante"));
    let conn = rusqlite::Connection::open(o.s.dir.path().join("centinela.db")).unwrap();
    let actions: Vec<String> = conn
        .prepare("SELECT action FROM audit WHERE object = ?1 ORDER BY id")
        .unwrap()
        .query_map([format!("ticket:{id}")], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(actions, ["ticket.file", "ticket.assign", "ticket.record_contact", "ticket.close"]);
    assert!(centinela_collector::audit::verify(&conn).is_ok());
}

impl Org {
    async fn ticket_in_from(&self, id: i64) -> i64 {
        assert_eq!(self.act("jefe", id, self.assign("tec")).await.0, 200);
        let contact = serde_json::json!({ "accion": "contacto", "texto": "Llamé a Ana Pérez a las 14:20" });
        assert_eq!(self.act("tec", id, contact).await.0, 200);
        let close = serde_json::json!({ "accion": "cerrar", "texto": "Se reinició la troncal" });
        assert_eq!(self.act("tec", id, close).await.0, 200);
        id
    }
}

#[tokio::test]
async fn the_server_enforces_the_role_by_action_matrix() {
    let o = org().await;
    // (action, state it needs, who → expected status)
    let comment = serde_json::json!({ "accion": "comentar", "texto": "¿Novedades?" });
    let contact = serde_json::json!({ "accion": "contacto", "texto": "Llamé al solicitante" });
    let close = serde_json::json!({ "accion": "cerrar", "texto": "Resuelto" });
    let cancel = serde_json::json!({ "accion": "cancelar", "texto": "Duplicado" });
    let reopen = serde_json::json!({ "accion": "reabrir", "texto": "Volvió a fallar" });
    let cases: Vec<(&str, serde_json::Value, &str, [u16; 7])> = vec![
        //                                      admin jefe  tec   otro  jefa  jefe.a director
        ("asignar", o.assign("tec"), "solicitado", [403, 200, 403, 403, 403, 403, 403]),
        ("contacto", contact, "asignado", [403, 200, 200, 403, 403, 403, 403]),
        ("cerrar", close, "en_atencion", [403, 200, 200, 403, 403, 403, 403]),
        // The center's chief may withdraw a request about their center while it waits.
        ("cancelar", cancel, "solicitado", [403, 200, 403, 403, 200, 403, 403]),
        ("comentar", comment, "asignado", [403, 200, 200, 200, 200, 403, 403]),
        ("reabrir", reopen, "cerrado", [403, 200, 403, 403, 403, 403, 403]),
    ];
    for (name, action, state, expected) in cases {
        for (i, (who, _, _)) in PEOPLE.iter().enumerate() {
            let id = o.ticket_in(state).await;
            let (status, body) = o.act(who, id, action.clone()).await;
            assert_eq!(status, expected[i], "{who} {name} on {state}: {body}");
            if status == 403 {
                assert!(body["error"].as_str().is_some_and(|m| !m.is_empty()), "a refusal says why: {body}");
            }
        }
    }
    // Once assigned, only the UACT chief cancels.
    let id = o.ticket_in("asignado").await;
    assert_eq!(
        o.act("jefa.renta", id, serde_json::json!({ "accion": "cancelar", "texto": "Ya funciona" })).await.0,
        403
    );
    // Nobody closes a ticket that was never attended: 409, the state is wrong.
    let id = o.ticket_in("asignado").await;
    let (status, body) = o.act("tec", id, serde_json::json!({ "accion": "cerrar", "texto": "x" })).await;
    assert_eq!(status, 409, "{body}");
    // An empty resolution is refused: 422.
    let id = o.ticket_in("en_atencion").await;
    assert_eq!(o.act("tec", id, serde_json::json!({ "accion": "cerrar", "texto": "  " })).await.0, 422);
}

#[tokio::test]
async fn a_call_center_chief_sees_and_files_only_for_their_own_center() {
    let o = org().await;
    let (_, t) = o.file("jefe", 1).await;
    let id = t["id"].as_i64().unwrap();
    assert_eq!(o.s.get_bearer(&format!("/api/v1/tickets/{id}"), &o.tokens["jefe.aduana"]).await.status, 403);
    assert_eq!(o.s.get_bearer(&format!("/tickets/{id}"), &o.tokens["jefe.aduana"]).await.status, 403);
    let list = o.s.get_bearer("/api/v1/tickets", &o.tokens["jefe.aduana"]).await;
    assert_eq!(list.body, "[]");
    let list = o.s.get_bearer("/api/v1/tickets", &o.tokens["jefa.renta"]).await;
    assert!(list.body.contains(&format!("\"id\":{id}")), "{}", list.body);
    let (status, body) = o.file("jefe.aduana", 1).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = o.file("director", 1).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn ticket_forms_need_the_csrf_token_and_a_refusal_is_shown_on_the_page() {
    let o = org().await;
    let id = o.ticket_in("solicitado").await;
    let otp = o.s.add_user("jefe2", Role::JefeUact).await;
    let session = o.s.login_changed("jefe2", &otp).await;
    let page = o.s.get(&format!("/tickets/{id}"), Some(&session)).await;
    assert!(page.body.contains("data-action=\"assign\""), "the chief gets the assign form");
    let csrf = csrf_of(&page.body);
    let tec = o.ids["tec"].to_string();
    let assign = |token: &str| {
        form(&[("csrf", token), ("accion", "asignar"), ("prioridad", "critica"), ("tecnico", &tec), ("texto", "")])
    };
    assert_eq!(o.s.post(&format!("/tickets/{id}/accion"), Some(&session), &assign("nope")).await.status, 403);
    let r = o.s.post(&format!("/tickets/{id}/accion"), Some(&session), &assign(&csrf)).await;
    assert_eq!(r.status, 303);
    let page = o.s.get(&format!("/tickets/{id}"), Some(&session)).await;
    assert!(page.body.contains("Crítica") && page.body.contains("Asignado"), "{}", page.body);
    let r = o.s.post(&format!("/tickets/{id}/accion"), Some(&session), &assign(&csrf)).await;
    assert_eq!(r.status, 409, "assigning twice is a state conflict");
    assert!(r.body.contains("role=\"alert\""), "the refusal is on the page");

    let director = o.s.get_bearer(&format!("/tickets/{id}"), &o.tokens["director"]).await;
    assert!(!director.body.contains("data-action="), "the director gets no action forms");
    let list = o.s.get(&format!("/tickets?estado=asignado&tecnico={tec}"), Some(&session)).await;
    assert!(list.body.contains(&format!("data-ticket=\"{id}\"")), "the filters find it");
    let list = o.s.get("/tickets?estado=cerrado", Some(&session)).await;
    assert!(!list.body.contains(&format!("data-ticket=\"{id}\"")));
}

#[tokio::test]
async fn notification_deliveries_are_visible_to_the_uact_chief_only() {
    let o = org().await;
    o.s.writer
        .run(|tx| {
            let n = centinela_collector::notify::NewNotification {
                channel: centinela_collector::notify::Channel::Email,
                recipient: "mesa@hacienda.example".into(),
                subject: "[Centinela] Ticket #1 creado".into(),
                body: Some("cuerpo".into()),
                payload: None,
                ticket_id: Some(1),
                event: "creado".into(),
            };
            Ok(centinela_collector::notify::enqueue(tx, &n)?)
        })
        .await
        .unwrap();
    let page = o.s.get_bearer("/notificaciones", &o.tokens["jefe"]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("mesa@hacienda.example") && page.body.contains("pendiente"), "{}", page.body);
    assert_eq!(o.s.get_bearer("/notificaciones", &o.tokens["tec"]).await.status, 403);
}
