//! The `asterisk` probe against the replay server of the transcripts captured from Asterisk 22.10.1
//! (`shared/fixtures/asterisk`, beside the repo): idle and busy servers, trunks down, a queue with
//! callers and nobody to answer, a refused action, refused login, a wedged AMI and nothing listening.
//! Every number asserted is read from the fixture named in the comment next to it.

use centinela_agent::ami::replay::{Behaviour, ReplayServer};
use centinela_agent::ami::{Auth, ClientConfig};
use centinela_agent::config::AsteriskConfig;
use centinela_agent::probes::ProbeError;
use centinela_agent::probes::asterisk::Asterisk;
use centinela_shared::{AmiState, AsteriskV1, EndpointV1, Level, QueueV1, Reading, RegistrationV1, Verdict};
use std::time::{Duration, Instant};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/asterisk");

/// The session every script starts with: `Login` (user `monitor`, secret `monitor`, Events off).
const LOGIN: &str = "ami-login-success";

fn config(ami: String, secret: &str) -> AsteriskConfig {
    AsteriskConfig {
        ami,
        username: "monitor".into(),
        secret: secret.into(),
        auth: Auth::Plain,
        stuck_channel_after: Duration::from_secs(4 * 3600),
    }
}

async fn replay(names: &[&str]) -> ReplayServer {
    ReplayServer::start(DIR, Behaviour::script(names)).await.expect("replay server")
}

async fn collect(probe: &mut Asterisk) -> AsteriskV1 {
    let mut out = Vec::new();
    probe.collect(&mut out).await.expect("an unreachable Asterisk is a reading, not a probe failure");
    assert_eq!(out.len(), 1, "exactly one reading");
    match out.pop() {
        Some(Reading::AsteriskV1(r)) => r,
        other => panic!("expected an AsteriskV1 reading, got {other:?}"),
    }
}

async fn sample(server: &ReplayServer) -> AsteriskV1 {
    collect(&mut Asterisk::new(Some(config(server.addr_string(), "monitor")))).await
}

fn ok() -> Verdict {
    Verdict::ok()
}

fn critical(reason: &str) -> Verdict {
    Verdict { level: Level::Critical, reasons: vec![reason.into()] }
}

fn queue(
    name: &str,
    callers: u32,
    wait: u64,
    logged_in: u32,
    available: u32,
    paused: u32,
    verdict: Verdict,
) -> QueueV1 {
    QueueV1 {
        name: name.into(),
        callers,
        longest_wait_s: wait,
        members_logged_in: logged_in,
        members_available: available,
        members_paused: paused,
        verdict,
    }
}

fn registration(name: &str, uri: &str, status: &str, verdict: Verdict) -> RegistrationV1 {
    RegistrationV1 { name: name.into(), server_uri: uri.into(), status: status.into(), verdict }
}

fn endpoint(name: &str, state: &str, total: u32, reachable: u32, trunk: bool, verdict: Verdict) -> EndpointV1 {
    EndpointV1 {
        name: name.into(),
        device_state: state.into(),
        contacts_total: total,
        contacts_reachable: reachable,
        trunk,
        verdict,
    }
}

