-- Synthetic data generation requests: "make N plausible rows of this entity with
-- this seed", so test and demo data can be regenerated exactly. The request is
-- versioned like a batch: each status change is a new version.
CREATE TABLE ores_synthetic_generation_requests_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    request_id uuid NOT NULL DEFAULT gen_random_uuid(),
    -- Entity key of what to generate, e.g. refdata_parties, trading_trades.
    target_entity text NOT NULL CHECK (target_entity ~ '^[a-z]+_[a-z0-9_]+$'),
    row_count integer NOT NULL CHECK (row_count BETWEEN 1 AND 10000000),
    -- Same seed, same rows: what makes a generated data set reproducible.
    random_seed bigint NOT NULL DEFAULT floor(random() * 9007199254740991)::bigint,
    options jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(options) = 'object'),
    status text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'generating', 'done', 'failed')),
    rows_generated integer NOT NULL DEFAULT 0 CHECK (rows_generated >= 0),
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT generation_requests_pk_idx PRIMARY KEY (tenant_id, request_id, valid_from),
    CONSTRAINT generation_requests_validity_idx EXCLUDE USING gist (tenant_id WITH =, request_id WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK (rows_generated <= row_count),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX generation_requests_current_idx ON ores_synthetic_generation_requests_tbl (tenant_id, request_id)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();

CREATE OR REPLACE TRIGGER ores_synthetic_generation_requests_insert_trg BEFORE INSERT ON ores_synthetic_generation_requests_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('request_id');
CREATE OR REPLACE TRIGGER ores_synthetic_generation_requests_lookup_trg AFTER INSERT ON ores_synthetic_generation_requests_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn();
CREATE OR REPLACE TRIGGER ores_synthetic_generation_requests_update_trg BEFORE UPDATE ON ores_synthetic_generation_requests_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_synthetic_generation_requests_delete_trg BEFORE DELETE ON ores_synthetic_generation_requests_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('request_id');
CREATE OR REPLACE TRIGGER ores_synthetic_generation_requests_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_synthetic_generation_requests_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('request_id');

ALTER TABLE ores_synthetic_generation_requests_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_synthetic_generation_requests_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_synthetic_generation_requests_tenant_pol ON ores_synthetic_generation_requests_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
