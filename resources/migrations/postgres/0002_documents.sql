-- Documents (mirrors the SQLite store's 0002): metadata and extracted text here, the original bytes in a
-- DocumentStore keyed by sha256. Passages are memories of kind 'document' carrying document_id.

CREATE TABLE jarvis.documents (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES jarvis.users(id) ON DELETE CASCADE,
    title       text NOT NULL,
    filename    text NOT NULL,
    mime_type   text NOT NULL,
    size        bigint NOT NULL,
    sha256      text NOT NULL,
    tags        text[] NOT NULL DEFAULT '{}',
    pages       integer,
    chars       integer NOT NULL,
    chunks      integer,                          -- NULL until every passage is indexed
    search_key  text NOT NULL,                    -- folded title + filename, for list_documents(query)
    text        text NOT NULL,
    created_at  double precision NOT NULL,
    UNIQUE (user_id, sha256),
    UNIQUE (user_id, id)                          -- target of memories' same-user reference
);
CREATE INDEX documents_user ON jarvis.documents(user_id, created_at DESC);

-- No ON DELETE CASCADE, as in SQLite: the store deletes passages first (caches with them), and this
-- reference enforces that order; it also keeps a passage from pointing at another user's document.
ALTER TABLE jarvis.memories ADD COLUMN document_id uuid;
ALTER TABLE jarvis.memories ADD FOREIGN KEY (user_id, document_id) REFERENCES jarvis.documents(user_id, id);
CREATE INDEX memories_document ON jarvis.memories(user_id, document_id, position) WHERE document_id IS NOT NULL;

ALTER TABLE jarvis.documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON jarvis.documents
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));

INSERT INTO jarvis.app_privileges VALUES
    (2, 'GRANT SELECT, INSERT, UPDATE, DELETE ON jarvis.documents TO %I');
