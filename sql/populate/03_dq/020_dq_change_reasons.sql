-- system.new_record is every versioned table's default reason; system.reset is the
-- reason the reset functions record.
SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_dq_change_reasons_tbl (code, name, category_code, description) VALUES
    ('system.new_record', 'New record', 'system', 'First version of an entity'),
    ('system.initial_load', 'Initial load', 'system', 'Loaded from seed or import data'),
    ('system.reset', 'Reset', 'system', 'Written by a system or tenant reset'),
    ('system.external_update', 'External update', 'system', 'Updated from an external source'),
    ('data_correction.typo', 'Typo', 'data_correction', 'Correcting a typing mistake'),
    ('data_correction.wrong_value', 'Wrong value', 'data_correction', 'Correcting a wrong value'),
    ('data_correction.duplicate', 'Duplicate', 'data_correction', 'Removing a duplicate'),
    ('business.amendment', 'Amendment', 'business', 'Agreed change of terms'),
    ('business.lifecycle_event', 'Lifecycle event', 'business', 'Exercise, fixing, maturity, novation'),
    ('business.cancellation', 'Cancellation', 'business', 'Cancelled by agreement'),
    ('regulatory.requirement', 'Regulatory requirement', 'regulatory', 'Required by a regulator'),
    ('regulatory.audit_finding', 'Audit finding', 'regulatory', 'Follows an audit finding');
