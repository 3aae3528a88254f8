-- The resets: only the owner group may call them; a tenant reset removes that
-- tenant's rows and keeps the tenant; services are refused.
begin;
\ir tenants.psql
select plan(5);
set local role :"refdata_service_user";
select set_config('ores.tenant_id', :'a_tenant_id', true) \gset
insert into ores_refdata_parties_tbl (short_code, name, party_type_code)
    values ('A1', 'Alpha Bank', 'bank');
select throws_ok($$select ores_iam_reset_tenant_fn('tenant_a')$$, '42501', null,
                 'a service may not reset a tenant');
select throws_ok($$select ores_iam_reset_system_fn()$$, '42501', null,
                 'a service may not reset the system');
reset role;
set local role :"owner_role";
select ok(ores_iam_reset_tenant_fn('tenant_a') > 0, 'the owner resets tenant A');
select set_config('ores.tenant_id', :'a_tenant_id', true) \gset
select is_empty($$select 1 from ores_refdata_parties_tbl$$, 'tenant A''s parties are gone');
select throws_ok($$select ores_iam_reset_tenant_fn('nobody')$$, 'P0002', null,
                 'an unknown tenant code is refused');
select * from finish();
rollback;
