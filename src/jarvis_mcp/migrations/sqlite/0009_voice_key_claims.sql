-- Every voice-key attempt is counted before its phrase is checked (a conditional UPDATE that refuses
-- once the lock is on), so parallel guesses cannot all slip past a lock check that reads stale state.
-- voice_key_claims numbers those attempts for good: a right phrase forgives the failures counted up to
-- its own attempt, never guesses claimed after it that are still being checked.
ALTER TABLE users ADD COLUMN voice_key_claims INTEGER NOT NULL DEFAULT 0;
