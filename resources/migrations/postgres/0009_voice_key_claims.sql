-- The voice key's attempts are claimed before the phrase is checked (mirrors the SQLite store's
-- 0009_voice_key_claims.sql).
--
-- One conditional UPDATE counts an attempt and refuses it once the lock is on, so parallel guesses from
-- any number of processes cannot all pass a lock check that read stale state: at most five phrases are
-- checked per lockout window. voice_key_claims numbers the attempts for good, so a right phrase forgives
-- the failures counted up to its own attempt and not guesses claimed after it that are still in flight.
-- The column sits on jarvis.users, whose own_rows policy (0001) already limits it to the caller's row.

ALTER TABLE jarvis.users ADD COLUMN voice_key_claims bigint NOT NULL DEFAULT 0;

INSERT INTO jarvis.app_privileges VALUES
    (9, 'GRANT UPDATE (voice_key_claims) ON jarvis.users TO %I');
