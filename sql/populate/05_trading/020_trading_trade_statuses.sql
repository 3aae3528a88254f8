SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_trading_trade_statuses_tbl (code, name, description) VALUES
    ('pending', 'Pending', 'Captured, not yet confirmed'),
    ('live', 'Live', 'Confirmed and outstanding'),
    ('matured', 'Matured', 'Reached its end date'),
    ('terminated', 'Terminated', 'Ended early by agreement'),
    ('cancelled', 'Cancelled', 'Booked in error');
