//! Probe `asterisk`: one [`AsteriskV1`] per sample, read over AMI with the [`crate::ami`] client, with
//! a verdict computed here. [`Asterisk::collect`] does the I/O ([`run_session`] → [`Answers`]); the
//! pure [`build`] turns the answers into the reading, so almost everything is tested on literal
//! messages and on the transcripts of `shared/fixtures/asterisk` (Asterisk 22.10.1).
//!
//! Invariants:
//! - Not applicable only without an `[asterisk]` section. Otherwise exactly one reading is pushed and
//!   `collect` returns `Ok`, even when Asterisk is down: an unreachable Asterisk is a reading
//!   ([`AmiState`] says what happened), not a probe failure.
//! - One connection per sample: connect, login (`Events: off`), the actions below, `Logoff`. No
//!   long-lived connection or event stream is kept; nothing needs one yet (registrations, contacts and
//!   queues are all read as a snapshot). Deadlines: [`CONNECT_TIMEOUT`] for TCP, [`ACTION_TIMEOUT`] per
//!   exchange (banner included), and [`SESSION_TIMEOUT`] for the whole session, so a peer that answers
//!   each action just before its deadline still cannot hold the probe for minutes.
//! - An action answered with `Response: Error` (permission, unknown action) costs only its own part of
//!   the reading: its fields stay `None`/empty and the verdict gets a Warning naming the action. Any
//!   other failure (timeout, closed connection, garbage) ends the session; what was read before it is
//!   kept and [`AmiState`] says why the rest is missing.
//! - Nothing from the wire panics: a missing header is `None`, a number that does not parse is `None`
//!   (or 0 for the queue counters, which the wire type requires).
//!
//! Actions, in order (each must match a captured `.request.txt` exactly, apart from `ActionID`):
//! `Login`; `CoreSettings` (AsteriskVersion); `Command: core show version` only when CoreSettings gave
//! no version; `CoreStatus` (CoreCurrentCalls = channels, CoreProcessedCalls, startup/reload dates);
//! `Command: core show uptime seconds` ("System uptime: N", "Last reload: N"); `Command: core show
//! channels count` (the only source of "N active calls": CoreCurrentCalls counts channels, 16 vs 10 in
//! the busy capture); `CoreShowChannels` (Duration per channel); `QueueSummary`; `QueueStatus`;
//! `PJSIPShowRegistrationsOutbound`; `PJSIPShowEndpoints`; `PJSIPShowContacts`; `SIPpeers` and, only if
//! it answers, `SIPshowregistry`; `Logoff`.
//!
//! Interpretation (from what the captures show):
//! - Uptime comes from `core show uptime seconds` (exact, no time zone). Without it, from CoreStatus's
//!   `CoreStartupDate/Time` against the agent's local clock, which assumes the agent runs on the
//!   Asterisk host (the normal install; AMI bound to 127.0.0.1) with the same time zone.
//! - Trunks: every PJSIP outbound registration belongs to a trunk (phones do not register outward).
//!   An endpoint is a trunk when it owns a registration (the registration's `Endpoint:` names it, or
//!   its `OutboundAuth` is one of the endpoint's `OutboundAuths`: Asterisk 22 leaves `Endpoint:` empty
//!   in the captures, `carrier-auth`/`backup-auth` are the link), or when it has contacts and none of
//!   them is a dynamic registration. `PJSIPShowContacts` lists only registered (dynamic) contacts, so a
//!   contact of `PJSIPShowEndpoints` that is not in it is static. In the captures this marks `carrier`
//!   and `backup-trunk` as trunks, and not 1001-1003 (registered phones) nor 1004 (no contact).
//! - Contact reachability: a dynamic contact is reachable when its qualify status is `Reachable` or
//!   `NonQualified`; `Unknown` (not qualified yet) and `Unreachable` are not. Static contacts have no
//!   status in any list action, so they are reachable unless the endpoint's DeviceState is
//!   `Unavailable` or `Invalid` (qualify failures make it Unavailable: `backup-trunk` idle, `carrier`
//!   in the trunk-down capture).
//! - chan_sip: `SIPpeers` answered "Invalid/unknown command" means chan_sip is not loaded (removed in
//!   Asterisk 21): `sip_peers`/`sip_registry` are `None`, without warning. A peer with `Dynamic: no`
//!   is a trunk; its `Status` `OK (n ms)` or `Unmonitored` counts as reachable.
//!
//! Verdict defaults, in Spanish because technicians read them ([`Rules`]):
//! - Critical: AMI down ("Asterisk no responde: …"), wedged ("AMI bloqueado: …"), login refused
//!   ("inicio de sesión AMI rechazado: …": the AMI user must be fixed), the session broke ("la
//!   conversación AMI falló: …"); a registration not `Registered` ("troncal no registrada: backup-reg
//!   (Rejected)"); a trunk with no reachable contact ("troncal sin contacto alcanzable: carrier
//!   (Unavailable)"); a queue with callers and no member who can answer ("cola con llamadas en espera y
//!   sin agentes disponibles: sales (2 en espera)"); every channel older than `stuck_channel_after`
//!   (4 h by default) ("canal atascado: PJSIP/carrier-00000001 5 h").
//! - A queue with callers whose members are all busy (in a call or ringing, but logged in, reachable
//!   and not paused) is only an Ok reason ("todos los agentes ocupados"): that is a call centre at
//!   work, not an outage. QueueSummary's `Available` is 0 in both cases; the QueueMember list tells
//!   them apart. Without QueueStatus, `Available: 0` with callers is Critical.
//! - Warning: uptime under [`Rules::recent_restart`] (10 min) ("Asterisk se reinició hace 3 min"); an
//!   action answered with an error ("acción AMI QueueStatus rechazada: Permission denied …").
//! - Ok with a reason: a reload (not the start itself) within the same 10 minutes ("configuración
//!   recargada hace 2 min").
//! - Each queue, registration and endpoint has its own verdict; the reading's verdict is the worst of
//!   all, with its own reasons and every Warning/Critical reason of its parts (Ok reasons of parts stay
//!   on the part, so 300 desk phones do not flood it).

