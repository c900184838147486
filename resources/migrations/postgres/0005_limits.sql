-- Usage limits per user: the tier, and any of its numbers overridden for this one user (NULL: the
-- tier's). Tiers and their numbers live in the server's settings (JARVIS_TIERS); a user without a row
-- is on the default tier. The same table as src/jarvis_mcp/migrations/sqlite/0004_limits.sql.
--
-- The app role may only read its caller's row (RLS): a user can never raise their own limits. The
-- operator sets them as the owner, e.g. in Supabase's SQL editor:
--   INSERT INTO jarvis.user_limits (user_id, tier, updated_at)
--   VALUES ('<user uuid>', 'pro', extract(epoch FROM now()))
--   ON CONFLICT (user_id) DO UPDATE SET tier = excluded.tier, updated_at = excluded.updated_at;

CREATE TABLE jarvis.user_limits (
    user_id          uuid PRIMARY KEY REFERENCES jarvis.users(id) ON DELETE CASCADE,
    tier             text NOT NULL,
    read_per_minute  integer CHECK (read_per_minute >= 0),
    read_daily       integer CHECK (read_daily >= 0),
    read_monthly     integer CHECK (read_monthly >= 0),
    write_per_minute integer CHECK (write_per_minute >= 0),
    write_daily      integer CHECK (write_daily >= 0),
    write_monthly    integer CHECK (write_monthly >= 0),
    updated_at       double precision NOT NULL
);

ALTER TABLE jarvis.user_limits ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_row ON jarvis.user_limits FOR SELECT USING (user_id = (SELECT auth.uid()));

INSERT INTO jarvis.app_privileges VALUES
    (5, 'GRANT SELECT ON jarvis.user_limits TO %I');
