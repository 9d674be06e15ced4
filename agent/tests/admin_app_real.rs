//! The `admin_app` probe against real servers on 127.0.0.1: Python's `http.server` for plain HTTP
//! and `openssl s_server -www` for HTTPS, with certificates made here by the `openssl` CLI (valid
//! for 5 days, expired in 2020 with `openssl ca -startdate/-enddate`, and signed by a test CA that
//! the probe is told to trust). Also a closed port and a listener that accepts and says nothing.
//! Every server is started on a free port, waited for, and killed when its test ends.

use centinela_agent::config::{AdminAppConfig, RawAdminApp};
use centinela_agent::probes::ProbeSet;
use centinela_agent::probes::admin_app::AdminApp;
use centinela_shared::{AdminAppV1, Level, Reading};
use rustls::pki_types::CertificateDer;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod ports;
use ports::{closed_port, free_port};

/// A server process, killed and reaped when dropped.
struct Server {
    child: Child,
    what: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `program args` with stderr in `dir/<log>` and waits until it accepts on `port`.
    fn start(program: &str, args: &[&str], dir: &Path, log: &str, port: u16) -> Self {
        let stderr = std::fs::File::create(dir.join(log)).expect("log file");
        let child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} ({e}): install it (.ci/run does)"));
        let mut server = Server { child, what: format!("{program} {}", args.join(" ")) };
        let started = Instant::now();
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
                panic!("{} exited with {status} before listening on {port}:\n{log}", server.what);
            }
            assert!(started.elapsed() < Duration::from_secs(15), "{} never listened on {port}", server.what);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Runs `openssl` with the words of `cmd`, then `extra` (arguments that hold spaces), in `dir`.
