//! Probe `admin_app`: one [`AdminAppV1`] per sample saying whether the VoIP admin web application
//! (FreePBX, Issabel) answers one HTTP(S) `GET`, with which status, how fast, and when its TLS
//! certificate expires. The I/O ([`visit`]) yields a [`Visit`]; the pure [`parse_head`], [`inspect`]
//! and [`build`] turn bytes and certificates into the reading.
//!
//! Invariants:
//! - Not applicable only without an `[admin_app]` section. Otherwise exactly one reading is pushed
//!   and `collect` returns `Ok`: an app that does not answer is a reading with a Critical verdict,
//!   not a probe failure.
//! - One `GET` per sample with `Connection: close`. Redirects are reported, never followed; the body
//!   is never read; nothing logs in (the config refuses credentials in the url).
//! - One deadline, `timeout` from the config (default 10 s, at most 25 s so the probe ends within
//!   [`super::NETWORK_PROBE_LIMIT`]), covers name lookup, connect, TLS handshake and the response
//!   head; the error names the step that ran out.
//! - Any certificate is accepted for the handshake (a PBX's admin app is usually self-signed, and
//!   the status must still be read); the handshake signatures are still checked. The presented chain
//!   is judged afterwards: `trusted` against this host's trust store (loaded once per agent run),
//!   `hostname_matches` against the url's host (subjectAltName only, as browsers do).
//! - Input from the server cannot panic the probe or grow its memory: the head is read up to
//!   [`MAX_HEAD`] bytes and parsed as bytes; anything else is a Spanish error naming the fix.
//!
//! Verdict ([`build`]), in Spanish because technicians read it:
//! - Critical: no answer ("la aplicación de administración no responde en URL: ..." for refused,
//!   unreachable, timeout, TLS handshake failure, closed without answer), an answer that is not
//!   HTTP, a 5xx status, an expired certificate.
//! - Warning: a 4xx status other than 401/403 (those mean the app is up and asks for a login), a
//!   certificate expiring within `cert_warn_before` (21 days), a head slower than
//!   [`SLOW_RESPONSE`] (3 s), a certificate that cannot be read.
//! - Self-signed, untrusted or a name mismatch is shown, not judged: normal on a PBX.

use super::ProbeError;
use crate::config::AdminAppConfig;
use centinela_shared::{AdminAppV1, Level, Reading, TlsCertV1, Verdict};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout_at;

/// The largest response head read. Real admin apps send 1-2 KiB; more is not an admin app.
pub const MAX_HEAD: usize = 64 * 1024;
/// A response head slower than this is a Warning.
pub const SLOW_RESPONSE: Duration = Duration::from_secs(3);
/// The longest `Location` kept in a reading.
const MAX_LOCATION: usize = 512;

/// A parsed HTTP response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// The reason phrase (`Not Found`), printable ASCII, possibly empty.
    pub reason: String,
    /// The `Location` header, lossily decoded, control characters replaced, at most 512 characters.
    pub location: Option<String>,
    /// Bytes the head takes, blank line included.
    pub len: usize,
}

/// Parses the response head at the start of `buf`: `Ok(None)` while it may still complete, `Err`
/// (Spanish, with the fix) as soon as it cannot be a valid head.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let prefix = &buf[..buf.len().min(5)];
    if prefix != &b"HTTP/"[..prefix.len()] {
        return Err(not_http(buf));
    }
    let Some(len) = head_end(buf).filter(|len| *len <= MAX_HEAD) else {
        return if buf.len() > MAX_HEAD { Err(too_long()) } else { Ok(None) };
    };
    let mut lines = buf[..len].split(|b| *b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let (status, reason) = parse_status_line(lines.next().unwrap_or_default())?;
    let mut location = None;
    for line in lines {
        // Only `Location` matters; other lines (obs-fold, junk) are not the probe's business.
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        let (name, value) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"location") && !value.is_empty() {
            location = Some(printable(value, MAX_LOCATION));
        }
    }
    Ok(Some(Head { status, reason, location, len }))
}

