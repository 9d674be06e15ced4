//! Recorded sample sequences through the writer, its rule engine and the automatic tickets, on a
//! real SQLite database: the RAID readings are the ones the agent produced from the captured sysfs
//! trees (agent/tests/fixtures/raid-raid1-{healthy,degraded}/raid.golden.json).

use centinela_collector::rules::Rules;
use centinela_collector::store::writer::{Applier, Workflow};
use centinela_collector::tickets::store::{Context, get, list, timeline};
use centinela_collector::tickets::{Action, Actor, By, Event, State, TicketsConfig};
use centinela_shared::*;
use std::time::Duration;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../agent/tests/fixtures");

fn readings(fixture: &str) -> Vec<Reading> {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{fixture}/raid.golden.json")).expect("golden readings");
    serde_json::from_str(&text).expect("readings decode")
}

fn sample(seq: u64, readings: Vec<Reading>) -> Vec<u8> {
    encode_envelope(&Envelope {
        v: WIRE_VERSION,
        agent: "pbx-renta".into(),
        seq,
        taken_ms: 0,
        body: Body::SampleV1(SampleV1 {
            agent_version: "0.1.0".into(),
            interval_ms: 10_000,
            outbox: OutboxStats::default(),
            probes: vec![ProbeReport { probe: "raid".into(), outcome: Outcome::Ok, duration_us: 10 }],
            readings,
        }),
    })
}

struct Run {
    _dir: tempfile::TempDir,
    conn: rusqlite::Connection,
    applier: Applier,
    seq: u64,
    healthy: Vec<Reading>,
    degraded: Vec<Reading>,
}

const T0: i64 = 1_795_000_000_000;
const SECOND: i64 = 1000;

impl Run {
    fn new(reopen_window: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conn = centinela_collector::store::open_writer(dir.path()).unwrap();
        let (chief, _) = centinela_collector::auth::store::create_user(
            &conn,
            "t",
            0,
            "jefe",
            centinela_collector::auth::Role::JefeUact,
            "",
            &[],
        )
        .unwrap();
        assert_eq!(chief.id, 1);
        let ctx = Context {
            tickets: TicketsConfig { reopen_window, ..TicketsConfig::default() },
            notify: Default::default(),
            public_url: "http://127.0.0.1".into(),
        };
        let workflow = Workflow::load(&conn, Rules::defaults(), ctx).unwrap();
        Run {
            _dir: dir,
            conn,
            applier: Applier::with_workflow(workflow),
            seq: 0,
            healthy: readings("raid-raid1-healthy"),
            degraded: readings("raid-raid1-degraded"),
        }
    }

    /// One sample at `at` ms: degraded or healthy.
    fn sample(&mut self, at: i64, degraded: bool) {
        self.seq += 1;
        let r = if degraded { self.degraded.clone() } else { self.healthy.clone() };
        let tx = self.conn.transaction().unwrap();
        self.applier.apply(&tx, "centinela/v1/pbx-renta/sample", &sample(self.seq, r), at).unwrap();
        self.applier.flush(&tx).unwrap();
        tx.commit().unwrap();
    }

    fn tick(&mut self, at: i64) {
        let tx = self.conn.transaction().unwrap();
        self.applier.on_tick(&tx, at, &[]).unwrap();
        tx.commit().unwrap();
    }

    fn tickets(&self) -> Vec<centinela_collector::tickets::Ticket> {
        let mut t =
            list(&self.conn, &centinela_collector::tickets::store::Filter { all: true, ..Default::default() }, 100)
                .unwrap();
        t.reverse();
        t
    }

    /// The UACT chief and a technician take a ticket through to Cerrado.
    fn close(&mut self, id: i64, at: i64) {
        let tx = self.conn.transaction().unwrap();
        let chief = Actor { user_id: 1, role: centinela_collector::auth::Role::JefeUact, centers: vec![] };
        let mut t = get(&tx, id).unwrap().unwrap();
        let now = chrono::DateTime::from_timestamp_millis(at).unwrap();
        let tech =
            centinela_collector::tickets::Assignee { user_id: 1, role: centinela_collector::auth::Role::JefeUact };
        for action in [
            Action::Assign {
                priority: centinela_collector::tickets::Priority::High,
                assignee: tech,
                note: String::new(),
            },
            Action::RecordContact { note: "Llamé a la jefa del centro".into() },
            Action::Close { resolution: "Se cambió el disco sdb".into() },
        ] {
            if matches!(action, Action::Assign { .. }) && t.state != State::Solicitado {
                continue; // a reopened ticket keeps its technician
            }
            let (new, entries) = centinela_collector::tickets::apply(&t, action, &chief, now).unwrap();
            centinela_collector::tickets::store::update(&tx, &t, &new, &entries, "jefe", "ticket.test", now).unwrap();
            t = new;
        }
        tx.commit().unwrap();
    }
}

