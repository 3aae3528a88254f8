-- Every login attempt, successful or not, for audit and lock-out decisions. An
-- attempt may name an unknown user, so account_id is optional and not a lookup.
-- Append-only: an attacker who gains a service's privileges cannot erase traces.
CREATE TABLE ores_iam_login_events_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    event_id bigint GENERATED ALWAYS AS IDENTITY,
    occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    username text NOT NULL,
    account_id uuid,
    succeeded boolean NOT NULL,
    failure_reason text NOT NULL DEFAULT '',
    client_address inet,
    CONSTRAINT login_events_pk_idx PRIMARY KEY (tenant_id, event_id)
);

-- Lock-out counts recent failures of one username.
CREATE INDEX login_events_username_idx ON ores_iam_login_events_tbl (tenant_id, lower(username), occurred_at);

CREATE OR REPLACE TRIGGER ores_iam_login_events_append_only_trg BEFORE UPDATE OR DELETE
    ON ores_iam_login_events_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_append_only_fn();
CREATE OR REPLACE TRIGGER ores_iam_login_events_notify_trg AFTER INSERT OR UPDATE OR DELETE
    ON ores_iam_login_events_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('event_id');

ALTER TABLE ores_iam_login_events_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_iam_login_events_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_iam_login_events_tenant_pol ON ores_iam_login_events_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