/// The end of the head: CRLF CRLF as RFC 9112 says, or LF LF from sloppy servers.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `HTTP/1.1 302 Found` → (302, "Found").
fn parse_status_line(line: &[u8]) -> Result<(u16, String), String> {
    let text = std::str::from_utf8(line).ok().filter(|t| t.is_ascii()).ok_or_else(|| {
        "la línea de estado de la respuesta no es texto ASCII: ese puerto no sirve HTTP; revise url en [admin_app]"
            .to_string()
    })?;
    let mut parts = text.splitn(3, ' ');
    let (version, code, reason) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let version_ok = version.strip_prefix("HTTP/").is_some_and(|v| {
        let b = v.as_bytes();
        matches!(b, [d] if d.is_ascii_digit()) || matches!(b, [d, b'.', e] if d.is_ascii_digit() && e.is_ascii_digit())
    });
    let status = Some(code)
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|s| (100..=599).contains(s));
    match status {
        Some(status) if version_ok => Ok((status, printable(reason.as_bytes(), 80))),
        _ => Err(format!(
            "la línea de estado de la respuesta no es válida ({:?}): ese puerto no sirve HTTP; revise url en [admin_app]",
            printable(line, 60)
        )),
    }
}

/// Bytes from the server as text fit for a reading: lossy UTF-8, control characters as `?`, at most
/// `max` characters.
fn printable(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(bytes).chars().take(max).map(|c| if c.is_control() { '?' } else { c }).collect()
}

fn not_http(buf: &[u8]) -> String {
    // 0x15/0x16: a TLS alert or handshake record, what an HTTPS port says to plain HTTP.
    if matches!(buf.first(), Some(0x15 | 0x16)) {
        return "ese puerto habla TLS, no HTTP en claro: use https:// en url de [admin_app]".into();
    }
    format!(
        "la respuesta no es HTTP (empieza por {:?}): revise que url de [admin_app] apunte al servidor web",
        printable(&buf[..buf.len().min(32)], 32)
    )
}

fn too_long() -> String {
    format!(
        "la cabecera de la respuesta supera {} KiB sin terminar: no es la aplicación de administración; revise url en [admin_app]",
        MAX_HEAD / 1024
    )
}

/// Why reading the head stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The deadline passed before a complete head arrived.
    TimedOut,
    /// The server closed the connection without sending a byte.
    Closed,
    Io(std::io::Error),
    /// What arrived is not an HTTP response head (the message says why, in Spanish).
    Invalid(String),
}

/// Reads one final response head (interim 1xx heads are skipped), never more than [`MAX_HEAD`] plus
/// one read, before `deadline`.
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    deadline: tokio::time::Instant,
) -> Result<Head, ReadError> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    loop {
        let n = match timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return Err(ReadError::TimedOut),
            Ok(Ok(n)) => n,
            // A TLS peer that closes without close_notify: the same as a plain close here.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Ok(Err(e)) => return Err(ReadError::Io(e)),
        };
        if n == 0 {
            return Err(match parse_head(&buf) {
                _ if buf.is_empty() => ReadError::Closed,
                Err(m) => ReadError::Invalid(m),
                Ok(_) => ReadError::Invalid(
                    "la respuesta se cortó antes de terminar su cabecera: revise el registro de errores del servidor web"
                        .into(),
                ),
            });
        }
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match parse_head(&buf) {
                // 100 Continue, 103 Early Hints: the final head follows.
                Ok(Some(h)) if h.status < 200 => drop(buf.drain(..h.len)),
                Ok(Some(h)) => return Ok(h),
                Ok(None) => break,
                Err(m) => return Err(ReadError::Invalid(m)),
            }
        }
    }
}

/// What the probe learnt from the certificate chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// RFC 4514.
    pub subject: String,
    pub issuer: String,
    /// notAfter, seconds since the Unix epoch.
    pub not_after: i64,
    pub self_signed: bool,
    pub trusted: bool,
    pub hostname_matches: bool,
}

