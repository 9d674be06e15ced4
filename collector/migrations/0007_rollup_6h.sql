-- 0007: 6-hour rollups for the 1-year charts, which drew 6-hour points merged from rollup_1h at read
-- time (315,000 rows for one server's default charts; bench/RESULTS.md, issue 6). The rollup job
-- (store/rollup.rs) computes these from the samples, like the hourly ones, and the purge keeps them
-- as long as the hourly ones (`[retention] hourly`).

-- The same as rollup_1h per 6 hours: `bucket` a multiple of 21600 (00, 06, 12 and 18 h UTC).
CREATE TABLE rollup_6h (
    series_id INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    min       REAL NOT NULL,
    max       REAL NOT NULL,
    sum       REAL NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket)
) WITHOUT ROWID;

-- An upgraded collector's year charts are complete at once: the history so far is merged exactly
-- from the hourly buckets (min of mins, max of maxes, sums and counts added). Samples not yet
-- rolled up are past rollup_cursor and reach both tables through the job. Only each series' oldest
-- 6-hour bucket can be partial (its first hours already purged from rollup_1h): it straddles the
-- start of the window, and the purge removes it within 6 hours.
INSERT INTO rollup_6h (series_id, bucket, min, max, sum, count)
SELECT series_id, bucket / 21600 * 21600, min(min), max(max), sum(sum), sum(count)
FROM rollup_1h
GROUP BY series_id, bucket / 21600 * 21600;
