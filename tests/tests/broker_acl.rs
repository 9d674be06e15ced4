//! The production broker configuration (`packaging/mosquitto/centinela.conf` and `centinela.acl`)
//! run by a real Mosquitto, adapted only in its port and file paths, with a CA made at test time:
//! anonymous clients and wrong passwords are refused; an agent cannot publish as another agent,
//! read another agent's commands or send commands; the collector and an agent enrolled with
//! `centinela-collector agent enroll` work end to end over TLS, "verificar ahora" included.

use centinela_agent::config::{MqttConfig, MqttUrl};
use centinela_e2e::*;
use rumqttc::{AsyncClient, Event, Incoming, QoS};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
const PACKAGING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/mosquitto");

/// The shipped configuration with this test's port, certificates and files.
fn shipped_conf(port: u16, pki: &Pki, dir: &Path) -> String {
    let shipped = std::fs::read_to_string(format!("{PACKAGING}/centinela.conf")).expect("centinela.conf");
    std::fs::copy(format!("{PACKAGING}/centinela.acl"), dir.join("centinela.acl")).expect("acl");
    let mut out = String::new();
    for line in shipped.lines() {
        let key = line.split_whitespace().next().unwrap_or("");
        let line = match key {
            "listener" => format!("listener {port} 127.0.0.1"),
            "certfile" => format!("certfile {}", pki.cert.display()),
            "keyfile" => format!("keyfile {}", pki.key.display()),
            "cafile" => format!("cafile {}", pki.ca.display()),
            "password_file" => format!("password_file {}", dir.join("centinela.passwd").display()),
            "acl_file" => format!("acl_file {}", dir.join("centinela.acl").display()),
            _ => line.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    // What Debian's main mosquitto.conf would add, and root because the tests may run as root.
    out.push_str(&format!("persistence true\npersistence_location {}/\nuser root\n", dir.display()));
    out
}

fn passwd(file: &Path, user: &str, password: &str) {
    let mut cmd = Command::new("mosquitto_passwd");
    if !file.exists() {
        cmd.arg("-c");
    }
    let out = cmd.arg("-b").arg(file).arg(user).arg(password).output().expect("mosquitto_passwd (package mosquitto)");
    assert!(out.status.success(), "mosquitto_passwd: {}", String::from_utf8_lossy(&out.stderr));
}

/// An MQTT client with these credentials over TLS, its events forwarded to a channel.
struct Client {
    c: AsyncClient,
    events: tokio::sync::mpsc::UnboundedReceiver<Result<Event, String>>,
}

async fn client(port: u16, ca: &Path, id: &str, user: Option<(&str, &str)>) -> Client {
    let cfg = MqttConfig {
        url: MqttUrl { host: "localhost".into(), port, tls: true },
        ca_file: Some(ca.to_path_buf()),
        username: user.map(|u| u.0.to_string()),
        password: user.map(|u| u.1.to_string()),
    };
    let opts = centinela_agent::mqtt::options(id, &cfg).expect("options");
    let (c, mut el) = AsyncClient::new(opts, 64);
    let (tx, events) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let e = el.poll().await.map_err(|e| e.to_string());
            let stop = e.is_err();
            if tx.send(e).is_err() || stop {
                return;
            }
        }
    });
    Client { c, events }
}

