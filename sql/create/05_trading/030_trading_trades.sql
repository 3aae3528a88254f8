-- Trades. Every economic amendment is a new version, so the trade as it stood on
-- any past date can be reproduced.
CREATE TABLE ores_trading_trades_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    trade_id uuid NOT NULL DEFAULT gen_random_uuid(),
    book_code text NOT NULL,
    counterparty_id uuid NOT NULL,
    trade_type_code text NOT NULL,
    status_code text NOT NULL DEFAULT 'pending',
    trade_date date NOT NULL,
    notional numeric(28, 8) NOT NULL,
    currency_code text NOT NULL,
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT trades_pk_idx PRIMARY KEY (tenant_id, trade_id, valid_from),
    CONSTRAINT trades_validity_idx EXCLUDE USING gist (tenant_id WITH =, trade_id WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX trades_current_idx ON ores_trading_trades_tbl (tenant_id, trade_id)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();

CREATE OR REPLACE TRIGGER ores_trading_trades_insert_trg BEFORE INSERT ON ores_trading_trades_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('trade_id');
CREATE OR REPLACE TRIGGER ores_trading_trades_lookup_trg AFTER INSERT ON ores_trading_trades_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn('book_code=ores_refdata_books_tbl.code', 'counterparty_id=ores_refdata_counterparties_tbl.counterparty_id', 'trade_type_code=ores_trading_trade_types_tbl.code', 'status_code=ores_trading_trade_statuses_tbl.code', 'currency_code=ores_refdata_currencies_tbl.iso_code');
CREATE OR REPLACE TRIGGER ores_trading_trades_update_trg BEFORE UPDATE ON ores_trading_trades_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_trading_trades_delete_trg BEFORE DELETE ON ores_trading_trades_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('trade_id');
CREATE OR REPLACE TRIGGER ores_trading_trades_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_trading_trades_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('trade_id');

ALTER TABLE ores_trading_trades_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_trading_trades_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_trading_trades_tenant_pol ON ores_trading_trades_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());

CREATE INDEX trades_book_idx ON ores_trading_trades_tbl (tenant_id, book_code, trade_date)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();
