-- Long work kept in a queue (jobs/): a worker claims a row under a lease (lease_owner, lease_until) and
-- renews it with each progress report; a row left 'running' past its lease (its process died) is claimed
-- again by any other process's worker. Rows are the user's, under Row Level Security like every table.
CREATE TABLE jarvis.jobs (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES jarvis.users(id) ON DELETE CASCADE,
    kind        text NOT NULL,
    payload     jsonb NOT NULL,
    status      text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    done        integer NOT NULL DEFAULT 0,
    total       integer,
    message     text NOT NULL DEFAULT '',
    result      jsonb,
    error       text,
    attempts    integer NOT NULL DEFAULT 0,
    lease_owner text,
    lease_until double precision,
    not_before  double precision,                 -- a deferred retry (provider down) waits until then
    created_at  double precision NOT NULL,
    updated_at  double precision NOT NULL
);
CREATE INDEX jobs_user ON jarvis.jobs (user_id, created_at);
CREATE INDEX jobs_waiting ON jarvis.jobs (created_at) WHERE status IN ('queued', 'running');

ALTER TABLE jarvis.jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON jarvis.jobs
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));

-- The one step across users: which job runs next. Like outbox_unfinished, a SECURITY DEFINER function
-- owned by the migrating role answers it, and only with ids: FOR UPDATE SKIP LOCKED lets any number of
-- workers claim at once, each a different row, and the lease is set in the same statement. Jobs whose lease
-- expired p_max_attempts times are failed here instead of being claimed again.
CREATE FUNCTION jarvis.jobs_claim(p_owner text, p_now double precision, p_lease_s double precision,
                                  p_max_attempts integer)
RETURNS TABLE (user_id uuid, job_id uuid)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE jarvis.jobs j SET status = 'failed', lease_owner = NULL, updated_at = p_now,
        error = format('stopped %s times without finishing; given up', p_max_attempts)
    WHERE j.status = 'running' AND j.lease_until < p_now AND j.attempts >= p_max_attempts;
    RETURN QUERY
    UPDATE jarvis.jobs j SET status = 'running', lease_owner = p_owner, lease_until = p_now + p_lease_s,
        attempts = j.attempts + 1, updated_at = p_now
    WHERE j.id = (SELECT w.id FROM jarvis.jobs w
                  WHERE (w.status = 'queued' AND coalesce(w.not_before, 0) <= p_now)
                     OR (w.status = 'running' AND w.lease_until < p_now)
                  ORDER BY w.created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING j.user_id, j.id;
END
$$;
REVOKE ALL ON FUNCTION jarvis.jobs_claim(text, double precision, double precision, integer) FROM PUBLIC;

INSERT INTO jarvis.app_privileges VALUES
    (13, 'GRANT SELECT, INSERT, UPDATE ON jarvis.jobs TO %I'),
    (13, 'GRANT EXECUTE ON FUNCTION jarvis.jobs_claim(text, double precision, double precision, integer) TO %I');