impl Client {
    /// Waits for the CONNACK; Err with the broker's refusal.
    async fn connected(&mut self) -> Result<(), String> {
        loop {
            match tokio::time::timeout(T, self.events.recv()).await.expect("an answer from the broker") {
                Some(Ok(Event::Incoming(Incoming::ConnAck(_)))) => return Ok(()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Err("event loop ended".into()),
            }
        }
    }

    async fn subscribe(&mut self, topic: &str) {
        self.c.subscribe(topic, QoS::AtLeastOnce).await.expect("subscribe");
        loop {
            if let Some(Ok(Event::Incoming(Incoming::SubAck(_)))) = self.events.recv().await {
                return;
            }
        }
    }

    /// The payloads of the next messages until `last` arrives (in arrival order).
    async fn until(&mut self, last: &str) -> Vec<(String, String)> {
        let mut got = Vec::new();
        loop {
            match tokio::time::timeout(T, self.events.recv()).await.expect("the message") {
                Some(Ok(Event::Incoming(Incoming::Publish(p)))) => {
                    let body = String::from_utf8_lossy(&p.payload).into_owned();
                    let done = body == last;
                    got.push((p.topic.clone(), body));
                    if done {
                        return got;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("connection lost: {other:?}"),
            }
        }
    }

    async fn publish(&self, topic: &str, body: &str) {
        self.c.publish(topic, QoS::AtLeastOnce, false, body.as_bytes().to_vec()).await.expect("publish");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_acl_keeps_each_agent_to_its_own_topics_and_refuses_anonymous_clients() {
    let tmp = test_dir();
    let dir = tmp.path().join("broker");
    std::fs::create_dir_all(&dir).unwrap();
    let pki = Pki::generate(&tmp.path().join("pki"), "uact");
    let pw = dir.join("centinela.passwd");
    for (user, password) in [("centinela-collector", "clave-colector"), ("pbx-a", "clave-a"), ("pbx-b", "clave-b")] {
        passwd(&pw, user, password);
    }
    let broker = Mosquitto::start_config(&dir, Some(pki.clone()), |port| shipped_conf(port, &pki, &dir));
    let port = broker.port;

    let mut anonymous = client(port, &pki.ca, "anon", None).await;
    let e = anonymous.connected().await.expect_err("anonymous is refused");
    assert!(e.contains("NotAuthorized") || e.contains("BadUserNamePassword") || e.contains("refused"), "{e}");
    let mut wrong = client(port, &pki.ca, "wrong", Some(("pbx-a", "otra"))).await;
    assert!(wrong.connected().await.is_err(), "a wrong password is refused");

    let mut collector = client(port, &pki.ca, "collector", Some(("centinela-collector", "clave-colector"))).await;
    let mut a = client(port, &pki.ca, "a", Some(("pbx-a", "clave-a"))).await;
    let mut b = client(port, &pki.ca, "b", Some(("pbx-b", "clave-b"))).await;
    for c in [&mut collector, &mut a, &mut b] {
        c.connected().await.expect("TLS with the test CA and a password");
    }
    collector.subscribe("centinela/v1/+/sample").await;
    a.subscribe("centinela/v1/pbx-a/cmd").await;
    a.subscribe("centinela/v1/pbx-b/cmd").await; // not its own: granted nothing by the ACL
    b.subscribe("centinela/v1/pbx-b/cmd").await;

    // A publishes as B, then as itself: the collector gets only its own (the broker keeps order).
    a.publish("centinela/v1/pbx-b/sample", "falsificada").await;
    a.publish("centinela/v1/pbx-a/sample", "propia").await;
    let got = collector.until("propia").await;
    assert_eq!(got, [("centinela/v1/pbx-a/sample".to_string(), "propia".to_string())]);

    // A cannot command itself; it does not see B's commands; each agent gets its own.
    a.publish("centinela/v1/pbx-a/cmd", "orden-falsa").await;
    collector.publish("centinela/v1/pbx-b/cmd", "orden-b").await;
    collector.publish("centinela/v1/pbx-a/cmd", "orden-a").await;
    let got = a.until("orden-a").await;
    assert_eq!(got, [("centinela/v1/pbx-a/cmd".to_string(), "orden-a".to_string())]);
    assert_eq!(b.until("orden-b").await.len(), 1);
}

#[test]
fn an_enrolled_agent_and_the_collector_work_over_tls_through_the_shipped_acl() {
    let tmp = test_dir();
    let dir = tmp.path().join("broker");
    std::fs::create_dir_all(&dir).unwrap();
    let pki = Pki::generate(&tmp.path().join("pki"), "uact");
    let pw = dir.join("centinela.passwd");
    passwd(&pw, "centinela-collector", "clave-colector");
    let broker = Mosquitto::start_config(&dir, Some(pki.clone()), |port| shipped_conf(port, &pki, &dir));

    // The collector, as its own broker user.
    let cdir = tmp.path().join("collector");
    std::fs::create_dir_all(&cdir).unwrap();
    std::fs::write(cdir.join("mqtt-password"), "clave-colector\n").unwrap();
    let http_port = free_port();
    let conf = format!(
        "data_dir = \"{d}/data\"\n[mqtt]\nurl = \"{url}\"\nca_file = \"{ca}\"\nusername = \"centinela-collector\"\npassword_file = \"{d}/mqtt-password\"\nclient_id = \"centinela-collector-acl\"\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n",
        d = cdir.display(),
        url = broker.url(),
        ca = pki.ca.display()
    );
    let collector = Collector::start_with(&cdir, &conf, http_port, &[]);

    // Enrolling prints the password once; the broker line and the agent's config use it.
    let out = collector.cli(&["agent", "enroll", "pbx-a"]);
    let password = out
        .lines()
        .find_map(|l| l.split("contraseña (se muestra una sola vez): ").nth(1))
        .unwrap_or_else(|| panic!("no password in: {out}"))
        .trim()
        .to_string();
    assert!(out.contains(&format!("mosquitto_passwd -b /etc/mosquitto/centinela.passwd pbx-a '{password}'")), "{out}");
    assert!(out.contains(&format!("url = \"{}\"", broker.url())), "the collector's broker URL: {out}");
    passwd(&pw, "pbx-a", &password);
    let mut mosquitto = broker;
    mosquitto.restart(); // reload the password file (systemctl reload does a SIGHUP)

    let adir = tmp.path().join("agent");
    std::fs::create_dir_all(&adir).unwrap();
    std::fs::write(adir.join("mqtt-password"), format!("{password}\n")).unwrap();
    let extra = format!(
        "ca_file = \"{}\"\nusername = \"pbx-a\"\npassword_file = \"{}/mqtt-password\"\n",
        pki.ca.display(),
        adir.display()
    );
    let _agent = Agent::start_with(&adir, "pbx-a", &mosquitto.url(), "1s", &extra);
    wait_until("samples over TLS through the ACL", T, || collector.sample_count("pbx-a") >= 2);

    // The command topic and the reply topic pass the ACL too.
    let tec = collector.user_token("tec", "tecnico");
    let (code, body) = http_request(
        collector.http_port,
        "POST",
        "/api/v1/servers/pbx-a/verify",
        Some(&tec),
        Some(("application/json", "{\"timeout_s\": 20}")),
    );
    assert_eq!(code, 200, "{body}");
    let audit = collector.cli(&["audit", "verify"]);
    assert!(audit.contains("íntegro"), "{audit}");
}
