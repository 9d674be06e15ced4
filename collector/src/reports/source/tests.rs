//! `source::month` on the captured FreePBX CDR (every number derived by hand below) and on a
//! generated month whose answers follow from how it was generated.

use super::*;
use crate::reports::figures::{CallTotals, QueueFigures};

const CDR_CSV: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/asterisk/cdr/cdr.csv"));

/// A CDR row as the tests write it.
#[derive(Debug, Clone, Default)]
struct Row {
    calldate: String,
    dst: String,
    dcontext: String,
    channel: String,
    dstchannel: String,
    lastapp: String,
    lastdata: String,
    duration: i64,
    billsec: i64,
    disposition: String,
    uniqueid: String,
    linkedid: Option<String>,
    sequence: Option<i64>,
    did: Option<String>,
    outbound_cnum: Option<String>,
}

struct Db {
    _dir: tempfile::TempDir,
    conn: Connection,
    keys: u64,
}

impl Db {
    /// A database with dependencia 1, centers 1 and 2, and the servers `(agent, center)`.
    fn new(servers: &[(&str, i64)]) -> Db {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_writer(dir.path()).unwrap();
        let d = crate::org::create_dependencia(&conn, "test", 0, "Impuestos Internos").unwrap();
        crate::org::create_center(&conn, "test", 0, d, "Centro 1").unwrap();
        crate::org::create_center(&conn, "test", 0, d, "Centro 2").unwrap();
        for (agent, center) in servers {
            conn.execute(
                "INSERT INTO servers (agent_id, first_seen, status_since, center_id) VALUES (?1, 0, 0, ?2)",
                params![agent, center],
            )
            .unwrap();
        }
        Db { _dir: dir, conn, keys: 0 }
    }

    fn server(&self, agent: &str) -> i64 {
        self.conn.query_row("SELECT id FROM servers WHERE agent_id = ?1", [agent], |r| r.get(0)).unwrap()
    }