use super::ProbeError;
use crate::ami::{Action, AmiClient, AmiError, ClientConfig, List, Message};
use crate::config::AsteriskConfig;
use centinela_shared::{AmiState, AsteriskV1, EndpointV1, Level, QueueV1, Reading, RegistrationV1, Verdict};
use chrono::NaiveDateTime;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// TCP connect deadline.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline of each exchange (banner, each action until its last list item).
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline of the whole session, so the probe ends within ~25 s whatever the peer does.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(25);

/// `Response: Error` message of an action Asterisk does not know (module not loaded).
const UNKNOWN_ACTION: &str = "Invalid/unknown command";

pub struct Asterisk {
    config: Option<AsteriskConfig>,
    client: ClientConfig,
    session_timeout: Duration,
}

impl Asterisk {
    pub fn new(config: Option<AsteriskConfig>) -> Self {
        let client = ClientConfig { connect_timeout: CONNECT_TIMEOUT, action_timeout: ACTION_TIMEOUT };
        Self { config, client, session_timeout: SESSION_TIMEOUT }
    }

    /// Shorter deadlines, for tests of a wedged or silent peer.
    pub fn with_timeouts(mut self, client: ClientConfig, session_timeout: Duration) -> Self {
        self.client = client;
        self.session_timeout = session_timeout;
        self
    }

    /// Not applicable without config. Otherwise pushes exactly one `Reading::AsteriskV1` and returns
    /// `Ok`, even when Asterisk is down.
    pub async fn collect(&mut self, out: &mut Vec<Reading>) -> Result<(), ProbeError> {
        let Some(config) = &self.config else {
            return Err(ProbeError::NotApplicable("sin sección [asterisk] en la configuración".into()));
        };
        let mut answers = Answers::default();
        let outcome = tokio::time::timeout(self.session_timeout, run_session(config, self.client, &mut answers)).await;
        let ami = match outcome {
            Ok(Ok(())) => AmiState::Up,
            Ok(Err(e)) => ami_state(&e),
            Err(_) => AmiState::Wedged(format!(
                "la sesión AMI no terminó en {} s: Asterisk contesta demasiado despacio",
                self.session_timeout.as_secs()
            )),
        };
        let rules = Rules { stuck_channel_after: config.stuck_channel_after, ..Rules::default() };
        let now = chrono::Local::now().naive_local();
        out.push(Reading::AsteriskV1(build(ami, &answers, &rules, Some(now))));
        Ok(())
    }
}

/// The thresholds of the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// A channel older than this is stuck (Critical). `[asterisk] stuck_channel_after`, 4 h.
    pub stuck_channel_after: Duration,
    /// Uptime under this is a recent restart (Warning); a reload within it is noted (Ok).
    pub recent_restart: Duration,
}

impl Default for Rules {
    fn default() -> Self {
        Self { stuck_channel_after: Duration::from_secs(4 * 3600), recent_restart: Duration::from_secs(600) }
    }
}

/// An action answered with `Response: Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedAction {
    pub action: String,
    pub message: String,
}

/// What one AMI session answered. A field is `None` when its action was not sent, or failed (then it
/// is in [`Answers::failed`]). Lists hold every item (events of all types), in arrival order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    pub core_settings: Option<Message>,
    /// `core show version` output lines.
    pub version_cli: Option<Vec<String>>,
    pub core_status: Option<Message>,
    /// `core show uptime seconds` output lines.
    pub uptime_cli: Option<Vec<String>>,
    /// `core show channels count` output lines.
    pub channels_count_cli: Option<Vec<String>>,
    pub channels: Option<Vec<Message>>,
    pub queue_summary: Option<Vec<Message>>,
    pub queue_status: Option<Vec<Message>>,
    pub registrations: Option<Vec<Message>>,
    pub endpoints: Option<Vec<Message>>,
    pub contacts: Option<Vec<Message>>,
    /// `None` when chan_sip is not loaded (or SIPpeers failed, then it is in `failed`).
    pub sip_peers: Option<Vec<Message>>,
    pub sip_registry: Option<Vec<Message>>,
    pub failed: Vec<FailedAction>,
}

/// `Ok(Some)` answer, `Ok(None)` action refused (recorded), `Err` the session is over.
fn soft<T>(result: Result<T, AmiError>, failed: &mut Vec<FailedAction>) -> Result<Option<T>, AmiError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(AmiError::ActionFailed { action, message, output }) => {
            let message = if output.is_empty() { message } else { format!("{message} ({})", output.join(" / ")) };
            failed.push(FailedAction { action, message });
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The Command's action name in [`FailedAction`], so the reason says which CLI command was refused.
fn soft_command(
    result: Result<Vec<String>, AmiError>,
    command: &str,
    failed: &mut Vec<FailedAction>,
) -> Result<Option<Vec<String>>, AmiError> {
    let result = result.map_err(|e| match e {
        AmiError::ActionFailed { message, output, .. } => {
            AmiError::ActionFailed { action: format!("Command '{command}'"), message, output }
        }
        other => other,
    });
    soft(result, failed)
}

async fn command<S>(
    client: &mut AmiClient<S>,
    cli: &str,
    failed: &mut Vec<FailedAction>,
) -> Result<Option<Vec<String>>, AmiError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    soft_command(client.command(cli).await, cli, failed)
}

