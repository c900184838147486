-- Who took part in what (issue 13): one row per (party, kind, ref). party is a contact id, or the raw
-- address (email lower case, E.164 phone) of someone who is no contact. Rows are the user's, under RLS.
CREATE TABLE jarvis.interactions (
    user_id  uuid NOT NULL REFERENCES jarvis.users(id) ON DELETE CASCADE,
    party    text NOT NULL,
    kind     text NOT NULL CHECK (kind IN ('memory', 'conversation', 'email', 'event', 'call')),
    ref      text NOT NULL,
    at       double precision NOT NULL,
    summary  text NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, party, kind, ref)
);
CREATE INDEX interactions_party_at ON jarvis.interactions (user_id, party, at DESC);

ALTER TABLE jarvis.interactions ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON jarvis.interactions
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));

INSERT INTO jarvis.app_privileges VALUES
    (15, 'GRANT SELECT, INSERT, UPDATE, DELETE ON jarvis.interactions TO %I');
