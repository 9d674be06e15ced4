//! Sends one queued email through the configured SMTP server (lettre, tokio, rustls with ring).
//! A new connection per message: notifications are a few an hour, and a dead server then costs
//! one connection attempt per message, bounded by the configured timeout.

use super::config::{EmailConfig, Security};
use super::queue::{Claimed, Outcome};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub struct EmailSender {
    config: EmailConfig,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl EmailSender {
    /// Builds the client. Fails only if the TLS settings cannot be built (a CA file lettre rejects).
    pub fn new(config: EmailConfig) -> Result<Self, String> {
        let tls = match config.security {
            Security::None => Tls::None,
            Security::StartTls | Security::Tls => {
                let mut params = TlsParameters::builder(config.host.clone());
                if let Some(pem) = &config.ca_pem {
                    let ca = Certificate::from_pem(pem).map_err(|e| format!("notify.email.ca_file: {e}"))?;
                    params = params.add_root_certificate(ca);
                }
                let params = params.build_rustls().map_err(|e| format!("TLS para SMTP: {e}"))?;
                if config.security == Security::Tls { Tls::Wrapper(params) } else { Tls::Required(params) }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout))
            .hello_name(ClientId::Domain(centinela_agent::config::hostname()));
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self { transport: builder.build(), config })
    }

    /// Where mail goes, for messages: "smtp.example.org:587 (starttls)".
    pub fn server(&self) -> String {
        let security = match self.config.security {
            Security::StartTls => "starttls",
            Security::Tls => "tls",
            Security::None => "sin cifrar",
        };
        format!("{}:{} ({security})", self.config.host, self.config.port)
    }

    /// Sends `row` and says how it went; the error text is for people (Spanish) and holds no secret.
    pub async fn send(&self, row: &Claimed) -> Outcome {
        let to: Mailbox = match row.recipient.parse() {
            Ok(m) => m,
            Err(e) => {
                return Outcome::Permanent(format!(
                    "«{}» no es una dirección de correo válida ({e}); corrija la dirección de esa persona",
                    row.recipient
                ));
            }
        };
        let message = match self.message(row, to) {
            Ok(m) => m,
            Err(e) => return Outcome::Permanent(format!("no se pudo componer el correo: {e}")),
        };
        // lettre bounds each SMTP command by the timeout; this bounds the whole exchange too.
        let limit = self.config.timeout * 2;
        match tokio::time::timeout(limit, self.transport.send(message)).await {
            Ok(Ok(_)) => Outcome::Delivered,
            Ok(Err(e)) => Outcome::Failed(self.explain(&e)),
            Err(_) => Outcome::Failed(format!(
                "el servidor de correo {} no completó el envío en {}",
                self.server(),
                humantime::format_duration(limit)
            )),
        }
    }

    fn message(&self, row: &Claimed, to: Mailbox) -> Result<Message, lettre::error::Error> {
        // The same Message-ID on every attempt: a receiver or a human can tell a retry from a new mail.
        let domain = self.config.from.email.domain().to_string();
        Message::builder()
            .from(self.config.from.clone())
            .to(to)
            .subject(row.subject.clone())
            .message_id(Some(format!("<centinela.notificacion.{}.{}@{domain}>", row.id, row.created_at)))
            .header(ContentType::TEXT_PLAIN)
            .body(row.body.clone().unwrap_or_default())
    }

    fn explain(&self, e: &lettre::transport::smtp::Error) -> String {
        use std::error::Error as _;
        // lettre's message often repeats its sources already: add only what is new.
        let mut detail = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            let text = s.to_string();
            if !detail.contains(&text) {
                detail.push_str(": ");
                detail.push_str(&text);
            }
            source = s.source();
        }
        let hint = if detail.contains("certificate") {
            "el certificado del servidor no es de confianza o no es de ese nombre: añada su CA en ca_file de \
             [notify.email], o ponga en host el nombre que figura en el certificado"
        } else if e.is_transient() || e.is_permanent() {
            // The server answered with an SMTP code: its words say why.
            "revise el remitente, la dirección y las credenciales (username, password_file) en [notify.email]"
        } else if e.is_timeout() {
            "el servidor no contesta; revise host y port en [notify.email] y el cortafuegos"
        } else if e.is_tls() {
            "revise security y ca_file en [notify.email]"
        } else {
            "revise host, port y security en [notify.email] y que el servidor de correo esté en marcha"
        };
        format!("el servidor de correo {} falló: {detail}; {hint}", self.server())
    }
}
