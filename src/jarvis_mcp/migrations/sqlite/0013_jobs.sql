-- Long work kept in a queue (jobs/): a worker claims a row under a lease (lease_owner, lease_until) and
-- renews it with each progress report; a row left `running` past its lease is claimed again by another.
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    done        INTEGER NOT NULL DEFAULT 0,
    total       INTEGER,
    message     TEXT NOT NULL DEFAULT '',
    result      TEXT,
    error       TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    not_before  REAL,                      -- a deferred retry (provider down) waits until then
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX jobs_user ON jobs (user_id, created_at);
-- What a worker scans: the unfinished rows only.
CREATE INDEX jobs_waiting ON jobs (created_at) WHERE status IN ('queued', 'running');
