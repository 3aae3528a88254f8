-- The overnight index fixings and FX rates most valuations need, as shared series
-- of the system tenant; a tenant adds its own curves and surfaces.
SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_marketdata_series_tbl (code, name, series_type, currency_code, quote_currency_code, source) VALUES
    ('EUR-ESTR', 'Euro short-term rate', 'index_fixing', 'EUR', NULL, 'ECB'),
    ('USD-SOFR', 'Secured overnight financing rate', 'index_fixing', 'USD', NULL, 'FRB NY'),
    ('GBP-SONIA', 'Sterling overnight index average', 'index_fixing', 'GBP', NULL, 'BoE'),
    ('FX/EUR/USD', 'EUR/USD reference rate', 'fx_rate', 'EUR', 'USD', 'ECB'),
    ('FX/EUR/GBP', 'EUR/GBP reference rate', 'fx_rate', 'EUR', 'GBP', 'ECB');
