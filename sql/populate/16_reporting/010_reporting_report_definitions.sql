-- The standard reports every tenant can run, shared by the system tenant.
SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_reporting_report_definitions_tbl (code, name, report_type, output_format, currency_code, description) VALUES
    ('trade_list', 'Trade list', 'trade_list', 'csv', NULL, 'Live trades with their books and counterparties'),
    ('npv_by_book', 'NPV by book', 'npv', 'xlsx', 'USD', 'Present values aggregated per book'),
    ('cashflow_projection', 'Cash flow projection', 'cashflow', 'csv', NULL, 'Future cash flows per trade in their own currencies'),
    ('var_summary', 'VaR summary', 'var', 'pdf', 'USD', 'Portfolio VaR and expected shortfall');
