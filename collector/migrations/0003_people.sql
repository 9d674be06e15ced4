-- 0003: the organisation (dependencias → centros telefónicos → servers), people and their roles,
-- login sessions, API tokens, login throttling, and the hash-chained audit log.

CREATE TABLE dependencias (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE centers (
    id             INTEGER PRIMARY KEY,
    dependencia_id INTEGER NOT NULL REFERENCES dependencias(id),
    name           TEXT NOT NULL UNIQUE
);

-- A server belongs to at most one call center (NULL: not yet placed by an admin).
ALTER TABLE servers ADD COLUMN center_id INTEGER REFERENCES centers(id);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    full_name     TEXT NOT NULL DEFAULT '',
    email         TEXT,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'jefe_uact', 'tecnico', 'jefe_centro', 'director')),
    password_hash TEXT NOT NULL,               -- PHC string, argon2id
    must_change   INTEGER NOT NULL DEFAULT 1,  -- a one-time password: change it at the next login
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL             -- ms since epoch, UTC
);

-- The call centers a jefe_centro answers for (other roles are not scoped).
CREATE TABLE user_centers (
    user_id   INTEGER NOT NULL REFERENCES users(id),
    center_id INTEGER NOT NULL REFERENCES centers(id),
    PRIMARY KEY (user_id, center_id)
) WITHOUT ROWID;

-- Server-side sessions; the cookie holds the token, the table only its SHA-256.
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    csrf       TEXT NOT NULL,                  -- the synchronizer token every form must echo
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL                -- absolute limit
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    name       TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,           -- SHA-256 of the token; the token is shown once
    created_at INTEGER NOT NULL,
    last_used  INTEGER,
    revoked_at INTEGER
);

-- Failed logins, for throttling (per user name and per client address).
CREATE TABLE login_failures (
    key TEXT NOT NULL,                         -- 'user:<name>' or 'ip:<address>'
    at  INTEGER NOT NULL
);
CREATE INDEX login_failures_by_key ON login_failures (key, at);

-- Append-only: every state change, chained by hash (see src/audit.rs).
CREATE TABLE audit (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,                -- ms since epoch, UTC
    actor     TEXT NOT NULL,                   -- a user name, or 'centinela' for automatic changes
    action    TEXT NOT NULL,                   -- e.g. 'ticket.assign', 'user.create'
    object    TEXT NOT NULL,                   -- e.g. 'ticket:12', 'user:ana'
    old       TEXT,                            -- JSON or text before the change
    new       TEXT,                            -- JSON or text after it
    prev_hash BLOB NOT NULL,                   -- hash of the previous row (32 zero bytes for the first)
    hash      BLOB NOT NULL                    -- SHA-256 over prev_hash and this row's fields
);
CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