fn items(list: Option<List>) -> Option<Vec<Message>> {
    list.map(|l| l.items)
}

/// One sample's conversation. Fills `answers` as it goes, so a deadline that cuts it keeps what was
/// read.
pub async fn run_session(
    config: &AsteriskConfig,
    client_config: ClientConfig,
    answers: &mut Answers,
) -> Result<(), AmiError> {
    let mut client = AmiClient::connect(&config.ami, client_config).await?;
    client.login(&config.username, &config.secret, config.auth).await?;
    let a = answers;
    a.core_settings = soft(client.action(&Action::new("CoreSettings")).await, &mut a.failed)?;
    if a.core_settings.as_ref().and_then(|m| non_empty(m.get("AsteriskVersion"))).is_none() {
        a.version_cli = command(&mut client, "core show version", &mut a.failed).await?;
    }
    a.core_status = soft(client.action(&Action::new("CoreStatus")).await, &mut a.failed)?;
    a.uptime_cli = command(&mut client, "core show uptime seconds", &mut a.failed).await?;
    a.channels_count_cli = command(&mut client, "core show channels count", &mut a.failed).await?;
    a.channels = items(soft(client.list(&Action::new("CoreShowChannels")).await, &mut a.failed)?);
    a.queue_summary = items(soft(client.list(&Action::new("QueueSummary")).await, &mut a.failed)?);
    a.queue_status = items(soft(client.list(&Action::new("QueueStatus")).await, &mut a.failed)?);
    a.registrations = items(soft(client.list(&Action::new("PJSIPShowRegistrationsOutbound")).await, &mut a.failed)?);
    a.endpoints = items(soft(client.list(&Action::new("PJSIPShowEndpoints")).await, &mut a.failed)?);
    a.contacts = items(soft(client.list(&Action::new("PJSIPShowContacts")).await, &mut a.failed)?);
    match client.list(&Action::new("SIPpeers")).await {
        Err(AmiError::ActionFailed { message, .. }) if message.starts_with(UNKNOWN_ACTION) => {}
        other => {
            a.sip_peers = items(soft(other, &mut a.failed)?);
            if a.sip_peers.is_some() {
                a.sip_registry = items(soft(client.list(&Action::new("SIPshowregistry")).await, &mut a.failed)?);
            }
        }
    }
    // The reading is complete; a Logoff that goes wrong changes nothing in it.
    if let Err(e) = client.logoff().await {
        tracing::debug!(error = %e, "asterisk: logoff failed");
    }
    Ok(())
}

/// The reading's [`AmiState`] for a session-ending error, with a Spanish description.
pub fn ami_state(e: &AmiError) -> AmiState {
    match e {
        AmiError::Down { addr, source } => AmiState::Down(format!(
            "nada acepta conexiones en {addr} ({source}); ¿está Asterisk en marcha, con `enabled = yes`, este \
             puerto y `bindaddr` en la sección [general] de manager.conf?"
        )),
        AmiError::ConnectTimeout { addr, timeout } => AmiState::Down(format!(
            "{addr} no contestó la conexión TCP en {} s (¿equipo apagado o un cortafuegos descarta el puerto?)",
            timeout.as_secs_f32()
        )),
        AmiError::Wedged { waiting_for, timeout } => AmiState::Wedged(format!(
            "el AMI aceptó la conexión pero no envió {waiting_for} en {} s: Asterisk está bloqueado \
             (pruebe `asterisk -rx 'core show uptime'` y reinícielo si persiste)",
            timeout.as_secs_f32()
        )),
        AmiError::LoginRefused { username, message } => AmiState::LoginRefused(format!(
            "el AMI rechazó al usuario {username:?}: {message} (revise su secreto y permit/deny en manager.conf, \
             y el usuario y el secreto en la configuración del agente)"
        )),
        other => AmiState::Error(other.to_string()),
    }
}

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

fn num<T: std::str::FromStr>(m: &Message, key: &str) -> Option<T> {
    m.get(key).and_then(|v| v.trim().parse().ok())
}

/// A channel's `Duration`: `HH:MM:SS` (hours may exceed 99) or plain seconds. Anything else is `None`.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let parts: Vec<&str> = text.split(':').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !parts.iter().all(|p| digits(p)) {
        return None;
    }
    match parts.as_slice() {
        [s] => s.parse().ok(),
        [h, m, s] => {
            let (h, m, s): (u64, u64, u64) = (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?);
            if m >= 60 || s >= 60 {
                return None;
            }
            h.checked_mul(3600)?.checked_add(m * 60 + s)
        }
        _ => None,
    }
}

/// `core show uptime seconds`: ("System uptime: 35", "Last reload: 35") → (uptime, since reload).
pub fn parse_uptime_seconds(lines: &[String]) -> (Option<u64>, Option<u64>) {
    let find = |prefix: &str| {
        lines.iter().find_map(|l| l.trim().strip_prefix(prefix).and_then(|rest| rest.trim().parse().ok()))
    };
    (find("System uptime:"), find("Last reload:"))
}

