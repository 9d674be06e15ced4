//! `POST /api/v1/servers/{id}/verify` without a broker: who may ask, what a wrong request gets,
//! and the Spanish answer when the collector is not connected (the round trip through a real
//! Mosquitto is in the end-to-end tests, `tests/tests/commands.rs`).

mod web;

use centinela_collector::auth::{Role, store};
use web::Server;

async fn token(s: &Server, name: &str, role: Role) -> String {
    s.add_user(name, role).await;
    let name = name.to_string();
    s.writer.run(move |tx| Ok(store::create_token(tx, "test", 1, &name, "tests").unwrap())).await.unwrap()
}

async fn with_server(s: &Server, agent: &str) {
    let agent = agent.to_string();
    s.writer
        .run(move |tx| {
            tx.execute(
                "INSERT INTO servers (agent_id, first_seen, status, status_since) VALUES (?1, 1, 'online', 1)",
                [agent],
            )?;
            Ok(())
        })
        .await
        .unwrap();
}

fn error_of(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"].as_str().unwrap_or_else(|| panic!("no error in {body}")).to_string()
}

#[tokio::test]
async fn only_uact_staff_may_verify_a_server_now() {
    let s = Server::start().await;
    with_server(&s, "pbx-01").await;
    for (name, role) in [("admin1", Role::Admin), ("director1", Role::Director), ("jefa-centro", Role::JefeCentro)] {
        let t = token(&s, name, role).await;
        let r = s.post_json("/api/v1/servers/pbx-01/verify", &t, "{}").await;
        assert_eq!(r.status, 403, "{name}: {}", r.body);
        assert!(error_of(&r.body).contains("personal de UACT"), "{}", r.body);
    }
    for (name, role) in [("tecnico1", Role::Tecnico), ("jefe1", Role::JefeUact)] {
        let t = token(&s, name, role).await;
        let r = s.post_json("/api/v1/servers/pbx-01/verify", &t, "{}").await;
        assert_eq!(r.status, 503, "{name} may ask; only the broker is missing: {}", r.body);
    }
    let r = s.request("POST", "/api/v1/servers/pbx-01/verify", None, Some(("application/json", "{}"))).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn without_a_broker_connection_the_answer_says_so_in_spanish() {
    let s = Server::start().await;
    with_server(&s, "pbx-01").await;
    let t = token(&s, "tecnico1", Role::Tecnico).await;
    let r = s.post_json("/api/v1/servers/pbx-01/verify", &t, r#"{"timeout_s": 5}"#).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(error_of(&r.body).starts_with("el colector no está conectado al broker MQTT"), "{}", r.body);
}

#[tokio::test]
async fn an_unknown_server_or_an_impossible_timeout_is_refused_before_anything_is_sent() {
    let s = Server::start().await;
    with_server(&s, "pbx-01").await;
    let t = token(&s, "tecnico1", Role::Tecnico).await;
    let r = s.post_json("/api/v1/servers/pbx-99/verify", &t, "{}").await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(error_of(&r.body).contains("«pbx-99»"), "{}", r.body);
    let r = s.post_json("/api/v1/servers/no%20valido/verify", &t, "{}").await;
    assert_eq!(r.status, 404, "{}", r.body);
    for bad in ["0", "301"] {
        let r = s.post_json("/api/v1/servers/pbx-01/verify", &t, &format!(r#"{{"timeout_s": {bad}}}"#)).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(error_of(&r.body).contains("entre 1 y 300 segundos"), "{}", r.body);
    }
}

#[tokio::test]
async fn a_caller_with_a_session_must_send_its_csrf_token() {
    let s = Server::start().await;
    with_server(&s, "pbx-01").await;
    let otp = s.add_user("tecnico1", Role::Tecnico).await;
    let session = s.login_changed("tecnico1", &otp).await;
    let post = |body: String| {
        let session = session.clone();
        let s = &s;
        async move {
            s.request(
                "POST",
                "/api/v1/servers/pbx-01/verify",
                Some(("Cookie", &session)),
                Some(("application/json", &body)),
            )
            .await
        }
    };
    let r = post("{}".into()).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(error_of(&r.body).contains("CSRF"), "{}", r.body);
    let csrf = web::csrf_of(&s.get("/", Some(&session)).await.body);
    let r = post(format!(r#"{{"csrf": "{csrf}"}}"#)).await;
    assert_eq!(r.status, 503, "with its token the request goes through: {}", r.body);
}
