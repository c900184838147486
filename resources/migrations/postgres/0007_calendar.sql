-- The local calendar (JARVIS_CALENDAR=local) in Postgres: the same table as
-- src/jarvis_mcp/migrations/sqlite/0006_calendar.sql. The id is chosen from the outbox action that
-- creates the event, so a retried insert finds the first one.

CREATE TABLE jarvis.events (
    user_id     uuid NOT NULL REFERENCES jarvis.users(id) ON DELETE CASCADE,
    id          text NOT NULL,
    title       text NOT NULL,
    starts_at   double precision NOT NULL,
    ends_at     double precision NOT NULL,
    timezone    text NOT NULL,
    attendees   text[] NOT NULL DEFAULT '{}',      -- email addresses
    location    text,
    description text,
    created_at  double precision NOT NULL,
    PRIMARY KEY (user_id, id),
    CHECK (ends_at > starts_at)
);
CREATE INDEX events_user_start ON jarvis.events(user_id, starts_at);

ALTER TABLE jarvis.events ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON jarvis.events
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));

INSERT INTO jarvis.app_privileges VALUES
    (7, 'GRANT SELECT, INSERT, DELETE ON jarvis.events TO %I');