/// `core show channels count`: "N active channel(s)", "N active call(s)", "N call(s) processed".
pub fn parse_channels_count(lines: &[String]) -> (Option<u32>, Option<u32>, Option<u64>) {
    let (mut channels, mut calls, mut processed) = (None, None, None);
    for line in lines {
        let mut words = line.split_whitespace();
        let (Some(n), Some(w1)) = (words.next(), words.next()) else { continue };
        let w2 = words.next().unwrap_or("");
        match (w1, w2) {
            ("active", w) if w.starts_with("channel") => channels = n.parse().ok(),
            ("active", w) if w.starts_with("call") => calls = n.parse().ok(),
            (w, "processed") if w.starts_with("call") => processed = n.parse().ok(),
            _ => {}
        }
    }
    (channels, calls, processed)
}

/// `core show version`: "Asterisk 22.10.1 built by root @ vm ..." → "22.10.1".
pub fn parse_version_cli(lines: &[String]) -> Option<String> {
    lines.iter().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some("Asterisk")).then(|| w.next().map(str::to_owned)).flatten()
    })
}

/// Seconds from `date time` (CoreStatus's server-local `CoreStartupDate`/`CoreStartupTime`) to `now`.
fn since(m: &Message, date: &str, time: &str, now: NaiveDateTime) -> Option<u64> {
    let at = format!("{} {}", m.get(date)?.trim(), m.get(time)?.trim());
    let at = NaiveDateTime::parse_from_str(&at, "%Y-%m-%d %H:%M:%S").ok()?;
    u64::try_from((now - at).num_seconds()).ok()
}

/// "35 s", "3 min", "5 h" (rounded down), as the reasons say durations.
pub fn human(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}

fn events<'a>(list: &'a Option<Vec<Message>>, name: &'a str) -> impl Iterator<Item = &'a Message> + 'a {
    list.iter().flatten().filter(move |m| m.event().is_some_and(|e| e.eq_ignore_ascii_case(name)))
}

