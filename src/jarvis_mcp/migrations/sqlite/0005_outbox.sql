-- The outbox: every action on the world is written here before any provider is called, so a retry
-- finds the first attempt (idempotency) and a crash leaves a row to recover instead of a lost or
-- doubled action. Sensitive actions wait here, sealed, until confirmed.

CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,                -- send_email, schedule_event, call_contact, forget_memories, ...
    idempotency_key TEXT NOT NULL,
    args_hash       TEXT NOT NULL,                -- for keys derived from the arguments within a window
    arguments       TEXT NOT NULL,                -- JSON; never shown to or changed by the model after sealing
    summary         TEXT NOT NULL,                -- what a person is asked to confirm
    sensitive       TEXT,                         -- JSON list of reasons; NULL when no confirmation is needed
    status          TEXT NOT NULL,                -- pending_confirmation | queued | sending | sent | not_delivered | failed | cancelled | expired
    provider        TEXT,
    provider_ref    TEXT,
    result          TEXT,                         -- JSON
    error           TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    expires_at      REAL,                         -- pending confirmations only
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX outbox_user ON outbox(user_id, created_at DESC);
CREATE INDEX outbox_args ON outbox(user_id, args_hash, created_at);
CREATE INDEX outbox_status ON outbox(status, updated_at);

ALTER TABLE users ADD COLUMN voice_key_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN voice_key_locked_until REAL;
