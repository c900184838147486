-- The built-in authorization server and sign-in pages (issue 10); mirrors the SQLite store's
-- 0010_sign_in.sql. Every secret (token, code, session, sign-in link, nonce) is kept as its SHA-256.
--
-- Tables holding a user_id (grants, tokens, sessions) have Row Level Security like every user table; the
-- app role may only read its claimed user's rows there, and is handed a row by hash (knowing the secret
-- behind a hash is the capability) or changes one only through the SECURITY DEFINER functions below. Each
-- single-use step is one UPDATE ... WHERE used_at IS NULL RETURNING: of two racing processes one wins.
-- The two global tables (clients registered by DCR, single-use sign-in tokens) hold no user id.

CREATE TABLE jarvis.oauth_clients (
    client_id  text PRIMARY KEY,
    info       text NOT NULL,                 -- OAuthClientInformationFull as JSON
    created_at double precision NOT NULL
);

CREATE TABLE jarvis.sign_in_tokens (
    hash       text PRIMARY KEY,
    purpose    text NOT NULL,                 -- 'email' | 'nonce:<method>'
    data       text NOT NULL,
    expires_at double precision NOT NULL,
    used_at    double precision,
    created_at double precision NOT NULL
);
CREATE INDEX sign_in_tokens_expiry ON jarvis.sign_in_tokens(expires_at);

CREATE TABLE jarvis.oauth_grants (
    hash       text PRIMARY KEY,
    kind       text NOT NULL,                 -- 'request' (no user yet) | 'code'
    client_id  text NOT NULL,
    user_id    uuid REFERENCES jarvis.users(id) ON DELETE CASCADE,
    data       text NOT NULL,
    expires_at double precision NOT NULL,
    used_at    double precision
);
CREATE INDEX oauth_grants_expiry ON jarvis.oauth_grants(expires_at);

CREATE TABLE jarvis.oauth_tokens (
    hash       text PRIMARY KEY,
    kind       text NOT NULL,                 -- 'access' | 'refresh'
    family     text NOT NULL,
    user_id    uuid NOT NULL REFERENCES jarvis.users(id) ON DELETE CASCADE,
    client_id  text NOT NULL,
    scopes     text NOT NULL,
    resource   text NOT NULL,
    expires_at double precision NOT NULL,
    used_at    double precision,
    revoked_at double precision,
    created_at double precision NOT NULL
);
CREATE INDEX oauth_tokens_family ON jarvis.oauth_tokens(family);
CREATE INDEX oauth_tokens_user ON jarvis.oauth_tokens(user_id);

CREATE TABLE jarvis.web_sessions (
    hash        text PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES jarvis.users(id) ON DELETE CASCADE,
    auth_method text NOT NULL,
    expires_at  double precision NOT NULL,
    revoked_at  double precision,
    created_at  double precision NOT NULL
);

ALTER TABLE jarvis.oauth_grants ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON jarvis.oauth_grants
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
ALTER TABLE jarvis.oauth_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON jarvis.oauth_tokens
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
ALTER TABLE jarvis.web_sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON jarvis.web_sessions
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));

-- Grants and codes --------------------------------------------------------------------------------
CREATE FUNCTION jarvis.auth_put_grant(p_hash text, p_kind text, p_client text, p_user uuid, p_data text,
                                      p_expires double precision) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO jarvis.oauth_grants (hash, kind, client_id, user_id, data, expires_at)
    VALUES (p_hash, p_kind, p_client, p_user, p_data, p_expires)
$$;