fn text(m: &Message, key: &str) -> String {
    m.get(key).map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// The reading from a session's answers. `now_local` is the Asterisk host's local time, used only when
/// `core show uptime seconds` gave no uptime.
pub fn build(ami: AmiState, a: &Answers, rules: &Rules, now_local: Option<NaiveDateTime>) -> AsteriskV1 {
    let version = a
        .core_settings
        .as_ref()
        .and_then(|m| non_empty(m.get("AsteriskVersion")))
        .map(str::to_owned)
        .or_else(|| a.version_cli.as_deref().and_then(parse_version_cli));

    let (cli_uptime, cli_reload) = a.uptime_cli.as_deref().map(parse_uptime_seconds).unwrap_or((None, None));
    let status_since =
        |date, time| a.core_status.as_ref().zip(now_local).and_then(|(m, now)| since(m, date, time, now));
    let uptime_s = cli_uptime.or_else(|| status_since("CoreStartupDate", "CoreStartupTime"));
    let since_reload_s = cli_reload.or_else(|| status_since("CoreReloadDate", "CoreReloadTime"));

    let (cli_channels, active_calls, cli_processed) =
        a.channels_count_cli.as_deref().map(parse_channels_count).unwrap_or((None, None, None));
    let active_channels = cli_channels
        .or_else(|| a.core_status.as_ref().and_then(|m| num(m, "CoreCurrentCalls")))
        .or_else(|| a.channels.as_ref().map(|c| u32::try_from(c.len()).unwrap_or(u32::MAX)));
    let calls_processed = cli_processed.or_else(|| a.core_status.as_ref().and_then(|m| num(m, "CoreProcessedCalls")));

    // Ties keep the first listed channel.
    let mut longest: Option<(String, u64)> = None;
    let mut stuck = Vec::new();
    let stuck_after = rules.stuck_channel_after.as_secs();
    for ch in events(&a.channels, "CoreShowChannel") {
        let (Some(name), Some(d)) = (non_empty(ch.get("Channel")), ch.get("Duration").and_then(parse_duration)) else {
            continue;
        };
        if longest.as_ref().is_none_or(|(_, best)| d > *best) {
            longest = Some((name.to_owned(), d));
        }
        if d > stuck_after {
            stuck.push((name.to_owned(), d));
        }
    }

    let queues = build_queues(a);
    let registrations = build_registrations(a);
    let endpoints = build_endpoints(a);
    let (sip_peers, sip_registry) = build_sip(a);

    let mut verdict = Verdict::ok();
    match &ami {
        AmiState::Up => {}
        AmiState::Down(why) => verdict.raise(Level::Critical, format!("Asterisk no responde: {why}")),
        AmiState::Wedged(why) => verdict.raise(Level::Critical, format!("AMI bloqueado: {why}")),
        AmiState::LoginRefused(why) => verdict.raise(Level::Critical, format!("inicio de sesión AMI rechazado: {why}")),
        AmiState::Error(why) => verdict.raise(Level::Critical, format!("la conversación AMI falló: {why}")),
    }
    let recent = rules.recent_restart.as_secs();
    if let Some(up) = uptime_s.filter(|u| *u < recent) {
        verdict.raise(Level::Warning, format!("Asterisk se reinició hace {}", human(up)));
    }
    // A reload at start-up is the start itself: "Last reload" equals the uptime then.
    if let Some(r) = since_reload_s.filter(|r| *r < recent && uptime_s.is_none_or(|u| r + 1 < u)) {
        verdict.raise(Level::Ok, format!("configuración recargada hace {}", human(r)));
    }
    const SHOWN: usize = 5;
    for (name, d) in stuck.iter().take(SHOWN) {
        verdict.raise(Level::Critical, format!("canal atascado: {name} {}", human(*d)));
    }
    if stuck.len() > SHOWN {
        verdict.raise(Level::Critical, format!("y {} canales atascados más", stuck.len() - SHOWN));
    }
    for f in &a.failed {
        verdict.raise(
            Level::Warning,
            format!(
                "acción AMI {} rechazada: {} (esa parte de la lectura falta; dé al usuario AMI read = \
                 system,call,agent,reporting,command en manager.conf, o cargue el módulo)",
                f.action, f.message
            ),
        );
    }
    let parts = registrations
        .iter()
        .map(|r| &r.verdict)
        .chain(endpoints.iter().map(|e| &e.verdict))
        .chain(queues.iter().map(|q| &q.verdict))
        .chain(sip_registry.iter().flatten().map(|r| &r.verdict))
        .chain(sip_peers.iter().flatten().map(|e| &e.verdict));
    for v in parts.filter(|v| v.level > Level::Ok) {
        for r in &v.reasons {
            verdict.raise(v.level, r.clone());
        }
    }

    let (longest_channel, longest_channel_s) = longest.map_or((None, None), |(n, d)| (Some(n), Some(d)));
    AsteriskV1 {
        ami,
        version,
        uptime_s,
        since_reload_s,
        active_channels,
        active_calls,
        calls_processed,
        longest_channel,
        longest_channel_s,
        queues,
        registrations,
        endpoints,
        sip_peers,
        sip_registry,
        verdict,
    }
}

/// Device states of a queue member (`Status:` of QueueMember) that mean it cannot take a call.
fn member_unreachable(status: Option<u32>) -> bool {
    // 4 invalid, 5 unavailable (app_queue / devicestate.h).
    matches!(status, Some(4) | Some(5))
}

fn build_queues(a: &Answers) -> Vec<QueueV1> {
    let mut names: Vec<String> = Vec::new();
    for m in events(&a.queue_summary, "QueueSummary").chain(events(&a.queue_status, "QueueParams")) {
        let name = text(m, "Queue");
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    let in_queue = |list: &'static str, name: &str| {
        events(&a.queue_status, list)
            .filter(|m| m.get("Queue").map(str::trim) == Some(name))
            .cloned()
            .collect::<Vec<_>>()
    };
    names
        .into_iter()
        .map(|name| {
            let summary = events(&a.queue_summary, "QueueSummary").find(|m| text(m, "Queue") == name);
            let params = events(&a.queue_status, "QueueParams").find(|m| text(m, "Queue") == name);
            let members = in_queue("QueueMember", &name);
            let entries = in_queue("QueueEntry", &name);
            let have_status = a.queue_status.is_some();
            let paused = |m: &Message| m.get("Paused").map(str::trim) == Some("1");
            let status = |m: &Message| num::<u32>(m, "Status");
            let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);

            let callers = summary
                .and_then(|s| num(s, "Callers"))
                .or_else(|| params.and_then(|p| num(p, "Calls")))
                .unwrap_or(if have_status { count(entries.len()) } else { 0 });
            let longest_entry = entries.iter().filter_map(|e| num::<u64>(e, "Wait")).max();
            let longest_wait_s = summary
                .and_then(|s| num::<u64>(s, "LongestHoldTime"))
                .into_iter()
                .chain(longest_entry)
                .max()
                .unwrap_or(0);
            // QueueSummary's LoggedIn leaves out unavailable members; the fallback does the same.
            let members_logged_in = summary
                .and_then(|s| num(s, "LoggedIn"))
                .unwrap_or_else(|| count(members.iter().filter(|m| !member_unreachable(status(m))).count()));
            let members_available = summary.and_then(|s| num(s, "Available")).unwrap_or_else(|| {
                count(members.iter().filter(|m| !paused(m) && matches!(status(m), Some(0) | Some(1))).count())
            });
            let members_paused = count(members.iter().filter(|m| paused(m)).count());
            // Logged in, not paused, reachable: busy now, but will answer.
            let staffed = members.iter().filter(|m| !paused(m) && !member_unreachable(status(m))).count();

            let mut verdict = Verdict::ok();
            if callers > 0 && members_available == 0 {
                if have_status && staffed > 0 {
                    verdict.raise(
                        Level::Ok,
                        format!(
                            "todos los agentes ocupados: {callers} en espera, la más larga {}",
                            human(longest_wait_s)
                        ),
                    );
                } else {
                    verdict.raise(
                        Level::Critical,
                        format!("cola con llamadas en espera y sin agentes disponibles: {name} ({callers} en espera)"),
                    );
                }
            }
            QueueV1 { name, callers, longest_wait_s, members_logged_in, members_available, members_paused, verdict }
        })
        .collect()
}

fn registration_verdict(name: &str, status: &str) -> Verdict {
    let mut v = Verdict::ok();
    if !status.eq_ignore_ascii_case("Registered") {
        let shown = if status.is_empty() { "estado desconocido" } else { status };
        v.raise(Level::Critical, format!("troncal no registrada: {name} ({shown})"));
    }
    v
}

