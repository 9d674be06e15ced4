-- 0002: call records shipped by the agents (CDR rows and queue_log lines), stored once per row.

-- One row per CDR row of a server, keyed by the row's identity (`CdrRowV1::key`, computed here from
-- the decoded row): a batch delivered twice, or a row shipped again after an agent lost its
-- cursor, changes nothing.
CREATE TABLE cdr (
    server_id     INTEGER NOT NULL REFERENCES servers(id),
    row_key       BLOB NOT NULL,               -- 16 bytes
    calldate      TEXT NOT NULL,               -- the PBX's local time, as its database rendered it
    clid          TEXT NOT NULL,
    src           TEXT NOT NULL,
    dst           TEXT NOT NULL,
    dcontext      TEXT NOT NULL,
    channel       TEXT NOT NULL,
    dstchannel    TEXT NOT NULL,
    lastapp       TEXT NOT NULL,
    lastdata      TEXT NOT NULL,
    duration      INTEGER NOT NULL,
    billsec       INTEGER NOT NULL,
    disposition   TEXT NOT NULL,
    amaflags      TEXT NOT NULL,
    accountcode   TEXT NOT NULL,
    uniqueid      TEXT NOT NULL,
    userfield     TEXT NOT NULL,
    linkedid      TEXT,                        -- NULL: the PBX's table has no such column
    sequence      INTEGER,
    peeraccount   TEXT,
    did           TEXT,
    recordingfile TEXT,
    cnum          TEXT,
    cnam          TEXT,
    outbound_cnum TEXT,
    outbound_cnam TEXT,
    dst_cnam      TEXT,
    extra         TEXT,                        -- JSON object of any other columns; NULL when none
    received_ms   INTEGER NOT NULL,
    PRIMARY KEY (server_id, row_key)
) WITHOUT ROWID;
CREATE INDEX cdr_by_calldate ON cdr (server_id, calldate);

CREATE TABLE queue_log (
    server_id   INTEGER NOT NULL REFERENCES servers(id),
    row_key     BLOB NOT NULL,                 -- `QueueLogEntryV1::key`: file identity and offset
    time        INTEGER NOT NULL,              -- seconds since the epoch
    callid      TEXT NOT NULL,
    queue       TEXT NOT NULL,
    agent       TEXT NOT NULL,
    event       TEXT NOT NULL,
    data        TEXT NOT NULL,                 -- JSON array of the data fields
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (server_id, row_key)
) WITHOUT ROWID;
CREATE INDEX queue_log_by_time ON queue_log (server_id, time);

ALTER TABLE servers ADD COLUMN cdr_rows INTEGER NOT NULL DEFAULT 0;        -- rows in `cdr`
ALTER TABLE servers ADD COLUMN cdr_newest TEXT;                            -- newest calldate stored
ALTER TABLE servers ADD COLUMN queue_log_rows INTEGER NOT NULL DEFAULT 0;  -- rows in `queue_log`
