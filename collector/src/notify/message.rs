//! What a ticket event says: the Spanish email (subject and plain-text body) and the webhook's JSON.
//! Pure functions of a [`TicketEvent`], so the ticket module only has to fill in a plain struct.

use super::Notify;
use super::queue::{Channel, NewNotification};
use chrono::TimeZone;

/// The recipient recorded for webhook rows (the page shows it; the URL itself stays in the config).
pub const SERVICE_DESK_WEBHOOK: &str = "mesa de servicio";

/// A ticket change worth telling people about, as the ticket module describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketEvent {
    pub ticket_id: i64,
    /// What happened: "creado", "asignado", "cerrado", or any other word the ticket module uses.
    pub event: String,
    pub title: String,
    /// The contact center the ticket is about.
    pub center: String,
    pub server: Option<String>,
    /// The ticket's state after the event ("abierto", "en curso", "cerrado"...).
    pub state: String,
    pub priority: Option<String>,
    pub assignee: Option<String>,
    pub requester: String,
    /// Absolute link to the ticket's page (`…/tickets/{id}`).
    pub url: String,
    /// When it happened, ms since the epoch (UTC).
    pub at_ms: i64,
}

/// The subject line, e.g. "[Centinela] Ticket #42 asignado a Ana Pérez: Disco degradado en pbx-01".
pub fn email_subject(e: &TicketEvent) -> String {
    let what = match (e.event.as_str(), &e.assignee) {
        ("asignado", Some(who)) => format!("asignado a {who}"),
        (other, _) => other.to_string(),
    };
    // A subject is one line: a title pasted with a newline must not start a header.
    one_line(&format!("[Centinela] Ticket #{} {what}: {}", e.ticket_id, e.title))
}

/// The plain-text body; `tz` is the zone the reader's clock shows (the collector's local zone).
pub fn email_body<Tz: TimeZone>(e: &TicketEvent, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let when = tz
        .timestamp_millis_opt(e.at_ms)
        .single()
        .map(|t| t.format("%d/%m/%Y %H:%M (%:z)").to_string())
        .unwrap_or_else(|| "fecha desconocida".into());
    let dash = "—".to_string();
    [
        format!("Ticket #{}: {}", e.ticket_id, one_line(&e.title)),
        String::new(),
        format!("Evento:       {}", e.event),
        format!("Estado:       {}", e.state),
        format!("Prioridad:    {}", e.priority.as_ref().unwrap_or(&dash)),
        format!("Centro:       {}", e.center),
        format!("Servidor:     {}", e.server.as_ref().unwrap_or(&dash)),
        format!("Asignado a:   {}", e.assignee.as_deref().unwrap_or("sin asignar")),
        format!("Solicitante:  {}", e.requester),
        format!("Fecha:        {when}"),
        String::new(),
        format!("Ver el ticket: {}", e.url),
        String::new(),
        // "-- " (with the space) is the signature separator mail readers recognise.
        "-- ".into(),
        "Centinela (UACT). Mensaje automático: no responda a este correo.".into(),
        String::new(),
    ]
    .join("\n")
}

/// The webhook's JSON (keys in English, values as the ticket module wrote them). `version` changes
/// only if a field is removed or changes meaning; receivers should ignore fields they do not know.
pub fn webhook_payload(e: &TicketEvent) -> serde_json::Value {
    let at = chrono::Utc.timestamp_millis_opt(e.at_ms).single().map(|t| t.to_rfc3339());
    serde_json::json!({
        "source": "centinela",
        "version": 1,
        "event": e.event,
        "at": at,
        "at_ms": e.at_ms,
        "summary": email_subject(e),
        "ticket": {
            "id": e.ticket_id,
            "title": e.title,
            "state": e.state,
            "priority": e.priority,
            "center": e.center,
            "server": e.server,
            "assignee": e.assignee,
            "requester": e.requester,
            "url": e.url,
        },
    })
}

fn one_line(s: &str) -> String {
    s.split(['\r', '\n']).map(str::trim).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ")
}

impl NewNotification {
    /// An email about `e` to `to`, dated in the collector's local zone.
    pub fn email(e: &TicketEvent, to: &str) -> Self {
        Self {
            channel: Channel::Email,
            recipient: to.trim().to_string(),
            subject: email_subject(e),
            body: Some(email_body(e, &chrono::Local)),
            payload: None,
            ticket_id: Some(e.ticket_id),
            event: e.event.clone(),
        }
    }

    /// The service desk's webhook call about `e`.
    pub fn webhook(e: &TicketEvent) -> Self {
        Self {
            channel: Channel::Webhook,
            recipient: SERVICE_DESK_WEBHOOK.into(),
            subject: email_subject(e),
            body: None,
            payload: Some(webhook_payload(e).to_string()),
            ticket_id: Some(e.ticket_id),
            event: e.event.clone(),
        }
    }
}

