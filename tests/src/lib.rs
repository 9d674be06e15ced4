//! Harness for the end-to-end tests: real `mosquitto` processes, real agent and collector processes
//! (killable with SIGKILL), and read-only looks into their SQLite files.
//!
//! Every test gets its own temp dir and ports, so tests run in parallel.

pub mod browser;
pub mod mariadb;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rusqlite::{Connection, OpenFlags};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Polls `f` every 50 ms until it returns true; panics with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for_port(port: u16, timeout: Duration) {
    wait_until(&format!("port {port} to accept connections"), timeout, || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// A child process that is killed when dropped.
pub struct Proc {
    pub child: Child,
    pub name: &'static str,
}

impl Proc {
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// SIGTERM, then wait for the exit; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = kill(self.pid(), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "{} did not exit within 15 s of SIGTERM", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a power cut of the process.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(name: &'static str, cmd: &mut Command, log: &Path) -> Proc {
    let out = std::fs::File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    Proc { child, name }
}

/// A real Mosquitto on its own port, with persistence in its own directory.
pub struct Mosquitto {
    pub port: u16,
    pub dir: PathBuf,
    /// Whether the broker keeps sessions and retained messages across restarts.
    pub persistence: bool,
    /// A TLS-only listener with this certificate, if set.
    pub tls: Option<Pki>,
    /// A whole configuration file to run instead of the generated one (see [`Mosquitto::start_config`]).
    custom: Option<String>,
    proc: Option<Proc>,
}

/// A throwaway certificate authority and a server certificate for `localhost` and 127.0.0.1,
/// made with the openssl command line.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    pub fn generate(dir: &Path, name: &str) -> Pki {
        std::fs::create_dir_all(dir).expect("pki dir");
        let p = |f: &str| dir.join(format!("{name}-{f}"));
        let run = |args: &[&str]| {
            let out =
                Command::new("openssl").args(args).output().expect("openssl is not installed (.ci/run installs it)");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let s = |p: PathBuf| p.display().to_string();
        std::fs::write(p("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").expect("ext file");
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
            "-keyout",
            &s(p("ca.key")),
            "-out",
            &s(p("ca.pem")),
        ]);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &s(p("server.key")),
            "-out",
            &s(p("server.csr")),
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            &s(p("server.csr")),
            "-CA",
            &s(p("ca.pem")),
            "-CAkey",
            &s(p("ca.key")),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &s(p("ext.cnf")),
            "-out",
            &s(p("server.pem")),
        ]);
        Pki { ca: p("ca.pem"), cert: p("server.pem"), key: p("server.key") }
    }
}

