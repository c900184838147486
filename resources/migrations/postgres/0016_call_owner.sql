-- ElevenLabs' post-call webhook names a call only by the tag it was placed with (the outbox action id), not
-- by its user. Like outbox_unfinished, a SECURITY DEFINER function owned by the migrating role answers the
-- one cross-user question -- whose call is this? -- with the owner's id only; the outcome is then written
-- in a transaction carrying that owner's claims, so RLS still guards every row. Executable by the app role only.
CREATE FUNCTION jarvis.call_owner(p_action_id uuid)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT o.user_id FROM jarvis.outbox o WHERE o.id = p_action_id AND o.kind = 'call_contact'
$$;
REVOKE ALL ON FUNCTION jarvis.call_owner(uuid) FROM PUBLIC;

INSERT INTO jarvis.app_privileges VALUES
    (16, 'GRANT EXECUTE ON FUNCTION jarvis.call_owner(uuid) TO %I');
