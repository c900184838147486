-- Keyword search matches stems (Spanish and English Snowball, accents folded: memory/keywords.py).
-- The stems are computed in Python, so this only clears the layout mark: the store rebuilds memories_fts
-- from memories when it opens (MemoryTables._reindex_keywords), once.
DELETE FROM meta WHERE key = 'fts_layout';
