-- Each service writes its own component and reads only what the registry lets it.
begin;
select plan(8);
select ok(has_table_privilege(:'refdata_service_user', 'ores_refdata_parties_tbl', 'INSERT'),
          'refdata writes its parties');
select ok(not has_table_privilege(:'trading_service_user', 'ores_refdata_parties_tbl', 'INSERT'),
          'trading does not write refdata');
select ok(has_table_privilege(:'trading_service_user', 'ores_refdata_parties_tbl', 'SELECT'),
          'trading reads refdata');
select ok(has_table_privilege(:'iam_service_user', 'ores_iam_accounts_tbl', 'SELECT'),
          'iam reads its accounts');
select ok(not has_table_privilege(:'refdata_service_user', 'ores_iam_accounts_tbl', 'SELECT'),
          'refdata does not read accounts (password hashes)');
select ok(has_table_privilege(:'refdata_service_user', 'ores_iam_tenants_tbl', 'SELECT'),
          'every service reads the tenants');
select ok(not has_table_privilege(:'telemetry_service_user', 'ores_trading_trades_tbl', 'SELECT'),
          'telemetry does not read trades');
select ok(not has_schema_privilege(:'iam_service_user', 'public', 'CREATE'),
          'a service creates no objects');
select * from finish();
rollback;
