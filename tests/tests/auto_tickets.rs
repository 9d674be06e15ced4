//! Centinela opens the corrective ticket itself: a real agent on a fixture tree whose RAID array
//! degrades, a real Mosquitto and a real collector end with exactly one automatic `solicitado`
//! ticket saying why; an agent that dies produces "agente sin reportar".

use centinela_e2e::*;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

#[test]
fn a_degraded_array_opens_exactly_one_automatic_ticket_and_a_dead_agent_is_reported() {
    let tmp = test_dir();
    let root = tmp.path().join("root");
    install_tree("raid-raid1-healthy", &root);
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let mut agent = Agent::start_on_root(&tmp.path().join("agent"), "pbx-raid", &broker.url(), "200ms", &root);
    wait_until("healthy samples", T, || collector.sample_count("pbx-raid") >= 5);
    assert!(collector.tickets().is_empty(), "a healthy array opens nothing: {:?}", collector.tickets());

    install_tree("raid-raid1-degraded", &root);
    wait_until("the automatic ticket", T, || !collector.tickets().is_empty());
    let seen = collector.sample_count("pbx-raid");
    wait_until("ten more samples of the degraded array", T, || collector.sample_count("pbx-raid") >= seen + 10);
    let tickets = collector.tickets();
    assert_eq!(tickets.len(), 1, "one problem, one ticket: {tickets:?}");
    let (id, state, title, data) = &tickets[0];
    assert_eq!(state, "solicitado");
    assert!(title.contains("pbx-raid") && title.contains("md0") && title.contains("degradado"), "{title}");
    assert!(data.contains("\"channel\":\"automatico\"") && data.contains("raid_degraded"), "{data}");
    let (code, page) = collector.get(&format!("/tickets/{id}"));
    assert_eq!(code, 200);
    assert!(page.contains("Generado automáticamente") && page.contains("Falla detectada ahora"), "{page}");

    // The agent dies: the broker publishes its Last Will, and the rule says so.
    agent.proc().kill9();
    wait_until("agente sin reportar", Duration::from_secs(90), || {
        collector.tickets().iter().any(|t| t.2.contains("Agente sin reportar"))
    });
    let tickets = collector.tickets();
    assert_eq!(tickets.len(), 2, "{tickets:?}");
    let (code, fleet) = collector.get("/tickets");
    assert_eq!(code, 200);
    assert!(fleet.contains("Agente sin reportar"), "{fleet}");
}

#[test]
fn the_audit_cli_verifies_the_chain_and_names_an_edited_row() {
    let tmp = test_dir();
    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    collector.add_user("ana", "tecnico");
    collector.add_user("beto", "jefe_uact");
    let out = collector.cli(&["audit", "verify"]);
    assert!(out.contains("Registro de auditoría íntegro"), "{out}");
    // Someone with the database file edits history (dropping the append-only triggers first).
    let db = rusqlite::Connection::open(tmp.path().join("collector/data/centinela.db")).expect("db");
    db.execute_batch(
        "DROP TRIGGER audit_is_append_only_update;
         UPDATE audit SET new = replace(new, 'tecnico', 'admin') WHERE object = 'user:ana';",
    )
    .expect("tamper");
    let out = Command::new(collector_bin())
        .args(["audit", "verify", "--config"])
        .arg(tmp.path().join("collector/collector.toml"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ALTERADO") && err.contains("(the row was edited)"), "{err}");
}
