-- External identifiers of a trade (UTI, USI, a venue's id), one per coding scheme.
CREATE TABLE ores_trading_trade_identifiers_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    trade_id uuid NOT NULL,
    scheme_code text NOT NULL,
    identifier text NOT NULL,
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT trade_identifiers_pk_idx PRIMARY KEY (tenant_id, trade_id, scheme_code, valid_from),
    CONSTRAINT trade_identifiers_validity_idx EXCLUDE USING gist (tenant_id WITH =, hashtextextended(trade_id::text || '/' || scheme_code, 0) WITH =, trade_id WITH =, scheme_code WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX trade_identifiers_current_idx ON ores_trading_trade_identifiers_tbl (tenant_id, trade_id, scheme_code)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();

CREATE OR REPLACE TRIGGER ores_trading_trade_identifiers_insert_trg BEFORE INSERT ON ores_trading_trade_identifiers_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('trade_id,scheme_code');
CREATE OR REPLACE TRIGGER ores_trading_trade_identifiers_lookup_trg AFTER INSERT ON ores_trading_trade_identifiers_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn('trade_id=ores_trading_trades_tbl.trade_id', 'scheme_code=ores_dq_coding_schemes_tbl.code');
CREATE OR REPLACE TRIGGER ores_trading_trade_identifiers_update_trg BEFORE UPDATE ON ores_trading_trade_identifiers_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_trading_trade_identifiers_delete_trg BEFORE DELETE ON ores_trading_trade_identifiers_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('trade_id,scheme_code');
CREATE OR REPLACE TRIGGER ores_trading_trade_identifiers_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_trading_trade_identifiers_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('trade_id,scheme_code');

ALTER TABLE ores_trading_trade_identifiers_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_trading_trade_identifiers_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_trading_trade_identifiers_tenant_pol ON ores_trading_trade_identifiers_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());

-- Finding a trade by an identifier someone quotes is the common query.
CREATE INDEX trade_identifiers_value_idx ON ores_trading_trade_identifiers_tbl (tenant_id, scheme_code, identifier)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();