fn openssl(dir: &Path, cmd: &str, extra: &[&str]) {
    let args: Vec<&str> = cmd.split_whitespace().chain(extra.iter().copied()).collect();
    let out = Command::new("openssl").args(&args).current_dir(dir).output().expect("openssl CLI (.ci/run installs it)");
    assert!(out.status.success(), "openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

const P256: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

/// A P-256 key and a self-signed certificate for CN=127.0.0.1 valid for `days`, with `san`.
fn self_signed(dir: &Path, name: &str, days: u32, san: &str) {
    let cmd = format!("req -x509 {P256} -keyout {name}.key -out {name}.pem -days {days} -subj /CN=127.0.0.1");
    openssl(dir, &cmd, &["-addext", san]);
}

/// A self-signed certificate valid only on 2020-01-01: `openssl req -days` refuses the past, the
/// `ca` command takes explicit dates.
fn expired(dir: &Path, name: &str) {
    openssl(dir, &format!("req -new {P256} -keyout {name}.key -out {name}.csr -subj /CN=127.0.0.1"), &[]);
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\n\
         policy = p\n[p]\ncommonName = supplied\n[ext]\nsubjectAltName = IP:127.0.0.1\n",
    )
    .unwrap();
    let cmd = format!(
        "ca -batch -config ca.cnf -selfsign -keyfile {name}.key -in {name}.csr -out {name}.pem \
         -startdate 20200101000000Z -enddate 20200102000000Z -extensions ext -notext"
    );
    openssl(dir, &cmd, &[]);
}

/// A test CA (`ca.pem`, and `ca.der` for the probe's roots) and a leaf for 127.0.0.1 signed by it,
/// valid for 25 days.
fn ca_and_leaf(dir: &Path, leaf: &str) {
    let cmd = format!(
        "req -x509 {P256} -keyout ca.key -out ca.pem -days 30 -addext basicConstraints=critical,CA:TRUE \
         -addext keyUsage=critical,keyCertSign,cRLSign"
    );
    openssl(dir, &cmd, &["-subj", "/CN=Centinela Test CA"]);
    openssl(dir, "x509 -in ca.pem -outform DER -out ca.der", &[]);
    openssl(dir, &format!("req -new {P256} -keyout {leaf}.key -out {leaf}.csr -subj /CN=pbx-test"), &[]);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n\
         extendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    let cmd = format!(
        "x509 -req -in {leaf}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 25 -extfile leaf.ext -out {leaf}.pem"
    );
    openssl(dir, &cmd, &[]);
}

/// `openssl s_server -www` on 127.0.0.1 with `name.pem` / `name.key`; answers `HTTP/1.0 200 ok`.
fn s_server(dir: &Path, name: &str) -> (Server, u16) {
    let port = free_port();
    let accept = format!("127.0.0.1:{port}");
    let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
    let args = ["s_server", "-www", "-accept", &accept, "-cert", &cert, "-key", &key];
    (Server::start("openssl", &args, dir, &format!("{name}.log"), port), port)
}

fn config(url: &str, timeout: &str) -> AdminAppConfig {
    AdminAppConfig::from_raw(RawAdminApp {
        url: Some(url.into()),
        timeout: Some(timeout.into()),
        cert_warn_before: None,
    })
    .expect("a valid [admin_app] section")
}

async fn sample(probe: &mut AdminApp) -> AdminAppV1 {
    let mut out = Vec::new();
    probe.collect(&mut out).await.expect("a configured probe always reports");
    match out.as_slice() {
        [Reading::AdminAppV1(a)] => a.clone(),
        other => panic!("expected one AdminAppV1, got {other:?}"),
    }
}

async fn probe(url: &str) -> AdminAppV1 {
    sample(&mut AdminApp::new(Some(config(url, "10s")))).await
}

#[tokio::test]
async fn a_plain_http_server_is_ok_and_a_redirect_or_a_missing_page_are_reported_without_following() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("admin")).unwrap();
    std::fs::write(dir.path().join("admin/index.html"), "<html>FreePBX</html>").unwrap();
    let port = free_port();
    let port_s = port.to_string();
    let _server = Server::start(
        "python3",
        &["-m", "http.server", "--bind", "127.0.0.1", "--directory", ".", &port_s],
        dir.path(),
        "http.log",
        port,
    );

    let ok = probe(&format!("http://127.0.0.1:{port}/admin/")).await;
    assert_eq!((ok.reachable, ok.status, ok.verdict.level), (true, Some(200), Level::Ok), "{ok:?}");
    assert!(ok.latency_ms.is_some() && ok.tls.is_none() && ok.error.is_none(), "{ok:?}");

    // http.server answers a directory without its slash with 301 and a Location.
    let moved = probe(&format!("http://127.0.0.1:{port}/admin")).await;
    assert_eq!((moved.status, moved.verdict.level), (Some(301), Level::Ok), "{moved:?}");
    assert_eq!(moved.location.as_deref(), Some("/admin/"), "reported, not followed");

    let missing = probe(&format!("http://127.0.0.1:{port}/freepbx/")).await;
    assert_eq!((missing.status, missing.verdict.level), (Some(404), Level::Warning), "{missing:?}");
    assert!(missing.verdict.reasons[0].contains("404"), "{:?}", missing.verdict);

    let tls_on_plain = probe(&format!("https://127.0.0.1:{port}/admin/")).await;
    assert_eq!((tls_on_plain.reachable, tls_on_plain.verdict.level), (false, Level::Critical), "{tls_on_plain:?}");
    let e = tls_on_plain.error.unwrap();
    assert!(e.contains("no responde en https://127.0.0.1") && e.contains("saludo TLS falló"), "{e}");
}

#[tokio::test]
async fn a_self_signed_certificate_valid_for_five_days_is_a_warning_with_its_days_left() {
    let dir = tempfile::tempdir().unwrap();
    // Named for another host, as a PBX's default certificate often is.
    self_signed(dir.path(), "short", 5, "subjectAltName=DNS:pbx.example");
    let (_server, port) = s_server(dir.path(), "short");

    let r = probe(&format!("https://127.0.0.1:{port}/")).await;
    assert_eq!((r.reachable, r.status), (true, Some(200)), "{r:?}");
    let tls = r.tls.as_ref().expect("the certificate is read");
    assert!((4..=5).contains(&tls.days_left), "{tls:?}");
    assert_eq!((tls.subject.as_str(), tls.issuer.as_str()), ("CN=127.0.0.1", "CN=127.0.0.1"));
    assert!(tls.self_signed && !tls.trusted && !tls.hostname_matches, "{tls:?}");
    assert!(tls.not_after.ends_with(" UTC") && tls.not_after.len() == "2026-12-02 13:09:11 UTC".len(), "{tls:?}");
    assert_eq!(r.verdict.level, Level::Warning, "{:?}", r.verdict);
    assert_eq!(r.verdict.reasons.len(), 1, "self-signed and the name are shown, not judged: {:?}", r.verdict);
    // 5 days when the sample falls in the second the certificate was made, 4 after.
    let expected = format!("vence en {} días", tls.days_left);
    assert!(r.verdict.reasons[0].contains(&expected), "{:?}", r.verdict);
}

