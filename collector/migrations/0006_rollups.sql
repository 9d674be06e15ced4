-- 0006: history for the charts. Samples are rolled up in the background (store/rollup.rs) into
-- 5-minute and hourly buckets of min, max, sum and count per series; each table is purged after its
-- retention window (`[retention]`).

-- One charted quantity of one server: `metric` is a fixed word (`temperature`, `fs_used_percent`,
-- ...), `subject` says which one (a sensor, a mount point, a queue; '' when there is only one).
-- Interned so that each rollup row carries a small integer instead of two strings.
CREATE TABLE series (
    id        INTEGER PRIMARY KEY,
    server_id INTEGER NOT NULL REFERENCES servers(id),
    metric    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    UNIQUE (server_id, metric, subject)
);

-- `bucket` is the bucket's start in seconds since the epoch (UTC), a multiple of 300; REAL columns
-- holding whole numbers (rpm, counters, 0/1) are stored by SQLite as small integers.
CREATE TABLE rollup_5m (
    series_id INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    min       REAL NOT NULL,
    max       REAL NOT NULL,
    sum       REAL NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket)
) WITHOUT ROWID;

-- The same per hour (`bucket` a multiple of 3600), computed from the samples, not from rollup_5m.
CREATE TABLE rollup_1h (
    series_id INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    min       REAL NOT NULL,
    max       REAL NOT NULL,
    sum       REAL NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket)
) WITHOUT ROWID;

-- How far each server's samples have been rolled up: every stored sample with seq <= `seq` is in
-- the rollups. Advanced in the same transaction as the rollups it accounts for.
CREATE TABLE rollup_cursor (
    server_id INTEGER PRIMARY KEY REFERENCES servers(id),
    seq       INTEGER NOT NULL
);
