-- Keyword search matches stems (Spanish and English Snowball, accents folded: memory/keywords.py), as on
-- SQLite. The stems are computed in Python, so this marks every existing row with the keyword form it
-- was indexed with (0: the folded words of before); `jarvis-mcp migrate` then rewrites tsv for the rows
-- behind the current form, in batches (adapters/postgres/migrate.py, _rebuild_keywords). New rows are
-- written with the current form.
ALTER TABLE jarvis.memories ADD COLUMN IF NOT EXISTS keyword_form smallint NOT NULL DEFAULT 0;
