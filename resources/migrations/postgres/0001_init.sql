-- jarvis-mcp on PostgreSQL / Supabase: users, identities, memories, conversations, actions, usage.
--
-- Run by `jarvis-mcp migrate` as the role that will own the tables (on Supabase: `postgres`). The server
-- connects as another role (`jarvis-mcp migrate --app-role NAME`, or `SELECT jarvis.grant_app('NAME')`)
-- that does not own the tables, so Row Level Security applies to every statement it runs: each
-- transaction sets `request.jwt.claims` to {"sub": "<user uuid>"} and the policies compare user_id with
-- auth.uid(), Supabase's convention. A query that forgot its user filter still sees one user's rows.
--
-- The tables live in their own schema, not in `public`: Supabase's Data API exposes `public` to
-- browser-held keys, and these tables are for this server only.
-- Times are unix epoch seconds (double precision), as in the SQLite store.

CREATE SCHEMA IF NOT EXISTS jarvis;

-- Supabase has auth.uid(); elsewhere a compatible one reads the same setting.
CREATE SCHEMA IF NOT EXISTS auth;
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'auth' AND p.proname = 'uid' AND p.pronargs = 0
    ) THEN
        EXECUTE $fn$
            CREATE FUNCTION auth.uid() RETURNS uuid
            LANGUAGE sql STABLE
            AS $body$
                SELECT nullif(nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub', '')::uuid
            $body$
        $fn$;
        EXECUTE 'GRANT USAGE ON SCHEMA auth TO PUBLIC';
        EXECUTE 'GRANT EXECUTE ON FUNCTION auth.uid() TO PUBLIC';
    END IF;
END
$$;

-- Global settings (the embedding model the stored vectors come from). Not per user: no RLS; the app
-- role may read it and record the model once, never change it.
CREATE TABLE jarvis.meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE jarvis.users (
    id             uuid PRIMARY KEY,
    name           text,
    pronouns       text,
    timezone       text,
    locale         text,
    preferences    jsonb NOT NULL DEFAULT '{}',
    voice_key_hash text,
    index_version  bigint NOT NULL DEFAULT 0,     -- bumped with every memory write; cache validity
    created_at     double precision NOT NULL,
    updated_at     double precision NOT NULL
);

CREATE TABLE jarvis.identities (
    issuer       text NOT NULL,
    subject      text NOT NULL,
    user_id      uuid NOT NULL REFERENCES jarvis.users(id) ON DELETE CASCADE,
    auth_method  text NOT NULL,
    email        text,                            -- only a verified email is recorded
    created_at   double precision NOT NULL,
    last_seen_at double precision NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX identities_user ON jarvis.identities(user_id);
CREATE INDEX identities_email ON jarvis.identities(email) WHERE email IS NOT NULL;

CREATE TABLE jarvis.conversations (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES jarvis.users(id) ON DELETE CASCADE,
    title      text,
    started_at double precision NOT NULL,
    turns      integer NOT NULL,
    UNIQUE (user_id, id)                          -- target of memories' same-user reference
);
CREATE INDEX conversations_user ON jarvis.conversations(user_id, started_at DESC);

CREATE TABLE jarvis.memories (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- shared with caches and vector indexes
    id              uuid NOT NULL UNIQUE,
    user_id         uuid NOT NULL REFERENCES jarvis.users(id) ON DELETE CASCADE,
    kind            text NOT NULL,
    text            text NOT NULL,
    tags            text[] NOT NULL DEFAULT '{}',
    content_hash    text NOT NULL,
    occurred_at     double precision,
    created_at      double precision NOT NULL,
    ts              double precision NOT NULL,    -- occurred_at, else created_at: what time filters use
    conversation_id uuid,
    role            text,
    position        integer,
    -- Keywords: the text folded (case, accents) by the application, so matching is the same with or
    -- without the unaccent extension, and the same as the SQLite store's.
    tsv             tsvector NOT NULL,
    embedding       bytea NOT NULL,               -- float32 little-endian; the numpy index reads it
    UNIQUE (user_id, content_hash),
    -- A memory can only belong to a conversation of the same user.
    FOREIGN KEY (user_id, conversation_id) REFERENCES jarvis.conversations(user_id, id) ON DELETE CASCADE
);
CREATE INDEX memories_user_seq ON jarvis.memories(user_id, seq);
CREATE INDEX memories_user_ts ON jarvis.memories(user_id, ts);
CREATE INDEX memories_user_kind ON jarvis.memories(user_id, kind, ts);
CREATE INDEX memories_conversation ON jarvis.memories(conversation_id, position) WHERE conversation_id IS NOT NULL;
CREATE INDEX memories_tsv ON jarvis.memories USING gin (tsv);
CREATE INDEX memories_tags ON jarvis.memories USING gin (tags);

CREATE TABLE jarvis.actions (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES jarvis.users(id) ON DELETE CASCADE,
    tool        text NOT NULL,
    arguments   json NOT NULL,                    -- json, not jsonb: any string the caller sent is kept
    status      text NOT NULL,                    -- ok | error
    error       text,
    created_at  double precision NOT NULL,
    duration_ms double precision NOT NULL
);
CREATE INDEX actions_user ON jarvis.actions(user_id, created_at DESC);

CREATE TABLE jarvis.usage (
    user_id uuid NOT NULL REFERENCES jarvis.users(id) ON DELETE CASCADE,
    day     text NOT NULL,                        -- YYYY-MM-DD, UTC
    tool    text NOT NULL,
    calls   integer NOT NULL,
    errors  integer NOT NULL,
    PRIMARY KEY (user_id, day, tool)
);

-- Row Level Security: (select auth.uid()) is evaluated once per statement, not once per row.
ALTER TABLE jarvis.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON jarvis.users USING (id = (SELECT auth.uid())) WITH CHECK (id = (SELECT auth.uid()));
ALTER TABLE jarvis.identities ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON jarvis.identities
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
ALTER TABLE jarvis.conversations ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON jarvis.conversations
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
ALTER TABLE jarvis.memories ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON jarvis.memories
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
ALTER TABLE jarvis.actions ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON jarvis.actions
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
ALTER TABLE jarvis.usage ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON jarvis.usage
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));

