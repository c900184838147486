-- Who took part in what (issue 13): one row per (party, kind, ref). party is a contact id, or the raw
-- address (email lower case, E.164 phone) of someone who is no contact. Read newest first per party.
CREATE TABLE interactions (
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    party    TEXT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('memory', 'conversation', 'email', 'event', 'call')),
    ref      TEXT NOT NULL,
    at       REAL NOT NULL,
    summary  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, party, kind, ref)
);
CREATE INDEX interactions_party_at ON interactions (user_id, party, at DESC);