/// Reads the leaf of `chain` and judges the chain against `roots` and `host` at `now`.
pub fn inspect(
    chain: &[CertificateDer<'_>],
    host: &ServerName<'_>,
    roots: &RootCertStore,
    provider: &CryptoProvider,
    now: UnixTime,
) -> Result<CertFacts, String> {
    use x509_cert::der::Decode;
    let leaf = chain.first().ok_or_else(|| "el servidor no presentó ningún certificado TLS".to_string())?;
    // Names and dates with x509-cert: webpki checks certificates but does not expose their fields;
    // x509-cert (RustCrypto) decodes strict DER in pure Rust with few dependencies.
    let cert = x509_cert::Certificate::from_der(leaf.as_ref()).map_err(|e| {
        format!("el certificado TLS del servidor no se puede leer ({e}): revise el certificado del servidor web")
    })?;
    let tbs = cert.tbs_certificate();
    let not_after = i64::try_from(tbs.validity().not_after.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    let (trusted, hostname_matches) = match rustls::server::ParsedCertificate::try_from(leaf) {
        Ok(parsed) => (
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &parsed,
                roots,
                &chain[1..],
                now,
                provider.signature_verification_algorithms.all,
            )
            .is_ok(),
            rustls::client::verify_server_name(&parsed, host).is_ok(),
        ),
        // webpki refuses what it cannot use (a v1 certificate, say): neither trusted nor matching.
        Err(_) => (false, false),
    };
    Ok(CertFacts {
        subject: tbs.subject().to_string(),
        issuer: tbs.issuer().to_string(),
        not_after,
        self_signed: tbs.subject() == tbs.issuer(),
        trusted,
        hostname_matches,
    })
}

/// What one visit to the admin application found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visit {
    /// Why no usable answer came, in Spanish with the fix. `None`: a head was read.
    pub error: Option<String>,
    pub head: Option<Head>,
    /// From the start of the connection to the end of the head.
    pub latency_ms: Option<u32>,
    /// The certificate, once a TLS handshake completed (even if HTTP then failed).
    pub cert: Option<CertFacts>,
    /// A certificate was presented but could not be read.
    pub cert_error: Option<String>,
}

