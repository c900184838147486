-- Approving an action on /app needs a recent sign-in: a session now says when it was made (its created_at,
-- since a session is only ever made by signing in). The return type changes, so the function is replaced
-- whole, and whoever could execute it before keeps that right (no `migrate --app-role` rerun needed).
CREATE TEMP TABLE session_fn_grantees ON COMMIT DROP AS
    SELECT DISTINCT grantee FROM information_schema.routine_privileges
    WHERE routine_schema = 'jarvis' AND routine_name = 'auth_get_session' AND privilege_type = 'EXECUTE'
      AND grantee <> current_user;

DROP FUNCTION jarvis.auth_get_session(text, double precision);

CREATE FUNCTION jarvis.auth_get_session(p_hash text, p_now double precision)
RETURNS TABLE (user_id text, auth_method text, expires_at double precision, signed_in_at double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.user_id::text, s.auth_method, s.expires_at, s.created_at FROM jarvis.web_sessions s
    WHERE s.hash = p_hash AND s.revoked_at IS NULL AND s.expires_at > p_now
$$;
REVOKE ALL ON FUNCTION jarvis.auth_get_session(text, double precision) FROM PUBLIC;

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT grantee FROM session_fn_grantees LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION jarvis.auth_get_session(text, double precision) TO %I', r.grantee);
    END LOOP;
END
$$;