#[tokio::test]
async fn an_expired_certificate_is_critical_while_the_page_is_still_read() {
    let dir = tempfile::tempdir().unwrap();
    expired(dir.path(), "old");
    let (_server, port) = s_server(dir.path(), "old");

    let r = probe(&format!("https://127.0.0.1:{port}/admin")).await;
    assert_eq!((r.reachable, r.status), (true, Some(200)), "{r:?}");
    let tls = r.tls.as_ref().unwrap();
    assert_eq!(tls.not_after, "2020-01-02 00:00:00 UTC");
    assert!(tls.days_left < -2000 && tls.hostname_matches && !tls.trusted, "{tls:?}");
    assert_eq!(r.verdict.level, Level::Critical);
    assert!(r.verdict.reasons[0].contains("venció el 2020-01-02 00:00:00 UTC"), "{:?}", r.verdict);
}

#[tokio::test]
async fn a_certificate_from_a_trusted_ca_for_the_url_host_is_trusted_and_matching() {
    let dir = tempfile::tempdir().unwrap();
    ca_and_leaf(dir.path(), "leaf");
    let (_server, port) = s_server(dir.path(), "leaf");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(std::fs::read(dir.path().join("ca.der")).unwrap())).unwrap();

    let url = format!("https://127.0.0.1:{port}/");
    let r = sample(&mut AdminApp::with_roots(config(&url, "10s"), roots)).await;
    let tls = r.tls.as_ref().unwrap();
    assert!(tls.trusted && tls.hostname_matches && !tls.self_signed, "{tls:?}");
    assert_eq!((tls.subject.as_str(), tls.issuer.as_str()), ("CN=pbx-test", "CN=Centinela Test CA"));
    assert_eq!(r.verdict.level, Level::Ok, "25 days left is past the 21-day warning: {:?}", r.verdict);
}

#[tokio::test]
async fn a_closed_port_is_critical_and_says_the_app_does_not_answer() {
    let (_closed, port) = closed_port();
    let url = format!("http://127.0.0.1:{port}/admin");
    let r = probe(&url).await;
    assert_eq!((r.reachable, r.status, r.verdict.level), (false, None, Level::Critical), "{r:?}");
    let e = r.error.unwrap();
    assert!(e.starts_with(&format!("la aplicación de administración no responde en {url}: conexión rechazada")), "{e}");
    assert!(e.contains("systemctl start httpd"), "the fix is named: {e}");
}

#[tokio::test]
async fn a_server_that_accepts_and_says_nothing_times_out_within_the_configured_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts and holds every connection, silent, until the test ends.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });

    for (url, phase) in [
        (format!("http://127.0.0.1:{port}/admin"), "aceptó la conexión pero no envió la respuesta en 1s"),
        (format!("https://127.0.0.1:{port}/admin"), "el saludo TLS no terminó en 1s"),
    ] {
        let started = Instant::now();
        let r = sample(&mut AdminApp::new(Some(config(&url, "1s")))).await;
        assert!(started.elapsed() < Duration::from_secs(3), "the deadline holds: {:?}", started.elapsed());
        assert_eq!((r.reachable, r.verdict.level), (false, Level::Critical), "{r:?}");
        let e = r.error.unwrap();
        assert!(e.contains("no responde en") && e.contains(phase), "{e}");
    }
    holder.abort();
}

#[test]
fn the_probe_runs_last_under_its_wire_name() {
    assert_eq!(ProbeSet::all().names().last().map(String::as_str), Some("admin_app"));
}
