-- Usage limits per user: the tier, and any of its numbers overridden for this one user (NULL: the
-- tier's). Tiers and their numbers live in settings (JARVIS_TIERS); a user without a row is on the
-- default tier. Set by the operator (`SqliteStore.set_user_limits`), read on every metered tool call.

CREATE TABLE user_limits (
    user_id          TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    tier             TEXT NOT NULL,
    read_per_minute  INTEGER CHECK (read_per_minute >= 0),
    read_daily       INTEGER CHECK (read_daily >= 0),
    read_monthly     INTEGER CHECK (read_monthly >= 0),
    write_per_minute INTEGER CHECK (write_per_minute >= 0),
    write_daily      INTEGER CHECK (write_daily >= 0),
    write_monthly    INTEGER CHECK (write_monthly >= 0),
    updated_at       REAL NOT NULL
);
