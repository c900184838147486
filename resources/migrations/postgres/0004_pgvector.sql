-- pgvector, where the database has it: a vector copy of each memory's embedding for the pgvector index.
-- The column has no fixed dimension (the store's embedding-model guard fixes it per database), so
-- searches are exact scans over one user's rows: filters apply before ranking and recall is always 1.
-- jarvis.enable_pgvector() is idempotent and `jarvis-mcp migrate` calls it on every run, so installing
-- the extension later and migrating again turns it on (and migrate fills in the existing rows).

CREATE FUNCTION jarvis.enable_pgvector() RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ext_schema text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
        IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
            RETURN false;
        END IF;
        CREATE EXTENSION vector;
    END IF;
    SELECT n.nspname INTO ext_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'vector';
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'jarvis.memories'::regclass
                   AND attname = 'embedding_vec' AND NOT attisdropped) THEN
        EXECUTE format('ALTER TABLE jarvis.memories ADD COLUMN embedding_vec %I.vector', ext_schema);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM jarvis.app_privileges WHERE migration = 4) THEN
        INSERT INTO jarvis.app_privileges
        VALUES (4, format('GRANT USAGE ON SCHEMA %I TO %%I', ext_schema));
    END IF;
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION jarvis.enable_pgvector() FROM PUBLIC;
