-- 0004: notifications (issue 5): a durable queue of emails and webhook calls about tickets.
-- A row is written in the same transaction as the ticket change it tells about; the delivery
-- worker (collector/src/notify) updates it; nothing deletes it.

CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    created_at      INTEGER NOT NULL,              -- ms since epoch, UTC
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    recipient       TEXT NOT NULL,                 -- email address, or the webhook's name
    subject         TEXT NOT NULL,                 -- also shown on the page for webhook rows
    body            TEXT,                          -- the email's plain text; NULL for a webhook
    payload         TEXT,                          -- the webhook's JSON; NULL for an email
    ticket_id       INTEGER,                       -- no foreign key: the log outlives what it tells about
    event           TEXT NOT NULL,                 -- 'creado', 'asignado', 'cerrado'...
    attempts        INTEGER NOT NULL DEFAULT 0,    -- counted when an attempt starts
    last_attempt_at INTEGER,
    next_attempt_at INTEGER NOT NULL,              -- due when <= now (while not delivered nor given up)
    last_error      TEXT,                          -- in Spanish, shown to people; kept after delivery
    delivered_at    INTEGER,
    given_up_at     INTEGER,
    CHECK ((channel = 'email' AND body IS NOT NULL) OR (channel = 'webhook' AND payload IS NOT NULL))
);

-- The workers' question, "what is due on my channel?", over the rows still open only.
CREATE INDEX notifications_due ON notifications (channel, next_attempt_at)
    WHERE delivered_at IS NULL AND given_up_at IS NULL;
