-- Workspaces: a named working area of a tenant, where users gather the books,
-- run configurations and reports they work on. Its reporting currency is the one
-- results are shown in unless a report says otherwise.
CREATE TABLE ores_workspace_workspaces_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    code text NOT NULL CHECK (code ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    name text NOT NULL CHECK (name <> ''),
    description text NOT NULL DEFAULT '',
    reporting_currency_code text NOT NULL DEFAULT 'USD',
    is_archived boolean NOT NULL DEFAULT false,
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT workspaces_pk_idx PRIMARY KEY (tenant_id, code, valid_from),
    CONSTRAINT workspaces_validity_idx EXCLUDE USING gist (tenant_id WITH =, hashtextextended(code, 0) WITH =, code WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX workspaces_current_idx ON ores_workspace_workspaces_tbl (tenant_id, code)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();

CREATE OR REPLACE TRIGGER ores_workspace_workspaces_insert_trg BEFORE INSERT ON ores_workspace_workspaces_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('code');
CREATE OR REPLACE TRIGGER ores_workspace_workspaces_lookup_trg AFTER INSERT ON ores_workspace_workspaces_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn('reporting_currency_code=ores_refdata_currencies_tbl.iso_code');
CREATE OR REPLACE TRIGGER ores_workspace_workspaces_update_trg BEFORE UPDATE ON ores_workspace_workspaces_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_workspace_workspaces_delete_trg BEFORE DELETE ON ores_workspace_workspaces_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('code');
CREATE OR REPLACE TRIGGER ores_workspace_workspaces_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_workspace_workspaces_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('code');

ALTER TABLE ores_workspace_workspaces_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_workspace_workspaces_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_workspace_workspaces_tenant_pol ON ores_workspace_workspaces_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