    fn insert(&mut self, agent: &str, rows: &[Row]) {
        let server = self.server(agent);
        let tx = self.conn.unchecked_transaction().unwrap();
        for r in rows {
            self.keys += 1;
            tx.execute(
                "INSERT INTO cdr (server_id, row_key, calldate, clid, src, dst, dcontext, channel, dstchannel, lastapp,
                                  lastdata, duration, billsec, disposition, amaflags, accountcode, uniqueid, userfield,
                                  linkedid, sequence, did, outbound_cnum, received_ms)
                 VALUES (?1, ?2, ?3, '', '', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, '3', '', ?13, '', ?14, ?15, ?16, ?17, 0)",
                params![
                    server,
                    self.keys.to_be_bytes().repeat(2),
                    r.calldate,
                    r.dst,
                    r.dcontext,
                    r.channel,
                    r.dstchannel,
                    r.lastapp,
                    r.lastdata,
                    r.duration,
                    r.billsec,
                    r.disposition,
                    r.uniqueid,
                    r.linkedid,
                    r.sequence,
                    r.did,
                    r.outbound_cnum
                ],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }

    /// `(epoch, callid, queue, event, data fields)`.
    fn queue_log(&mut self, agent: &str, lines: &[(i64, String, &str, &str, Vec<String>)]) {
        let server = self.server(agent);
        let tx = self.conn.unchecked_transaction().unwrap();
        for (time, callid, queue, event, data) in lines {
            self.keys += 1;
            tx.execute(
                "INSERT INTO queue_log (server_id, row_key, time, callid, queue, agent, event, data, received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'PJSIP/1001', ?6, ?7, 0)",
                params![
                    server,
                    self.keys.to_be_bytes().repeat(2),
                    time,
                    callid,
                    queue,
                    event,
                    serde_json::to_string(data).unwrap()
                ],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
}

/// RFC 4180 records (quoted fields, doubled quotes), header first.
fn csv(text: &str) -> Vec<Vec<String>> {
    let (mut records, mut record, mut field) = (vec![], vec![], String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// The 76 captured rows, as the agent ships them from the FreePBX table (empty strings where the
/// PBX wrote nothing); `linkedid: false` drops the column, as on Issabel.
fn fixture_rows(linkedid: bool) -> Vec<Row> {
    let records = csv(CDR_CSV);
    let header = &records[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    records[1..]
        .iter()
        .map(|r| {
            let s = |name: &str| r[col(name)].clone();
            let n = |name: &str| s(name).parse::<i64>().unwrap();
            Row {
                calldate: s("calldate"),
                dst: s("dst"),
                dcontext: s("dcontext"),
                channel: s("channel"),
                dstchannel: s("dstchannel"),
                lastapp: s("lastapp"),
                lastdata: s("lastdata"),
                duration: n("duration"),
                billsec: n("billsec"),
                disposition: s("disposition"),
                uniqueid: s("uniqueid"),
                linkedid: linkedid.then(|| s("linkedid")),
                sequence: linkedid.then(|| n("sequence")),
                did: Some(s("did")),
                outbound_cnum: Some(s("outbound_cnum")),
            }
        })
        .collect()
}

fn totals(calls: u64, answered: u64, no_answer: u64, busy: u64, failed: u64, talk_s: u64) -> CallTotals {
    let avg_talk_s = if answered == 0 { 0.0 } else { talk_s as f64 / answered as f64 };
    CallTotals { calls, answered, no_answer, busy, failed, talk_s, avg_talk_s }
}

#[test]
fn the_captured_freepbx_cdr_gives_the_figures_derived_by_hand() {
    let mut db = Db::new(&[("pbx-lab", 1)]);
    let rows = fixture_rows(true);
    assert_eq!(rows.len(), 76);
    db.insert("pbx-lab", &rows);
    let f = month(&db.conn, 1, 2026, 11, &Settings::default()).unwrap();
    // 76 rows make 45 linkedids, every one started on 27 Nov between 09:51 and 09:55.
    assert_eq!((f.cdr_rows, f.calls), (76, 45));
    assert_eq!(f.servers, vec!["pbx-lab"]);
    // Received (a trunk channel `PJSIP/carrier-…` started them; all but none carry a DID): 14.
    // - Answered 2: 1795773098.0, the support queue call Alice (1001) took: its agent leg
    //   Local/1001;2 → PJSIP/1001 has billsec 36 (the trunk's row says 39: 3 s of queue wait);
    //   1795773292.26, DID 5002 dialled straight to PJSIP/1001, billsec 25. Talk 36 + 25 = 61.
    // - Failed 3: DID 5005 twice (Dave unregistered: FAILED), DID 5999 (Congestion app).
    // - No answer 9: the queue calls only the Queue app answered (.1 sales, .8 support,
    //   .23 sales, .25 sales), support call .24 whose every member attempt went unanswered,
    //   music on hold twice (5003, answered by MusicOnHold, nobody else), DID 5004 twice (Bob
    //   never answers).
    assert_eq!(f.received, totals(14, 2, 9, 0, 3, 61));
    // Made (a Dial to `PJSIP/carrier-…` from-internal, outbound_cnum 5550100): 17.
    // - Answered 4: to 5551185 (billsec 40), 5551174 (25), 5551701 (15), 5551804 (15) = 95 s.
    // - Busy 4: 5552384, 5552966, 5552742, 5552727 (each a Dial row and a Hangup row: one call).
    // - Failed 3: CONGESTION to 5554473, 5554331, 5554774.
    // - No answer 6: 5553364, 5553125, 5555086, 5553619, 5555052, 5553291.
    assert_eq!(f.made, totals(17, 4, 6, 4, 3, 95));
    assert_eq!(f.made.avg_talk_s, 23.75);
    // Internal 14: 1001→1003 twice, 1003→1002, 1002→1004, the echo test 8000, and the 9 Local
    // channel calls the lab originated (context lab-local; no trunk, no DID).
    assert_eq!(f.internal, 14);
    let mut by_day = vec![(0, 0); 30];
    by_day[26] = (14, 17);
    assert_eq!(f.by_day, by_day);
    let mut by_hour = vec![(0, 0); 24];
    by_hour[9] = (14, 17);
    assert_eq!(f.by_hour, by_hour);
    // 17 numbers called once each: the 4 answered first, then by number (the trunk's number,
    // from `PJSIP/5551185@carrier`, without the dialled prefix 9).
    let top: Vec<(&str, u64, u64)> = f.top_destinations.iter().map(|(n, c, a)| (n.as_str(), *c, *a)).collect();
    assert_eq!(
        top,
        vec![
            ("5551174", 1, 1),
            ("5551185", 1, 1),
            ("5551701", 1, 1),
            ("5551804", 1, 1),
            ("5552384", 1, 0),
            ("5552727", 1, 0),
            ("5552742", 1, 0),
            ("5552966", 1, 0),
            ("5553125", 1, 0),
            ("5553291", 1, 0),
        ]
    );
    assert!(f.queues.is_empty(), "no queue_log was shipped");
    // Not the month: October and December are empty.
    for (y, m) in [(2026, 10), (2026, 12)] {
        let other = month(&db.conn, 1, y, m, &Settings::default()).unwrap();
        assert_eq!((other.calls, other.received.calls, other.made.calls), (0, 0, 0));
    }
    assert_eq!(month(&db.conn, 2, 2026, 11, &Settings::default()).unwrap().calls, 0, "another center");
}

#[test]
fn without_the_linkedid_column_the_same_calls_count_and_queue_talk_includes_the_wait() {
    let mut db = Db::new(&[("pbx-issabel", 1)]);
    db.insert("pbx-issabel", &fixture_rows(false));
    let f = month(&db.conn, 1, 2026, 11, &Settings::default()).unwrap();
    // Grouped by uniqueid: the 13 rows of `Local/…;2` halves (4 of queue members, 9 of the lab's
    // Local calls) are member attempts, not calls; the remaining 63 rows are the same 45 calls.
    assert_eq!((f.cdr_rows, f.calls), (63, 45));
    // 1795773098.0 is answered through its trunk row to Local/1001;1 (billsec 39, the 3 s in
    // the queue included): 39 + 25 = 64.
    assert_eq!(f.received, totals(14, 2, 9, 0, 3, 64));
    assert_eq!(f.made, totals(17, 4, 6, 4, 3, 95));
    assert_eq!(f.internal, 14);
}

#[test]
fn classification_rules_are_per_server() {
    let mut db = Db::new(&[("pbx-lab", 1)]);
    db.insert("pbx-lab", &fixture_rows(true));
    // Say this PBX's trunk had no known name, and did, outbound_cnum and the contexts were not
    // to be trusted: with the trunk named for this server, the figures are the same; without
    // it, every call is internal.
    let raw = crate::reports::settings::RawReports {
        trunks: Some(vec!["PJSIP/nope*".into()]),
        inbound_contexts: Some(vec![]),
        outbound_contexts: Some(vec![]),
        did_is_inbound: Some(false),
        outbound_cnum_is_outbound: Some(false),
        servers: Some(
            [(
                "pbx-lab".to_string(),
                crate::reports::classify::RawRules { trunks: Some(vec!["*/carrier-*".into()]), ..Default::default() },
            )]
            .into(),
        ),
        ..Default::default()
    };
    let s = Settings::from_raw(raw.clone(), chrono_tz::America::El_Salvador).unwrap();
    let f = month(&db.conn, 1, 2026, 11, &s).unwrap();
    assert_eq!((f.received.calls, f.made.calls, f.internal), (14, 17, 14));
    let s = Settings::from_raw(crate::reports::settings::RawReports { servers: None, ..raw }, s.tz).unwrap();
    let f = month(&db.conn, 1, 2026, 11, &s).unwrap();
    assert_eq!((f.received.calls, f.made.calls, f.internal), (0, 0, 45));
}

/// `YYYY-MM-DD HH:MM:SS` of October 2026 (day 1..=31), or of the days around it.
fn at(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> String {
    format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02}")
}

fn oct(d: u32, h: u32, min: u32, s: u32) -> String {
    at(2026, 10, d, h, min, s)
}

/// Epoch seconds of an El Salvador wall-clock time (UTC−6, no daylight saving).
fn sv_epoch(text: &str) -> i64 {
    parse_calldate(text).unwrap() + 6 * 3600
}

const NUMBERS: [&str; 12] = [
    "22445501", "22445502", "22445503", "22445504", "22445505", "22445506", "22445507", "22445508", "22445509",
    "22445510", "22445511", "22445512",
];

/// The hours the generated center works, and what one hour holds.
const HOURS: std::ops::RangeInclusive<u32> = 8..=15;

/// The calls of one working hour on `pbx-a` (with linkedid), in this order: an answered queue
/// call (4 legs), a queue call abandoned while the Queue app held it, a DID to a busy extension
/// (dcontext from-did-direct, no `did`: the context decides), a call Alice answered and
/// blind-transferred to Carol, an answered outgoing call, an unanswered one (Dial + Hangup rows),
/// a congested one, an internal call and an echo test.
fn hour_of_pbx_a(d: u32, h: u32) -> Vec<Row> {
    let base = sv_epoch(&oct(d, h, 0, 0));
    let id = |k: i64, leg: i64| format!("{}.{}", base + k * 300, leg);
    let t = |k: u32, s: u32| oct(d, h, k * 5, s);
    let row = |k: u32, s: u32, uid: String, link: String| Row {
        calldate: t(k, s),
        uniqueid: uid,
        linkedid: Some(link),
        ..Row::default()
    };
    let trunk = |n: i64| format!("PJSIP/carrier-{n:08x}");
    let number = NUMBERS[((d * 8 + h) % 12) as usize];
    let h64 = i64::from(h);
    vec![
        // 0: queue call answered by 1001 after 5 s of ringing 1002 and 1001.
        Row {
            dcontext: "ext-queues".into(),
            channel: trunk(1),
            dstchannel: "Local/1002@from-queue-00000001;1".into(),
            lastapp: "Queue".into(),
            disposition: "NO ANSWER".into(),
            billsec: 5,
            did: Some("5000".into()),
            ..row(0, 0, id(0, 0), id(0, 0))
        },
        Row {
            dcontext: "from-queue".into(),
            channel: "Local/1002@from-queue-00000001;2".into(),
            dstchannel: "PJSIP/1002-00000002".into(),
            lastapp: "Dial".into(),
            disposition: "NO ANSWER".into(),
            ..row(0, 0, id(0, 1), id(0, 0))
        },
        Row {
            dcontext: "from-queue".into(),
            channel: "Local/1001@from-queue-00000002;2".into(),
            dstchannel: "PJSIP/1001-00000003".into(),
            lastapp: "Dial".into(),
            disposition: "ANSWERED".into(),
            billsec: 60 + h64,
            ..row(0, 0, id(0, 2), id(0, 0))
        },
        Row {
            dcontext: "ext-queues".into(),
            channel: trunk(1),
            dstchannel: "Local/1001@from-queue-00000002;1".into(),
            lastapp: "Queue".into(),
            disposition: "ANSWERED".into(),
            billsec: 70 + h64,
            did: Some("5000".into()),
            ..row(0, 0, id(0, 0), id(0, 0))
        },
        // 1: abandoned in the queue.
        Row {
            dcontext: "ext-queues".into(),
            channel: trunk(2),
            lastapp: "Queue".into(),
            disposition: "ANSWERED".into(),
            billsec: 45,
            did: Some("5000".into()),
            ..row(1, 0, id(1, 0), id(1, 0))
        },
        // 2: a DID straight to a busy extension.
        Row {
            dcontext: "from-did-direct".into(),
            channel: "SIP/isp-00000001".into(),
            dstchannel: "PJSIP/1003-00000004".into(),
            lastapp: "Dial".into(),
            disposition: "BUSY".into(),
            ..row(2, 0, id(2, 0), id(2, 0))
        },
        Row {
            dcontext: "from-did-direct".into(),
            channel: "SIP/isp-00000001".into(),
            lastapp: "Hangup".into(),
            disposition: "BUSY".into(),
            ..row(2, 1, id(2, 0), id(2, 0))
        },
        // 3: Alice talks 30 s, then blind-transfers the caller to Carol, who talks 60 s.
        Row {
            dcontext: "from-did-direct".into(),
            channel: trunk(3),
            dstchannel: "PJSIP/1001-00000005".into(),
            lastapp: "Dial".into(),
            disposition: "ANSWERED".into(),
            billsec: 30,
            did: Some("5001".into()),
            ..row(3, 0, id(3, 0), id(3, 0))
        },
        Row {
            dcontext: "from-did-direct".into(),
            channel: trunk(3),
            dstchannel: "PJSIP/1003-00000006".into(),
            lastapp: "Dial".into(),
            disposition: "ANSWERED".into(),
            billsec: 60,
            did: Some("5001".into()),
            ..row(3, 35, id(3, 0), id(3, 0))
        },
        // 4: an answered outgoing call.
        Row {
            dst: format!("9{number}"),
            dcontext: "from-internal".into(),
            channel: "PJSIP/1002-00000007".into(),
            dstchannel: trunk(4),
            lastapp: "Dial".into(),
            lastdata: format!("PJSIP/{number}@carrier,300"),
            disposition: "ANSWERED".into(),
            billsec: 100,
            outbound_cnum: Some("5550100".into()),
            ..row(4, 0, id(4, 0), id(4, 0))
        },
        // 5: unanswered outgoing: the Dial row and, 20 s later, the Hangup row.
        Row {
            dst: "922000000".into(),
            dcontext: "from-internal".into(),
            channel: "PJSIP/1003-00000008".into(),
            dstchannel: trunk(5),
            lastapp: "Dial".into(),
            lastdata: "PJSIP/22000000@carrier,300".into(),
            disposition: "NO ANSWER".into(),
            outbound_cnum: Some("5550100".into()),
            ..row(5, 0, id(5, 0), id(5, 0))
        },
        Row {
            dst: "922000000".into(),
            dcontext: "from-internal".into(),
            channel: "PJSIP/1003-00000008".into(),
            lastapp: "Hangup".into(),
            disposition: "NO ANSWER".into(),
            outbound_cnum: Some("5550100".into()),
            ..row(5, 20, id(5, 0), id(5, 0))
        },
        // 6: congestion on the trunk.
        Row {
            dst: "922000001".into(),
            dcontext: "from-internal".into(),
            channel: "PJSIP/1001-00000009".into(),
            dstchannel: trunk(6),
            lastapp: "Dial".into(),
            lastdata: "PJSIP/22000001@carrier,300".into(),
            disposition: "CONGESTION".into(),
            outbound_cnum: Some("5550100".into()),
            ..row(6, 0, id(6, 0), id(6, 0))
        },
        // 7: internal, answered; 8: the echo test.
        Row {
            dst: "1003".into(),
            dcontext: "from-internal".into(),
            channel: "PJSIP/1001-0000000a".into(),
            dstchannel: "PJSIP/1003-0000000b".into(),
            lastapp: "Dial".into(),
            disposition: "ANSWERED".into(),
            billsec: 15,
            ..row(7, 0, id(7, 0), id(7, 0))
        },
        Row {
            dst: "8000".into(),
            dcontext: "from-internal".into(),
            channel: "PJSIP/1001-0000000c".into(),
            lastapp: "Echo".into(),
            disposition: "ANSWERED".into(),
            billsec: 10,
            ..row(8, 0, id(8, 0), id(8, 0))
        },
    ]
}

/// One day of `pbx-b` (no linkedid column) at 10:00: a queue call answered (the trunk row to
/// Local/1001;1, billsec 50 with the wait, and the member's `;2` row, which is no call) and an
/// outgoing call to a busy number (Dial and Hangup rows of one uniqueid).
fn day_of_pbx_b(d: u32) -> Vec<Row> {
    let base = sv_epoch(&oct(d, 10, 0, 0));
    let row = |s: u32, uid: String| Row { calldate: oct(d, 10, 0, s), uniqueid: uid, linkedid: None, ..Row::default() };
    vec![
        Row {
            dcontext: "ext-queues".into(),
            channel: "SIP/trunk-movistar-1".into(),
            dstchannel: "Local/1001@from-queue-1;1".into(),
            lastapp: "Queue".into(),
            disposition: "ANSWERED".into(),
            billsec: 50,
            ..row(0, format!("{base}.0"))
        },
        Row {
            dcontext: "from-queue".into(),
            channel: "Local/1001@from-queue-1;2".into(),
            dstchannel: "SIP/1001-2".into(),
            lastapp: "Dial".into(),
            disposition: "ANSWERED".into(),
            billsec: 45,
            ..row(0, format!("{base}.1"))
        },
        Row {
            dst: "922771234".into(),
            dcontext: "from-internal".into(),
            channel: "SIP/1002-3".into(),
            dstchannel: "SIP/trunk-movistar-4".into(),
            lastapp: "Dial".into(),
            lastdata: "SIP/trunk-movistar/22771234,300".into(),
            disposition: "BUSY".into(),
            ..row(30, format!("{base}.3"))
        },
        Row {
            dst: "922771234".into(),
            dcontext: "from-internal".into(),
            channel: "SIP/1002-3".into(),
            lastapp: "Hangup".into(),
            disposition: "BUSY".into(),
            ..row(31, format!("{base}.3"))
        },
    ]
}

#[test]
fn a_generated_month_gives_the_figures_it_was_generated_with() {
    let mut db = Db::new(&[("pbx-a", 1), ("pbx-b", 1), ("pbx-c", 2)]);
    let mut a = Vec::new();
    for d in 1..=31 {
        for h in HOURS {
            a.extend(hour_of_pbx_a(d, h));
        }
    }
    // Across the month's edges: a call of 30 Sep 23:59:50 with a leg after midnight belongs to
    // September; one of 31 Oct 23:59:40, transferred after midnight, to October (day 31, 23 h,
    // talk 20 + 40 s).
    let edge = |calldate: String, uid: &str, billsec: i64| Row {
        calldate,
        dcontext: "from-did-direct".into(),
        channel: "PJSIP/carrier-000000ff".into(),
        dstchannel: "PJSIP/1001-000000ff".into(),
        lastapp: "Dial".into(),
        disposition: "ANSWERED".into(),
        billsec,
        uniqueid: uid.into(),
        linkedid: Some(uid.into()),
        did: Some("5000".into()),
        ..Row::default()
    };
    a.push(edge(at(2026, 9, 30, 23, 59, 50), "1790000000.1", 10));
    a.push(edge(at(2026, 10, 1, 0, 0, 10), "1790000000.1", 30));
    a.push(edge(at(2026, 10, 31, 23, 59, 40), "1793000000.1", 20));
    a.push(edge(at(2026, 11, 1, 0, 0, 30), "1793000000.1", 40));
    a.push(edge(at(2026, 11, 15, 9, 0, 0), "1794000000.1", 99));
    db.insert("pbx-a", &a);
    let b: Vec<Row> = (1..=31).flat_map(day_of_pbx_b).collect();
    db.insert("pbx-b", &b);
    // Another center's server: not counted.
    db.insert("pbx-c", &hour_of_pbx_a(10, 9));

    // pbx-a's queue "support" every working hour: answered after 3·(h−8)+5 s (within 20 s for
    // h = 8..=13: 6 of the 8 hours) with a talk of 60+h s; and each day one abandoned call, one
    // timed out, and one answered after 10 s that the agent transferred after 120 s.
    let mut q = Vec::new();
    let line = |t: String, call: &str, event: &'static str, data: &[String]| {
        (sv_epoch(&t), call.to_string(), "support", event, data.to_vec())
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    for d in 1..=31 {
        for h in HOURS {
            let call = format!("q{d}-{h}");
            let hold = 3 * (h - 8) + 5;
            q.push(line(oct(d, h, 0, 0), &call, "ENTERQUEUE", &s(&["", "2125550101", "1"])));
            q.push(line(oct(d, h, 0, hold), &call, "CONNECT", &s(&[&hold.to_string(), "1.2", "3"])));
            q.push(line(
                oct(d, h, 5, 0),
                &call,
                "COMPLETECALLER",
                &s(&[&hold.to_string(), &(60 + h).to_string(), "1"]),
            ));
        }
        let c = format!("a{d}");
        q.push(line(oct(d, 16, 0, 0), &c, "ENTERQUEUE", &s(&["", "1", "1"])));
        q.push(line(oct(d, 16, 1, 0), &c, "ABANDON", &s(&["1", "1", "60"])));
        let c = format!("t{d}");
        q.push(line(oct(d, 16, 10, 0), &c, "ENTERQUEUE", &s(&["", "1", "1"])));
        q.push(line(oct(d, 16, 20, 0), &c, "EXITWITHTIMEOUT", &s(&["1", "1", "600"])));
        let c = format!("x{d}");
        q.push(line(oct(d, 16, 30, 0), &c, "ENTERQUEUE", &s(&["", "1", "1"])));
        q.push(line(oct(d, 16, 30, 10), &c, "CONNECT", &s(&["10", "1.9", "2"])));
        q.push(line(oct(d, 16, 32, 10), &c, "BLINDTRANSFER", &s(&["1003", "from-internal", "10", "120", "1"])));
        q.push(line(oct(d, 16, 32, 10), &c, "RINGNOANSWER", &s(&["15000"])));
    }
    // Entered on 30 Sep, connected on 1 Oct: September's.
    q.push(line(at(2026, 9, 30, 23, 59, 0), "prev", "ENTERQUEUE", &s(&["", "1", "1"])));
    q.push(line(at(2026, 10, 1, 0, 0, 10), "prev", "CONNECT", &s(&["70", "1.1", "1"])));
    db.queue_log("pbx-a", &q);

    let f = month(&db.conn, 1, 2026, 10, &Settings::default()).unwrap();
    for workers in [1, 3] {
        assert_eq!(read(&db.conn, 1, 2026, 10, &Settings::default(), workers).unwrap(), f, "{workers} threads");
    }
    assert_eq!(f.servers, vec!["pbx-a", "pbx-b"]);
    let (days, hours) = (31u64, HOURS.count() as u64);
    let slots = days * hours;
    // Per working hour on pbx-a: received 4 (queue answered, abandoned, busy DID, transfer),
    // made 3, internal 2. Per day on pbx-b: received 1 (answered, 50 s), made 1 (busy).
    // Plus the 31 Oct 23:59:40 call (received, answered, 60 s).
    let talk_a: u64 = (1..=31).map(|_| HOURS.map(|h| 60 + u64::from(h) + 90).sum::<u64>()).sum();
    assert_eq!(
        f.received,
        totals(4 * slots + days + 1, 2 * slots + days + 1, slots, slots, 0, talk_a + 50 * days + 60)
    );
    assert_eq!(f.made, totals(3 * slots + days, slots, slots, days, slots, 100 * slots));
    assert_eq!(f.internal, 2 * slots);
    // Rows: 15 per hour on pbx-a, 2 + 2 of the edge call, 3 per day on pbx-b (its `;2` row is no call).
    assert_eq!(f.cdr_rows, 15 * slots + 2 + 3 * days);
    assert_eq!(f.calls, f.received.calls + f.made.calls + f.internal);
    for (i, &(received, made)) in f.by_day.iter().enumerate() {
        let edge = u64::from(i == 30);
        assert_eq!((received, made), (4 * hours + 1 + edge, 3 * hours + 1), "day {}", i + 1);
    }
    for (h, &(received, made)) in f.by_hour.iter().enumerate() {
        let h = h as u32;
        let work = u64::from(HOURS.contains(&h));
        let (b, edge) = (u64::from(h == 10), u64::from(h == 23));
        assert_eq!((received, made), (work * 4 * days + b * days + edge, work * 3 * days + b * days), "{h} h");
    }
    // Numbers: the 12 of NUMBERS in turn (answered), 22000000 and 22000001 once an hour, and
    // 22771234 (pbx-b, busy) once a day.
    let mut expected: HashMap<String, (u64, u64)> = HashMap::new();
    for d in 1..=31u32 {
        for h in HOURS {
            let e = expected.entry(NUMBERS[((d * 8 + h) % 12) as usize].to_string()).or_default();
            e.0 += 1;
            e.1 += 1;
        }
    }
    let mut expected: Vec<(String, u64, u64)> = expected.into_iter().map(|(n, (c, a))| (n, c, a)).collect();
    expected.extend([("22000000".into(), slots, 0), ("22000001".into(), slots, 0), ("22771234".into(), days, 0)]);
    expected.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then_with(|| a.0.cmp(&b.0)));
    expected.truncate(10);
    assert_eq!(f.top_destinations, expected);
    assert_eq!(f.top_destinations[0].1, slots, "22000000 and 22000001 are the most called");

    // Queues: offered 8 + 3 a day; answered 8 + 1; within 20 s 6 + 1.
    let answered = (hours + 1) * days;
    let hold: u64 = days * (HOURS.map(|h| u64::from(3 * (h - 8) + 5)).sum::<u64>() + 10);
    let talk: u64 = days * (HOURS.map(|h| u64::from(60 + h)).sum::<u64>() + 120);
    let offered = (hours + 3) * days;
    assert_eq!(
        f.queues,
        vec![QueueFigures {
            queue: "support".into(),
            offered,
            answered,
            abandoned: days,
            timed_out: days,
            answered_within: 7 * days,
            service_level_pct: Some((7 * days) as f64 / offered as f64 * 100.0),
            asa_s: Some(hold as f64 / answered as f64),
            avg_talk_s: Some(talk as f64 / answered as f64),
            abandon_rate_pct: Some(days as f64 / offered as f64 * 100.0),
        }]
    );
    let s = Settings { service_level_s: 5, ..Settings::default() };
    let strict = month(&db.conn, 1, 2026, 10, &s).unwrap();
    assert_eq!((strict.service_level_s, strict.queues[0].answered_within), (5, days), "only the 8 h calls");

    // September sees its own edge call once (10 + 30 s), and November the late legs of none.
    let sep = month(&db.conn, 1, 2026, 9, &Settings::default()).unwrap();
    assert_eq!((sep.received.calls, sep.received.talk_s, sep.by_day[29], sep.by_hour[23]), (1, 40, (1, 0), (1, 0)));
    assert_eq!(sep.queues.iter().map(|q| q.offered).sum::<u64>(), 1);
    let nov = month(&db.conn, 1, 2026, 11, &Settings::default()).unwrap();
    assert_eq!((nov.received.calls, nov.received.talk_s), (1, 99));
}

#[test]
fn a_month_that_does_not_exist_is_refused() {
    let db = Db::new(&[]);
    assert!(month(&db.conn, 1, 2026, 13, &Settings::default()).is_err());
    let empty = month(&db.conn, 1, 2026, 2, &Settings::default()).unwrap();
    assert_eq!((empty.by_day.len(), empty.by_hour.len(), empty.calls), (28, 24, 0));
}

#[test]
fn a_month_is_one_range_of_the_tables_primary_keys() {
    let db = Db::new(&[]);
    let plan = |sql: &str| -> String {
        let mut stmt = db.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    };
    let cdr = plan(
        "SELECT calldate, dst, linkedid FROM cdr WHERE server_id = 1 AND calldate >= 'a' AND calldate < 'b' ORDER BY calldate",
    );
    assert_eq!(cdr, "SEARCH cdr USING PRIMARY KEY (server_id=? AND calldate>? AND calldate<?)");
    let q = plan("SELECT time, data FROM queue_log WHERE server_id = 1 AND time >= 0 AND time < 9 ORDER BY time");
    assert_eq!(q, "SEARCH queue_log USING PRIMARY KEY (server_id=? AND time>? AND time<?)");
}

/// Migration 0010 on a database of the previous layout: every row kept, in the new order, and a
/// row delivered again is still refused by `(server_id, row_key)`.
#[test]
fn migration_0010_keeps_every_row_and_their_identity() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE servers (id INTEGER PRIMARY KEY);
         INSERT INTO servers VALUES (1), (2);",
    )
    .unwrap();
    let old = include_str!("../../../migrations/0002_cdr.sql");
    let old = &old[..old.find("ALTER TABLE servers").unwrap()];
    conn.execute_batch(old).unwrap();
    for (server, key, calldate) in
        [(1, 3u8, "2026-10-02 10:00:00"), (1, 1, "2026-10-01 10:00:00"), (2, 2, "2026-09-30 10:00:00")]
    {
        conn.execute(
            "INSERT INTO cdr VALUES (?1, ?2, ?3, '', '', '', '', '', '', '', '', 1, 1, 'ANSWERED', '3', '', ?4, '',
                                     ?4, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0)",
            params![server, vec![key; 16], calldate, format!("u{key}")],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO queue_log VALUES (?1, ?2, ?3, 'c', 'q', 'a', 'ENTERQUEUE', '[]', 0)",
            params![server, vec![key; 16], i64::from(key) * 100],
        )
        .unwrap();
    }
    conn.execute_batch(include_str!("../../../migrations/0010_cdr_time_order.sql")).unwrap();
    let order: Vec<String> = conn
        .prepare("SELECT uniqueid FROM cdr WHERE server_id = 1 ORDER BY calldate")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(order, vec!["u1", "u3"]);
    let again = "INSERT INTO cdr (server_id, row_key, calldate, clid, src, dst, dcontext, channel, dstchannel, lastapp,
                                  lastdata, duration, billsec, disposition, amaflags, accountcode, uniqueid, userfield,
                                  received_ms)
                 VALUES (1, ?1, ?2, '', '', '', '', '', '', '', '', 1, 1, 'ANSWERED', '3', '', 'x', '', 0)
                 ON CONFLICT (server_id, row_key) DO NOTHING";
    assert_eq!(conn.execute(again, params![vec![1u8; 16], "2026-10-01 10:00:00"]).unwrap(), 0, "same row");
    assert_eq!(conn.execute(again, params![vec![1u8; 16], "2026-12-01 10:00:00"]).unwrap(), 0, "same key");
    assert_eq!(conn.execute(again, params![vec![9u8; 16], "2026-12-01 10:00:00"]).unwrap(), 1);
    let q = "INSERT INTO queue_log VALUES (1, ?1, 5, 'c', 'q', 'a', 'CONNECT', '[]', 0)
             ON CONFLICT (server_id, row_key) DO NOTHING";
    assert_eq!(conn.execute(q, params![vec![3u8; 16]]).unwrap(), 0);
    let counts: (i64, i64) = conn
        .query_row("SELECT (SELECT count(*) FROM cdr), (SELECT count(*) FROM queue_log)", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(counts, (4, 3));
}
