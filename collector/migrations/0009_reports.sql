-- 0009: monthly service reports (stage 4). One report per call center and month, drafted by the
-- collector on the 1st; every step of its review loop, what was sent in each round, and each
-- recording's QA score are append-only.

CREATE TABLE reports (
    id             INTEGER PRIMARY KEY,
    center_id      INTEGER NOT NULL REFERENCES centers(id),
    year           INTEGER NOT NULL,
    month          INTEGER NOT NULL CHECK (month BETWEEN 1 AND 12),
    due_on         TEXT NOT NULL,     -- local date: the 3rd of the following month
    state          TEXT NOT NULL CHECK (state IN ('borrador', 'enviado', 'devuelto', 'aprobado', 'remitido')),
    round          INTEGER NOT NULL DEFAULT 0,   -- times sent to the chief
    technician_id  INTEGER REFERENCES users(id), -- who last worked on it
    figures        TEXT,              -- JSON of reports::figures::Figures: the working snapshot, frozen once sent
    figures_at     INTEGER,           -- when it was computed, ms UTC
    figures_hash   BLOB,              -- SHA-256 of `figures`
    outbound_ok    INTEGER,           -- guideline a: 1 the outgoing calls work, 0 a fault; NULL not verified
    outbound_notes TEXT NOT NULL DEFAULT '',
    outbound_at    INTEGER,
    summary        TEXT NOT NULL DEFAULT '',    -- the technician's conclusions
    qa_seed        INTEGER NOT NULL,            -- the QA sample's seed (reports::qa::seed_for)
    qa_proposed_at INTEGER,                     -- when the sample was proposed
    submitted_at   INTEGER,                     -- first sent to the chief (on time or late)
    approved_at    INTEGER,
    forwarded_at   INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (center_id, year, month)
);
CREATE INDEX reports_by_month ON reports (year, month);

-- What happened to a report, in order: drafted, recalculated, verified, sampled, sent (with the
-- hash of the figures sent), returned (with the observations), approved, forwarded.
CREATE TABLE report_events (
    report_id    INTEGER NOT NULL REFERENCES reports(id),
    n            INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    round        INTEGER NOT NULL,
    text         TEXT NOT NULL DEFAULT '',
    figures_hash BLOB,
    PRIMARY KEY (report_id, n)
) WITHOUT ROWID;

-- Each round as it was sent: the figures, the outgoing-call verification, the summary and the QA
-- summary the chief reviewed.
CREATE TABLE report_rounds (
    report_id    INTEGER NOT NULL REFERENCES reports(id),
    round        INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    figures      TEXT NOT NULL,
    figures_hash BLOB NOT NULL,
    content      TEXT NOT NULL,               -- JSON: verification, summary, QA summary
    PRIMARY KEY (report_id, round)
) WITHOUT ROWID;

-- The calls proposed for listening (reports::qa::sample). A call without a score may be replaced
-- by proposing the sample again; a scored one may not (the score references it).
CREATE TABLE report_qa_calls (
    id            INTEGER PRIMARY KEY,
    report_id     INTEGER NOT NULL REFERENCES reports(id),
    position      INTEGER NOT NULL,
    server_id     INTEGER NOT NULL REFERENCES servers(id),
    call_id       TEXT NOT NULL,     -- COALESCE(linkedid, uniqueid)
    uniqueid      TEXT NOT NULL,     -- the row whose recording is played
    calldate      TEXT NOT NULL,
    direction     TEXT NOT NULL CHECK (direction IN ('recibida', 'realizada')),
    hour          INTEGER NOT NULL,
    src           TEXT NOT NULL,
    dst           TEXT NOT NULL,
    disposition   TEXT NOT NULL,
    billsec       INTEGER NOT NULL,
    recordingfile TEXT NOT NULL DEFAULT '',
    UNIQUE (report_id, server_id, call_id)
);

-- One evaluation per sampled call, with the scorecard as applied (reports::qa::Score as JSON).
CREATE TABLE report_qa_scores (
    id            INTEGER PRIMARY KEY,
    qa_call_id    INTEGER NOT NULL UNIQUE REFERENCES report_qa_calls(id),
    at            INTEGER NOT NULL,
    actor         TEXT NOT NULL,
    assessable    INTEGER NOT NULL,
    points        INTEGER NOT NULL,
    max_points    INTEGER NOT NULL,
    falta_grave   INTEGER NOT NULL,
    passed        INTEGER NOT NULL,
    score         TEXT NOT NULL,
    observations  TEXT NOT NULL DEFAULT ''
);

CREATE TRIGGER report_events_no_update BEFORE UPDATE ON report_events
BEGIN SELECT RAISE(ABORT, 'report history is append-only'); END;
CREATE TRIGGER report_events_no_delete BEFORE DELETE ON report_events
BEGIN SELECT RAISE(ABORT, 'report history is append-only'); END;
CREATE TRIGGER report_rounds_no_update BEFORE UPDATE ON report_rounds
BEGIN SELECT RAISE(ABORT, 'a sent round is immutable'); END;
CREATE TRIGGER report_rounds_no_delete BEFORE DELETE ON report_rounds
BEGIN SELECT RAISE(ABORT, 'a sent round is immutable'); END;
CREATE TRIGGER report_qa_scores_no_update BEFORE UPDATE ON report_qa_scores
BEGIN SELECT RAISE(ABORT, 'a submitted QA score is immutable'); END;
CREATE TRIGGER report_qa_scores_no_delete BEFORE DELETE ON report_qa_scores
BEGIN SELECT RAISE(ABORT, 'a submitted QA score is immutable'); END;
-- A report that left the technician's hands keeps its figures: only a draft or a returned report
-- gets new ones.
CREATE TRIGGER reports_figures_frozen BEFORE UPDATE OF figures ON reports
WHEN OLD.state NOT IN ('borrador', 'devuelto') AND NEW.figures IS NOT OLD.figures
BEGIN SELECT RAISE(ABORT, 'the figures of a sent report are frozen'); END;