#[test]
fn a_flapping_array_opens_exactly_one_ticket_and_recovery_is_noted_on_it() {
    let mut r = Run::new(Duration::from_secs(3600));
    r.sample(T0, false);
    // Degraded and healthy in turn every 10 s for 20 minutes.
    for i in 1..=120 {
        r.sample(T0 + i * 10 * SECOND, i % 2 == 1);
    }
    let tickets = r.tickets();
    assert_eq!(tickets.len(), 1, "one ticket for a flapping array: {tickets:?}");
    let t = &tickets[0];
    assert_eq!(t.state, State::Solicitado);
    assert!(t.title.contains("md0") && t.title.contains("degradado"), "{}", t.title);
    assert_eq!(t.automatic.as_ref().unwrap().occurrences, 1, "still the same episode");
    // Healthy from now on: after keep_firing_for (10 min) the problem resolves, the ticket stays.
    let last = T0 + 121 * 10 * SECOND;
    for i in 0..=70 {
        r.sample(last + i * 10 * SECOND, false);
    }
    let t = get(&r.conn, t.id).unwrap().unwrap();
    assert_eq!(t.state, State::Solicitado, "a technician still closes it");
    assert!(t.automatic.as_ref().unwrap().recovered_at.is_some());
    let events: Vec<Event> = timeline(&r.conn, t.id).unwrap().into_iter().map(|e| e.event).collect();
    assert!(matches!(events.as_slice(), [Event::Filed { .. }, Event::Recovered]), "{events:?}");
    assert!(timeline(&r.conn, t.id).unwrap().iter().all(|e| e.by == By::Centinela));
    let problems: i64 = r.conn.query_row("SELECT count(*) FROM problems", [], |x| x.get(0)).unwrap();
    assert_eq!(problems, 0, "resolved problems leave the dashboard");
    assert_eq!(centinela_collector::audit::verify(&r.conn).map(|n| n >= 2), Ok(true));
}

#[test]
fn a_failure_back_inside_the_reopen_window_reopens_and_later_opens_a_linked_ticket() {
    let mut r = Run::new(Duration::from_secs(3600));
    let minute = 60 * SECOND;
    r.sample(T0, true);
    let first = r.tickets()[0].id;
    // Healthy for 15 min (resolves after 10), then closed by the technician.
    for i in 1..=15 {
        r.sample(T0 + i * minute, false);
    }
    r.close(first, T0 + 16 * minute);
    // Back 30 min after the close: inside the 1 h window, the same ticket reopens.
    r.sample(T0 + 46 * minute, true);
    let tickets = r.tickets();
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    assert_eq!(tickets[0].state, State::Asignado, "reopened with its technician");
    assert!(tickets[0].reopened_at.is_some());
    // Heals, closed again; back 2 h later: a new ticket linked to the first.
    for i in 47..=60 {
        r.sample(T0 + i * minute, false);
    }
    r.close(first, T0 + 61 * minute);
    r.sample(T0 + 181 * minute, true);
    let tickets = r.tickets();
    assert_eq!(tickets.len(), 2, "{tickets:?}");
    assert_eq!(tickets[1].linked_to, Some(first));
    assert_eq!(tickets[1].state, State::Solicitado);
}

#[test]
fn a_maintenance_window_records_the_problem_as_suppressed_and_opens_no_ticket() {
    let mut r = Run::new(Duration::from_secs(3600));
    r.sample(T0, false);
    centinela_collector::silences::create(
        &r.conn,
        "jefe",
        T0,
        "pbx-renta",
        "mantenimiento",
        None,
        T0,
        T0 + 3_600_000,
        "el proveedor cambia el disco sdb",
    )
    .unwrap();
    r.sample(T0 + 10 * SECOND, true);
    r.tick(T0 + 11 * SECOND);
    assert!(r.tickets().is_empty(), "no ticket while in maintenance");
    let (suppressed, ticket): (Option<String>, Option<i64>) =
        r.conn.query_row("SELECT suppressed, ticket_id FROM problems", [], |x| Ok((x.get(0)?, x.get(1)?))).unwrap();
    assert!(suppressed.unwrap().contains("en mantenimiento"), "the reason is recorded");
    assert_eq!(ticket, None);
}

#[test]
fn a_failure_that_outlasts_the_maintenance_window_opens_its_ticket_when_the_window_ends() {
    let mut r = Run::new(Duration::from_secs(3600));
    r.sample(T0, false);
    centinela_collector::silences::create(
        &r.conn,
        "jefe",
        T0,
        "pbx-renta",
        "mantenimiento",
        None,
        T0,
        T0 + 60 * SECOND,
        "visita del proveedor",
    )
    .unwrap();
    r.sample(T0 + 10 * SECOND, true);
    r.tick(T0 + 30 * SECOND);
    assert!(r.tickets().is_empty(), "no ticket while in maintenance");
    r.sample(T0 + 50 * SECOND, true);
    r.tick(T0 + 59 * SECOND);
    assert!(r.tickets().is_empty(), "still inside the window");
    r.tick(T0 + 61 * SECOND);
    let tickets = r.tickets();
    assert_eq!(tickets.len(), 1, "the array is still degraded after the window: {tickets:?}");
    assert!(tickets[0].title.contains("md0"), "{}", tickets[0].title);
    let (suppressed, ticket): (Option<String>, Option<i64>) =
        r.conn.query_row("SELECT suppressed, ticket_id FROM problems", [], |x| Ok((x.get(0)?, x.get(1)?))).unwrap();
    assert_eq!((suppressed, ticket), (None, Some(tickets[0].id)));
    r.tick(T0 + 62 * SECOND);
    r.sample(T0 + 70 * SECOND, true);
    assert_eq!(r.tickets().len(), 1, "once, not on every tick");
}

#[test]
fn the_engine_state_survives_a_restart_so_a_firing_problem_does_not_open_a_second_ticket() {
    let mut r = Run::new(Duration::from_secs(3600));
    r.sample(T0, true);
    r.tick(T0 + 40 * SECOND); // saves the engine state
    assert_eq!(r.tickets().len(), 1);
    let ctx = Context { tickets: TicketsConfig::default(), notify: Default::default(), public_url: String::new() };
    r.applier = Applier::with_workflow(Workflow::load(&r.conn, Rules::defaults(), ctx).unwrap());
    for i in 1..=5 {
        r.sample(T0 + (40 + i * 10) * SECOND, true);
    }
    assert_eq!(r.tickets().len(), 1, "the restarted engine knew the problem was firing");
}
