-- 0010: `cdr` and `queue_log` stored in time order per server (issue 8, monthly reports).
--
-- Their rows were keyed by `(server_id, row_key)`, a hash, with `(server_id, calldate)` and
-- `(server_id, time)` as secondary indexes. Reading a month through such an index looks every
-- row up in the table at a random place: 5 s for a month of 1,000,000 CDR rows (3 µs a row of
-- b-tree descent, measured with bench/reports.sh), against 0.7 s when the month's rows lie
-- together. So the primary keys become `(server_id, calldate, row_key)` and
-- `(server_id, time, row_key)`, which serve the time-range reads the old indexes served, and
-- `(server_id, row_key)` stays unique through an index of its own, which is what the writer's
-- `ON CONFLICT (server_id, row_key) DO NOTHING` needs: a row delivered twice is still stored once.
-- The rows are copied in the new order: about 10 s per million rows, once, at the upgrade.

CREATE TABLE cdr_in_time_order (
    server_id     INTEGER NOT NULL REFERENCES servers(id),
    row_key       BLOB NOT NULL,               -- 16 bytes, `CdrRowV1::key`
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
    PRIMARY KEY (server_id, calldate, row_key)
) WITHOUT ROWID;
INSERT INTO cdr_in_time_order
    SELECT server_id, row_key, calldate, clid, src, dst, dcontext, channel, dstchannel, lastapp, lastdata, duration,
           billsec, disposition, amaflags, accountcode, uniqueid, userfield, linkedid, sequence, peeraccount, did,
           recordingfile, cnum, cnam, outbound_cnum, outbound_cnam, dst_cnam, extra, received_ms
    FROM cdr ORDER BY server_id, calldate, row_key;
DROP TABLE cdr;
ALTER TABLE cdr_in_time_order RENAME TO cdr;
CREATE UNIQUE INDEX cdr_by_key ON cdr (server_id, row_key);

CREATE TABLE queue_log_in_time_order (
    server_id   INTEGER NOT NULL REFERENCES servers(id),
    row_key     BLOB NOT NULL,                 -- `QueueLogEntryV1::key`: file identity and offset
    time        INTEGER NOT NULL,              -- seconds since the epoch
    callid      TEXT NOT NULL,
    queue       TEXT NOT NULL,
    agent       TEXT NOT NULL,
    event       TEXT NOT NULL,
    data        TEXT NOT NULL,                 -- JSON array of the data fields
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (server_id, time, row_key)
) WITHOUT ROWID;
INSERT INTO queue_log_in_time_order
    SELECT server_id, row_key, time, callid, queue, agent, event, data, received_ms
    FROM queue_log ORDER BY server_id, time, row_key;
DROP TABLE queue_log;
ALTER TABLE queue_log_in_time_order RENAME TO queue_log;
CREATE UNIQUE INDEX queue_log_by_key ON queue_log (server_id, row_key);