impl Visit {
    fn failed(error: String) -> Self {
        Self { error: Some(error), ..Self::default() }
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
fn utc(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("{secs} s después de 1970"))
}

/// Whole days in words: "menos de un día", "1 día", "5 días".
fn days_es(secs: i64) -> String {
    match secs / 86_400 {
        0 => "menos de un día".into(),
        1 => "1 día".into(),
        d => format!("{d} días"),
    }
}

/// The reading from a visit. `now`: seconds since the Unix epoch (tests pass literal values).
pub fn build(url: &str, visit: Visit, now: i64, cert_warn_before: Duration) -> AdminAppV1 {
    let mut verdict = Verdict::ok();
    if let Some(e) = &visit.error {
        verdict.raise(Level::Critical, e.clone());
    }
    if let Some(h) = &visit.head {
        let what = if h.reason.is_empty() { h.status.to_string() } else { format!("{} {}", h.status, h.reason) };
        match h.status {
            500..=599 => verdict.raise(
                Level::Critical,
                format!(
                    "la aplicación de administración responde {what} en {url}: revise el registro de errores de Apache y PHP \
                     (/var/log/httpd/error_log o /var/log/apache2/error.log)"
                ),
            ),
            // The app is up and asks for a login.
            401 | 403 => {}
            400..=499 => verdict.raise(
                Level::Warning,
                format!(
                    "la aplicación de administración responde {what} en {url}: revise la ruta de url en [admin_app]"
                ),
            ),
            _ => {}
        }
    }
    if let Some(ms) = visit.latency_ms
        && u128::from(ms) > SLOW_RESPONSE.as_millis()
    {
        verdict.raise(
            Level::Warning,
            format!(
                "la aplicación de administración tardó {ms} ms en responder (más de {} s): Apache o PHP van lentos o el servidor está sobrecargado",
                SLOW_RESPONSE.as_secs()
            ),
        );
    }
    let tls = visit.cert.map(|c| {
        let left = c.not_after.saturating_sub(now);
        let date = utc(c.not_after);
        if left <= 0 {
            verdict.raise(
                Level::Critical,
                format!(
                    "el certificado TLS de la aplicación de administración venció el {date} (hace {}): renuévelo \
                     (FreePBX: Admin > Certificate Management; Issabel: el certificado de /etc/httpd/conf.d/ssl.conf)",
                    days_es(left.saturating_neg())
                ),
            );
        } else if left < i64::try_from(cert_warn_before.as_secs()).unwrap_or(i64::MAX) {
            verdict.raise(
                Level::Warning,
                format!(
                    "el certificado TLS de la aplicación de administración vence en {} ({date}): renuévelo antes",
                    days_es(left)
                ),
            );
        }
        TlsCertV1 {
            subject: c.subject,
            issuer: c.issuer,
            not_after: date,
            days_left: left.div_euclid(86_400),
            self_signed: c.self_signed,
            trusted: c.trusted,
            hostname_matches: c.hostname_matches,
        }
    });
    if let Some(e) = &visit.cert_error {
        verdict.raise(Level::Warning, e.clone());
    }
    let head = visit.head;
    AdminAppV1 {
        url: url.to_string(),
        reachable: head.is_some(),
        error: visit.error,
        status: head.as_ref().map(|h| h.status),
        latency_ms: visit.latency_ms,
        location: head.and_then(|h| h.location),
        tls,
        verdict,
    }
}

/// Accepts any certificate for the handshake: a PBX's admin app is usually self-signed and the
/// probe must still read its status. The chain is judged afterwards by [`inspect`]. Handshake
/// signatures are still verified, so the server holds the key of the certificate it showed.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS client and what certificates are judged against, built on the first `https://` visit.
#[derive(Clone)]
pub struct Tls {
    client: Arc<ClientConfig>,
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl Tls {
    fn new(roots: Arc<RootCertStore>) -> Result<Self, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut client = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider.clone())))
            .with_no_client_auth();
        // Offer only what the probe speaks: an HTTP/2-only server fails the handshake, plainly.
        client.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self { client: Arc::new(client), roots, provider })
    }
}

/// This host's trust store (`/etc/ssl/certs`, or `SSL_CERT_FILE`/`SSL_CERT_DIR`). Unreadable or
/// unparsable entries are skipped: a partial store can only turn `trusted` false.
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

pub struct AdminApp {
    config: Option<AdminAppConfig>,
    /// `None` until the first `https://` visit; `roots` is set beforehand only by [`Self::with_roots`].
    tls: Option<Tls>,
    roots: Option<Arc<RootCertStore>>,
}

impl AdminApp {
    pub fn new(config: Option<AdminAppConfig>) -> Self {
        Self { config, tls: None, roots: None }
    }

    /// Judges `trusted` against `roots` instead of this host's trust store (tests bring their own CA).
    pub fn with_roots(config: AdminAppConfig, roots: RootCertStore) -> Self {
        Self { config: Some(config), tls: None, roots: Some(Arc::new(roots)) }
    }

    /// Not applicable without config; otherwise pushes exactly one `Reading::AdminAppV1` and returns
    /// `Ok`. Fails only if the agent cannot build its TLS client (a defect, not the app's fault).
    pub async fn collect(&mut self, out: &mut Vec<Reading>) -> Result<(), ProbeError> {
        let Some(config) = &self.config else {
            return Err(ProbeError::NotApplicable("sin sección [admin_app] en la configuración".into()));
        };
        if config.target.tls && self.tls.is_none() {
            let roots = match &self.roots {
                Some(r) => r.clone(),
                // Reading a few hundred files: off the runtime's threads.
                None => {
                    Arc::new(tokio::task::spawn_blocking(system_roots).await.unwrap_or_else(|_| RootCertStore::empty()))
                }
            };
            let tls = Tls::new(roots).map_err(|e| {
                ProbeError::Failed(format!(
                    "no se pudo preparar el cliente TLS ({e}); es un defecto, por favor repórtelo"
                ))
            })?;
            self.tls = Some(tls);
        }
        let visit = visit(config, self.tls.as_ref()).await;
        let now = chrono::Utc::now().timestamp();
        out.push(Reading::AdminAppV1(build(&config.url, visit, now, config.cert_warn_before)));
        Ok(())
    }
}