impl Mosquitto {
    /// With persistence, as Debian configures it.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, true)
    }

    pub fn start_with(dir: &Path, persistence: bool) -> Self {
        let mut m =
            Mosquitto { port: free_port(), dir: dir.to_path_buf(), persistence, tls: None, custom: None, proc: None };
        m.restart();
        m
    }

    /// A broker that only speaks TLS, with the server certificate of `pki`.
    pub fn start_tls(dir: &Path, pki: Pki) -> Self {
        let mut m = Mosquitto {
            port: free_port(),
            dir: dir.to_path_buf(),
            persistence: true,
            tls: Some(pki),
            custom: None,
            proc: None,
        };
        m.restart();
        m
    }

    /// A broker running the configuration `conf(port)` returns, for a free port: e.g. the shipped
    /// production configuration adapted to a temporary directory. TLS (`mqtts://localhost`) when
    /// `tls` is given.
    pub fn start_config(dir: &Path, tls: Option<Pki>, conf: impl FnOnce(u16) -> String) -> Self {
        let port = free_port();
        let mut m =
            Mosquitto { port, dir: dir.to_path_buf(), persistence: false, tls, custom: Some(conf(port)), proc: None };
        m.restart();
        m
    }

    pub fn url(&self) -> String {
        match self.tls {
            Some(_) => format!("mqtts://localhost:{}", self.port),
            None => format!("mqtt://127.0.0.1:{}", self.port),
        }
    }

    /// Starts (again) on the same port and persistence directory.
    pub fn restart(&mut self) {
        std::fs::create_dir_all(&self.dir).expect("mosquitto dir");
        let conf = self.dir.join("mosquitto.conf");
        let text = match &self.custom {
            Some(custom) => custom.clone(),
            None => self.generated_conf(),
        };
        std::fs::write(&conf, text).expect("mosquitto.conf");
        let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("mosquitto is not installed: apt-get install -y mosquitto (.ci/run does this)");
        let log = self.dir.join("mosquitto.log");
        self.proc = Some(spawn("mosquitto", Command::new(bin).arg("-c").arg(&conf), &log));
        wait_for_port(self.port, Duration::from_secs(10));
    }

    /// The tests' usual broker: anonymous, on 127.0.0.1, persistence as configured; TLS only when
    /// `tls` is set.
    fn generated_conf(&self) -> String {
        // Persistence on (the Debian default) so the collector's session survives a broker restart;
        // queues large enough for a collector outage; `user root` because tests may run as root.
        let mut text = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence {persistence}\npersistence_location {dir}/\nautosave_interval 1\nmax_queued_messages 100000\nmax_inflight_messages 100\nuser root\n",
            port = self.port,
            persistence = self.persistence,
            dir = self.dir.display()
        );
        if let Some(pki) = &self.tls {
            text.push_str(&format!(
                "cafile {}\ncertfile {}\nkeyfile {}\n",
                pki.ca.display(),
                pki.cert.display(),
                pki.key.display()
            ));
        }
        text
    }

    /// SIGTERM: Mosquitto saves its persistence file and exits.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate();
        }
    }
}

/// A binary of this package, next to the test executable's `deps/` directory (cargo builds the
/// package's binaries before its integration tests).
fn sibling_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target directory");
    let bin = dir.join(name);
    assert!(bin.exists(), "{} is missing; run the tests through cargo test", bin.display());
    bin
}

pub fn agent_bin() -> PathBuf {
    sibling_bin("e2e-agent")
}

pub fn collector_bin() -> PathBuf {
    sibling_bin("e2e-collector")
}

/// An agent process with its own config and state directory.
pub struct Agent {
    pub id: String,
    pub dir: PathBuf,
    pub proc: Option<Proc>,
    /// Extra arguments of `run` (e.g. `--root DIR`).
    pub args: Vec<String>,
}

impl Agent {
    pub fn start(dir: &Path, id: &str, broker_url: &str, interval: &str) -> Self {
        Self::start_with(dir, id, broker_url, interval, "")
    }

    /// `mqtt_extra` is appended to the `[mqtt]` section (e.g. `ca_file = "..."`).
    pub fn start_with(dir: &Path, id: &str, broker_url: &str, interval: &str, mqtt_extra: &str) -> Self {
        Self::start_with_sections(dir, id, broker_url, interval, mqtt_extra, "")
    }

    /// Like [`Agent::start_with`], with more sections (`[database]`, `[queue_log]`...) after `[mqtt]`.
    pub fn start_with_sections(
        dir: &Path,
        id: &str,
        broker_url: &str,
        interval: &str,
        mqtt_extra: &str,
        sections: &str,
    ) -> Self {
        std::fs::create_dir_all(dir).expect("agent dir");
        let conf = dir.join("agent.toml");
        std::fs::write(
            &conf,
            format!(
                "id = \"{id}\"\ninterval = \"{interval}\"\nstate_dir = \"{}/state\"\n[mqtt]\nurl = \"{broker_url}\"\n{mqtt_extra}\n{sections}\n",
                dir.display()
            ),
        )
        .expect("agent.toml");
        let mut a = Agent { id: id.to_string(), dir: dir.to_path_buf(), proc: None, args: vec![] };
        a.restart();
        a
    }

