//! Login, sessions, CSRF, throttling and API tokens, over real HTTP against the collector's own
//! router served on 127.0.0.1 (the same `make_app` as `serve`).

mod web;

use centinela_collector::auth::{Role, password, store};
use web::{Server, csrf_of, form};

#[tokio::test]
async fn without_credentials_pages_redirect_to_login_the_api_answers_401_and_healthz_stays_public() {
    let s = Server::start().await;
    let r = s.get("/server/pbx-01", None).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login?next=/server/pbx-01"));
    let r = s.get("/api/v1/servers", None).await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("Authorization: Bearer"), "{}", r.body);
    assert_eq!(s.get("/healthz", None).await.status, 200);
    assert_eq!(s.get("/login", None).await.status, 200);
    assert_eq!(s.get("/static/app.css", None).await.status, 200);
}

#[tokio::test]
async fn a_first_login_with_a_one_time_password_must_change_it_before_anything_else() {
    let s = Server::start().await;
    let otp = s.add_user("ana", Role::Tecnico).await;
    let r = s.post("/login", None, &form(&[("username", "ana"), ("password", "wrong-password"), ("next", "/")])).await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("Usuario o contraseña incorrectos."));
    let r = s.post("/login", None, &form(&[("username", "ana"), ("password", &otp), ("next", "/")])).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/cuenta/contrasena"));
    let cookie = r.header("set-cookie").expect("a session cookie").to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();

    let r = s.get("/", Some(&session)).await;
    assert_eq!((r.status, r.header("location")), (303, Some("/cuenta/contrasena")), "no page before the change");
    assert_eq!(s.get("/api/v1/servers", Some(&session)).await.status, 403);

    let page = s.get("/cuenta/contrasena", Some(&session)).await;
    assert!(page.body.contains("es de un solo uso"));
    let csrf = csrf_of(&page.body);
    let change = |token: &str| {
        form(&[
            ("csrf", token),
            ("current", &otp),
            ("new", "una-frase-larga-nueva"),
            ("confirm", "una-frase-larga-nueva"),
        ])
    };
    assert_eq!(s.post("/cuenta/contrasena", Some(&session), &change("forged")).await.status, 403);
    let r = s.post("/cuenta/contrasena", Some(&session), &change(&csrf)).await;
    assert_eq!((r.status, r.header("location")), (303, Some("/")));
    let r = s.get("/", Some(&session)).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Técnico de UACT"), "the header names the role");

    // The old one-time password no longer works; the new one does.
    let r = s.post("/login", None, &form(&[("username", "ana"), ("password", &otp)])).await;
    assert_eq!(r.status, 401);
    let r = s.post("/login", None, &form(&[("username", "ANA"), ("password", "una-frase-larga-nueva")])).await;
    assert_eq!(r.header("location"), Some("/"));
}

#[tokio::test]
async fn a_weak_or_mismatched_new_password_is_refused_with_the_reason() {
    let s = Server::start().await;
    let otp = s.add_user("beto", Role::JefeUact).await;
    let session = s.login("beto", &otp).await;
    let csrf = csrf_of(&s.get("/cuenta/contrasena", Some(&session)).await.body);
    let try_new = |new: &'static str, confirm: &'static str| {
        form(&[("csrf", &csrf), ("current", &otp), ("new", new), ("confirm", confirm)])
    };
    let r = s.post("/cuenta/contrasena", Some(&session), &try_new("corta", "corta")).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("al menos 10 caracteres"), "{}", r.body);
    let r = s.post("/cuenta/contrasena", Some(&session), &try_new("una-frase-larga", "otra-frase-larga")).await;
    assert!(r.body.contains("no coinciden"));
}

#[tokio::test]
async fn five_failed_logins_lock_the_user_even_with_the_right_password_afterwards() {
    let s = Server::start().await;
    let otp = s.add_user("carla", Role::Director).await;
    for _ in 0..5 {
        let r = s.post("/login", None, &form(&[("username", "carla"), ("password", "adivinando-123")])).await;
        assert_eq!(r.status, 401);
    }
    let r = s.post("/login", None, &form(&[("username", "carla"), ("password", &otp)])).await;
    assert_eq!(r.status, 429);
    assert!(r.body.contains("Demasiados intentos fallidos"), "{}", r.body);
    assert!(r.header("set-cookie").is_none());
}

#[tokio::test]
async fn an_api_token_opens_the_api_and_a_wrong_one_does_not() {
    let s = Server::start().await;
    s.add_user("mesa", Role::Tecnico).await;
    let token =
        s.writer.run(|tx| Ok(store::create_token(tx, "test", 1, "mesa", "mesa de servicio").unwrap())).await.unwrap();
    let r = s.get_bearer("/api/v1/servers", &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "[]");
    assert_eq!(s.get_bearer("/api/v1/servers", "cnt_not-a-token").await.status, 401);
}

