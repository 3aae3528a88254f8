-- Every write is a new version; history is kept, a soft delete closes the current row.
begin;
\ir tenants.psql
select plan(5);
set local role :"refdata_service_user";
select set_config('ores.tenant_id', :'a_tenant_id', true) \gset
insert into ores_refdata_parties_tbl (short_code, name, party_type_code)
    values ('ACME', 'Acme Bank', 'bank') returning party_id \gset
select is((select version from ores_refdata_parties_tbl where party_id = :'party_id'),
          1, 'a new row is version 1');
insert into ores_refdata_parties_tbl
    (party_id, short_code, name, party_type_code, version, change_reason_code)
    values (:'party_id', 'ACME', 'Acme Bank plc', 'bank', 1, 'data_correction.typo');
select is((select max(version) from ores_refdata_parties_tbl where party_id = :'party_id'),
          2, 'writing with the version read makes version 2');
select is((select count(*) from ores_refdata_parties_tbl where party_id = :'party_id'),
          2::bigint, 'both versions are kept');
select is((select name from ores_refdata_parties_tbl
            where party_id = :'party_id' and valid_to = ores_utility_infinity_timestamp_fn()),
          'Acme Bank plc', 'the current version is the new one');
delete from ores_refdata_parties_tbl where party_id = :'party_id';
select is((select count(*) from ores_refdata_parties_tbl
            where party_id = :'party_id' and valid_to = ores_utility_infinity_timestamp_fn()),
          0::bigint, 'a delete closes the current version');
select * from finish();
rollback;
