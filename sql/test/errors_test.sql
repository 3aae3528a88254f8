-- The schema's own SQLSTATEs: ORE01 a stale version, ORE02 an unknown lookup code,
-- ORE03 a change to history or an append-only table.
begin;
\ir tenants.psql
select plan(5);
set local role :"refdata_service_user";
select set_config('ores.tenant_id', :'a_tenant_id', true) \gset
insert into ores_refdata_parties_tbl (short_code, name, party_type_code)
    values ('ACME', 'Acme Bank', 'bank') returning party_id \gset
insert into ores_refdata_parties_tbl
    (party_id, short_code, name, party_type_code, version, change_reason_code)
    values (:'party_id', 'ACME', 'Acme Bank plc', 'bank', 1, 'data_correction.typo');
select throws_ok(
    format($$insert into ores_refdata_parties_tbl
               (party_id, short_code, name, party_type_code, version, change_reason_code)
             values (%L, 'ACME', 'Lost update', 'bank', 1, 'data_correction.typo')$$, :'party_id'),
    'ORE01', null, 'a write based on version 1 after version 2 is refused (ORE01)');
select throws_ok(
    $$insert into ores_refdata_parties_tbl (short_code, name, party_type_code)
      values ('X', 'X', 'pirate')$$,
    'ORE02', null, 'an unknown lookup code is refused (ORE02)');
select throws_like(
    $$insert into ores_refdata_parties_tbl (short_code, name, party_type_code)
      values ('X', 'X', 'pirate')$$,
    '%bank, broker%', 'the refusal lists the valid codes');
select throws_ok(
    $$update ores_refdata_parties_tbl set name = 'rewritten'$$,
    'ORE03', null, 'history is not updated in place (ORE03)');
reset role;
set local role :"iam_service_user";
insert into ores_iam_login_events_tbl (username, succeeded) values ('bob', true);
select throws_ok($$delete from ores_iam_login_events_tbl$$, 'ORE03', null,
                 'login events are append-only (ORE03)');
select * from finish();
rollback;
