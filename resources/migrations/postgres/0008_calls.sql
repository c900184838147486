-- Phone calls: what the provider last said about each placed call (mirrors the SQLite store's 0007_calls.sql).
-- The request lives in the outbox row with the same id; this caches status and transcript so a finished
-- call is fetched from the provider once.

CREATE TABLE jarvis.calls (
    action_id        uuid PRIMARY KEY REFERENCES jarvis.outbox(id) ON DELETE CASCADE,
    user_id          uuid NOT NULL REFERENCES jarvis.users(id) ON DELETE CASCADE,
    conversation_id  text NOT NULL,
    status           text NOT NULL,               -- initiated | in_progress | processing | done | failed
    transcript       jsonb NOT NULL DEFAULT '[]', -- list of {role, text, at_seconds}
    summary          text,
    duration_seconds integer,
    ended_reason     text,
    updated_at       double precision NOT NULL
);
CREATE INDEX calls_user ON jarvis.calls(user_id, action_id);

ALTER TABLE jarvis.calls ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON jarvis.calls
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));

INSERT INTO jarvis.app_privileges VALUES
    (8, 'GRANT SELECT, INSERT, UPDATE ON jarvis.calls TO %I');
