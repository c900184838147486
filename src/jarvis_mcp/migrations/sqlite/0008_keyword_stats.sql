-- Document frequencies of keyword terms, read by hybrid search to weight a query's rare words above its
-- common ones. A view over the FTS index itself: nothing extra is stored or kept in sync.
CREATE VIRTUAL TABLE memories_fts_vocab USING fts5vocab(memories_fts, 'row');
