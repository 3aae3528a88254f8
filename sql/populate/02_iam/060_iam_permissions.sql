-- One read and one write permission per resource a service exposes, plus the two
-- reset operations. Built as a product of resources and actions in one statement.
SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_iam_permissions_tbl (code, description)
SELECT r.component || '::' || r.resource || ':' || a.action,
       initcap(a.action) || ' ' || replace(r.resource, '_', ' ') || ' (' || r.component || ')'
  FROM (VALUES
        ('iam', 'tenants'), ('iam', 'accounts'), ('iam', 'roles'), ('iam', 'permissions'),
        ('iam', 'sessions'), ('iam', 'login_events'),
        ('dq', 'change_reasons'), ('dq', 'coding_schemes'), ('dq', 'data_domains'),
        ('refdata', 'currencies'), ('refdata', 'countries'), ('refdata', 'parties'),
        ('refdata', 'counterparties'), ('refdata', 'books'), ('refdata', 'business_centres'),
        ('trading', 'trades'),
        ('variability', 'system_settings'),
        ('telemetry', 'logs'),
        ('assets', 'images'), ('assets', 'tags')
       ) AS r (component, resource)
 CROSS JOIN (VALUES ('read'), ('write')) AS a (action)
UNION ALL
VALUES ('iam::system:reset', 'Reset the system tenant and purge all other tenants'),
       ('iam::tenants:reset', 'Reset one tenant''s data');
