-- The local calendar (JARVIS_CALENDAR=local): one user's events, exported as jarvis://me/calendar.ics.
-- The id is chosen from the outbox action that creates the event, so a retried insert finds the first
-- one. Times are epoch seconds; timezone is the IANA zone the event is shown in.

CREATE TABLE events (
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    title       TEXT NOT NULL,
    starts_at   REAL NOT NULL,
    ends_at     REAL NOT NULL,
    timezone    TEXT NOT NULL,
    attendees   TEXT NOT NULL DEFAULT '[]',   -- JSON list of email addresses
    location    TEXT,
    description TEXT,
    created_at  REAL NOT NULL,
    PRIMARY KEY (user_id, id),
    CHECK (ends_at > starts_at)
);
CREATE INDEX events_user_start ON events(user_id, starts_at);
