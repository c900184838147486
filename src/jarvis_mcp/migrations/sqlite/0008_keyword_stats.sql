-- Per-user document frequencies of keyword terms (terms are owner-prefixed), read by hybrid search to weight
-- a query's rare words above its common ones. A view over the FTS index: nothing extra is stored or synced.
CREATE VIRTUAL TABLE memories_fts_vocab USING fts5vocab(memories_fts, 'row');