#[tokio::test]
async fn logout_needs_the_csrf_token_and_ends_the_session() {
    let s = Server::start().await;
    let otp = s.add_user("dora", Role::Tecnico).await;
    let session = s.login_changed("dora", &otp).await;
    let page = s.get("/", Some(&session)).await;
    let csrf = csrf_of(&page.body);
    assert_eq!(s.post("/logout", Some(&session), &form(&[("csrf", "x")])).await.status, 403);
    let r = s.post("/logout", Some(&session), &form(&[("csrf", &csrf)])).await;
    assert_eq!(r.status, 303);
    assert!(r.header("set-cookie").is_some_and(|c| c.contains("Max-Age=0")));
    assert_eq!(s.get("/", Some(&session)).await.status, 303, "the session is gone on the server too");
}

#[test]
fn stored_passwords_are_argon2id() {
    let h = password::hash("una-frase-larga").unwrap();
    assert!(h.starts_with("$argon2id$v=19$"), "{h}");
}

#[tokio::test]
async fn only_an_admin_reaches_the_admin_pages_and_a_user_it_creates_can_log_in() {
    let s = Server::start().await;
    let otp = s.add_user("tec", Role::Tecnico).await;
    let tec = s.login_changed("tec", &otp).await;
    assert_eq!(s.get("/admin/usuarios", Some(&tec)).await.status, 403);
    let csrf = csrf_of(&s.get("/", Some(&tec)).await.body);
    let r =
        s.post("/admin/usuarios", Some(&tec), &form(&[("csrf", &csrf), ("username", "x"), ("role", "admin")])).await;
    assert_eq!(r.status, 403, "the server refuses, whatever the page showed");

    let otp = s.add_user("root", Role::Admin).await;
    let admin = s.login_changed("root", &otp).await;
    let page = s.get("/admin/organizacion", Some(&admin)).await;
    assert_eq!(page.status, 200);
    let csrf = csrf_of(&page.body);
    let org = |pairs: &[(&str, &str)]| {
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(pairs);
        form(&all)
    };
    let r = s.post("/admin/organizacion", Some(&admin), &org(&[("what", "dependencia"), ("name", "Aduanas")])).await;
    assert_eq!(r.status, 303);
    s.post(
        "/admin/organizacion",
        Some(&admin),
        &org(&[("what", "center"), ("dependencia", "1"), ("name", "Centro Aduanas")]),
    )
    .await;
    let page = s.get("/admin/organizacion", Some(&admin)).await;
    assert!(page.body.contains("Centro Aduanas") && page.body.contains("Aduanas"), "{}", page.body);

    let r = s
        .post(
            "/admin/usuarios",
            Some(&admin),
            &form(&[
                ("csrf", &csrf),
                ("username", "jefa.aduanas"),
                ("full_name", "Jefa Aduanas"),
                ("role", "jefe_centro"),
                ("center", "1"),
            ]),
        )
        .await;
    assert_eq!(r.status, 200);
    let at = r.body.find("<code class=\"otp\">").expect("the one-time password is shown once");
    let new_otp = &r.body[at + 18..at + 34];
    assert!(r.body.contains("Centro Aduanas"));
    let session = s.login("jefa.aduanas", new_otp).await;
    assert_eq!(s.get("/", Some(&session)).await.header("location"), Some("/cuenta/contrasena"));

    let r = s
        .post(
            "/admin/usuarios",
            Some(&admin),
            &form(&[("csrf", &csrf), ("username", "sin.centro"), ("role", "jefe_centro")]),
        )
        .await;
    assert!(r.body.contains("necesita su centro telefónico"), "{}", r.body);
}

#[tokio::test]
async fn an_admin_deactivates_a_user_who_then_cannot_log_in_and_changes_a_role() {
    let s = Server::start().await;
    let otp = s.add_user("root", Role::Admin).await;
    let admin = s.login_changed("root", &otp).await;
    let otp = s.add_user("saliente", Role::Tecnico).await;
    let gone = s.login_changed("saliente", &otp).await;
    let csrf = csrf_of(&s.get("/admin/usuarios", Some(&admin)).await.body);
    let change = |pairs: &[(&str, &str)]| {
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(pairs);
        form(&all)
    };
    let r = s
        .post("/admin/usuarios/cambiar", Some(&admin), &change(&[("username", "saliente"), ("cambio", "desactivar")]))
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(s.get("/", Some(&gone)).await.status, 303, "their session ended");
    let r =
        s.post("/login", None, &form(&[("username", "saliente"), ("password", "saliente-nueva-clave-larga")])).await;
    assert_eq!(r.status, 401, "a deactivated user cannot log in");
    let page = s.get("/admin/usuarios", Some(&admin)).await;
    assert!(page.body.contains("desactivado"));
    let r = s
        .post("/admin/usuarios/cambiar", Some(&admin), &change(&[("username", "root"), ("cambio", "desactivar")]))
        .await;
    assert!(r.body.contains("no puede desactivarse a sí mismo"));
    let r = s
        .post(
            "/admin/usuarios/cambiar",
            Some(&admin),
            &change(&[("username", "saliente"), ("cambio", "rol"), ("role", "director")]),
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(s.get("/admin/usuarios", Some(&admin)).await.body.contains("Dirección (solo lectura)"));
}