    /// An agent reading `/proc`, `/sys` and `/dev` under `root` (a fixture tree).
    pub fn start_on_root(dir: &Path, id: &str, broker_url: &str, interval: &str, root: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("agent dir");
        std::fs::write(
            dir.join("agent.toml"),
            format!(
                "id = \"{id}\"\ninterval = \"{interval}\"\nstate_dir = \"{}/state\"\n[mqtt]\nurl = \"{broker_url}\"\n",
                dir.display()
            ),
        )
        .expect("agent.toml");
        let mut a = Agent {
            id: id.to_string(),
            dir: dir.to_path_buf(),
            proc: None,
            args: vec!["--root".into(), root.display().to_string()],
        };
        a.restart();
        a
    }

    pub fn restart(&mut self) {
        let n = std::fs::read_dir(&self.dir).map(|d| d.count()).unwrap_or(0);
        let log = self.dir.join(format!("agent-{n}.log"));
        self.proc = Some(spawn(
            "agent",
            Command::new(agent_bin()).arg("run").arg("--config").arg(self.dir.join("agent.toml")).args(&self.args),
            &log,
        ));
    }

    pub fn proc(&mut self) -> &mut Proc {
        self.proc.as_mut().expect("agent running")
    }

    fn outbox(&self) -> Option<Connection> {
        let path = self.dir.join("state/outbox.db");
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()
    }

    /// Call-record batches waiting in the outbox.
    pub fn records_backlog(&self) -> u64 {
        self.outbox()
            .and_then(|c| c.query_row("SELECT count(*) FROM outbox WHERE kind = 1", [], |r| r.get::<_, i64>(0)).ok())
            .unwrap_or(0) as u64
    }

    /// The last seq the agent assigned (0 before the first sample).
    pub fn last_seq(&self) -> u64 {
        self.outbox()
            .and_then(|c| {
                c.query_row("SELECT value - 1 FROM meta WHERE key = 'next_seq'", [], |r| r.get::<_, i64>(0)).ok()
            })
            .unwrap_or(0) as u64
    }

    /// Records in the outbox not yet acknowledged by the broker.
    pub fn backlog(&self) -> u64 {
        self.outbox()
            .and_then(|c| c.query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0)).ok())
            .unwrap_or(0) as u64
    }
}

/// A collector process.
pub struct Collector {
    pub dir: PathBuf,
    pub http_port: u16,
    pub proc: Option<Proc>,
    args: Vec<String>,
    /// An admin's API token, made on first use by [`Collector::token`].
    token: std::sync::OnceLock<String>,
}

impl Collector {
    /// A collector reading from an external broker.
    pub fn start(dir: &Path, broker_url: &str) -> Self {
        let http_port = free_port();
        let conf = format!(
            "data_dir = \"{d}/data\"\n[mqtt]\nurl = \"{broker_url}\"\nclient_id = \"centinela-collector-e2e\"\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n",
            d = dir.display()
        );
        Self::start_with(dir, &conf, http_port, &[])
    }

