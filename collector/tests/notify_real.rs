//! Notifications against real peers (issue 5): a real SMTP server (Debian's `python3-aiosmtpd`) and
//! a real HTTP server (Python's `http.server`), both on 127.0.0.1, started and killed by each test.
//! The TLS test also needs the `openssl` command to make a CA and a server certificate.
//!
//! The Python that has aiosmtpd is Debian's `/usr/bin/python3` (a pyenv `python3` earlier on PATH
//! does not see Debian's packages); `CENTINELA_TEST_PYTHON` overrides it.

use centinela_collector::notify::{
    self, Channel, Counts, NotificationRow, Notify, Options, RawNotify, Schedule, Status, TicketEvent,
};
use centinela_collector::store;
use rusqlite::Connection;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SMTP_SERVER: &str = r#"
import asyncio, email, email.policy, json, os, ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

port, out, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cert = sys.argv[4] if len(sys.argv) > 4 else None

class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        rec = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "message_id": str(msg["message-id"]),
            "content_type": msg.get_content_type(),
            "body": msg.get_content(),
            "tls": session.ssl is not None,
            "login": getattr(session.auth_data, "login", b"").decode() or None,
        }
        n = len([f for f in os.listdir(out) if f.endswith(".json")])
        tmp = os.path.join(out, "%04d.tmp" % n)
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.rename(tmp, os.path.join(out, "%04d.json" % n))
        return "250 OK"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"centinela" and auth_data.password == b"s3creto-smtp"
    return AuthResult(success=ok, handled=False, auth_data=auth_data)

kwargs = {}
if mode in ("starttls", "tls"):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert + ".crt", cert + ".key")
    if mode == "starttls":
        kwargs = dict(tls_context=ctx, require_starttls=True, auth_required=True, authenticator=authenticator)
    else:
        kwargs = dict(ssl_context=ctx, auth_required=True, authenticator=authenticator, auth_require_tls=False)
c = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
c.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;

const HTTP_SERVER: &str = r#"
import http.server, json, os, sys, time

