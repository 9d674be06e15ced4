-- 0011: one call's CDR rows found by its identity (issue 8, recording QA).
--
-- A report's QA sample opens each sampled call's CDR rows (`COALESCE(linkedid, uniqueid)`) and
-- plays its recording (the row whose `uniqueid` is the call's). Without these indexes each lookup
-- read every CDR row of the server: a month of a busy call center is a million rows, and a page of
-- thirty sampled calls was thirty such reads. With them, each lookup is a few b-tree descents.
-- `cdr` is a WITHOUT ROWID table, so each entry carries the primary key too; the CDR is a small
-- part of the database next to the samples.

CREATE INDEX cdr_by_linkedid ON cdr (server_id, linkedid);
CREATE INDEX cdr_by_uniqueid ON cdr (server_id, uniqueid);