fn ms(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_millis()).unwrap_or(u32::MAX)
}

/// "la aplicación de administración no responde en URL: DETAIL".
fn no_answer(url: &str, detail: impl std::fmt::Display) -> String {
    format!("la aplicación de administración no responde en {url}: {detail}")
}

fn connect_error(addr: std::net::SocketAddr, e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => format!(
            "conexión rechazada en {addr}: el servidor web (Apache/httpd) no está en marcha o no escucha en ese puerto; \
             arránquelo (systemctl start httpd o apache2) o revise url en [admin_app]"
        ),
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
            format!("{addr} es inalcanzable ({e}): revise la red y url en [admin_app]")
        }
        _ => format!("no se puede conectar a {addr} ({e}): revise url en [admin_app]"),
    }
}

/// Looks up, connects, shakes hands (`https://`) and reads the response head, all before
/// `config.timeout`. `tls` is required for an `https://` url.
pub async fn visit(config: &AdminAppConfig, tls: Option<&Tls>) -> Visit {
    let (url, target) = (config.url.as_str(), &config.target);
    let limit = humantime::format_duration(config.timeout);
    let deadline = tokio::time::Instant::now() + config.timeout;
    let addrs: Vec<std::net::SocketAddr> =
        match timeout_at(deadline, tokio::net::lookup_host((target.host.as_str(), target.port))).await {
            Ok(Ok(a)) => a.collect(),
            Ok(Err(e)) => {
                return Visit::failed(no_answer(
                    url,
                    format!(
                        "no se puede resolver {} ({e}): revise url en [admin_app] o el DNS del servidor",
                        target.host
                    ),
                ));
            }
            Err(_) => {
                return Visit::failed(no_answer(
                    url,
                    format!("la resolución de {} no terminó en {limit}", target.host),
                ));
            }
        };
    let started = Instant::now();
    let mut tcp = None;
    let mut why = format!("{} no tiene direcciones: revise url en [admin_app]", target.host);
    for addr in &addrs {
        match timeout_at(deadline, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                tcp = Some(s);
                break;
            }
            Ok(Err(e)) => why = connect_error(*addr, &e),
            Err(_) => {
                why = format!(
                    "la conexión con {addr} no se estableció en {limit}: un cortafuegos descarta los paquetes o el equipo está caído"
                );
                break;
            }
        }
    }
    let Some(tcp) = tcp else { return Visit::failed(no_answer(url, why)) };
    let _ = tcp.set_nodelay(true);
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: centinela-agent/{}\r\nAccept: text/html, */*\r\nConnection: close\r\n\r\n",
        target.path,
        target.host_header(),
        env!("CARGO_PKG_VERSION")
    );
    if !target.tls {
        return exchange(tcp, &request, deadline, started, url, &limit).await;
    }
    let Some(tls) = tls else {
        return Visit::failed("el cliente TLS no está preparado; es un defecto, por favor repórtelo".into());
    };
    let name = match ServerName::try_from(target.host.clone()) {
        Ok(n) => n,
        Err(e) => {
            return Visit::failed(format!(
                "el host {} no sirve como nombre TLS ({e}): revise url en [admin_app]",
                target.host
            ));
        }
    };
    let connector = tokio_rustls::TlsConnector::from(tls.client.clone());
    let stream = match timeout_at(deadline, connector.connect(name.clone(), tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Visit::failed(no_answer(
                url,
                format!(
                    "el saludo TLS falló ({e}): si el servidor solo ofrece TLS 1.0/1.1 o cifrados antiguos, actualice su \
                     configuración SSL; si ese puerto no habla HTTPS, use http:// en url de [admin_app]"
                ),
            ));
        }
        Err(_) => {
            return Visit::failed(no_answer(
                url,
                format!(
                    "el saludo TLS no terminó en {limit}: el servidor web acepta conexiones pero no contesta; \
                     reinícielo (systemctl restart httpd o apache2)"
                ),
            ));
        }
    };
    let chain = stream.get_ref().1.peer_certificates().map(<[_]>::to_vec).unwrap_or_default();
    let facts = inspect(&chain, &name, &tls.roots, &tls.provider, UnixTime::now());
    let mut visit = exchange(stream, &request, deadline, started, url, &limit).await;
    match facts {
        Ok(c) => visit.cert = Some(c),
        Err(e) => visit.cert_error = Some(e),
    }
    visit
}

/// Sends the request and reads the head; the connection is dropped after it (no body is read).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &str,
    deadline: tokio::time::Instant,
    started: Instant,
    url: &str,
    limit: &impl std::fmt::Display,
) -> Visit {
    let sent = timeout_at(deadline, async {
        stream.write_all(request.as_bytes()).await?;
        stream.flush().await
    })
    .await;
    match sent {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Visit::failed(no_answer(url, format!("la conexión se cortó al enviar la petición ({e})")));
        }
        Err(_) => return Visit::failed(no_answer(url, format!("la petición no se pudo enviar en {limit}"))),
    }
    match read_head(&mut stream, deadline).await {
        Ok(head) => Visit { head: Some(head), latency_ms: Some(ms(started)), ..Visit::default() },
        Err(ReadError::TimedOut) => Visit::failed(no_answer(
            url,
            format!(
                "aceptó la conexión pero no envió la respuesta en {limit}: el servidor web (Apache/PHP) está bloqueado o \
                 saturado; reinícielo (systemctl restart httpd o apache2)"
            ),
        )),
        Err(ReadError::Closed) => Visit::failed(no_answer(
            url,
            "aceptó la conexión y la cerró sin responder: revise el registro de errores del servidor web",
        )),
        Err(ReadError::Io(e)) => {
            Visit::failed(no_answer(url, format!("la conexión se cortó al leer la respuesta ({e})")))
        }
        Err(ReadError::Invalid(m)) => {
            Visit::failed(format!("la aplicación de administración en {url} no responde como un servidor web: {m}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://127.0.0.1/admin";
    /// 2026-11-27 12:00:00 UTC.
    const NOW: i64 = 1_795_780_800;
    const WARN: Duration = Duration::from_secs(21 * 86_400);

    fn head(bytes: &[u8]) -> Head {
        parse_head(bytes).unwrap().unwrap()
    }

    fn answered(status: u16, latency_ms: u32) -> Visit {
        let h = Head { status, reason: String::new(), location: None, len: 0 };
        Visit { head: Some(h), latency_ms: Some(latency_ms), ..Visit::default() }
    }

    fn cert(not_after: i64) -> CertFacts {
        CertFacts {
            subject: "CN=pbx.example".into(),
            issuer: "CN=pbx.example".into(),
            not_after,
            self_signed: true,
            trusted: false,
            hostname_matches: false,
        }
    }

    #[test]
    fn a_freepbx_redirect_captured_from_apache_gives_status_and_location() {
        let bytes = b"HTTP/1.1 302 Found\r\nDate: Fri, 27 Nov 2026 12:00:00 GMT\r\nServer: Apache/2.4.62 (Rocky Linux) OpenSSL/3.2.2\r\n\
X-Powered-By: PHP/8.2.27\r\nLocation: /admin/config.php\r\nContent-Length: 0\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n";
        let h = head(bytes);
        assert_eq!((h.status, h.reason.as_str(), h.location.as_deref()), (302, "Found", Some("/admin/config.php")));
        assert_eq!(h.len, bytes.len());
    }

    #[test]
    fn python_http_server_and_openssl_s_server_heads_parse() {
        let python =
            b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.12.8\r\nDate: Fri, 27 Nov 2026 12:00:00 GMT\r\n\
Content-type: text/html; charset=utf-8\r\nContent-Length: 345\r\n\r\n<!DOCTYPE HTML>";
        assert_eq!(head(python).status, 200);
        let s_server = b"HTTP/1.0 200 ok\r\nContent-type: text/html\r\n\r\n<HTML><BODY BGCOLOR=\"#ffffff\">\n<pre>\n";
        assert_eq!((head(s_server).status, head(s_server).reason.as_str()), (200, "ok"));
    }

    #[test]
    fn a_head_split_across_reads_is_incomplete_until_the_blank_line() {
        assert_eq!(parse_head(b""), Ok(None));
        assert_eq!(parse_head(b"HT"), Ok(None));
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nServer: x\r\n"), Ok(None));
        assert_eq!(head(b"HTTP/1.1 200 OK\nServer: x\n\n").status, 200, "bare LF line ends are tolerated");
    }

    #[test]
    fn an_answer_without_a_status_line_is_not_http() {
        let e = parse_head(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n").unwrap_err();
        assert!(e.contains("no es HTTP") && e.contains("SSH-2.0") && e.contains("[admin_app]"), "{e}");
        let e = parse_head(b"\x15\x03\x03\x00\x02\x02\x46").unwrap_err();
        assert!(e.contains("use https://"), "{e}");
        for bad in [
            &b"HTTP/1.1 2000 OK\r\n\r\n"[..],
            b"HTTP/1.1 OK\r\n\r\n",
            b"HTTP/x 200 OK\r\n\r\n",
            b"HTTP/1.1 099 x\r\n\r\n",
        ] {
            let e = parse_head(bad).unwrap_err();
            assert!(e.contains("línea de estado de la respuesta no es válida"), "{e}");
        }
    }

    #[test]
    fn a_non_utf8_status_line_is_an_error_and_a_non_utf8_location_is_kept_lossily() {
        let e = parse_head(b"HTTP/1.1 200 \xff\xfe\r\n\r\n").unwrap_err();
        assert!(e.contains("no es texto ASCII"), "{e}");
        let h = head(b"HTTP/1.1 301 Moved\r\nLocation: /admin/\xe9t\xe9\x01\r\n\r\n");
        assert_eq!(h.location.as_deref(), Some("/admin/\u{fffd}t\u{fffd}?"));
    }

    #[test]
    fn a_head_longer_than_64_kib_is_refused_without_waiting_for_its_end() {
        let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
        while huge.len() <= MAX_HEAD {
            huge.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let e = parse_head(&huge).unwrap_err();
        assert!(e.contains("supera 64 KiB"), "{e}");
        huge.extend_from_slice(b"\r\n");
        assert!(parse_head(&huge).unwrap_err().contains("supera 64 KiB"), "complete but too long");
    }

    #[tokio::test]
    async fn read_head_skips_interim_heads_and_tells_a_silent_close_from_a_cut_head() {
        let far = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut two = &b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 403 Forbidden\r\n\r\nbody"[..];
        assert_eq!(read_head(&mut two, far).await.unwrap().status, 403);
        let mut empty = &b""[..];
        assert!(matches!(read_head(&mut empty, far).await, Err(ReadError::Closed)));
        let mut cut = &b"HTTP/1.1 200 OK\r\nServer: Apa"[..];
        assert!(matches!(read_head(&mut cut, far).await, Err(ReadError::Invalid(m)) if m.contains("se cortó")));
        let mut endless = tokio::io::repeat(b'a');
        assert!(matches!(read_head(&mut endless, far).await, Err(ReadError::Invalid(m)) if m.contains("no es HTTP")));
    }

    #[test]
    fn login_pages_and_redirects_are_ok_other_4xx_warn_and_5xx_is_critical() {
        for status in [200, 302, 401, 403] {
            let r = build(URL, answered(status, 40), NOW, WARN);
            assert_eq!((r.reachable, r.status, r.verdict.level), (true, Some(status), Level::Ok), "{status}");
        }
        let r = build(URL, answered(404, 40), NOW, WARN);
        assert_eq!(r.verdict.level, Level::Warning);
        assert!(r.verdict.reasons[0].contains("responde 404 en https://127.0.0.1/admin"), "{:?}", r.verdict);
        let r = build(URL, answered(503, 40), NOW, WARN);
        assert_eq!(r.verdict.level, Level::Critical);
        assert!(r.verdict.reasons[0].contains("error_log"), "{:?}", r.verdict);
    }

    #[test]
    fn a_response_slower_than_three_seconds_is_a_warning() {
        assert_eq!(build(URL, answered(200, 3000), NOW, WARN).verdict.level, Level::Ok);
        let r = build(URL, answered(200, 3500), NOW, WARN);
        assert_eq!(r.verdict.level, Level::Warning);
        assert!(r.verdict.reasons[0].contains("tardó 3500 ms"), "{:?}", r.verdict);
    }

    #[test]
    fn no_answer_is_critical_and_not_reachable() {
        let r = build(URL, Visit::failed(no_answer(URL, "conexión rechazada en 127.0.0.1:443")), NOW, WARN);
        assert_eq!((r.reachable, r.status, r.verdict.level), (false, None, Level::Critical));
        assert_eq!(
            r.error.as_deref(),
            Some(
                "la aplicación de administración no responde en https://127.0.0.1/admin: conexión rechazada en 127.0.0.1:443"
            )
        );
    }

    #[test]
    fn certificate_expiry_is_critical_once_past_and_a_warning_within_cert_warn_before() {
        let with = |not_after| Visit { cert: Some(cert(not_after)), ..answered(200, 10) };
        let r = build(URL, with(NOW + 40 * 86_400), NOW, WARN);
        let tls = r.tls.as_ref().unwrap();
        assert_eq!((r.verdict.level, tls.days_left), (Level::Ok, 40), "{:?}", r.verdict);
        assert!(tls.self_signed && !tls.trusted, "self-signed is shown, not judged");
        let r = build(URL, with(NOW + 5 * 86_400 - 60), NOW, WARN);
        assert_eq!((r.verdict.level, r.tls.as_ref().unwrap().days_left), (Level::Warning, 4));
        assert!(r.verdict.reasons[0].contains("vence en 4 días (2026-12-02 11:59:00 UTC)"), "{:?}", r.verdict);
        let r = build(URL, with(NOW - 3 * 86_400), NOW, WARN);
        assert_eq!((r.verdict.level, r.tls.as_ref().unwrap().days_left), (Level::Critical, -3));
        assert!(r.verdict.reasons[0].contains("venció el 2026-11-24 12:00:00 UTC (hace 3 días)"), "{:?}", r.verdict);
        let r = build(URL, with(NOW - 60), NOW, WARN);
        assert_eq!(r.tls.unwrap().days_left, -1, "expired a minute ago: rounded down");
        assert!(r.verdict.reasons[0].contains("hace menos de un día"), "{:?}", r.verdict);
    }

    #[test]
    fn an_unreadable_certificate_is_a_warning_next_to_the_status() {
        let visit =
            Visit { cert_error: Some("el certificado TLS del servidor no se puede leer".into()), ..answered(200, 5) };
        let r = build(URL, visit, NOW, WARN);
        assert_eq!((r.status, r.tls, r.verdict.level), (Some(200), None, Level::Warning));
    }

    #[tokio::test]
    async fn without_a_section_the_probe_is_not_applicable() {
        let mut out = Vec::new();
        let e = AdminApp::new(None).collect(&mut out).await.unwrap_err();
        assert_eq!(e, ProbeError::NotApplicable("sin sección [admin_app] en la configuración".into()));
        assert!(out.is_empty());
    }
}
