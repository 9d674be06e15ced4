-- 0008: preventive maintenance (stages 2 and 3). The annual plan is stored as dated instances,
-- generated ahead (one software check per server per month, hardware visits per contract period),
-- so a missed month stays visible. Evidence, attachments, every round of the approval loop and the
-- authorization stamps are append-only.

CREATE TABLE providers (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    contact    TEXT NOT NULL DEFAULT '',
    phone      TEXT NOT NULL DEFAULT '',
    email      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

-- A maintenance contract: the provider visits each covered server every `period_months`, counted
-- from `starts_on`, until `ends_on` (local dates, YYYY-MM-DD).
CREATE TABLE contracts (
    id            INTEGER PRIMARY KEY,
    provider_id   INTEGER NOT NULL REFERENCES providers(id),
    number        TEXT NOT NULL UNIQUE,
    starts_on     TEXT NOT NULL,
    ends_on       TEXT NOT NULL,
    period_months INTEGER NOT NULL CHECK (period_months BETWEEN 1 AND 24),
    notes         TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    CHECK (ends_on >= starts_on)
);

CREATE TABLE contract_servers (
    contract_id INTEGER NOT NULL REFERENCES contracts(id),
    server_id   INTEGER NOT NULL REFERENCES servers(id),
    PRIMARY KEY (contract_id, server_id)
) WITHOUT ROWID;

-- One planned instance: a monthly software check ('software') or a provider's visit ('hardware').
CREATE TABLE maintenance (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('software', 'hardware')),
    year          INTEGER NOT NULL,
    month         INTEGER NOT NULL CHECK (month BETWEEN 1 AND 12),
    server_id     INTEGER NOT NULL REFERENCES servers(id),
    contract_id   INTEGER REFERENCES contracts(id),          -- hardware only
    technician_id INTEGER REFERENCES users(id),
    scheduled_on  TEXT NOT NULL,   -- software: when it is planned; hardware: the visit's date
    due_on        TEXT NOT NULL,   -- done on time = done on or before this local date
    window_start  INTEGER,         -- hardware: the visit window, ms UTC (its alert rules are silenced)
    window_end    INTEGER,
    silence_id    INTEGER REFERENCES silences(id),
    state         TEXT NOT NULL,
    outcome       TEXT,            -- software, once analysed: 'sin_novedad' or 'falla'
    done_at       INTEGER,         -- software: report submitted; hardware: technician's first signature
    ticket_id     INTEGER REFERENCES tickets(id),
    data          TEXT NOT NULL,   -- the checklist or the visit form, notes (JSON)
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    CHECK ((kind = 'hardware') = (contract_id IS NOT NULL))
);
CREATE UNIQUE INDEX maintenance_one_software_per_month ON maintenance (server_id, year, month)
    WHERE kind = 'software';
CREATE UNIQUE INDEX maintenance_one_visit_per_period ON maintenance (contract_id, server_id, year, month)
    WHERE kind = 'hardware';
CREATE INDEX maintenance_by_month ON maintenance (year, month, kind);
CREATE INDEX maintenance_by_technician ON maintenance (technician_id, year, month);

-- What happened to an instance, in order: evidence taken, submitted, analysed, signed, observations,
-- stamped, form edited... `form_hash` is the SHA-256 of the form as it was at that step.
CREATE TABLE maintenance_events (
    maintenance_id INTEGER NOT NULL REFERENCES maintenance(id),
    n              INTEGER NOT NULL,
    at             INTEGER NOT NULL,
    actor          TEXT NOT NULL,
    kind           TEXT NOT NULL,
    text           TEXT NOT NULL DEFAULT '',
    form_hash      BLOB,
    PRIMARY KEY (maintenance_id, n)
) WITHOUT ROWID;

-- The agent's answer to "verificar ahora" (or its absence): the full sample as received, its hash.
CREATE TABLE maintenance_evidence (
    id             INTEGER PRIMARY KEY,
    maintenance_id INTEGER NOT NULL REFERENCES maintenance(id),
    at             INTEGER NOT NULL,
    actor          TEXT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('respuesta', 'sin_respuesta', 'rechazado', 'manual')),
    detail         TEXT NOT NULL DEFAULT '',   -- why there is no sample, or the manual check's note
    sha256         BLOB,                       -- of `payload`
    payload        BLOB                        -- the postcard envelope as the agent sent it
);
CREATE INDEX maintenance_evidence_by_instance ON maintenance_evidence (maintenance_id, at);

-- Files attached to an instance, stored under the data directory by their sha256.
CREATE TABLE maintenance_attachments (
    id             INTEGER PRIMARY KEY,
    maintenance_id INTEGER NOT NULL REFERENCES maintenance(id),
    at             INTEGER NOT NULL,
    actor          TEXT NOT NULL,
    filename       TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size           INTEGER NOT NULL,
    sha256         BLOB NOT NULL
);
CREATE INDEX maintenance_attachments_by_instance ON maintenance_attachments (maintenance_id);

-- The chief's authorization stamp: the exact form content approved, and its hash.
CREATE TABLE maintenance_stamps (
    id             INTEGER PRIMARY KEY,
    maintenance_id INTEGER NOT NULL REFERENCES maintenance(id),
    at             INTEGER NOT NULL,
    actor          TEXT NOT NULL,
    form_hash      BLOB NOT NULL,
    form           TEXT NOT NULL
);
CREATE INDEX maintenance_stamps_by_instance ON maintenance_stamps (maintenance_id, at);

CREATE TRIGGER maintenance_events_no_update BEFORE UPDATE ON maintenance_events
BEGIN SELECT RAISE(ABORT, 'maintenance history is append-only'); END;
CREATE TRIGGER maintenance_events_no_delete BEFORE DELETE ON maintenance_events
BEGIN SELECT RAISE(ABORT, 'maintenance history is append-only'); END;
CREATE TRIGGER maintenance_evidence_no_update BEFORE UPDATE ON maintenance_evidence
BEGIN SELECT RAISE(ABORT, 'maintenance evidence is immutable'); END;
CREATE TRIGGER maintenance_evidence_no_delete BEFORE DELETE ON maintenance_evidence
BEGIN SELECT RAISE(ABORT, 'maintenance evidence is immutable'); END;
CREATE TRIGGER maintenance_attachments_no_update BEFORE UPDATE ON maintenance_attachments
BEGIN SELECT RAISE(ABORT, 'attachments are immutable'); END;
CREATE TRIGGER maintenance_attachments_no_delete BEFORE DELETE ON maintenance_attachments
BEGIN SELECT RAISE(ABORT, 'attachments are immutable'); END;
CREATE TRIGGER maintenance_stamps_no_update BEFORE UPDATE ON maintenance_stamps
BEGIN SELECT RAISE(ABORT, 'authorization stamps are immutable'); END;
CREATE TRIGGER maintenance_stamps_no_delete BEFORE DELETE ON maintenance_stamps
BEGIN SELECT RAISE(ABORT, 'authorization stamps are immutable'); END;