port, out, fails = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    count = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Handler.count += 1
        rec = {"n": Handler.count, "at": time.time(), "path": self.path,
               "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body.decode("utf-8")}
        tmp = os.path.join(out, "%04d.tmp" % Handler.count)
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.rename(tmp, os.path.join(out, "%04d.json" % Handler.count))
        status, answer = (500, b"fallo simulado de la mesa") if Handler.count <= fails else (200, b"ok")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"#;

fn python() -> String {
    let py = std::env::var("CENTINELA_TEST_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let ok = Command::new(&py).args(["-c", "import aiosmtpd"]).stderr(Stdio::null()).status();
    assert!(
        ok.is_ok_and(|s| s.success()),
        "{py} cannot import aiosmtpd: install Debian's package (apt-get install -y python3-aiosmtpd) \
         or set CENTINELA_TEST_PYTHON to a python3 that has it"
    );
    py
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A Python server on 127.0.0.1, killed when dropped; what it received is in `out`, one JSON file each.
struct Peer {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Peer {
    fn start(dir: &Path, name: &str, script: &str, args: &[&str]) -> Self {
        let port = free_port();
        let out = dir.join(format!("{name}-out"));
        std::fs::create_dir_all(&out).unwrap();
        // Not `http.py`: a script named like a module it imports would shadow it.
        let path = dir.join(format!("peer_{}.py", name.replace('-', "_")));
        std::fs::write(&path, script).unwrap();
        let mut cmd = Command::new(python());
        // Its complaints go to a file beside it, named in any failure about it.
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        cmd.args(["-I", "-W", "ignore"]).arg(&path).arg(port.to_string()).arg(&out).args(args);
        cmd.stdout(Stdio::null()).stderr(log);
        let child = cmd.spawn().unwrap();
        let mut peer = Self { child, port, out };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = peer.child.try_wait() {
                let log = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
                panic!("{name} server exited before listening ({status}):\n{log}");
            }
            assert!(Instant::now() < deadline, "{name} server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        peer
    }

    fn smtp(dir: &Path) -> Self {
        Self::start(dir, "smtp", SMTP_SERVER, &["none"])
    }

    fn http(dir: &Path, fails: u32) -> Self {
        Self::start(dir, "http", HTTP_SERVER, &[&fails.to_string()])
    }

    /// What the server received, oldest first.
    fn received(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<_> = std::fs::read_dir(&self.out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files.iter().map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()).collect()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn event(id: i64, what: &str) -> TicketEvent {
    TicketEvent {
        ticket_id: id,
        event: what.into(),
        title: "Cola 900 sin agentes en pbx-02".into(),
        center: "Centro de Atención Sevilla".into(),
        server: Some("pbx-02".into()),
        state: "abierto".into(),
        priority: Some("alta".into()),
        assignee: Some("Ana Pérez".into()),
        requester: "Luis Gómez".into(),
        url: format!("http://127.0.0.1:8080/tickets/{id}"),
        at_ms: 1_736_073_120_000,
    }
}

fn notify_config(toml_text: &str) -> Notify {
    let raw: RawNotify = toml::from_str(toml_text).unwrap();
    Notify::from_raw(raw).unwrap()
}

fn fast(backoff_ms: &[u64], give_up_after: Duration) -> Options {
    Options {
        schedule: Schedule { backoff: backoff_ms.iter().map(|&ms| Duration::from_millis(ms)).collect(), give_up_after },
        poll: Duration::from_millis(50),
    }
}

/// The database, the running workers, and a way to stop them.
struct Rig {
    _dir: tempfile::TempDir,
    conn: Connection,
    stop: tokio::sync::watch::Sender<bool>,
    workers: Option<notify::Notifier>,
}

impl Rig {
    fn new(dir: tempfile::TempDir, config: &Notify, options: Options) -> Self {
        let data = dir.path().join("data");
        let conn = store::open_writer(&data).unwrap();
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let workers = notify::spawn(&data, config.clone(), options, stop_rx).unwrap();
        Self { _dir: dir, conn, stop, workers: Some(workers) }
    }

    /// Enqueues like the ticket module does: inside the ticket change's transaction, then wakes.
    fn ticket_event(&mut self, config: &Notify, e: &TicketEvent, also_to: &[&str]) -> Vec<i64> {
        let tx = self.conn.transaction().unwrap();
        let ids = notify::enqueue_ticket_event(&tx, config, e, also_to).unwrap();
        tx.commit().unwrap();
        self.workers.as_ref().unwrap().waker().wake();
        ids
    }

    fn rows(&self) -> Vec<NotificationRow> {
        notify::recent(&self.conn, 100).unwrap()
    }

    fn row(&self, id: i64) -> NotificationRow {
        self.rows().into_iter().find(|r| r.id == id).unwrap()
    }

    fn counts(&self) -> Counts {
        notify::counts(&self.conn).unwrap()
    }

    fn wait_for(&self, what: &str, limit: Duration, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + limit;
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}; rows: {:#?}", self.rows());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(w) = self.workers.take() {
            w.join();
        }
    }
}

#[test]
fn a_ticket_event_sends_one_spanish_email_and_one_webhook_json() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = Peer::smtp(dir.path());
    let http = Peer::http(dir.path(), 0);
    let token = dir.path().join("token");
    std::fs::write(&token, "tok-de-prueba-123\n").unwrap();
    let config = notify_config(&format!(
        "[email]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"Centinela UACT <centinela@example.org>\"\n\
         [webhook]\nurl = \"http://127.0.0.1:{}/mesa/tickets?origen=centinela\"\nbearer_token_file = {:?}\n",
        smtp.port,
        http.port,
        token.display().to_string()
    ));
    let mut rig = Rig::new(dir, &config, Options::default());
    let ids = rig.ticket_event(&config, &event(7, "creado"), &["ana.perez@example.org"]);
    assert_eq!(ids.len(), 2);
    rig.wait_for("both deliveries", Duration::from_secs(20), |r| r.rows().iter().all(|n| n.delivered_at.is_some()));
    assert_eq!(rig.counts(), Counts::default());

    let mails = smtp.received();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let m = &mails[0];
    assert_eq!(m["rcpt_tos"], serde_json::json!(["ana.perez@example.org"]));
    assert_eq!(m["mail_from"], "centinela@example.org");
    assert_eq!(m["subject"], "[Centinela] Ticket #7 creado: Cola 900 sin agentes en pbx-02");
    assert_eq!(m["content_type"], "text/plain");
    let body = m["body"].as_str().unwrap();
    for line in [
        "Ticket #7: Cola 900 sin agentes en pbx-02",
        "Evento:       creado",
        "Centro:       Centro de Atención Sevilla",
        "Asignado a:   Ana Pérez",
        "Solicitante:  Luis Gómez",
        "Ver el ticket: http://127.0.0.1:8080/tickets/7",
    ] {
        assert!(body.lines().any(|l| l.trim_end() == line), "missing {line:?} in\n{body}");
    }
    assert!(m["message_id"].as_str().unwrap().starts_with(&format!("<centinela.notificacion.{}.", ids[0])));

    let calls = http.received();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    let c = &calls[0];
    assert_eq!(c["path"], "/mesa/tickets?origen=centinela");
    assert_eq!(c["headers"]["authorization"], "Bearer tok-de-prueba-123");
    assert_eq!(c["headers"]["content-type"], "application/json");
    assert_eq!(c["headers"]["idempotency-key"], format!("centinela-notificacion-{}", ids[1]));
    let json: serde_json::Value = serde_json::from_str(c["body"].as_str().unwrap()).unwrap();
    assert_eq!(json["event"], "creado");
    assert_eq!(json["ticket"]["id"], 7);
    assert_eq!(json["ticket"]["center"], "Centro de Atención Sevilla");
    assert_eq!(json["ticket"]["url"], "http://127.0.0.1:8080/tickets/7");

    let rows = rig.rows();
    assert!(rows.iter().all(|r| r.attempts == 1 && r.last_error.is_none() && r.status() == Status::Delivered));
}

#[test]
fn a_webhook_answering_500_is_retried_with_backoff_and_then_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let http = Peer::http(dir.path(), 2);
    let config = notify_config(&format!("[webhook]\nurl = \"http://127.0.0.1:{}/hook\"\n", http.port));
    let mut rig = Rig::new(dir, &config, fast(&[400, 800], Duration::from_secs(60)));
    let id = rig.ticket_event(&config, &event(8, "asignado"), &[])[0];

    // Between the attempts the failure is visible, with the desk's words.
    rig.wait_for("the first failure", Duration::from_secs(10), |r| r.row(id).last_error.is_some());
    let row = rig.row(id);
    assert_eq!(row.status(), Status::Retrying);
    assert_eq!(rig.counts(), Counts { pending: 0, failed_retrying: 1, given_up: 0 });
    let error = row.last_error.unwrap();
    assert!(error.contains("respondió 500") && error.contains("fallo simulado de la mesa"), "{error}");

    rig.wait_for("delivery", Duration::from_secs(10), |r| r.row(id).delivered_at.is_some());
    let calls = http.received();
    assert_eq!(calls.len(), 3);
    let at: Vec<f64> = calls.iter().map(|c| c["at"].as_f64().unwrap()).collect();
    assert!(at[1] - at[0] >= 0.35, "first retry after the 1st backoff step: {at:?}");
    assert!(at[2] - at[1] >= 0.75, "second retry after the 2nd backoff step: {at:?}");
    let keys: Vec<_> = calls.iter().map(|c| c["headers"]["idempotency-key"].clone()).collect();
    assert!(keys.iter().all(|k| *k == keys[0]), "one key for all attempts: {keys:?}");
    let row = rig.row(id);
    assert_eq!((row.attempts, row.status()), (3, Status::Delivered));
    assert_eq!(rig.counts(), Counts::default());
}

#[test]
fn an_unreachable_smtp_server_leaves_the_email_pending_with_its_error_and_the_webhook_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let http = Peer::http(dir.path(), 0);
    let closed = free_port();
    let config = notify_config(&format!(
        "[email]\nhost = \"127.0.0.1\"\nport = {closed}\nsecurity = \"none\"\nfrom = \"centinela@example.org\"\n\
         to = [\"mesa@example.org\"]\n[webhook]\nurl = \"http://127.0.0.1:{}/hook\"\n",
        http.port
    ));
    let mut rig = Rig::new(dir, &config, Options::default());
    let ids = rig.ticket_event(&config, &event(9, "cerrado"), &[]);
    let (mail, hook) = (ids[0], ids[1]);
    rig.wait_for("webhook delivered and email failed", Duration::from_secs(20), |r| {
        r.row(hook).delivered_at.is_some() && r.row(mail).last_error.is_some()
    });
    let row = rig.row(mail);
    assert_eq!((row.channel, row.status(), row.attempts), (Channel::Email, Status::Retrying, 1));
    let error = row.last_error.unwrap();
    assert!(
        error.contains(&format!("el servidor de correo 127.0.0.1:{closed}")) && error.contains("[notify.email]"),
        "{error}"
    );
    // The default schedule: next attempt a minute after the failure.
    let wait = row.next_attempt_at - row.last_attempt_at.unwrap();
    assert!((59_000..=61_000).contains(&wait), "{wait}");
    assert_eq!(rig.counts(), Counts { pending: 0, failed_retrying: 1, given_up: 0 });
    assert_eq!(http.received().len(), 1);
}

#[test]
fn a_silent_smtp_server_does_not_delay_the_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let http = Peer::http(dir.path(), 0);
    // Accepts connections and never says a word: the worst kind of dead mail server.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || silent.incoming().take(1).map(|s| s.unwrap()).collect::<Vec<_>>());
    let config = notify_config(&format!(
        "[email]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\nfrom = \"centinela@example.org\"\n\
         timeout = \"3s\"\n[webhook]\nurl = \"http://127.0.0.1:{}/hook\"\n",
        http.port
    ));
    let mut rig = Rig::new(dir, &config, Options::default());
    let ids = rig.ticket_event(&config, &event(10, "creado"), &["ana@example.org"]);
    let (mail, hook) = (ids[0], ids[1]);
    let started = Instant::now();
    rig.wait_for("the webhook", Duration::from_secs(10), |r| r.row(hook).delivered_at.is_some());
    assert!(started.elapsed() < Duration::from_secs(2), "webhook took {:?}", started.elapsed());
    let row = rig.row(mail);
    assert_eq!((row.attempts, row.delivered_at, row.last_error.as_deref()), (1, None, None), "email still in flight");
    rig.wait_for("the email's timeout", Duration::from_secs(15), |r| r.row(mail).last_error.is_some());
    let error = rig.row(mail).last_error.unwrap();
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    drop(held);
}

#[test]
fn a_webhook_that_keeps_failing_is_given_up_after_the_limit_and_stays_visible() {
    let dir = tempfile::tempdir().unwrap();
    let http = Peer::http(dir.path(), 1000);
    let config = notify_config(&format!("[webhook]\nurl = \"http://127.0.0.1:{}/hook\"\n", http.port));
    let mut rig = Rig::new(dir, &config, fast(&[150], Duration::from_millis(700)));
    let id = rig.ticket_event(&config, &event(11, "creado"), &[])[0];
    rig.wait_for("giving up", Duration::from_secs(10), |r| r.row(id).given_up_at.is_some());
    let row = rig.row(id);
    assert_eq!(row.status(), Status::GivenUp);
    assert!(row.attempts >= 3, "{row:?}");
    assert!(row.last_error.as_deref().unwrap().contains("respondió 500"), "{row:?}");
    assert!(row.given_up_at.unwrap() >= row.created_at + 700);
    assert_eq!(rig.counts(), Counts { pending: 0, failed_retrying: 0, given_up: 1 });
    // No attempt after giving up.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(http.received().len() as u32, row.attempts);
    assert_eq!(rig.row(id).attempts, row.attempts);
}

/// A private CA and a certificate for 127.0.0.1 signed by it, made with the `openssl` command.
fn make_certificates(dir: &Path) -> (PathBuf, PathBuf) {
    let run = |command: &str| {
        let args: Vec<&str> = command.split_whitespace().collect();
        let out = Command::new("openssl")
            .args(&args)
            .current_dir(dir)
            .output()
            .expect("the openssl command (apt-get install -y openssl)");
        assert!(out.status.success(), "openssl {command}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run("req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=centinela-test-ca -keyout ca.key -out ca.crt");
    run("req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr");
    std::fs::write(dir.join("ext.cnf"), "subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n").unwrap();
    run("x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out server.crt");
    (dir.join("ca.crt"), dir.join("server"))
}

#[test]
fn starttls_and_tls_with_a_private_ca_deliver_with_login_and_an_untrusted_server_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, server_cert) = make_certificates(dir.path());
    let cert_arg = server_cert.display().to_string();
    let starttls = Peer::start(dir.path(), "smtp-starttls", SMTP_SERVER, &["starttls", &cert_arg]);
    let tls = Peer::start(dir.path(), "smtp-tls", SMTP_SERVER, &["tls", &cert_arg]);
    let password = dir.path().join("smtp-password");
    std::fs::write(&password, "s3creto-smtp\n").unwrap();
    let email = |port: u16, security: &str, ca_file: Option<&Path>| {
        let ca = ca_file.map(|p| format!("ca_file = {:?}\n", p.display().to_string())).unwrap_or_default();
        notify_config(&format!(
            "[email]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"{security}\"\nfrom = \"centinela@example.org\"\n\
             username = \"centinela\"\npassword_file = {:?}\n{ca}to = [\"mesa@example.org\"]\n",
            password.display().to_string()
        ))
    };
    for (peer, security) in [(&starttls, "starttls"), (&tls, "tls")] {
        let config = email(peer.port, security, Some(&ca));
        let data = tempfile::tempdir().unwrap();
        let mut rig = Rig::new(data, &config, Options::default());
        let id = rig.ticket_event(&config, &event(12, "creado"), &[])[0];
        rig.wait_for(security, Duration::from_secs(20), |r| r.row(id).delivered_at.is_some());
        let mails = peer.received();
        assert_eq!(mails.len(), 1, "{security}");
        // With "tls" the server speaks nothing but TLS; aiosmtpd flags only a STARTTLS session.
        if security == "starttls" {
            assert_eq!(mails[0]["tls"], true);
        }
        assert_eq!(mails[0]["login"], "centinela", "{security}");
    }

    // Without the CA the server's certificate is not trusted: nothing is sent, the error says where to look.
    let config = email(starttls.port, "starttls", None);
    let data = tempfile::tempdir().unwrap();
    let mut rig = Rig::new(data, &config, Options::default());
    let id = rig.ticket_event(&config, &event(13, "creado"), &[])[0];
    rig.wait_for("the TLS failure", Duration::from_secs(20), |r| r.row(id).last_error.is_some());
    let error = rig.row(id).last_error.unwrap();
    assert!(error.contains("ca_file"), "{error}");
    assert!(!error.contains("s3creto-smtp"), "{error}");
    assert_eq!(starttls.received().len(), 1);
}
