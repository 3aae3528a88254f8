-- Row-level security: a tenant's session reads and writes its own rows only.
begin;
\ir tenants.psql
select plan(5);
set local role :"refdata_service_user";
select set_config('ores.tenant_id', :'a_tenant_id', true) \gset
insert into ores_refdata_parties_tbl (short_code, name, party_type_code)
    values ('A1', 'Alpha Bank', 'bank');
select set_config('ores.tenant_id', :'b_tenant_id', true) \gset
insert into ores_refdata_parties_tbl (short_code, name, party_type_code)
    values ('B1', 'Beta Bank', 'bank');
select results_eq($$select short_code from ores_refdata_parties_tbl$$,
                  $$values ('B1'::text)$$, 'tenant B sees its own party only');
select throws_ok(
    format($$insert into ores_refdata_parties_tbl (tenant_id, short_code, name, party_type_code)
             values (%L, 'B2', 'Smuggled', 'bank')$$, :'a_tenant_id'),
    '42501', null, 'tenant B cannot write a row for tenant A');
select is_empty($$update ores_refdata_parties_tbl set name = 'x' where short_code = 'A1'
                  returning 1$$, 'tenant B cannot touch tenant A''s row');
select set_config('ores.tenant_id', :'a_tenant_id', true) \gset
select results_eq($$select short_code from ores_refdata_parties_tbl$$,
                  $$values ('A1'::text)$$, 'tenant A sees its own party only');
select set_config('ores.tenant_id', '', true) \gset
select is_empty($$select 1 from ores_refdata_parties_tbl$$,
                'a session without a tenant sees no tenant''s rows');
select * from finish();
rollback;