/// The fixtures of one sample, in the order the probe sends its actions. `sample` names the captures
/// of CoreStatus, `core show channels count`, CoreShowChannels, QueueSummary, QueueStatus,
/// PJSIPShowRegistrationsOutbound, PJSIPShowEndpoints and PJSIPShowContacts, in that order.
fn script(sample: [&'static str; 8]) -> Vec<&'static str> {
    let [corestatus, channels_count, channels, queue_summary, queue_status, registrations, endpoints, contacts] =
        sample;
    vec![
        LOGIN,
        "ami-coresettings",
        corestatus,
        "ami-command-core-show-uptime-seconds",
        channels_count,
        channels,
        queue_summary,
        queue_status,
        registrations,
        endpoints,
        contacts,
        // SIPpeers has no capture: the replay server answers it with the captured
        // "Invalid/unknown command" error, which is what Asterisk 22 (no chan_sip) says.
        "ami-logoff",
    ]
}

fn idle_script() -> Vec<&'static str> {
    script([
        "ami-corestatus-0-channels",
        "ami-command-core-show-channels-count-0-channels",
        "ami-coreshowchannels-0-channels",
        "ami-queuesummary-0-channels",
        "ami-queuestatus-0-channels",
        "ami-pjsipshowregistrationsoutbound",
        "ami-pjsipshowendpoints-0-channels",
        "ami-pjsipshowcontacts",
    ])
}

#[tokio::test]
async fn idle_server_reading_matches_the_transcripts() {
    let server = replay(&idle_script()).await;
    let r = sample(&server).await;

    assert_eq!(r.ami, AmiState::Up);
    assert_eq!(r.version.as_deref(), Some("22.10.1")); // ami-coresettings: AsteriskVersion
    // ami-command-core-show-uptime-seconds: "System uptime: 35", "Last reload: 35".
    assert_eq!((r.uptime_s, r.since_reload_s), (Some(35), Some(35)));
    // ami-command-core-show-channels-count-0-channels: 0 active channels / 0 active calls / 0 calls processed.
    assert_eq!((r.active_channels, r.active_calls, r.calls_processed), (Some(0), Some(0), Some(0)));
    // ami-coreshowchannels-0-channels: ListItems: 0.
    assert_eq!((r.longest_channel, r.longest_channel_s), (None, None));
    assert_eq!(
        r.queues,
        [
            // ami-queuesummary-0-channels: support LoggedIn 3, Available 2, Callers 0, LongestHoldTime 0;
            // ami-queuestatus-0-channels: Carol Paused 1 ("lunch").
            queue("support", 0, 0, 3, 2, 1, ok()),
            // sales LoggedIn 1 (Dave is Status 5, left out), Available 0; Bob Paused 1 ("training").
            queue("sales", 0, 0, 1, 0, 1, ok()),
        ]
    );
    // ami-pjsipshowregistrationsoutbound: ObjectName / ServerUri / Status of the 3 registrations.
    assert_eq!(
        r.registrations,
        [
            registration(
                "backup-reg",
                "sip:127.0.0.1:5099",
                "Unregistered",
                critical("troncal no registrada: backup-reg (Unregistered)")
            ),
            registration("carrier-reg", "sip:127.0.0.2:5060", "Registered", ok()),
            registration(
                "legacy-reg",
                "sip:127.0.0.2:5060",
                "Rejected",
                critical("troncal no registrada: legacy-reg (Rejected)")
            ),
        ]
    );
    // ami-pjsipshowendpoints-0-channels (DeviceState, Contacts) with ami-pjsipshowcontacts (the 3
    // phones' dynamic contacts, Reachable). carrier and backup-trunk have static contacts (absent from
    // PJSIPShowContacts) and the outbound auths of carrier-reg / backup-reg: trunks.
    assert_eq!(
        r.endpoints,
        [
            endpoint("1001", "Not in use", 1, 1, false, ok()),
            endpoint("1002", "Not in use", 1, 1, false, ok()),
            endpoint("1003", "Not in use", 1, 1, false, ok()),
            endpoint("1004", "Unavailable", 0, 0, false, ok()),
            endpoint(
                "backup-trunk",
                "Unavailable",
                1,
                0,
                true,
                critical("troncal sin contacto alcanzable: backup-trunk (Unavailable)")
            ),
            endpoint("carrier", "Not in use", 1, 1, true, ok()),
        ]
    );
    assert_eq!((r.sip_peers, r.sip_registry), (None, None), "Asterisk 22 has no chan_sip");
    assert_eq!(r.verdict.level, Level::Critical);
    assert_eq!(
        r.verdict.reasons,
        [
            "Asterisk se reinició hace 35 s",
            "troncal no registrada: backup-reg (Unregistered)",
            "troncal no registrada: legacy-reg (Rejected)",
            "troncal sin contacto alcanzable: backup-trunk (Unavailable)",
        ]
    );

    let sent: Vec<String> = server
        .requests()
        .iter()
        .map(|m| match m.get("Command") {
            Some(c) => format!("Command: {c}"),
            None => m.get("Action").unwrap_or("?").to_owned(),
        })
        .collect();
    assert_eq!(
        sent,
        [
            "Login",
            "CoreSettings",
            "CoreStatus",
            "Command: core show uptime seconds",
            "Command: core show channels count",
            "CoreShowChannels",
            "QueueSummary",
            "QueueStatus",
            "PJSIPShowRegistrationsOutbound",
            "PJSIPShowEndpoints",
            "PJSIPShowContacts",
            "SIPpeers",
            "Logoff",
        ]
    );
}

#[tokio::test]
async fn busy_server_reports_channels_calls_waiting_callers_and_the_longest_channel() {
    let server = replay(&script([
        "ami-corestatus-16-channels",
        "ami-command-core-show-channels-count-16-channels",
        "ami-coreshowchannels-16-channels",
        "ami-queuesummary-16-channels",
        "ami-queuestatus-16-channels",
        "ami-pjsipshowregistrationsoutbound",
        "ami-pjsipshowendpoints-16-channels",
        "ami-pjsipshowcontacts",
    ]))
    .await;
    let r = sample(&server).await;

    assert_eq!(r.ami, AmiState::Up);
    // ami-command-core-show-channels-count-16-channels: 16 active channels / 10 active calls / 14 calls
    // processed (CoreStatus says CoreCurrentCalls 16, CoreProcessedCalls 14).
    assert_eq!((r.active_channels, r.active_calls, r.calls_processed), (Some(16), Some(10), Some(14)));
    // ami-coreshowchannels-16-channels: the longest Duration is 00:00:17, first on the second item.
    assert_eq!(r.longest_channel.as_deref(), Some("Local/1001@from-queue-00000001;2"));
    assert_eq!(r.longest_channel_s, Some(17));
    // ami-queuesummary-16-channels: support LoggedIn 3, Available 0, Callers 1, LongestHoldTime 17;
    // sales LoggedIn 1, Available 0, Callers 2, LongestHoldTime 17. ami-queuestatus-16-channels:
    // QueueEntry Wait 17 (support), 17 and 10 (sales); Carol and Bob Paused 1.
    // support: Alice in a call (Status 2) and Bob ringing (Status 7), unpaused: busy, not unstaffed.
    let busy = Verdict {
        level: Level::Ok,
        reasons: vec!["todos los agentes ocupados: 1 en espera, la más larga 17 s".into()],
    };
    let unstaffed = critical("cola con llamadas en espera y sin agentes disponibles: sales (2 en espera)");
    assert_eq!(r.queues, [queue("support", 1, 17, 3, 0, 1, busy), queue("sales", 2, 17, 1, 0, 1, unstaffed)]);
    // ami-pjsipshowendpoints-16-channels: DeviceState during the calls.
    let states: Vec<(&str, &str, bool)> =
        r.endpoints.iter().map(|e| (e.name.as_str(), e.device_state.as_str(), e.trunk)).collect();
    assert_eq!(
        states,
        [
            ("1001", "In use", false),
            ("1002", "Ring+Inuse", false),
            ("1003", "In use", false),
            ("1004", "Unavailable", false),
            ("backup-trunk", "Unavailable", true),
            ("carrier", "Ring+Inuse", true),
        ]
    );
    assert_eq!(r.endpoints[5].verdict, ok());
    assert_eq!(r.verdict.level, Level::Critical);
    assert!(
        r.verdict
            .reasons
            .contains(&"cola con llamadas en espera y sin agentes disponibles: sales (2 en espera)".into())
    );
    assert!(!r.verdict.reasons.iter().any(|s| s.contains("ocupados")), "Ok reasons of parts stay on the part");
}

#[tokio::test]
async fn trunk_down_captures_are_critical_for_every_registration_and_trunk() {
    let server = replay(&script([
        "ami-corestatus-0-channels",
        "ami-command-core-show-channels-count-0-channels",
        "ami-coreshowchannels-0-channels",
        "ami-queuesummary-members-unavailable",
        "ami-queuestatus-members-unavailable",
        "ami-pjsipshowregistrationsoutbound-trunk-down",
        "ami-pjsipshowendpoints-trunk-down",
        "ami-pjsipshowcontacts-trunk-down",
    ]))
    .await;
    let r = sample(&server).await;

    // ami-pjsipshowregistrationsoutbound-trunk-down: all three Status: Rejected (NotRegistered: 3).
    let regs: Vec<(&str, &str, Level)> =
        r.registrations.iter().map(|g| (g.name.as_str(), g.status.as_str(), g.verdict.level)).collect();
    assert_eq!(
        regs,
        [
            ("backup-reg", "Rejected", Level::Critical),
            ("carrier-reg", "Rejected", Level::Critical),
            ("legacy-reg", "Rejected", Level::Critical),
        ]
    );
    // ami-pjsipshowendpoints-trunk-down: every DeviceState Unavailable; ami-pjsipshowcontacts-trunk-down:
    // the phones' 3 contacts Unreachable. Phones stay Ok (desk phones go away at night); trunks do not.
    assert_eq!(
        r.endpoints,
        [
            endpoint("1001", "Unavailable", 1, 0, false, ok()),
            endpoint("1002", "Unavailable", 1, 0, false, ok()),
            endpoint("1003", "Unavailable", 1, 0, false, ok()),
            endpoint("1004", "Unavailable", 0, 0, false, ok()),
            endpoint(
                "backup-trunk",
                "Unavailable",
                1,
                0,
                true,
                critical("troncal sin contacto alcanzable: backup-trunk (Unavailable)")
            ),
            endpoint(
                "carrier",
                "Unavailable",
                1,
                0,
                true,
                critical("troncal sin contacto alcanzable: carrier (Unavailable)")
            ),
        ]
    );
    // ami-queuesummary-members-unavailable: LoggedIn 0, Available 0, Callers 0 in both queues;
    // ami-queuestatus-members-unavailable: Carol (support) and Bob (sales) Paused 1. No caller waits,
    // so nobody logged in is not an alarm by itself (nights, weekends).
    assert_eq!(r.queues, [queue("support", 0, 0, 0, 0, 1, ok()), queue("sales", 0, 0, 0, 0, 1, ok())]);
    assert_eq!(r.verdict.level, Level::Critical);
    assert_eq!(
        r.verdict.reasons,
        [
            "Asterisk se reinició hace 35 s",
            "troncal no registrada: backup-reg (Rejected)",
            "troncal no registrada: carrier-reg (Rejected)",
            "troncal no registrada: legacy-reg (Rejected)",
            "troncal sin contacto alcanzable: backup-trunk (Unavailable)",
            "troncal sin contacto alcanzable: carrier (Unavailable)",
        ]
    );
}

#[tokio::test]
async fn a_refused_action_is_a_warning_and_the_rest_of_the_reading_stays() {
    // No QueueStatus in the script: the replay server answers it with the captured error
    // "Invalid/unknown command: NoSuchAction...", as Asterisk does for an action it lacks.
    let names: Vec<&str> = idle_script().into_iter().filter(|n| *n != "ami-queuestatus-0-channels").collect();
    let server = replay(&names).await;
    let r = sample(&server).await;

    assert_eq!(r.ami, AmiState::Up);
    assert_eq!(r.version.as_deref(), Some("22.10.1"));
    assert_eq!(r.registrations.len(), 3);
    // QueueSummary alone still gives callers, logged in and available; paused is unknown (0).
    assert_eq!(r.queues, [queue("support", 0, 0, 3, 2, 0, ok()), queue("sales", 0, 0, 1, 0, 0, ok())]);
    let refused: Vec<&String> = r.verdict.reasons.iter().filter(|s| s.starts_with("acción AMI")).collect();
    assert_eq!(refused.len(), 1, "{:?}", r.verdict.reasons);
    assert!(refused[0].starts_with("acción AMI QueueStatus rechazada: Invalid/unknown command"), "{}", refused[0]);
}

#[tokio::test]
async fn refused_login_is_critical_and_names_the_ami_user() {
    // ami-login-failure: Secret wrong-secret → "Message: Authentication failed", then the server hangs up.
    let server = replay(&["ami-login-failure"]).await;
    let r = collect(&mut Asterisk::new(Some(config(server.addr_string(), "wrong-secret")))).await;

    let AmiState::LoginRefused(why) = &r.ami else { panic!("expected LoginRefused, got {:?}", r.ami) };
    assert!(why.contains("\"monitor\"") && why.contains("Authentication failed"), "{why}");
    assert_eq!(r.verdict.level, Level::Critical);
    assert_eq!(r.verdict.reasons.len(), 1);
    assert!(r.verdict.reasons[0].starts_with("inicio de sesión AMI rechazado: el AMI rechazó al usuario \"monitor\""));
    assert_eq!((r.version, r.registrations.len()), (None, 0));
}

fn fast() -> ClientConfig {
    ClientConfig { connect_timeout: Duration::from_millis(300), action_timeout: Duration::from_millis(300) }
}

#[tokio::test]
async fn wedged_ami_is_reported_within_the_action_timeout() {
    let server = ReplayServer::start(DIR, Behaviour::Wedged).await.expect("replay server");
    let mut probe =
        Asterisk::new(Some(config(server.addr_string(), "monitor"))).with_timeouts(fast(), Duration::from_secs(5));
    let started = Instant::now();
    let r = collect(&mut probe).await;
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());

    let AmiState::Wedged(why) = &r.ami else { panic!("expected Wedged, got {:?}", r.ami) };
    assert!(why.contains("answer to Login"), "{why}");
    assert_eq!(r.verdict.level, Level::Critical);
    assert!(r.verdict.reasons[0].starts_with("AMI bloqueado: "), "{:?}", r.verdict.reasons);
}

