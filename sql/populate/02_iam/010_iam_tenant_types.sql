INSERT INTO ores_iam_tenant_types_tbl (code, name, description) VALUES
    ('system', 'System', 'Owns shared reference data'),
    ('organisation', 'Organisation', 'A customer organisation'),
    ('test', 'Test', 'Created by automated tests');