    pub fn start_with(dir: &Path, config_text: &str, http_port: u16, extra: &[&str]) -> Self {
        std::fs::create_dir_all(dir).expect("collector dir");
        std::fs::write(dir.join("collector.toml"), config_text).expect("collector.toml");
        let mut args = vec!["serve".to_string(), "--config".into(), dir.join("collector.toml").display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut c = Collector { dir: dir.to_path_buf(), http_port, proc: None, args, token: Default::default() };
        c.restart();
        c
    }

    pub fn restart(&mut self) {
        let n = std::fs::read_dir(&self.dir).map(|d| d.count()).unwrap_or(0);
        let log = self.dir.join(format!("collector-{n}.log"));
        self.proc = Some(spawn("collector", Command::new(collector_bin()).args(&self.args), &log));
        wait_for_port(self.http_port, Duration::from_secs(20));
    }

    pub fn proc(&mut self) -> &mut Proc {
        self.proc.as_mut().expect("collector running")
    }

    fn db(&self) -> Option<Connection> {
        Connection::open_with_flags(self.dir.join("data/centinela.db"), OpenFlags::SQLITE_OPEN_READ_ONLY).ok()
    }

    /// The collector's tickets: (id, state, title, data JSON), oldest first.
    pub fn tickets(&self) -> Vec<(i64, String, String, String)> {
        let Some(c) = self.db() else { return vec![] };
        let Ok(mut stmt) = c.prepare("SELECT id, state, json_extract(data, '$.title'), data FROM tickets ORDER BY id")
        else {
            return vec![];
        };
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map(|rows| rows.filter_map(Result::ok).collect())
            .unwrap_or_default()
    }

    /// Every stored seq of an agent, ascending (duplicates would show twice; the schema forbids them).
    pub fn seqs(&self, agent: &str) -> Vec<u64> {
        let Some(c) = self.db() else { return vec![] };
        let Ok(mut stmt) = c
            .prepare("SELECT seq FROM samples JOIN servers ON servers.id = server_id WHERE agent_id = ?1 ORDER BY seq")
        else {
            return vec![];
        };
        stmt.query_map([agent], |r| r.get::<_, i64>(0))
            .map(|rows| rows.filter_map(Result::ok).map(|s| s as u64).collect())
            .unwrap_or_default()
    }

    pub fn sample_count(&self, agent: &str) -> u64 {
        self.seqs(agent).len() as u64
    }

    /// The CDR rows stored for an agent, as `(uniqueid, sequence)`, sorted.
    pub fn cdr_ids(&self, agent: &str) -> Vec<(String, Option<i64>)> {
        let Some(c) = self.db() else { return vec![] };
        let Ok(mut stmt) = c.prepare(
            "SELECT uniqueid, sequence FROM cdr JOIN servers ON servers.id = server_id WHERE agent_id = ?1
             ORDER BY uniqueid, sequence",
        ) else {
            return vec![];
        };
        stmt.query_map([agent], |r| Ok((r.get(0)?, r.get(1)?)))
            .map(|rows| rows.filter_map(Result::ok).collect())
            .unwrap_or_default()
    }

    /// Rows in `rejected`: (topic, payload, error).
    pub fn rejected(&self) -> Vec<(String, Vec<u8>, String)> {
        let Some(c) = self.db() else { return vec![] };
        let Ok(mut stmt) = c.prepare("SELECT topic, payload, error FROM rejected ORDER BY id") else {
            return vec![];
        };
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map(|rows| rows.filter_map(Result::ok).collect())
            .unwrap_or_default()
    }

    pub fn server_status(&self, agent: &str) -> Option<String> {
        self.db()?.query_row("SELECT status FROM servers WHERE agent_id = ?1", [agent], |r| r.get(0)).ok()
    }

    /// Runs `centinela-collector ARGS --config <this collector's config>`; returns stdout, or
    /// panics with stderr.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(collector_bin())
            .args(args)
            .arg("--config")
            .arg(self.dir.join("collector.toml"))
            .output()
            .expect("run the collector CLI");
        assert!(out.status.success(), "collector {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Creates a user with the CLI; returns the one-time password it printed.
    pub fn add_user(&self, name: &str, role: &str) -> String {
        let out = self.cli(&["user", "add", name, "--role", role]);
        out.lines()
            .find_map(|l| l.strip_prefix("Contraseña de un solo uso: "))
            .unwrap_or_else(|| panic!("no one-time password in: {out}"))
            .trim()
            .to_string()
    }

    /// An API token of an admin made for the tests (created once, with the CLI).
    pub fn token(&self) -> &str {
        self.token.get_or_init(|| {
            self.add_user("e2e-admin", "admin");
            let out = self.cli(&["token", "create", "e2e-admin", "--label", "e2e"]);
            out.lines().find(|l| l.starts_with("cnt_")).unwrap_or_else(|| panic!("no token in: {out}")).to_string()
        })
    }

    /// Creates a user with `role` and an API token for them; returns the token.
    pub fn user_token(&self, name: &str, role: &str) -> String {
        self.add_user(name, role);
        let out = self.cli(&["token", "create", name, "--label", "e2e"]);
        out.lines().find(|l| l.starts_with("cnt_")).unwrap_or_else(|| panic!("no token in: {out}")).to_string()
    }

    /// GET on the collector's HTTP port as the tests' admin (API token): (status code, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get_as(self.http_port, path, Some(self.token()))
    }

    /// GET without credentials.
    pub fn get_anonymous(&self, path: &str) -> (u16, String) {
        http_get_as(self.http_port, path, None)
    }
}

/// A minimal HTTP/1.0 GET, enough for tests of our own server.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    http_get_as(port, path, None)
}