-- Signing in happens before anyone is known, so no claims can be set for it. This function, owned by
-- the migrating role (RLS does not apply to the owner), does the whole identity step and returns one
-- user id: the caller gets no rows and cannot list or search identities. Only the app role may call it
-- (revoked from PUBLIC: on Supabase, browser-held keys must not reach it). The caller must have
-- verified the token (and the email) it passes in.
CREATE FUNCTION jarvis.resolve_identity(p_issuer text, p_subject text, p_auth_method text, p_email text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found_user uuid;
    seen       double precision;
    new_user   uuid;
    now_epoch  double precision := extract(epoch FROM clock_timestamp());
    mail       text := lower(nullif(p_email, ''));
BEGIN
    SELECT i.user_id, i.last_seen_at INTO found_user, seen
    FROM jarvis.identities i WHERE i.issuer = p_issuer AND i.subject = p_subject;
    IF found_user IS NOT NULL THEN
        IF now_epoch - seen >= 3600 THEN
            UPDATE jarvis.identities SET last_seen_at = now_epoch WHERE issuer = p_issuer AND subject = p_subject;
        END IF;
        RETURN found_user;
    END IF;
    IF mail IS NOT NULL THEN
        -- A verified email already known is the proof that links a new sign-in method to a user.
        SELECT i.user_id INTO found_user FROM jarvis.identities i
        WHERE i.email = mail ORDER BY i.created_at LIMIT 1;
    END IF;
    IF found_user IS NULL THEN
        new_user := gen_random_uuid();
        INSERT INTO jarvis.users (id, created_at, updated_at) VALUES (new_user, now_epoch, now_epoch);
        found_user := new_user;
    END IF;
    INSERT INTO jarvis.identities (issuer, subject, user_id, auth_method, email, created_at, last_seen_at)
    VALUES (p_issuer, p_subject, found_user, p_auth_method, mail, now_epoch, now_epoch)
    ON CONFLICT (issuer, subject) DO NOTHING;
    IF NOT FOUND THEN
        -- Another session signed the same identity in first: theirs wins, ours was never seen.
        IF new_user IS NOT NULL THEN
            DELETE FROM jarvis.users WHERE id = new_user;
        END IF;
        SELECT i.user_id INTO found_user FROM jarvis.identities i
        WHERE i.issuer = p_issuer AND i.subject = p_subject;
    END IF;
    RETURN found_user;
END
$$;
REVOKE ALL ON FUNCTION jarvis.resolve_identity(text, text, text, text) FROM PUBLIC;

-- What the app role may do: one GRANT per row (%I is the role), so each migration adds its own rows and
-- `jarvis-mcp migrate --app-role NAME` (or `SELECT jarvis.grant_app('NAME')`) applies them all.
CREATE TABLE jarvis.app_privileges (
    migration integer NOT NULL,
    statement text NOT NULL
);
INSERT INTO jarvis.app_privileges VALUES
    (1, 'GRANT USAGE ON SCHEMA jarvis, auth TO %I'),
    (1, 'GRANT SELECT ON jarvis.schema_migrations TO %I'),
    (1, 'GRANT SELECT, INSERT ON jarvis.meta TO %I'),
    (1, 'GRANT SELECT, UPDATE (name, pronouns, timezone, locale, preferences, voice_key_hash, index_version, '
        'updated_at) ON jarvis.users TO %I'),
    (1, 'GRANT SELECT ON jarvis.identities TO %I'),
    (1, 'GRANT SELECT, INSERT, UPDATE, DELETE ON jarvis.conversations, jarvis.memories, jarvis.actions, '
        'jarvis.usage TO %I'),
    (1, 'GRANT EXECUTE ON FUNCTION jarvis.resolve_identity(text, text, text, text) TO %I');

CREATE FUNCTION jarvis.grant_app(app_role name) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    stmt text;
BEGIN
    FOR stmt IN SELECT statement FROM jarvis.app_privileges ORDER BY migration, statement LOOP
        EXECUTE format(stmt, app_role);
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION jarvis.grant_app(name) FROM PUBLIC;
