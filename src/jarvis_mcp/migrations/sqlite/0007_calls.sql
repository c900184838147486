-- Phone calls: what the provider last said about each placed call (status, transcript), cached so a
-- finished call is read once. The request itself lives in the outbox row (same id): get_call joins them.

CREATE TABLE calls (
    action_id        TEXT PRIMARY KEY REFERENCES outbox(id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    conversation_id  TEXT NOT NULL,               -- the provider's id of the call
    status           TEXT NOT NULL,               -- initiated | in_progress | processing | done | failed
    transcript       TEXT NOT NULL DEFAULT '[]',  -- JSON list of {role, text, at_seconds}
    summary          TEXT,
    duration_seconds INTEGER,
    ended_reason     TEXT,
    updated_at       REAL NOT NULL
);
CREATE INDEX calls_user ON calls(user_id, action_id);
