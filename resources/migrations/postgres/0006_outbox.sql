-- The outbox and the voice key's lockout (mirrors the SQLite store's 0005_outbox.sql).
--
-- Every action on the world is written here before any provider is called, so a retry finds the first
-- attempt (idempotency) and a crash leaves a row to recover instead of a lost or doubled action.
-- Sensitive actions wait here, sealed, until confirmed. Status changes are compare-and-set UPDATEs
-- (`... WHERE status IN (...) RETURNING`), so one action runs once however many processes race.

CREATE TABLE jarvis.outbox (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES jarvis.users(id) ON DELETE CASCADE,
    kind            text NOT NULL,                -- send_email, schedule_event, call_contact, forget_memories, ...
    idempotency_key text NOT NULL,
    args_hash       text NOT NULL,                -- for keys derived from the arguments within a window
    arguments       jsonb NOT NULL,               -- never shown to or changed by the model after sealing
    summary         text NOT NULL,                -- what a person is asked to confirm
    sensitive       text[],                       -- reasons; NULL when no confirmation is needed
    status          text NOT NULL,                -- pending_confirmation | queued | sending | sent | not_delivered | completed | failed | cancelled | expired
    provider        text,
    provider_ref    text,
    result          jsonb,
    error           text,
    attempts        integer NOT NULL DEFAULT 0,
    created_at      double precision NOT NULL,
    updated_at      double precision NOT NULL,
    expires_at      double precision,             -- pending confirmations only
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX outbox_user ON jarvis.outbox(user_id, created_at DESC);
CREATE INDEX outbox_args ON jarvis.outbox(user_id, args_hash, created_at);
CREATE INDEX outbox_unfinished ON jarvis.outbox(updated_at) WHERE status IN ('queued', 'sending');

ALTER TABLE jarvis.outbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON jarvis.outbox
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));

ALTER TABLE jarvis.users ADD COLUMN voice_key_failures integer NOT NULL DEFAULT 0;
ALTER TABLE jarvis.users ADD COLUMN voice_key_locked_until double precision;

-- Recovery at start-up is the one read across users: which actions did a crash leave queued or
-- sending? No claims can be set for "every user", so, like resolve_identity, a SECURITY DEFINER
-- function owned by the migrating role answers it, and only with (user, action) ids: the server then
-- reads each action in a transaction carrying its owner's claims, so RLS still guards the arguments,
-- summaries and results. Executable by the app role only.
CREATE FUNCTION jarvis.outbox_unfinished(p_older_than double precision)
RETURNS TABLE (user_id uuid, action_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT o.user_id, o.id FROM jarvis.outbox o
    WHERE o.status IN ('queued', 'sending') AND o.updated_at < p_older_than
    ORDER BY o.created_at
$$;
REVOKE ALL ON FUNCTION jarvis.outbox_unfinished(double precision) FROM PUBLIC;

-- No DELETE: the outbox is the audit of what was done for the user; rows go with the user only.
INSERT INTO jarvis.app_privileges VALUES
    (6, 'GRANT SELECT, INSERT, UPDATE ON jarvis.outbox TO %I'),
    (6, 'GRANT UPDATE (voice_key_failures, voice_key_locked_until) ON jarvis.users TO %I'),
    (6, 'GRANT EXECUTE ON FUNCTION jarvis.outbox_unfinished(double precision) TO %I');
