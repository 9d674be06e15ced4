//! The collector's router served on 127.0.0.1:0 over a fresh data directory, and a small HTTP/1.1
//! client, for the web tests (login, roles, tickets). Real sockets, real SQLite, the same
//! `make_app` as `centinela-collector serve`.
#![allow(dead_code)] // each test file uses its own subset

use centinela_collector::auth::{Role, store};
use centinela_collector::config::HttpSettings;
use centinela_collector::web::{AppState, ReaderPool, WebWriter, make_app};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Server {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub writer: Arc<WebWriter>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// `application/x-www-form-urlencoded` of the pairs.
pub fn form(pairs: &[(&str, &str)]) -> String {
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

/// The CSRF token in a page's forms.
pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap_or_else(|| panic!("no csrf field in: {html}"));
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').expect("closing quote")].to_string()
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// With `[http] metrics_token_file` holding `token`: `GET /metrics` on.
    pub async fn start_with_metrics_token(token: &str) -> Self {
        Self::start_with(Some(token.to_string())).await
    }

    async fn start_with(metrics_token: Option<String>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(centinela_collector::store::open_writer(dir.path()).expect("migrate"));
        let writer = Arc::new(WebWriter::open(dir.path()).expect("writer"));
        let state = AppState {
            db: Arc::new(ReaderPool::new(dir.path().to_path_buf())),
            writer: Arc::clone(&writer),
            http: HttpSettings {
                public_url: "http://127.0.0.1".into(),
                secure_cookies: false,
                session_idle: Duration::from_secs(3600),
                session_max: Duration::from_secs(86_400),
                metrics_token,
            },
            workflow: Arc::new(centinela_collector::web::WorkflowEnv {
                ctx: centinela_collector::tickets::store::Context {
                    tickets: Default::default(),
                    notify: Default::default(),
                    public_url: "http://127.0.0.1".into(),
                },
                calendar: Default::default(),
                waker: None,
                reports: Default::default(),
            }),
            stats: Default::default(),
            ingest: Default::default(),
            commands: Default::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let app = make_app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server { port, dir, writer, task }
    }

    /// Creates a user; returns the one-time password.
    pub async fn add_user(&self, name: &str, role: Role) -> String {
        self.add_user_in(name, role, vec![]).await
    }

    pub async fn add_user_in(&self, name: &str, role: Role, centers: Vec<i64>) -> String {
        let name = name.to_string();
        self.writer
            .run(move |tx| Ok(store::create_user(tx, "test", 1, &name, role, "", &centers).expect("user").1))
            .await
            .expect("add user")
    }

    /// Logs in; returns the `Cookie` value.
    pub async fn login(&self, name: &str, password: &str) -> String {
        let r = self.post("/login", None, &form(&[("username", name), ("password", password)])).await;
        assert_eq!(r.status, 303, "login of {name}: {}", r.body);
        r.header("set-cookie").expect("cookie").split(';').next().expect("pair").to_string()
    }

    /// Logs in with a one-time password and changes it; returns the `Cookie` value.
    pub async fn login_changed(&self, name: &str, otp: &str) -> String {
        let session = self.login(name, otp).await;
        let csrf = csrf_of(&self.get("/cuenta/contrasena", Some(&session)).await.body);
        let new = format!("{name}-nueva-clave-larga");
        let r = self
            .post(
                "/cuenta/contrasena",
                Some(&session),
                &form(&[("csrf", &csrf), ("current", otp), ("new", &new), ("confirm", &new)]),
            )
            .await;
        assert_eq!(r.status, 303, "password change of {name}: {}", r.body);
        session
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        self.request("GET", path, cookie.map(|c| ("Cookie", c)), None).await
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> Reply {
        let auth = format!("Bearer {token}");
        self.request("GET", path, Some(("Authorization", &auth)), None).await
    }

    pub async fn post(&self, path: &str, cookie: Option<&str>, body: &str) -> Reply {
        self.request("POST", path, cookie.map(|c| ("Cookie", c)), Some(("application/x-www-form-urlencoded", body)))
            .await
    }

    pub async fn post_json(&self, path: &str, token: &str, json: &str) -> Reply {
        let auth = format!("Bearer {token}");
        self.request("POST", path, Some(("Authorization", &auth)), Some(("application/json", json))).await
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        header: Option<(&str, &str)>,
        body: Option<(&str, &str)>,
    ) -> Reply {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.expect("connect");
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        if let Some((k, v)) = header {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some((ct, b)) = body {
            req.push_str(&format!("Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n{b}", b.len()));
        } else {
            req.push_str("\r\n");
        }
        s.write_all(req.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.expect("read");
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
            .collect();
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(body)
        } else {
            body.to_string()
        };
        Reply { status, headers, body }
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