CREATE FUNCTION jarvis.auth_get_grant(p_hash text, p_kind text, p_now double precision)
RETURNS TABLE (hash text, kind text, client_id text, user_id text, data text, expires_at double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT g.hash, g.kind, g.client_id, g.user_id::text, g.data, g.expires_at FROM jarvis.oauth_grants g
    WHERE g.hash = p_hash AND g.kind = p_kind AND g.used_at IS NULL AND g.expires_at > p_now
$$;

CREATE FUNCTION jarvis.auth_consume_grant(p_hash text, p_kind text, p_now double precision)
RETURNS TABLE (hash text, kind text, client_id text, user_id text, data text, expires_at double precision)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE jarvis.oauth_grants g SET used_at = p_now
    WHERE g.hash = p_hash AND g.kind = p_kind AND g.used_at IS NULL AND g.expires_at > p_now
    RETURNING g.hash, g.kind, g.client_id, g.user_id::text, g.data, g.expires_at
$$;

-- Tokens ------------------------------------------------------------------------------------------
CREATE FUNCTION jarvis.auth_add_token(p_hash text, p_kind text, p_family text, p_user uuid, p_client text,
                                      p_scopes text, p_resource text, p_expires double precision,
                                      p_now double precision) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO jarvis.oauth_tokens (hash, kind, family, user_id, client_id, scopes, resource, expires_at, created_at)
    VALUES (p_hash, p_kind, p_family, p_user, p_client, p_scopes, p_resource, p_expires, p_now)
$$;

CREATE FUNCTION jarvis.auth_get_token(p_hash text)
RETURNS TABLE (hash text, kind text, family text, user_id text, client_id text, scopes text, resource text,
               expires_at double precision, used_at double precision, revoked_at double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT t.hash, t.kind, t.family, t.user_id::text, t.client_id, t.scopes, t.resource, t.expires_at, t.used_at,
           t.revoked_at FROM jarvis.oauth_tokens t WHERE t.hash = p_hash
$$;

CREATE FUNCTION jarvis.auth_consume_refresh(p_hash text, p_now double precision)
RETURNS TABLE (hash text, kind text, family text, user_id text, client_id text, scopes text, resource text,
               expires_at double precision, used_at double precision, revoked_at double precision)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE jarvis.oauth_tokens t SET used_at = p_now
    WHERE t.hash = p_hash AND t.kind = 'refresh' AND t.used_at IS NULL AND t.revoked_at IS NULL
      AND t.expires_at > p_now
    RETURNING t.hash, t.kind, t.family, t.user_id::text, t.client_id, t.scopes, t.resource, t.expires_at, t.used_at,
              t.revoked_at
$$;

CREATE FUNCTION jarvis.auth_revoke_family(p_family text, p_now double precision) RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH done AS (UPDATE jarvis.oauth_tokens SET revoked_at = p_now
                  WHERE family = p_family AND revoked_at IS NULL RETURNING 1)
    SELECT count(*)::integer FROM done
$$;

-- Browser sessions --------------------------------------------------------------------------------
CREATE FUNCTION jarvis.auth_put_session(p_hash text, p_user uuid, p_method text, p_expires double precision,
                                        p_now double precision) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO jarvis.web_sessions (hash, user_id, auth_method, expires_at, created_at)
    VALUES (p_hash, p_user, p_method, p_expires, p_now)
$$;

CREATE FUNCTION jarvis.auth_get_session(p_hash text, p_now double precision)
RETURNS TABLE (user_id text, auth_method text, expires_at double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.user_id::text, s.auth_method, s.expires_at FROM jarvis.web_sessions s
    WHERE s.hash = p_hash AND s.revoked_at IS NULL AND s.expires_at > p_now
$$;

CREATE FUNCTION jarvis.auth_revoke_session(p_hash text, p_now double precision) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE jarvis.web_sessions SET revoked_at = p_now WHERE hash = p_hash AND revoked_at IS NULL
$$;

-- Identities: link (never taking one from another user) and unlink (never the last) ---------------
CREATE FUNCTION jarvis.link_identity(p_user uuid, p_issuer text, p_subject text, p_method text, p_email text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    now_epoch double precision := extract(epoch FROM clock_timestamp());
    owner uuid;
BEGIN
    INSERT INTO jarvis.identities (issuer, subject, user_id, auth_method, email, created_at, last_seen_at)
    VALUES (p_issuer, p_subject, p_user, p_method, lower(nullif(p_email, '')), now_epoch, now_epoch)
    ON CONFLICT (issuer, subject) DO NOTHING;
    SELECT i.user_id INTO owner FROM jarvis.identities i WHERE i.issuer = p_issuer AND i.subject = p_subject;
    RETURN owner;
END
$$;

CREATE FUNCTION jarvis.unlink_identity(p_user uuid, p_issuer text, p_subject text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    total integer;
BEGIN
    -- The user's row locked: two unlinks at once cannot both see "two left" and remove both.
    PERFORM 1 FROM jarvis.users WHERE id = p_user FOR UPDATE;
    IF NOT EXISTS (SELECT 1 FROM jarvis.identities
                   WHERE user_id = p_user AND issuer = p_issuer AND subject = p_subject) THEN
        RETURN 'missing';
    END IF;
    SELECT count(*) INTO total FROM jarvis.identities WHERE user_id = p_user;
    IF total <= 1 THEN
        RETURN 'last';
    END IF;
    DELETE FROM jarvis.identities WHERE user_id = p_user AND issuer = p_issuer AND subject = p_subject;
    RETURN 'unlinked';
END
$$;

CREATE FUNCTION jarvis.auth_purge(p_before double precision) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer;
    total integer := 0;
BEGIN
    DELETE FROM jarvis.oauth_grants WHERE expires_at < p_before; GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    DELETE FROM jarvis.oauth_tokens WHERE expires_at < p_before; GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    DELETE FROM jarvis.web_sessions WHERE expires_at < p_before; GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    DELETE FROM jarvis.sign_in_tokens WHERE expires_at < p_before; GET DIAGNOSTICS n = ROW_COUNT; total := total + n;
    RETURN total;
END
$$;

DO $$
DECLARE
    fn text;
BEGIN
    FOR fn IN SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = 'jarvis' AND (p.proname LIKE 'auth\_%' OR p.proname IN ('link_identity', 'unlink_identity'))
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
        INSERT INTO jarvis.app_privileges VALUES (10, format('GRANT EXECUTE ON FUNCTION %s TO %%I', fn));
    END LOOP;
END
$$;

INSERT INTO jarvis.app_privileges VALUES
    (10, 'GRANT SELECT, INSERT ON jarvis.oauth_clients TO %I'),
    (10, 'GRANT SELECT, INSERT, UPDATE (used_at), DELETE ON jarvis.sign_in_tokens TO %I'),
    -- Reading one's own rows is harmless (RLS shows the claimed user's only); everything else goes
    -- through the functions above.
    (10, 'GRANT SELECT ON jarvis.oauth_grants, jarvis.oauth_tokens, jarvis.web_sessions TO %I');
