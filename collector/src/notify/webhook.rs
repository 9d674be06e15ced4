//! POSTs one queued JSON payload to the service desk's webhook.
//!
//! hyper's HTTP/1.1 client connection (already built for axum, so no new crate) over tokio, and
//! tokio-rustls (ring) for https:// trusting the system store: async, so a dead service desk holds
//! no thread and the whole request is bounded by one `tokio::time::timeout`. Any 2xx is delivered;
//! redirects are not followed (a moved endpoint is a configuration to fix, not to guess).

use super::config::WebhookConfig;
use super::queue::{Claimed, Outcome};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue, USER_AGENT};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

pub struct WebhookSender {
    config: WebhookConfig,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl WebhookSender {
    /// Builds the client; for https:// this reads the system trust store (call it off the runtime).
    pub fn new(config: WebhookConfig) -> Result<Self, String> {
        let tls = if config.tls {
            let mut roots = rustls::RootCertStore::empty();
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut client = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS para el webhook: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            client.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(tokio_rustls::TlsConnector::from(Arc::new(client)))
        } else {
            None
        };
        Ok(Self { config, tls })
    }

    /// Sends `row`'s payload; the error text is for people (Spanish) and holds no secret.
    pub async fn send(&self, row: &Claimed) -> Outcome {
        let Some(payload) = row.payload.clone() else {
            return Outcome::Permanent("la notificación no tiene contenido JSON; es un defecto, repórtelo".into());
        };
        let limit = self.config.timeout;
        match tokio::time::timeout(limit, self.post(row.id, payload)).await {
            Ok(Ok(())) => Outcome::Delivered,
            Ok(Err(e)) => Outcome::Failed(format!("el webhook {} falló: {e}", self.config.display_url())),
            Err(_) => Outcome::Failed(format!(
                "el webhook {} no respondió en {}; revise que el servicio esté en marcha o aumente timeout en [notify.webhook]",
                self.config.display_url(),
                humantime::format_duration(limit)
            )),
        }
    }

    async fn post(&self, id: i64, payload: String) -> Result<(), String> {
        let c = &self.config;
        let tcp = TcpStream::connect((c.host.as_str(), c.port)).await.map_err(|e| {
            format!(
                "no se puede conectar a {}:{} ({e}); revise url en [notify.webhook] y el cortafuegos",
                c.host, c.port
            )
        })?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => self.exchange(tcp, id, payload).await,
            Some(connector) => {
                let name = rustls::pki_types::ServerName::try_from(c.host.clone())
                    .map_err(|e| format!("el host {} no sirve como nombre TLS ({e})", c.host))?;
                let stream = connector.connect(name, tcp).await.map_err(|e| {
                    format!("el saludo TLS falló ({e}); revise que el certificado del servidor sea de confianza")
                })?;
                self.exchange(stream, id, payload).await
            }
        }
    }

    async fn exchange<S>(&self, stream: S, id: i64, payload: String) -> Result<(), String>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let c = &self.config;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("no se pudo iniciar HTTP ({e})"))?;
        // The connection's I/O runs beside the request; it ends when both sides are done or dropped.
        let driver = tokio::spawn(conn);
        let host = match c.url.authority() {
            Some(a) => a.as_str().to_string(),
            None => c.host.clone(),
        };
        let path = c.url.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut request = hyper::Request::post(path)
            .header(HOST, host)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("centinela-collector/", env!("CARGO_PKG_VERSION")))
            // The same key on every attempt: the service desk can drop a retry it already has.
            .header("Idempotency-Key", format!("centinela-notificacion-{id}"));
        if let Some(token) = &c.bearer_token {
            let mut v = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| "el token de notify.webhook.bearer_token_file no vale como cabecera".to_string())?;
            v.set_sensitive(true);
            request = request.header(AUTHORIZATION, v);
        }
        let request = request
            .body(Full::new(Bytes::from(payload)))
            .map_err(|e| format!("no se pudo componer la petición ({e}); revise url en [notify.webhook]"))?;
        let response = sender.send_request(request).await.map_err(|e| format!("la petición falló ({e})"))?;
        let status = response.status();
        // A few hundred bytes of the answer tell the person reading the error what the desk said.
        let said = match Limited::new(response.into_body(), 64 * 1024).collect().await {
            Ok(b) => summary(&b.to_bytes()),
            Err(_) => String::new(),
        };
        driver.abort();
        if status.is_success() {
            return Ok(());
        }
        let reason = status.canonical_reason().unwrap_or("");
        let hint = match status.as_u16() {
            401 | 403 => "; revise bearer_token_file en [notify.webhook]",
            404 | 405 => "; revise url en [notify.webhook]",
            300..=399 => "; la URL ha cambiado: ponga la nueva en url de [notify.webhook]",
            _ => "",
        };
        let said = if said.is_empty() { String::new() } else { format!(": «{said}»") };
        Err(format!("respondió {} {reason}{said}{hint}", status.as_u16()))
    }
}

/// The start of a response body as one line of text.
fn summary(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_answer_is_cut_to_one_short_line() {
        assert_eq!(summary(b"  error\n\n interno "), "error interno");
        let long = "á".repeat(300);
        let s = summary(long.as_bytes());
        assert_eq!(s.chars().count(), 201);
        assert!(s.ends_with('…'));
    }
}
