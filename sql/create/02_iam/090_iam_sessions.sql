-- Login sessions. A session is state, not history: it is opened, touched and ended
-- in place, so this table is not versioned; the login events keep the history.
CREATE TABLE ores_iam_sessions_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    session_id uuid NOT NULL DEFAULT gen_random_uuid(),
    account_id uuid NOT NULL,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_seen_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended_at timestamptz,
    client_address inet,
    client_agent text NOT NULL DEFAULT '',
    CONSTRAINT sessions_pk_idx PRIMARY KEY (tenant_id, session_id),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);

-- "Who is logged in" looks at open sessions only.
CREATE INDEX sessions_open_idx ON ores_iam_sessions_tbl (tenant_id, account_id)
    WHERE ended_at IS NULL;

CREATE OR REPLACE TRIGGER ores_iam_sessions_lookup_trg BEFORE INSERT OR UPDATE OF account_id
    ON ores_iam_sessions_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_lookup_trigger_fn('account_id=ores_iam_accounts_tbl.account_id');
-- Opening and ending a session are news; touching last_seen_at on every request is
-- not, so updates are announced only when they end the session.
CREATE OR REPLACE TRIGGER ores_iam_sessions_notify_trg AFTER INSERT OR UPDATE OF ended_at OR DELETE
    ON ores_iam_sessions_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('session_id');

ALTER TABLE ores_iam_sessions_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_iam_sessions_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_iam_sessions_tenant_pol ON ores_iam_sessions_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
