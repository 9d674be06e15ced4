//! Nothing is lost: the agent, the broker (a real Mosquitto) and the collector die in turn, and the
//! collector still ends with every seq from 1 to N exactly once.

use centinela_e2e::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// Stops the agent cleanly and waits until the collector holds everything it ever sampled.
fn finish_and_check(agent: &mut Agent, collector: &Collector) -> u64 {
    assert_eq!(agent.proc().terminate(), Some(0), "the agent exits cleanly on SIGTERM");
    let n = agent.last_seq();
    assert!(n > 0);
    let deadline = std::time::Instant::now() + T;
    while collector.sample_count(&agent.id) < n && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // On failure this names the missing seqs; the outbox says whether they were still waiting.
    assert_eq!(
        agent.backlog(),
        0,
        "the outbox is empty once everything was acknowledged; seqs: {:?}",
        collector.seqs(&agent.id)
    );
    assert_exactly_once(&collector.seqs(&agent.id), n);
    n
}

#[test]
fn a_broker_outage_loses_no_sample() {
    let tmp = test_dir();
    let mut broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let mut agent = Agent::start(&tmp.path().join("agent"), "pbx-outage", &broker.url(), "100ms");
    wait_until("first samples", T, || collector.sample_count("pbx-outage") >= 5);

    broker.stop();
    let before = agent.last_seq();
    wait_until("the agent to keep sampling into its outbox", T, || agent.last_seq() >= before + 15);
    assert!(agent.backlog() >= 10, "samples taken while the broker is down wait in the outbox");
    broker.restart();

    let resumed = agent.last_seq();
    wait_until("delivery to resume", T, || collector.sample_count("pbx-outage") >= resumed);
    let n = finish_and_check(&mut agent, &collector);
    assert!(n >= before + 15);
}

#[test]
fn a_collector_outage_loses_no_sample() {
    let tmp = test_dir();
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let mut collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let mut agent = Agent::start(&tmp.path().join("agent"), "pbx-colldown", &broker.url(), "100ms");
    wait_until("first samples", T, || collector.sample_count("pbx-colldown") >= 5);

    collector.proc().kill9();
    let stored_before = collector.sample_count("pbx-colldown");
    let before = agent.last_seq();
    wait_until("samples taken while the collector is down", T, || agent.last_seq() >= before + 15);
    // The collector's Last Will tells the agent to hold its samples: they wait in its outbox,
    // while whatever was in flight at the crash waits in the collector's persistent session.
    assert!(agent.backlog() >= 10, "the agent holds samples while the collector is away");
    assert_eq!(collector.sample_count("pbx-colldown"), stored_before, "nothing is stored while the collector is down");
    collector.restart();

    finish_and_check(&mut agent, &collector);
}

#[test]
fn an_agent_holds_its_samples_until_a_collector_has_subscribed() {
    // A broker without persistence, fresh after a restart, and no collector yet: nobody would ever
    // receive what it acknowledged, so the agent keeps everything in its outbox until the
    // collector's retained `online` says its subscription exists.
    let tmp = test_dir();
    let mut broker = Mosquitto::start_with(&tmp.path().join("mosquitto"), false);
    let mut agent = Agent::start(&tmp.path().join("agent"), "pbx-espera", &broker.url(), "100ms");
    wait_until("samples with no collector", T, || agent.last_seq() >= 10);
    broker.stop();
    broker.restart();
    let seq = agent.last_seq();
    wait_until("samples after the broker forgot everything", T, || agent.last_seq() >= seq + 10);
    let (held, taken) = (agent.backlog(), agent.last_seq());
    assert!(held + 1 >= taken, "the agent held every sample: {held} of {taken} still in the outbox");

    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    wait_until("the backlog to drain once the collector subscribed", T, || {
        collector.sample_count("pbx-espera") >= taken
    });
    finish_and_check(&mut agent, &collector);
}

#[test]
fn an_agent_killed_with_sigkill_loses_and_duplicates_nothing() {
    let tmp = test_dir();
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let mut agent = Agent::start(&tmp.path().join("agent"), "pbx-kill9", &broker.url(), "100ms");
    wait_until("first samples", T, || collector.sample_count("pbx-kill9") >= 3);

    // Kill at different moments of the sample/publish cycle, restarting on the same state dir.
    for pause_ms in [130, 370, 610, 45] {
        std::thread::sleep(Duration::from_millis(pause_ms));
        agent.proc().kill9();
        let seq_at_death = agent.last_seq();
        agent.restart();
        wait_until("the restarted agent to continue the sequence", T, || agent.last_seq() > seq_at_death + 2);
    }
    finish_and_check(&mut agent, &collector);
}

#[test]
fn garbage_and_truncated_payloads_are_kept_in_rejected_and_ingest_goes_on() {
    let tmp = test_dir();
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let mut collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let mut agent = Agent::start(&tmp.path().join("agent"), "pbx-good", &broker.url(), "100ms");
    wait_until("first samples", T, || collector.sample_count("pbx-good") >= 3);

    // A real envelope cut in half, and bytes that were never an envelope.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let real = {
        let c = rusqlite::Connection::open(tmp.path().join("collector/data/centinela.db")).unwrap();
        c.query_row(
            "SELECT payload FROM samples JOIN servers ON servers.id = server_id WHERE agent_id = 'pbx-good' LIMIT 1",
            [],
            |r| r.get::<_, Vec<u8>>(0),
        )
        .unwrap()
    };
    let truncated = real[..real.len() / 2].to_vec();
    let garbage = b"\xff\xfe not a sample \x00\x01\x02".to_vec();
    let sent = vec![
        ("centinela/v1/pbx-good/sample".to_string(), truncated),
        ("centinela/v1/pbx-intruder/sample".to_string(), garbage),
    ];
    rt.block_on(async {
        let mut opts = rumqttc::MqttOptions::new("e2e-vandal", "127.0.0.1", broker.port);
        opts.set_keep_alive(Duration::from_secs(5));
        let (client, mut el) = rumqttc::AsyncClient::new(opts, 10);
        for (topic, payload) in &sent {
            client.publish(topic.clone(), rumqttc::QoS::AtLeastOnce, false, payload.clone()).await.unwrap();
        }
        let mut acked = 0;
        while acked < sent.len() {
            if let rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)) = el.poll().await.unwrap() {
                acked += 1;
            }
        }
    });

    wait_until("both bad payloads in `rejected`", T, || collector.rejected().len() == 2);
    let rejected = collector.rejected();
    for ((topic, payload), (rtopic, rpayload, error)) in sent.iter().zip(&rejected) {
        assert_eq!((topic, payload), (rtopic, rpayload), "the bad payload is kept byte for byte");
        assert!(!error.is_empty());
    }
    assert!(collector.proc().is_running(), "the collector survives bad payloads");
    assert_eq!(collector.server_status("pbx-intruder"), None, "garbage registers no server");
    let count = collector.sample_count("pbx-good");
    wait_until("valid samples to keep flowing", T, || collector.sample_count("pbx-good") >= count + 5);
    let (code, body) = collector.get("/healthz");
    assert_eq!(code, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["rejected_total"], 2);
    finish_and_check(&mut agent, &collector);
}
