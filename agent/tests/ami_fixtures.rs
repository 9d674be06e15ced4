//! AMI on the transcripts captured from Asterisk 22 (`shared/fixtures/asterisk`, beside the repo):
//! every fixture through the frame parser, the client against the replay server, and hostile peers
//! (wedged, closed, truncated, huge, binary, refused, not AMI).

use centinela_agent::ami::frame::{self, InvalidFrame, Kind, Message, Stream};
use centinela_agent::ami::replay::{Behaviour, ReplayServer};
use centinela_agent::ami::{Action, AmiClient, AmiError, Auth, ClientConfig, FailureKind};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/asterisk");

fn bytes(name: &str) -> Vec<u8> {
    let path = Path::new(DIR).join(format!("{name}.txt"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(name: &str) -> Stream {
    frame::parse_stream(&bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn events<'a>(s: &'a Stream, name: &'a str) -> impl Iterator<Item = &'a Message> + 'a {
    s.messages.iter().filter(move |m| m.event() == Some(name))
}

/// `(key value, other value)` for each event called `event`.
fn pairs(s: &Stream, event: &str, key: &str, value: &str) -> BTreeMap<String, String> {
    events(s, event).map(|m| (m.get(key).unwrap_or("?").to_owned(), m.get(value).unwrap_or("?").to_owned())).collect()
}

fn fast() -> ClientConfig {
    ClientConfig { connect_timeout: Duration::from_millis(300), action_timeout: Duration::from_millis(300) }
}

/// Generous deadlines, for tests where a timeout would hide the error being tested.
fn patient() -> ClientConfig {
    ClientConfig { connect_timeout: Duration::from_secs(5), action_timeout: Duration::from_secs(5) }
}

async fn replay(names: &[&str]) -> ReplayServer {
    ReplayServer::start(DIR, Behaviour::script(names)).await.expect("replay server")
}

async fn logged_in(server: &ReplayServer) -> AmiClient<tokio::net::TcpStream> {
    let mut client = AmiClient::connect(&server.addr_string(), patient()).await.expect("connect");
    client.login("monitor", "monitor", Auth::Plain).await.expect("login");
    client
}

fn strs(lines: &[String]) -> Vec<&str> {
    lines.iter().map(String::as_str).collect()
}

// ---- every fixture through the frame parser ----

#[test]
fn every_fixture_parses_completely_into_as_many_messages_as_empty_lines() {
    let mut seen = 0;
    for entry in std::fs::read_dir(DIR).expect("fixture dir") {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if !(name.starts_with("ami-") && name.ends_with(".txt")) {
            continue;
        }
        let raw = std::fs::read(&path).expect("read fixture");
        let stream = frame::parse_stream(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        // An independent count: each message ends with CRLF CRLF, and the banner has none.
        let ends = raw.windows(4).filter(|w| w == b"\r\n\r\n").count();
        assert_eq!(stream.messages.len(), ends, "{name}");
        assert_eq!(stream.banner.is_some(), name == "ami-banner.txt", "{name}");
        for m in &stream.messages {
            let expected_kind = if name.ends_with(".request.txt") {
                matches!(m.kind(), Kind::Action(_)) || name == "ami-error-missing-action.request.txt"
            } else {
                matches!(m.kind(), Kind::Response(_) | Kind::Event(_))
            };
            assert!(expected_kind, "{name}: {m}");
        }
        seen += 1;
    }
    assert!(seen >= 90, "only {seen} ami-*.txt fixtures found in {DIR}");
}

#[test]
fn banner_fixture_is_ami_protocol_11() {
    let s = parse("ami-banner");
    assert_eq!(s.banner.map(|b| b.version), Some("11.0.0".to_owned()));
    assert!(s.messages.is_empty());
}

#[test]
fn core_status_counts_channels_as_current_calls() {
    let idle = parse("ami-corestatus-0-channels");
    let busy = parse("ami-corestatus-16-channels");
    assert_eq!(idle.messages[0].get("CoreCurrentCalls"), Some("0"));
    assert_eq!(busy.messages[0].get("CoreCurrentCalls"), Some("16"));
    assert_eq!(busy.messages[0].get("CoreStartupDate"), Some("2026-11-27"));
}

#[test]
fn core_show_channels_lists_zero_and_sixteen_channels() {
    let idle = parse("ami-coreshowchannels-0-channels");
    assert_eq!(idle.messages.len(), 2);
    assert!(idle.messages[0].is_list_start());
    assert!(idle.messages[1].is_list_complete());
    assert_eq!(idle.messages[1].get("ListItems"), Some("0"));

    let busy = parse("ami-coreshowchannels-16-channels");
    assert_eq!(events(&busy, "CoreShowChannel").count(), 16);
    assert_eq!(busy.messages.last().and_then(|m| m.get("ListItems")), Some("16"));
    assert!(events(&busy, "CoreShowChannel").all(|m| m.action_id() == Some("lab-3")));
}

#[test]
fn interleaved_capture_has_the_list_then_unsolicited_events() {
    let s = parse("ami-interleaved-coreshowchannels-with-events");
    let (list, other): (Vec<_>, Vec<_>) = s.messages.iter().partition(|m| m.action_id() == Some("lab-2"));
    assert_eq!(list.len(), 15);
    assert_eq!(other.len(), 38);
    assert!(other.iter().all(|m| m.event().is_some() && m.get("Privilege").is_some()));
}

#[test]
fn queue_summary_shows_waiting_callers_without_available_members() {
    let s = parse("ami-queuesummary-16-channels");
    assert_eq!(
        pairs(&s, "QueueSummary", "Queue", "Callers"),
        BTreeMap::from([("sales".into(), "2".into()), ("support".into(), "1".into())])
    );
    assert_eq!(
        pairs(&s, "QueueSummary", "Queue", "LoggedIn"),
        BTreeMap::from([("sales".into(), "1".into()), ("support".into(), "3".into())])
    );
    assert!(events(&s, "QueueSummary").all(|m| m.get("Available") == Some("0")));
    let idle = parse("ami-queuesummary-0-channels");
    assert!(events(&idle, "QueueSummary").all(|m| m.get("Callers") == Some("0")));
}

#[test]
fn queue_status_lists_params_members_and_waiting_callers() {
    let s = parse("ami-queuestatus-16-channels");
    assert_eq!(pairs(&s, "QueueParams", "Queue", "Calls").get("sales").map(String::as_str), Some("2"));
    assert_eq!(events(&s, "QueueMember").count(), 5);
    assert_eq!(events(&s, "QueueEntry").count(), 3);
    let carol = events(&s, "QueueMember").find(|m| m.get("Name") == Some("Carol")).expect("Carol");
    assert_eq!((carol.get("Paused"), carol.get("PausedReason")), (Some("1"), Some("lunch")));
    let dave = events(&s, "QueueMember").find(|m| m.get("Name") == Some("Dave")).expect("Dave");
    assert_eq!(dave.get("Status"), Some("5"));
    let support = parse("ami-queuestatus-support-16-channels");
    assert!(events(&support, "QueueMember").all(|m| m.get("Queue") == Some("support")));
}

#[test]
fn outbound_registrations_are_registered_unregistered_and_rejected() {
    let s = parse("ami-pjsipshowregistrationsoutbound");
    let states = pairs(&s, "OutboundRegistrationDetail", "ObjectName", "Status");
    assert_eq!(
        states,
        BTreeMap::from([
            ("backup-reg".into(), "Unregistered".into()),
            ("carrier-reg".into(), "Registered".into()),
            ("legacy-reg".into(), "Rejected".into()),
        ])
    );
    // ListItems counts registrations only; the AuthDetail events ride along.
    assert_eq!(events(&s, "AuthDetail").count(), 3);
    assert_eq!(s.messages.last().and_then(|m| m.get("ListItems")), Some("3"));
    let down = parse("ami-pjsipshowregistrationsoutbound-trunk-down");
    let states = pairs(&down, "OutboundRegistrationDetail", "ObjectName", "Status");
    assert!(states.values().all(|v| v == "Rejected") && states.len() == 3, "{states:?}");
}

#[test]
fn endpoints_and_contacts_show_trunk_and_phone_reachability() {
    let busy = parse("ami-pjsipshowendpoints-16-channels");
    let state = pairs(&busy, "EndpointList", "ObjectName", "DeviceState");
    assert_eq!(state.get("carrier").map(String::as_str), Some("Ring+Inuse"));
    assert_eq!(state.get("1004").map(String::as_str), Some("Unavailable"));
    assert_eq!(
        pairs(&busy, "EndpointList", "ObjectName", "ActiveChannels").get("carrier").map(String::as_str),
        Some("8")
    );
    let down = parse("ami-pjsipshowendpoints-trunk-down");
    assert!(events(&down, "EndpointList").all(|m| m.get("DeviceState") == Some("Unavailable")));

    let contacts = parse("ami-pjsipshowcontacts");
    assert_eq!(events(&contacts, "ContactList").count(), 3);
    assert!(events(&contacts, "ContactList").all(|m| m.get("Status") == Some("Reachable")));
    let gone = parse("ami-pjsipshowcontacts-trunk-down");
    assert!(events(&gone, "ContactList").all(|m| m.get("Status") == Some("Unreachable")));
}

#[test]
fn command_outputs_are_collected_line_by_line() {
    let uptime = parse("ami-command-core-show-uptime-seconds");
    assert_eq!(uptime.messages[0].output(), vec!["System uptime: 35", "Last reload: 35"]);
    let count = parse("ami-command-core-show-channels-count-16-channels");
    assert_eq!(count.messages[0].output(), vec!["16 active channels", "10 active calls", "14 calls processed"]);
    let register = parse("ami-command-pjsip-send-register");
    assert_eq!(register.messages[0].output(), vec![""]);
    let table = parse("ami-command-core-show-channels-16-channels");
    assert!(table.messages[0].output()[0].starts_with("Channel   "));
    let invalid = parse("ami-command-invalid");
    assert_eq!(invalid.messages[0].kind(), Kind::Response("Error"));
    assert!(invalid.messages[0].output()[0].starts_with("No such command 'no such cli command'"));
}

#[test]
fn event_streams_are_events_only_and_start_with_fully_booted() {
    let calls = parse("ami-events-during-calls");
    assert_eq!(calls.messages.len(), 331);
    assert_eq!(calls.messages[0].kind(), Kind::Event("FullyBooted"));
    assert!(calls.messages.iter().all(|m| matches!(m.kind(), Kind::Event(_))));
    let hangup = events(&calls, "Hangup").find(|m| m.get("TechCause").is_some()).expect("a SIP hangup");
    assert!(hangup.get("Cause-txt").is_some());
    let trunk = parse("ami-events-trunk-down-up");
    assert!(events(&trunk, "Registry").count() > 0);
    assert!(events(&trunk, "ContactStatus").count() > 0);
}

// ---- the client against the replay server ----

#[tokio::test]
async fn login_succeeds_with_events_off() {
    let server = replay(&["ami-login-success"]).await;
    let client = logged_in(&server).await;
    assert_eq!(client.banner().version, "11.0.0");
    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].get("Events"), Some("off"));
    assert_eq!(sent[0].get("Secret"), Some("monitor"));
}

#[tokio::test]
async fn wrong_secret_is_login_refused_and_the_connection_then_closes() {
    let server = replay(&["ami-login-failure"]).await;
    let mut client = AmiClient::connect(&server.addr_string(), patient()).await.expect("connect");
    let err = client.login("monitor", "wrong-secret", Auth::Plain).await.expect_err("must be refused");
    assert_eq!(err.kind(), FailureKind::LoginRefused);
    assert!(matches!(&err, AmiError::LoginRefused { message, .. } if message == "Authentication failed"), "{err}");
    let after = client.action(&Action::new("Ping")).await.expect_err("socket closed");
    assert_eq!(after.kind(), FailureKind::ConnectionLost, "{after}");
}

#[tokio::test]
async fn unknown_user_is_refused_like_a_wrong_secret() {
    let server = replay(&["ami-login-failure-unknown-user"]).await;
    let mut client = AmiClient::connect(&server.addr_string(), patient()).await.expect("connect");
    let err = client.login("nosuchuser", "x", Auth::Plain).await.expect_err("must be refused");
    assert_eq!(err.kind(), FailureKind::LoginRefused);
}

#[tokio::test]
async fn core_show_channels_list_is_collected_despite_trailing_events() {
    let server = replay(&["ami-login-success", "ami-interleaved-coreshowchannels-with-events", "ami-ping"]).await;
    let mut client = logged_in(&server).await;
    let list = client.list(&Action::new("CoreShowChannels")).await.expect("list");
    assert_eq!(list.items.len(), 13);
    assert_eq!(list.complete.get("ListItems"), Some("13"));
    assert!(list.items.iter().all(|m| m.event() == Some("CoreShowChannel")));
    // The 38 unsolicited events that followed the list are skipped on the way to the Ping answer.
    let pong = client.action(&Action::new("Ping")).await.expect("ping");
    assert_eq!(pong.get("Ping"), Some("Pong"));
    assert_eq!(client.skipped_messages(), 38);
}

#[tokio::test]
async fn same_action_twice_is_answered_by_each_capture_in_script_order() {
    let server =
        replay(&["ami-login-success", "ami-coreshowchannels-0-channels", "ami-coreshowchannels-16-channels"]).await;
    let mut client = logged_in(&server).await;
    let idle = client.list(&Action::new("CoreShowChannels")).await.expect("idle list");
    let busy = client.list(&Action::new("CoreShowChannels")).await.expect("busy list");
    assert_eq!((idle.items.len(), busy.items.len()), (0, 16));
}

#[tokio::test]
async fn single_and_list_actions_return_the_captured_values() {
    let server = replay(&[
        "ami-login-success",
        "ami-corestatus-16-channels",
        "ami-queuestatus-support-16-channels",
        "ami-pjsipshowregistrationsoutbound",
        "ami-queuesummary-16-channels",
    ])
    .await;
    let mut client = logged_in(&server).await;
    let status = client.action(&Action::new("CoreStatus")).await.expect("CoreStatus");
    assert_eq!(status.get("CoreCurrentCalls"), Some("16"));
    let support = client.list(&Action::new("QueueStatus").header("Queue", "support")).await.expect("QueueStatus");
    assert_eq!(support.events("QueueMember").count(), 3);
    assert_eq!(support.events("QueueEntry").count(), 1);
    let regs = client.list(&Action::new("PJSIPShowRegistrationsOutbound")).await.expect("registrations");
    let states: Vec<_> = regs.events("OutboundRegistrationDetail").filter_map(|m| m.get("Status")).collect();
    assert_eq!(states, vec!["Unregistered", "Registered", "Rejected"]);
    let summary = client.list(&Action::new("QueueSummary")).await.expect("QueueSummary");
    assert_eq!(summary.events("QueueSummary").filter_map(|m| m.get("Callers")).collect::<Vec<_>>(), vec!["1", "2"]);
}

#[tokio::test]
async fn command_core_show_uptime_seconds_returns_its_output_lines() {
    let server = replay(&["ami-login-success", "ami-command-core-show-uptime-seconds"]).await;
    let mut client = logged_in(&server).await;
    let lines = client.command("core show uptime seconds").await.expect("command");
    assert_eq!(strs(&lines), vec!["System uptime: 35", "Last reload: 35"]);
}

#[tokio::test]
async fn unknown_cli_command_is_an_action_error_carrying_the_output() {
    let server = replay(&["ami-login-success", "ami-command-invalid"]).await;
    let mut client = logged_in(&server).await;
    let err = client.command("no such cli command").await.expect_err("must fail");
    assert_eq!(err.kind(), FailureKind::ActionFailed);
    let AmiError::ActionFailed { output, .. } = &err else { panic!("{err}") };
    assert!(output[0].starts_with("No such command"), "{output:?}");
}

#[tokio::test]
async fn error_responses_are_typed_and_keep_the_connection_usable() {
    let server =
        replay(&["ami-login-success", "ami-error-invalid-action", "ami-error-permission-denied", "ami-ping"]).await;
    let mut client = logged_in(&server).await;
    let invalid = client.action(&Action::new("NoSuchAction")).await.expect_err("invalid");
    assert!(
        matches!(&invalid, AmiError::ActionFailed { action, message, .. }
            if action == "NoSuchAction" && message.starts_with("Invalid/unknown command")),
        "{invalid}"
    );
    let originate = Action::new("Originate")
        .header("Channel", "Local/8000@from-internal")
        .header("Application", "Wait")
        .header("Data", "1");
    let denied = client.action(&originate).await.expect_err("denied");
    assert!(matches!(&denied, AmiError::ActionFailed { message, .. } if message == "Permission denied"), "{denied}");
    assert_eq!(client.action(&Action::new("Ping")).await.expect("still usable").get("Ping"), Some("Pong"));
}

#[tokio::test]
async fn an_action_before_login_is_permission_denied() {
    let server = replay(&["ami-error-not-logged-in"]).await;
    let mut client = AmiClient::connect(&server.addr_string(), patient()).await.expect("connect");
    let err = client.action(&Action::new("CoreStatus")).await.expect_err("not logged in");
    assert!(matches!(&err, AmiError::ActionFailed { message, .. } if message == "Permission denied"), "{err}");
}

#[tokio::test]
async fn a_request_outside_the_script_gets_the_captured_invalid_action_error() {
    let server = replay(&["ami-login-success"]).await;
    let mut client = logged_in(&server).await;
    let err = client.action(&Action::new("CoreSettings")).await.expect_err("not scripted");
    assert_eq!(err.kind(), FailureKind::ActionFailed);
}

#[tokio::test]
async fn logoff_gets_goodbye_and_the_server_closes() {
    let server = replay(&["ami-login-success", "ami-logoff"]).await;
    let client = logged_in(&server).await;
    client.logoff().await.expect("logoff");
    let sent = server.requests();
    assert_eq!(sent.last().map(|m| m.kind()), Some(Kind::Action("Logoff")));
}

// ---- hostile peers ----

#[tokio::test]
async fn banner_then_silence_is_wedged_within_the_action_timeout() {
    let server = ReplayServer::start(DIR, Behaviour::Wedged).await.expect("server");
    let mut client = AmiClient::connect(&server.addr_string(), fast()).await.expect("connect");
    let started = Instant::now();
    let err = client.login("monitor", "monitor", Auth::Plain).await.expect_err("wedged");
    let took = started.elapsed();
    assert_eq!(err.kind(), FailureKind::Wedged, "{err}");
    assert!(matches!(&err, AmiError::Wedged { timeout, .. } if *timeout == Duration::from_millis(300)));
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(2), "took {took:?}");
    assert!(err.to_string().contains("answer to Login"), "{err}");
}

#[tokio::test]
async fn no_banner_at_all_is_wedged_not_down() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let hold = tokio::spawn(async move { listener.accept().await.map(|(sock, _)| sock) });
    let err = AmiClient::connect(&addr, fast()).await.err().expect("no banner");
    assert_eq!(err.kind(), FailureKind::Wedged, "{err}");
    drop(hold.await);
}

#[tokio::test]
async fn closing_after_the_banner_is_connection_lost() {
    let server = ReplayServer::start(DIR, Behaviour::CloseAfterBanner).await.expect("server");
    let mut client = AmiClient::connect(&server.addr_string(), patient()).await.expect("connect");
    let err = client.login("monitor", "monitor", Auth::Plain).await.expect_err("closed");
    assert_eq!(err.kind(), FailureKind::ConnectionLost, "{err}");
}

#[tokio::test]
async fn a_truncated_answer_is_connection_lost_with_the_partial_size() {
    let server = ReplayServer::start(DIR, Behaviour::Truncated).await.expect("server");
    let mut client = AmiClient::connect(&server.addr_string(), patient()).await.expect("connect");
    let err = client.login("monitor", "monitor", Auth::Plain).await.expect_err("truncated");
    let half = bytes("ami-login-success").len() / 2;
    assert!(matches!(&err, AmiError::Closed { partial_bytes, .. } if *partial_bytes == half), "{err}");
    assert_eq!(err.kind(), FailureKind::ConnectionLost);
}

#[tokio::test]
async fn a_huge_answer_is_refused_at_the_size_limit_not_buffered() {
    let server = ReplayServer::start(DIR, Behaviour::Huge).await.expect("server");
    let mut client = AmiClient::connect(&server.addr_string(), patient()).await.expect("connect");
    let err = client.login("monitor", "monitor", Auth::Plain).await.expect_err("huge");
    assert!(matches!(&err, AmiError::Invalid { reason: InvalidFrame::TooLarge { .. }, .. }), "{err}");
    assert_eq!(err.kind(), FailureKind::Protocol);
}

#[tokio::test]
async fn binary_bytes_are_a_protocol_error_naming_them() {
    let server = ReplayServer::start(DIR, Behaviour::NonUtf8).await.expect("server");
    let mut client = AmiClient::connect(&server.addr_string(), patient()).await.expect("connect");
    let err = client.login("monitor", "monitor", Auth::Plain).await.expect_err("binary");
    assert!(matches!(&err, AmiError::Invalid { reason: InvalidFrame::NoColon { .. }, .. }), "{err}");
    assert!(err.to_string().contains("\\xff\\xfe"), "{err}");
}

#[tokio::test]
async fn connection_refused_is_down() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    drop(listener);
    let err = AmiClient::connect(&addr, fast()).await.err().expect("refused");
    assert_eq!(err.kind(), FailureKind::Down, "{err}");
    assert!(err.to_string().contains("manager.conf"), "{err}");
}