/// The notifications for `e` on the configured channels: one email to each of `[notify.email] to`
/// and of `also_to` (e.g. the assignee and the requester; duplicates and blanks skipped), and one
/// webhook call. An unconfigured channel gets nothing: there would be nowhere to deliver it.
pub fn for_ticket_event(notify: &Notify, e: &TicketEvent, also_to: &[&str]) -> Vec<NewNotification> {
    let mut out = Vec::new();
    if let Some(email) = &notify.email {
        let mut seen: Vec<String> = Vec::new();
        let configured = email.to.iter().map(|m| m.email.to_string());
        for to in configured.chain(also_to.iter().map(|s| s.trim().to_string())) {
            if !to.is_empty() && !seen.iter().any(|s| s.eq_ignore_ascii_case(&to)) {
                out.push(NewNotification::email(e, &to));
                seen.push(to);
            }
        }
    }
    if notify.webhook.is_some() {
        out.push(NewNotification::webhook(e));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn event() -> TicketEvent {
        TicketEvent {
            ticket_id: 42,
            event: "asignado".into(),
            title: "Disco degradado en pbx-01".into(),
            center: "Centro de Atención Madrid".into(),
            server: Some("pbx-01".into()),
            state: "en curso".into(),
            priority: Some("alta".into()),
            assignee: Some("Ana Pérez".into()),
            requester: "Luis Gómez".into(),
            url: "https://centinela.example.org/tickets/42".into(),
            at_ms: 1_736_073_120_000, // 2025-01-05 10:32 UTC
        }
    }

    #[test]
    fn the_subject_says_who_a_ticket_was_assigned_to() {
        assert_eq!(email_subject(&event()), "[Centinela] Ticket #42 asignado a Ana Pérez: Disco degradado en pbx-01");
        let closed = TicketEvent { event: "cerrado".into(), ..event() };
        assert_eq!(email_subject(&closed), "[Centinela] Ticket #42 cerrado: Disco degradado en pbx-01");
    }

    #[test]
    fn a_title_with_a_newline_cannot_break_the_subject_line() {
        let e = TicketEvent { title: "uno\r\nBcc: x@y.z".into(), ..event() };
        assert!(!email_subject(&e).contains('\n'));
        assert!(email_subject(&e).ends_with("uno Bcc: x@y.z"));
    }

    #[test]
    fn the_body_lists_the_ticket_in_spanish_with_its_link() {
        let body = email_body(&event(), &chrono::Utc);
        for line in [
            "Ticket #42: Disco degradado en pbx-01",
            "Evento:       asignado",
            "Prioridad:    alta",
            "Asignado a:   Ana Pérez",
            "Fecha:        05/01/2025 10:32 (+00:00)",
            "Ver el ticket: https://centinela.example.org/tickets/42",
        ] {
            assert!(body.lines().any(|l| l == line), "missing {line:?} in\n{body}");
        }
        let e = TicketEvent { assignee: None, priority: None, server: None, ..event() };
        let body = email_body(&e, &chrono::Utc);
        assert!(body.contains("Asignado a:   sin asignar") && body.contains("Servidor:     —"), "{body}");
    }

    #[test]
    fn the_webhook_json_carries_the_ticket_and_an_rfc3339_time() {
        let v = webhook_payload(&event());
        assert_eq!(v["source"], "centinela");
        assert_eq!(v["event"], "asignado");
        assert_eq!(v["at"], "2025-01-05T10:32:00+00:00");
        assert_eq!(v["ticket"]["id"], 42);
        assert_eq!(v["ticket"]["assignee"], "Ana Pérez");
        assert_eq!(v["ticket"]["url"], "https://centinela.example.org/tickets/42");
    }

    #[test]
    fn only_configured_channels_get_notifications_and_each_address_once() {
        let raw: super::super::RawNotify = toml::from_str(
            "[email]\nhost = \"h\"\nfrom = \"c@example.org\"\nto = [\"Mesa <mesa@example.org>\"]\n[webhook]\nurl = \"https://h/\"",
        )
        .unwrap();
        let notify = Notify::from_raw(raw).unwrap();
        let n = for_ticket_event(&notify, &event(), &["ana@example.org", "MESA@example.org", " "]);
        let to: Vec<_> = n.iter().map(|n| (n.channel, n.recipient.as_str())).collect();
        assert_eq!(
            to,
            [
                (Channel::Email, "mesa@example.org"),
                (Channel::Email, "ana@example.org"),
                (Channel::Webhook, SERVICE_DESK_WEBHOOK)
            ]
        );
        assert!(for_ticket_event(&Notify::default(), &event(), &["ana@example.org"]).is_empty());
    }
}
