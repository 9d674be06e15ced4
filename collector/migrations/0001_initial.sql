-- 0001: servers registered on first contact, samples stored idempotently, rejected payloads kept.

CREATE TABLE servers (
    agent_id      TEXT PRIMARY KEY,
    hostname      TEXT,
    agent_version TEXT,
    config_hash   TEXT,
    probes        TEXT,                        -- comma-separated wire names, from the birth message
    interval_ms   INTEGER NOT NULL DEFAULT 10000,
    first_seen    INTEGER NOT NULL,            -- ms since epoch, receive time
    last_seen     INTEGER,                     -- receive time of the newest sample
    last_seq      INTEGER NOT NULL DEFAULT 0,  -- highest seq stored
    samples       INTEGER NOT NULL DEFAULT 0,  -- rows stored in `samples`
    status        TEXT NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'offline', 'stopped', 'stale')),
    status_since  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE samples (
    id          INTEGER PRIMARY KEY,
    agent_id    TEXT NOT NULL REFERENCES servers(agent_id),
    seq         INTEGER NOT NULL,
    taken_ms    INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    payload     BLOB NOT NULL,                 -- the postcard envelope exactly as received
    UNIQUE (agent_id, seq)
);
CREATE INDEX samples_by_time ON samples (agent_id, taken_ms);

CREATE TABLE rejected (
    id          INTEGER PRIMARY KEY,
    received_ms INTEGER NOT NULL,
    topic       TEXT NOT NULL,
    payload     BLOB NOT NULL,                 -- kept whole, so it can be replayed after an upgrade
    error       TEXT NOT NULL
);