#[tokio::test]
async fn another_service_on_the_port_is_not_ami() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let ssh = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.expect("accept");
        sock.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n").await.expect("write");
        sock
    });
    let err = AmiClient::connect(&addr, fast()).await.err().expect("not AMI");
    assert!(matches!(&err, AmiError::Invalid { reason: InvalidFrame::NotAmi { .. }, .. }), "{err}");
    drop(ssh.await);
}

#[tokio::test]
async fn a_connect_nobody_answers_is_a_connect_timeout_classed_as_down() {
    // A listener that never accepts, with its backlog full: Linux drops further SYNs, so the
    // next connect hangs like one to a black-holed host.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = socket.local_addr().expect("addr").to_string();
    let _listener = socket.listen(0).expect("listen");
    let mut held = Vec::new();
    for _ in 0..8 {
        let connect = tokio::net::TcpStream::connect(addr.as_str());
        match tokio::time::timeout(Duration::from_millis(100), connect).await {
            Ok(Ok(stream)) => held.push(stream),
            _ => break,
        }
    }
    let started = Instant::now();
    let err = AmiClient::connect(&addr, fast()).await.err().expect("backlog full");
    assert!(matches!(&err, AmiError::ConnectTimeout { .. }), "{err}");
    assert_eq!(err.kind(), FailureKind::Down);
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}
