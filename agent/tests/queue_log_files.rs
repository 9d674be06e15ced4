//! `queue_log` shipping on real files: appends, a line half written, logrotate's rename and
//! copytruncate, and an agent restart. The lines follow Asterisk's documented queue_log format (no
//! queue_log was captured in shared/fixtures).

use centinela_agent::cdr::queue_log::QueueLogShipper;
use centinela_agent::outbox::Outbox;
use centinela_shared::{AgentId, Body, QueueLogEntryV1, decode_envelope};
use std::io::Write;
use std::path::Path;

fn agent() -> AgentId {
    AgentId::new("pbx-test").expect("valid id")
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open");
    f.write_all(text.as_bytes()).expect("write");
}

fn shipped(outbox: &Outbox) -> Vec<QueueLogEntryV1> {
    let mut out = Vec::new();
    for r in outbox.after(0, 10_000).expect("outbox") {
        match decode_envelope(&r.payload).expect("decodes").body {
            Body::QueueLogBatchV1(b) => out.extend(b.entries),
            other => panic!("only queue_log batches expected: {other:?}"),
        }
    }
    out
}

fn events(entries: &[QueueLogEntryV1]) -> Vec<String> {
    entries.iter().map(|e| format!("{}:{}", e.callid, e.event)).collect()
}

#[test]
fn appended_lines_ship_once_across_rotation_truncation_and_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("queue_log");
    let state = dir.path().join("state");
    append(
        &log,
        "1795773098|1795773098.1|sales|NONE|ENTERQUEUE||3105550123|1\n1795773101|1795773098.1|sales|Local/1002@from-queue/n|CONNECT|3|1795773098.9|2\n",
    );
    append(&log, "1795773141|1795773098.1|sales|Local/1002@from-queue/n|COMPLETEC");
    let mut outbox = Outbox::open(&state, 1 << 20).expect("outbox");
    let mut q = QueueLogShipper::new(log.clone(), &mut outbox).expect("shipper");
    assert_eq!(q.poll(&mut outbox, &agent()).expect("poll").lines, 2, "the half-written line waits");
    append(&log, "ALLER|3|40|1\n");
    assert_eq!(q.poll(&mut outbox, &agent()).expect("poll").lines, 1);
    assert_eq!(q.poll(&mut outbox, &agent()).expect("poll").lines, 0);

    // logrotate renames; Asterisk writes one more line to the old file before it reopens.
    std::fs::rename(&log, dir.path().join("queue_log.1")).expect("rotate");
    append(&dir.path().join("queue_log.1"), "1795773150|1795773098.2|support|NONE|ENTERQUEUE||2125550101|1\n");
    append(&log, "1795773160|1795773098.2|support|NONE|ABANDON|1|1|10\n");
    let t = q.poll(&mut outbox, &agent()).expect("poll");
    assert_eq!(t.lines, 2, "the rest of the rotated file, then the new one: {t:?}");

    // The agent restarts: nothing is read twice.
    drop(q);
    drop(outbox);
    let mut outbox = Outbox::open(&state, 1 << 20).expect("outbox");
    let mut q = QueueLogShipper::new(log.clone(), &mut outbox).expect("shipper");
    assert_eq!(q.poll(&mut outbox, &agent()).expect("poll").lines, 0);

    // copytruncate: same inode, shorter file.
    std::fs::OpenOptions::new().write(true).truncate(true).open(&log).expect("truncate");
    append(&log, "1795773200|NONE|NONE|Local/1003@from-queue/n|PAUSE|lunch\n");
    assert_eq!(q.poll(&mut outbox, &agent()).expect("poll").lines, 1);

    let all = shipped(&outbox);
    assert_eq!(
        events(&all),
        [
            "1795773098.1:ENTERQUEUE",
            "1795773098.1:CONNECT",
            "1795773098.1:COMPLETECALLER",
            "1795773098.2:ENTERQUEUE",
            "1795773098.2:ABANDON",
            "NONE:PAUSE"
        ]
    );
    let keys: std::collections::HashSet<_> = all.iter().map(QueueLogEntryV1::key).collect();
    assert_eq!(keys.len(), all.len(), "each line has its own identity");
    assert_eq!(all[2].data, ["3", "40", "1"]);
    assert_eq!(q.reading().shipped, 1, "since this start");
}

#[test]
fn a_missing_file_is_an_error_that_names_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut outbox = Outbox::open(dir.path(), 1 << 20).expect("outbox");
    let mut q = QueueLogShipper::new(dir.path().join("nope"), &mut outbox).expect("shipper");
    let e = q.poll(&mut outbox, &agent()).unwrap_err();
    assert!(e.contains("[queue_log]"), "{e}");
    assert_eq!(q.reading().verdict.level, centinela_shared::Level::Warning);
}