#[tokio::test]
async fn the_session_deadline_caps_the_probe_whatever_the_action_timeouts() {
    let server = ReplayServer::start(DIR, Behaviour::Wedged).await.expect("replay server");
    let patient = ClientConfig { connect_timeout: Duration::from_secs(5), action_timeout: Duration::from_secs(30) };
    let mut probe =
        Asterisk::new(Some(config(server.addr_string(), "monitor"))).with_timeouts(patient, Duration::from_millis(500));
    let started = Instant::now();
    let r = collect(&mut probe).await;
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert!(matches!(&r.ami, AmiState::Wedged(why) if why.contains("no terminó")), "{:?}", r.ami);
}

#[tokio::test]
async fn nothing_listening_is_asterisk_down() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    drop(listener);
    let r = collect(&mut Asterisk::new(Some(config(addr.clone(), "monitor")))).await;

    let AmiState::Down(why) = &r.ami else { panic!("expected Down, got {:?}", r.ami) };
    assert!(why.contains(&addr), "{why}");
    assert_eq!(r.verdict.level, Level::Critical);
    assert!(r.verdict.reasons[0].starts_with("Asterisk no responde: nada acepta conexiones en"));
}

#[tokio::test]
async fn without_an_asterisk_section_the_probe_is_not_applicable() {
    let mut out = Vec::new();
    let got = Asterisk::new(None).collect(&mut out).await;
    assert!(matches!(got, Err(ProbeError::NotApplicable(_))), "{got:?}");
    assert!(out.is_empty());
}