/// [`http_get`] with `Authorization: Bearer <token>`.
pub fn http_get_as(port: u16, path: &str, token: Option<&str>) -> (u16, String) {
    http_request(port, "GET", path, token, None)
}

/// A form POST (`application/x-www-form-urlencoded`, `body` already encoded) with
/// `Authorization: Bearer <token>`: (status code, body). A bearer token has no cookie, so the
/// collector asks for no CSRF token.
pub fn http_post_as(port: u16, path: &str, token: &str, body: &str) -> (u16, String) {
    http_request(port, "POST", path, Some(token), Some(("application/x-www-form-urlencoded", body)))
}

/// A minimal HTTP/1.0 request to our own server: `body` is (content type, body). Returns (status
/// code, body). Waits up to 2 minutes for the answer (a command to an agent may take its timeout).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &str)>,
) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the collector");
    s.set_read_timeout(Some(Duration::from_secs(120))).ok();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let (ct, body) = match body {
        Some((ct, b)) => (format!("Content-Type: {ct}\r\nContent-Length: {}\r\n", b.len()), b),
        None => (String::new(), ""),
    };
    write!(s, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}{ct}\r\n{body}").expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, body.to_string())
}

/// Where browser tests keep their screenshots (CI keeps the directory as an artifact).
pub fn ci_artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ci-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/ci-artifacts");
    dir
}

/// The agent's captured fixture trees (`/proc`, `/sys`, `/dev` of real and lab machines).
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../agent/tests/fixtures");

/// Installs the fixture tree `fixture` at `to` (symlinks kept), replacing what is there in one
/// rename, so an agent running with `--root to` sees the old tree or the new one, never a mix.
pub fn install_tree(fixture: &str, to: &Path) {
    let staged = to.with_extension("new");
    let status = Command::new("cp").arg("-a").arg(format!("{FIXTURES}/{fixture}")).arg(&staged).status().expect("cp");
    assert!(status.success(), "cp -a {fixture}");
    if to.exists() {
        let aside = to.with_extension("old");
        std::fs::rename(to, &aside).expect("move the old tree aside");
        std::fs::remove_dir_all(&aside).expect("remove the old tree");
    }
    std::fs::rename(&staged, to).expect("install the tree");
}

/// A temp dir for one test, kept after the test when `CENTINELA_KEEP_TMP=1` (to read the logs).
pub fn test_dir() -> tempfile::TempDir {
    let mut b = tempfile::Builder::new();
    b.prefix("centinela-e2e-");
    if std::env::var("CENTINELA_KEEP_TMP").as_deref() == Ok("1") {
        b.disable_cleanup(true);
    }
    b.tempdir().expect("temp dir")
}

/// Asserts that `seqs` is exactly 1..=n.
pub fn assert_exactly_once(seqs: &[u64], n: u64) {
    let expected: Vec<u64> = (1..=n).collect();
    if seqs != expected.as_slice() {
        let missing: Vec<u64> = expected.iter().filter(|s| !seqs.contains(s)).copied().collect();
        panic!("expected seqs 1..={n} exactly once; got {} rows, missing {missing:?}", seqs.len());
    }
}
