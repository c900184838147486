-- The embedded store. Every user-owned row carries user_id and every query filters on it.
-- Times are unix epoch seconds (REAL) so range filters are plain comparisons.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,              -- uuid
    name           TEXT,
    pronouns       TEXT,
    timezone       TEXT,
    locale         TEXT,
    preferences    TEXT NOT NULL DEFAULT '{}',    -- JSON object
    voice_key_hash TEXT,                          -- Argon2id, set by the actions issue
    index_version  INTEGER NOT NULL DEFAULT 0,    -- bumped with every memory write; cache validity
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL
);

CREATE TABLE identities (
    issuer       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_method  TEXT NOT NULL,
    email        TEXT,                            -- only a verified email is recorded
    created_at   REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX identities_user ON identities(user_id);
CREATE INDEX identities_email ON identities(email) WHERE email IS NOT NULL;

CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title      TEXT,
    started_at REAL NOT NULL,
    turns      INTEGER NOT NULL
);
CREATE INDEX conversations_user ON conversations(user_id, started_at DESC);

CREATE TABLE memories (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: shared with FTS, vectors, caches
    id              TEXT NOT NULL UNIQUE,         -- public id
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    text            TEXT NOT NULL,
    tags            TEXT NOT NULL DEFAULT '[]',   -- JSON array, mirrored in memory_tags for filtering
    content_hash    TEXT NOT NULL,
    occurred_at     REAL,
    created_at      REAL NOT NULL,
    ts              REAL NOT NULL,                -- occurred_at, else created_at: what time filters use
    conversation_id TEXT REFERENCES conversations(id) ON DELETE CASCADE,
    role            TEXT,
    position        INTEGER,
    UNIQUE (user_id, content_hash)
);
CREATE INDEX memories_user_ts ON memories(user_id, ts);
CREATE INDEX memories_user_kind ON memories(user_id, kind, ts);
CREATE INDEX memories_conversation ON memories(conversation_id, position);

CREATE TABLE memory_tags (
    user_id    TEXT NOT NULL,
    tag        TEXT NOT NULL,
    memory_seq INTEGER NOT NULL REFERENCES memories(seq) ON DELETE CASCADE,
    PRIMARY KEY (user_id, tag, memory_seq)
) WITHOUT ROWID;

-- owner holds one token per user so a keyword query intersects with the caller's rows inside FTS5
-- instead of ranking every user's matches and discarding most of them.
CREATE VIRTUAL TABLE memories_fts USING fts5(
    owner, text,
    content='', contentless_delete=1,
    tokenize='unicode61 remove_diacritics 2'
);

CREATE TABLE actions (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tool        TEXT NOT NULL,
    arguments   TEXT NOT NULL,                    -- JSON, secrets redacted
    status      TEXT NOT NULL,                    -- ok | error
    error       TEXT,
    created_at  REAL NOT NULL,
    duration_ms REAL NOT NULL
);
CREATE INDEX actions_user ON actions(user_id, created_at DESC);

CREATE TABLE usage (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day     TEXT NOT NULL,                        -- YYYY-MM-DD, UTC
    tool    TEXT NOT NULL,
    calls   INTEGER NOT NULL,
    errors  INTEGER NOT NULL,
    PRIMARY KEY (user_id, day, tool)
) WITHOUT ROWID;
