-- 0001: servers registered on first contact, samples stored idempotently, rejected payloads kept.

CREATE TABLE servers (
    id            INTEGER PRIMARY KEY,         -- compact key for the (large) sample tables
    agent_id      TEXT NOT NULL UNIQUE,
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
);

-- One b-tree keyed by (server, seq): the idempotency key is the table's own key, with integer
-- compares (a TEXT agent_id key made the writer spend its time in index lookups).
CREATE TABLE samples (
    server_id   INTEGER NOT NULL REFERENCES servers(id),
    seq         INTEGER NOT NULL,
    taken_ms    INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    payload     BLOB NOT NULL,                 -- the postcard envelope exactly as received
    PRIMARY KEY (server_id, seq)
) WITHOUT ROWID;

CREATE TABLE rejected (
    id          INTEGER PRIMARY KEY,
    received_ms INTEGER NOT NULL,
    topic       TEXT NOT NULL,
    payload     BLOB NOT NULL,                 -- kept whole, so it can be replayed after an upgrade
    error       TEXT NOT NULL
);
