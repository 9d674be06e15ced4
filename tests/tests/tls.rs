//! `mqtts://` end to end: a real Mosquitto that only speaks TLS, a collector and an agent that
//! trust its CA through `ca_file`, and an agent that trusts another CA and gets nowhere.

use centinela_e2e::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

#[test]
fn samples_flow_over_tls_and_an_untrusted_certificate_is_refused() {
    let tmp = test_dir();
    let pki = Pki::generate(&tmp.path().join("pki"), "centinela");
    let other = Pki::generate(&tmp.path().join("pki"), "intruso");
    let broker = Mosquitto::start_tls(&tmp.path().join("mosquitto"), pki.clone());
    let http = free_port();
    let conf = format!(
        "data_dir = \"{d}/data\"\n[mqtt]\nurl = \"{url}\"\nca_file = \"{ca}\"\nclient_id = \"centinela-collector-tls\"\n[http]\nlisten = \"127.0.0.1:{http}\"\n",
        d = tmp.path().join("collector").display(),
        url = broker.url(),
        ca = pki.ca.display()
    );
    let collector = Collector::start_with(&tmp.path().join("collector"), &conf, http, &[]);
    let trusted = format!("ca_file = \"{}\"", pki.ca.display());
    let untrusted = format!("ca_file = \"{}\"", other.ca.display());
    let mut agent = Agent::start_with(&tmp.path().join("agent"), "pbx-tls", &broker.url(), "200ms", &trusted);
    let mut stranger =
        Agent::start_with(&tmp.path().join("stranger"), "pbx-desconfiado", &broker.url(), "200ms", &untrusted);

    wait_until("samples over TLS", T, || collector.sample_count("pbx-tls") >= 5);
    assert_eq!(agent.proc().terminate(), Some(0));
    let n = agent.last_seq();
    wait_until("every sample over TLS", T, || collector.sample_count("pbx-tls") >= n);
    assert_exactly_once(&collector.seqs("pbx-tls"), n);

    // The agent with the wrong CA keeps sampling into its outbox and never reaches the collector.
    assert!(stranger.proc().is_running());
    assert!(stranger.last_seq() >= 5, "it keeps sampling");
    assert_eq!(collector.server_status("pbx-desconfiado"), None);
    let (held, taken) = (stranger.backlog(), stranger.last_seq());
    assert!(held + 1 >= taken, "nothing left its outbox: {held} held of {taken} taken");
}
