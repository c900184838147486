-- Contacts and clients, the per-user credential store and provider sync state.
-- Like everything else: every row carries user_id and every statement filters on it.

CREATE TABLE contacts (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,                -- public id (uuid)
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    name_folded  TEXT NOT NULL,                       -- case and accents folded: ordering, exact-name dedup
    emails       TEXT NOT NULL DEFAULT '[]',          -- JSON array, lower-case; mirrored in contact_emails
    phones       TEXT NOT NULL DEFAULT '[]',          -- JSON array, E.164; mirrored in contact_phones
    company      TEXT,
    role         TEXT,
    tags         TEXT NOT NULL DEFAULT '[]',          -- JSON array
    notes        TEXT,
    relationship TEXT,
    source       TEXT NOT NULL CHECK (source IN ('manual', 'google', 'import')),
    source_id    TEXT,                                -- the provider's id (People resourceName, vCard UID)
    agent_id     TEXT,                                -- per-contact voice agent, filled by the calls issue
    voice        TEXT,
    personality  TEXT,
    notes_vector BLOB,                                -- float32 embedding of notes, for semantic matching
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL
);
CREATE UNIQUE INDEX contacts_source ON contacts(user_id, source, source_id) WHERE source_id IS NOT NULL;
CREATE INDEX contacts_user_name ON contacts(user_id, name_folded, id);

-- Exact email / phone lookups per user: how a save or an import finds the contact it updates.
CREATE TABLE contact_emails (
    user_id    TEXT NOT NULL,
    email      TEXT NOT NULL,
    contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, email, contact_id)
) WITHOUT ROWID;
CREATE INDEX contact_emails_contact ON contact_emails(contact_id);

CREATE TABLE contact_phones (
    user_id    TEXT NOT NULL,
    e164       TEXT NOT NULL,
    digits     TEXT NOT NULL,                         -- e164 without '+'
    contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, e164, contact_id)
) WITHOUT ROWID;
CREATE INDEX contact_phones_contact ON contact_phones(contact_id);

-- Bumped with every contact write: in-memory search indexes compare it to know they are current.
CREATE TABLE contact_versions (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    version INTEGER NOT NULL
) WITHOUT ROWID;

-- Provider credentials (OAuth refresh tokens), encrypted by the application before they get here.
CREATE TABLE credentials (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider   TEXT NOT NULL,
    secret     BLOB NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (user_id, provider)
) WITHOUT ROWID;

CREATE TABLE sync_state (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider   TEXT NOT NULL,
    sync_token TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (user_id, provider)
) WITHOUT ROWID;
