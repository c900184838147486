-- Documents: metadata and extracted text here; the original bytes in a DocumentStore (files under
-- JARVIS_HOME or Supabase Storage), keyed by sha256. Passages are memories of kind 'document' carrying
-- document_id, so search_memory finds them through the same FTS5 + vector path as every other memory.

CREATE TABLE documents (
    id          TEXT PRIMARY KEY,                 -- uuid, public
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    filename    TEXT NOT NULL,                    -- sanitised: no separators, no control characters
    mime_type   TEXT NOT NULL,                    -- detected from the bytes, not trusted from the caller
    size        INTEGER NOT NULL,                 -- bytes of the original
    sha256      TEXT NOT NULL,                    -- hex; also the key in the DocumentStore
    tags        TEXT NOT NULL DEFAULT '[]',       -- JSON array, copied onto every passage
    pages       INTEGER,                          -- PDFs only
    chars       INTEGER NOT NULL,                 -- length of the extracted text
    chunks      INTEGER,                          -- NULL until every passage is indexed (see add_document)
    search_key  TEXT NOT NULL,                    -- folded title + filename, for list_documents(query)
    text        TEXT NOT NULL,                    -- the extracted text, for get_document and the resource
    created_at  REAL NOT NULL,
    UNIQUE (user_id, sha256)
);
CREATE INDEX documents_user ON documents(user_id, created_at DESC);

-- No ON DELETE CASCADE: a passage also lives in memories_fts and memories_vec, which a cascade would not
-- reach; the store deletes passages through delete_memories first, and this reference enforces that order.
ALTER TABLE memories ADD COLUMN document_id TEXT REFERENCES documents(id);
CREATE INDEX memories_document ON memories(user_id, document_id, position) WHERE document_id IS NOT NULL;
