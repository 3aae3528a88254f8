-- The standard measures, as shared configurations of the system tenant: the
-- regulatory 99% / 10-day VaR, its 97.5% expected shortfall, a 95% PFE.
SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_analytics_configurations_tbl (code, name, measure, confidence_level, horizon_days, parameters) VALUES
    ('npv', 'Net present value', 'npv', NULL, NULL, '{}'),
    ('pv01', 'PV01 (1bp parallel shift)', 'pv01', NULL, NULL, '{"shift_bp": 1}'),
    ('var_99_10d', 'Historical VaR 99% 10 days', 'var', 0.99, 10, '{"method": "historical", "window_days": 250}'),
    ('es_975_10d', 'Expected shortfall 97.5% 10 days', 'expected_shortfall', 0.975, 10, '{"method": "historical", "window_days": 250}'),
    ('pfe_95', 'Potential future exposure 95%', 'pfe', 0.95, 3650, '{"grid": "1M,3M,6M,1Y,2Y,5Y,10Y"}');