fn build_registrations(a: &Answers) -> Vec<RegistrationV1> {
    events(&a.registrations, "OutboundRegistrationDetail")
        .map(|m| {
            let name = text(m, "ObjectName");
            let status = text(m, "Status");
            let verdict = registration_verdict(&name, &status);
            RegistrationV1 { name, server_uri: text(m, "ServerUri"), status, verdict }
        })
        .collect()
}

fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn endpoint_verdict(name: &str, trunk: bool, reachable: u32, device_state: &str) -> Verdict {
    let mut v = Verdict::ok();
    if trunk && reachable == 0 {
        let shown = if device_state.is_empty() { "sin estado" } else { device_state };
        v.raise(Level::Critical, format!("troncal sin contacto alcanzable: {name} ({shown})"));
    }
    v
}

fn build_endpoints(a: &Answers) -> Vec<EndpointV1> {
    // Registration → endpoint links: by name, or by the outbound auth they share.
    let mut reg_endpoints = HashSet::new();
    let mut reg_auths = HashSet::new();
    for r in events(&a.registrations, "OutboundRegistrationDetail") {
        if let Some(e) = non_empty(r.get("Endpoint")) {
            reg_endpoints.insert(e.to_owned());
        }
        for auth in split_list(r.get("OutboundAuth").unwrap_or("")) {
            reg_auths.insert(auth.to_owned());
        }
    }
    // Dynamic contacts by URI, with their qualify status.
    let dynamic: Option<HashMap<String, String>> = a
        .contacts
        .as_ref()
        .map(|_| events(&a.contacts, "ContactList").map(|c| (text(c, "Uri"), text(c, "Status"))).collect());
    events(&a.endpoints, "EndpointList")
        .map(|m| {
            let name = text(m, "ObjectName");
            let device_state = text(m, "DeviceState");
            // `Contacts: aor/sip:uri,aor/sip:uri,` (trailing comma as captured).
            let uris: Vec<&str> = split_list(m.get("Contacts").unwrap_or(""))
                .map(|c| c.split_once('/').map_or(c, |(_, uri)| uri))
                .collect();
            let state_reachable = !["Unavailable", "Invalid"].iter().any(|s| device_state.eq_ignore_ascii_case(s));
            let mut reachable = 0u32;
            let mut statics = 0usize;
            for uri in &uris {
                match dynamic.as_ref().and_then(|d| d.get(*uri)) {
                    Some(status) => {
                        if status.eq_ignore_ascii_case("Reachable") || status.eq_ignore_ascii_case("NonQualified") {
                            reachable += 1;
                        }
                    }
                    None => {
                        statics += 1;
                        if state_reachable {
                            reachable += 1;
                        }
                    }
                }
            }
            let owns_registration = reg_endpoints.contains(&name)
                || split_list(m.get("OutboundAuths").unwrap_or("")).any(|auth| reg_auths.contains(auth));
            let all_static = dynamic.is_some() && !uris.is_empty() && statics == uris.len();
            let trunk = owns_registration || all_static;
            let verdict = endpoint_verdict(&name, trunk, reachable, &device_state);
            let contacts_total = u32::try_from(uris.len()).unwrap_or(u32::MAX);
            EndpointV1 { name, device_state, contacts_total, contacts_reachable: reachable, trunk, verdict }
        })
        .collect()
}

