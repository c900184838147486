-- `jarvis-mcp reindex` (run as the tables' owner, like migrate): the next embedding model's vectors kept
-- beside the active ones until one transaction copies them over and records the model. What is here is
-- what is done, so a run stopped anywhere resumes. No foreign key to memories: the new vector of a memory
-- deleted during the run must be seen (and dropped) at the switch, so an external index drops it too.
-- Where pgvector is enabled the reindex adds an embedding_vec column here, as migrate does on memories.
CREATE TABLE jarvis.reindex_memories (
    seq       bigint PRIMARY KEY,                 -- jarvis.memories.seq
    user_id   uuid NOT NULL,
    embedding bytea NOT NULL                      -- float32 little-endian, the next model's dimension
);

-- for_updated: the contact's updated_at the vector was made for; a contact edited since is embedded again.
CREATE TABLE jarvis.reindex_contacts (
    contact_seq  bigint PRIMARY KEY REFERENCES jarvis.contacts(seq) ON DELETE CASCADE,
    user_id      uuid NOT NULL,
    notes_vector bytea NOT NULL,
    for_updated  double precision NOT NULL
);

-- Per-user rows like every other table, under Row Level Security. Only the owner's reindex writes them;
-- the app role may read its user's rows (what the two-user RLS suite checks), nothing more.
ALTER TABLE jarvis.reindex_memories ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON jarvis.reindex_memories
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
ALTER TABLE jarvis.reindex_contacts ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON jarvis.reindex_contacts
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));

INSERT INTO jarvis.app_privileges VALUES
    (12, 'GRANT SELECT ON jarvis.reindex_memories, jarvis.reindex_contacts TO %I');
