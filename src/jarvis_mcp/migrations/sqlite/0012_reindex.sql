-- `jarvis-mcp reindex`: contact notes embedded with the next model, kept beside the active ones until the
-- switch copies them over. (The memories' next vectors live in a second sqlite-vec table, memories_vec_N,
-- created by the reindex with the next model's dimension; meta 'vector_table' names the active one.)
-- for_updated is the contact's updated_at the vector was made for: a contact edited since is embedded again.
CREATE TABLE reindex_contacts (
    contact_seq  INTEGER PRIMARY KEY REFERENCES contacts(seq) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    notes_vector BLOB NOT NULL,
    for_updated  REAL NOT NULL
);
