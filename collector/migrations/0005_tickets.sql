-- 0005: corrective tickets ("requerimientos") and their timelines, the problems the rule engine
-- reports now, silences and maintenance windows, and the engine's saved state.

CREATE TABLE tickets (
    id          INTEGER PRIMARY KEY,
    center_id   INTEGER REFERENCES centers(id),  -- NULL: an automatic ticket of an unplaced server
    server_id   INTEGER REFERENCES servers(id),
    state       TEXT NOT NULL CHECK (state IN ('solicitado', 'asignado', 'en_atencion', 'cerrado', 'cancelado')),
    priority    TEXT,
    assignee    INTEGER REFERENCES users(id),
    problem_key TEXT,                            -- automatic tickets: the rule engine's problem key
    created_at  INTEGER NOT NULL,                -- ms since epoch, UTC
    updated_at  INTEGER NOT NULL,
    data        TEXT NOT NULL                    -- the whole ticket (tickets::model::Ticket) as JSON
);
CREATE INDEX tickets_by_state ON tickets (state, created_at);
CREATE INDEX tickets_by_center ON tickets (center_id, state);
CREATE INDEX tickets_by_assignee ON tickets (assignee, state);
CREATE INDEX tickets_by_problem ON tickets (server_id, problem_key, id);
-- The rule behind "one open ticket per (server, problem)", enforced by the database too.
CREATE UNIQUE INDEX tickets_one_open_per_problem ON tickets (server_id, problem_key)
    WHERE problem_key IS NOT NULL AND state IN ('solicitado', 'asignado', 'en_atencion');

CREATE TABLE ticket_timeline (
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    n         INTEGER NOT NULL,                  -- 1, 2, 3... per ticket
    at        INTEGER NOT NULL,
    data      TEXT NOT NULL,                     -- tickets::model::TimelineEntry as JSON
    PRIMARY KEY (ticket_id, n)
) WITHOUT ROWID;

-- What the rule engine reports firing now, and what became of it.
CREATE TABLE problems (
    server_id  INTEGER NOT NULL REFERENCES servers(id),
    key        TEXT NOT NULL,
    rule       TEXT NOT NULL,
    severity   TEXT NOT NULL,
    summary    TEXT NOT NULL,
    details    TEXT NOT NULL,                    -- JSON array of texts
    since      INTEGER NOT NULL,                 -- first seen true
    fired_at   INTEGER NOT NULL,
    ticket_id  INTEGER REFERENCES tickets(id),
    suppressed TEXT,                             -- why no ticket was opened (silence, maintenance)
    PRIMARY KEY (server_id, key)
) WITHOUT ROWID;

-- Silences and maintenance windows suppress automatic tickets for one server.
CREATE TABLE silences (
    id         INTEGER PRIMARY KEY,
    server_id  INTEGER NOT NULL REFERENCES servers(id),
    kind       TEXT NOT NULL CHECK (kind IN ('silencio', 'mantenimiento')),
    rule       TEXT,                             -- NULL: every rule
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    ended_at   INTEGER                           -- ended early by someone
);
CREATE INDEX silences_by_server ON silences (server_id, ends_at);

CREATE TABLE engine_state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    saved_at INTEGER NOT NULL,
    state    TEXT NOT NULL                       -- rules::EngineState as JSON
);
