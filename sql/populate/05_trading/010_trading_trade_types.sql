SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_trading_trade_types_tbl (code, name, description) VALUES
    ('swap', 'Interest rate swap', 'Fixed/floating or basis swap'),
    ('fra', 'Forward rate agreement', ''),
    ('cap_floor', 'Cap/floor', ''),
    ('swaption', 'Swaption', 'Option on a swap'),
    ('fx_spot', 'FX spot', ''),
    ('fx_forward', 'FX forward', ''),
    ('fx_option', 'FX option', ''),
    ('bond', 'Bond', ''),
    ('cds', 'Credit default swap', '');