/// chan_sip `PeerEntry` and `RegistryEntry` items (no capture: Asterisk 22 has no chan_sip; field
/// names from chan_sip.c `_sip_show_peers` and `manager_show_registry`).
fn build_sip(a: &Answers) -> (Option<Vec<EndpointV1>>, Option<Vec<RegistrationV1>>) {
    let peers = a.sip_peers.as_ref().map(|_| {
        events(&a.sip_peers, "PeerEntry")
            .map(|m| {
                let name = text(m, "ObjectName");
                let status = text(m, "Status");
                let ip = text(m, "IPaddress");
                let has_contact = !ip.is_empty() && ip != "-none-" && ip != "(null)";
                let ok = status.starts_with("OK") || status.eq_ignore_ascii_case("Unmonitored");
                let reachable = u32::from(has_contact && ok);
                let trunk = m.get("Dynamic").map(str::trim).is_some_and(|d| d.eq_ignore_ascii_case("no"));
                let verdict = endpoint_verdict(&name, trunk, reachable, &status);
                EndpointV1 {
                    name,
                    device_state: status,
                    contacts_total: u32::from(has_contact),
                    contacts_reachable: reachable,
                    trunk,
                    verdict,
                }
            })
            .collect()
    });
    let registry = a.sip_registry.as_ref().map(|_| {
        events(&a.sip_registry, "RegistryEntry")
            .map(|m| {
                let host = text(m, "Host");
                let name = format!("{}@{host}", text(m, "Username"));
                let server_uri = match non_empty(m.get("Port")) {
                    Some(port) => format!("sip:{host}:{port}"),
                    None => format!("sip:{host}"),
                };
                let status = text(m, "State");
                let verdict = registration_verdict(&name, &status);
                RegistrationV1 { name, server_uri, status, verdict }
            })
            .collect()
    });
    (peers, registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(pairs: &[(&str, &str)]) -> Message {
        Message::from_headers(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    fn lines(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn durations_parse_clock_and_seconds_and_refuse_garbage() {
        assert_eq!(parse_duration("00:00:17"), Some(17));
        assert_eq!(parse_duration("05:00:01"), Some(18001));
        assert_eq!(parse_duration("123:00:00"), Some(442_800));
        assert_eq!(parse_duration("42"), Some(42));
        for bad in ["", "abc", "00:61:00", "1:2", "-5", "00:00:1x", "99999999999999999999:00:00", ":::"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cli_outputs_parse_singular_and_plural() {
        assert_eq!(parse_uptime_seconds(&lines(&["System uptime: 35", "Last reload: 35"])), (Some(35), Some(35)));
        assert_eq!(parse_uptime_seconds(&lines(&["System uptime: lots"])), (None, None));
        assert_eq!(
            parse_channels_count(&lines(&["1 active channel", "1 active call", "1 call processed"])),
            (Some(1), Some(1), Some(1))
        );
        assert_eq!(parse_channels_count(&lines(&["x active channels", "", "weird"])), (None, None, None));
        let v = lines(&["Asterisk 22.10.1 built by root @ vm on a x86_64 running Linux on 2026-11-27 09:29:30 UTC"]);
        assert_eq!(parse_version_cli(&v).as_deref(), Some("22.10.1"));
        assert_eq!(parse_version_cli(&lines(&["Asterisk"])), None);
    }

    #[test]
    fn empty_answers_give_a_reading_of_nones_without_panicking() {
        let r = build(AmiState::Up, &Answers::default(), &Rules::default(), None);
        assert_eq!((r.version, r.uptime_s, r.active_channels, r.active_calls), (None, None, None, None));
        assert!(r.queues.is_empty() && r.registrations.is_empty() && r.endpoints.is_empty());
        assert_eq!((r.sip_peers, r.sip_registry), (None, None));
        assert_eq!(r.verdict, Verdict::ok());
    }

    #[test]
    fn hostile_values_are_none_or_skipped_not_panics() {
        let a = Answers {
            core_settings: Some(msg(&[("Response", "Success"), ("AsteriskVersion", " ")])),
            core_status: Some(msg(&[("Response", "Success"), ("CoreCurrentCalls", "-3"), ("CoreStartupDate", "x")])),
            channels: Some(vec![
                msg(&[("Event", "CoreShowChannel"), ("Channel", "PJSIP/a-1"), ("Duration", "soon")]),
                msg(&[("Event", "CoreShowChannel"), ("Duration", "99:00:00")]),
                msg(&[("Event", "CoreShowChannel"), ("Channel", "PJSIP/b-2"), ("Duration", "00:01:00")]),
            ]),
            queue_summary: Some(vec![msg(&[("Event", "QueueSummary"), ("Queue", "q"), ("Callers", "many")])]),
            registrations: Some(vec![msg(&[("Event", "OutboundRegistrationDetail"), ("ObjectName", "r")])]),
            endpoints: Some(vec![msg(&[("Event", "EndpointList")])]),
            ..Answers::default()
        };
        let now = NaiveDateTime::parse_from_str("2026-11-27 10:00:00", "%Y-%m-%d %H:%M:%S").ok();
        let r = build(AmiState::Up, &a, &Rules::default(), now);
        assert_eq!(r.version, None);
        assert_eq!(r.uptime_s, None);
        // CoreCurrentCalls "-3" does not parse; the list length stands in.
        assert_eq!(r.active_channels, Some(3));
        assert_eq!((r.longest_channel.as_deref(), r.longest_channel_s), (Some("PJSIP/b-2"), Some(60)));
        assert_eq!(r.queues[0].callers, 0);
        assert_eq!(r.registrations[0].status, "");
        assert_eq!(r.registrations[0].verdict.reasons, ["troncal no registrada: r (estado desconocido)"]);
        assert_eq!(r.endpoints[0].name, "");
        assert!(!r.endpoints[0].trunk);
    }

    #[test]
    fn uptime_falls_back_to_corestatus_against_local_time() {
        let a = Answers {
            core_status: Some(msg(&[
                ("CoreStartupDate", "2026-11-27"),
                ("CoreStartupTime", "09:50:56"),
                ("CoreReloadDate", "2026-11-27"),
                ("CoreReloadTime", "09:55:00"),
            ])),
            ..Answers::default()
        };
        let now = NaiveDateTime::parse_from_str("2026-11-27 09:58:56", "%Y-%m-%d %H:%M:%S").ok();
        let r = build(AmiState::Up, &a, &Rules::default(), now);
        assert_eq!((r.uptime_s, r.since_reload_s), (Some(480), Some(236)));
        assert_eq!(r.verdict.level, Level::Warning);
        assert_eq!(r.verdict.reasons, ["Asterisk se reinició hace 8 min", "configuración recargada hace 3 min"]);
        // A clock behind the server's start gives no uptime rather than a huge one.
        let before = NaiveDateTime::parse_from_str("2026-11-27 09:00:00", "%Y-%m-%d %H:%M:%S").ok();
        assert_eq!(build(AmiState::Up, &a, &Rules::default(), before).uptime_s, None);
    }

    #[test]
    fn a_channel_older_than_the_threshold_is_stuck() {
        let a = Answers {
            channels: Some(vec![msg(&[
                ("Event", "CoreShowChannel"),
                ("Channel", "PJSIP/carrier-00000001"),
                ("Duration", "05:00:10"),
            ])]),
            ..Answers::default()
        };
        let r = build(AmiState::Up, &a, &Rules::default(), None);
        assert_eq!(r.verdict.level, Level::Critical);
        assert_eq!(r.verdict.reasons, ["canal atascado: PJSIP/carrier-00000001 5 h"]);
    }

    #[test]
    fn a_refused_action_is_a_warning_and_keeps_the_rest() {
        let a = Answers {
            core_settings: Some(msg(&[("AsteriskVersion", "22.10.1")])),
            failed: vec![FailedAction { action: "QueueStatus".into(), message: "Permission denied".into() }],
            ..Answers::default()
        };
        let r = build(AmiState::Up, &a, &Rules::default(), None);
        assert_eq!(r.version.as_deref(), Some("22.10.1"));
        assert_eq!(r.verdict.level, Level::Warning);
        assert!(r.verdict.reasons[0].starts_with("acción AMI QueueStatus rechazada: Permission denied"));
    }

    #[test]
    fn chan_sip_peers_and_registry_are_read_when_present() {
        let a = Answers {
            sip_peers: Some(vec![
                msg(&[
                    ("Event", "PeerEntry"),
                    ("ObjectName", "oldtrunk"),
                    ("IPaddress", "10.0.0.1"),
                    ("Dynamic", "no"),
                    ("Status", "UNREACHABLE"),
                ]),
                msg(&[
                    ("Event", "PeerEntry"),
                    ("ObjectName", "200"),
                    ("IPaddress", "-none-"),
                    ("Dynamic", "yes"),
                    ("Status", "UNKNOWN"),
                ]),
                msg(&[
                    ("Event", "PeerEntry"),
                    ("ObjectName", "prov"),
                    ("IPaddress", "10.0.0.2"),
                    ("Dynamic", "no"),
                    ("Status", "OK (12 ms)"),
                ]),
            ]),
            sip_registry: Some(vec![msg(&[
                ("Event", "RegistryEntry"),
                ("Host", "sip.prov.example"),
                ("Port", "5060"),
                ("Username", "5550100"),
                ("State", "Registered"),
            ])]),
            ..Answers::default()
        };
        let r = build(AmiState::Up, &a, &Rules::default(), None);
        let peers = r.sip_peers.unwrap_or_default();
        assert_eq!(peers.len(), 3);
        assert!(peers[0].trunk && peers[0].contacts_reachable == 0);
        assert_eq!(peers[0].verdict.level, Level::Critical);
        assert_eq!((peers[1].trunk, peers[1].contacts_total, peers[1].verdict.level), (false, 0, Level::Ok));
        assert_eq!((peers[2].contacts_reachable, peers[2].verdict.level), (1, Level::Ok));
        let reg = r.sip_registry.unwrap_or_default();
        assert_eq!(
            (reg[0].name.as_str(), reg[0].server_uri.as_str()),
            ("5550100@sip.prov.example", "sip:sip.prov.example:5060")
        );
        assert_eq!(r.verdict.reasons, ["troncal sin contacto alcanzable: oldtrunk (UNREACHABLE)"]);
    }

    #[test]
    fn busy_queue_with_staffed_members_is_ok_but_without_them_critical() {
        let member = |q: &str, paused: &str, status: &str| {
            msg(&[("Event", "QueueMember"), ("Queue", q), ("Paused", paused), ("Status", status)])
        };
        let summary = |q: &str| {
            msg(&[
                ("Event", "QueueSummary"),
                ("Queue", q),
                ("LoggedIn", "1"),
                ("Available", "0"),
                ("Callers", "1"),
                ("LongestHoldTime", "70"),
            ])
        };
        let a = Answers {
            queue_summary: Some(vec![summary("busy"), summary("empty")]),
            queue_status: Some(vec![member("busy", "0", "2"), member("empty", "1", "1"), member("empty", "0", "5")]),
            ..Answers::default()
        };
        let r = build(AmiState::Up, &a, &Rules::default(), None);
        assert_eq!(
            r.queues[0].verdict,
            Verdict {
                level: Level::Ok,
                reasons: vec!["todos los agentes ocupados: 1 en espera, la más larga 1 min".into()]
            }
        );
        assert_eq!(r.queues[1].verdict.level, Level::Critical);
        assert_eq!(r.queues[1].members_paused, 1);
        assert_eq!(r.verdict.reasons, ["cola con llamadas en espera y sin agentes disponibles: empty (1 en espera)"]);
    }

    #[test]
    fn every_session_failure_maps_to_its_state() {
        let down = AmiError::Down { addr: "127.0.0.1:1".into(), source: std::io::ErrorKind::ConnectionRefused.into() };
        assert!(matches!(ami_state(&down), AmiState::Down(_)));
        let wedged = AmiError::Wedged { waiting_for: "answer to Login".into(), timeout: Duration::from_secs(10) };
        assert!(matches!(ami_state(&wedged), AmiState::Wedged(_)));
        let refused = AmiError::LoginRefused { username: "monitor".into(), message: "Authentication failed".into() };
        assert!(matches!(ami_state(&refused), AmiState::LoginRefused(_)));
        let closed = AmiError::Closed { waiting_for: "x".into(), partial_bytes: 0 };
        assert!(matches!(ami_state(&closed), AmiState::Error(_)));
        let r = build(ami_state(&down), &Answers::default(), &Rules::default(), None);
        assert_eq!(r.verdict.level, Level::Critical);
        assert!(r.verdict.reasons[0].starts_with("Asterisk no responde: nada acepta conexiones en 127.0.0.1:1"));
    }
}
