-- Permission sets of the standard roles, derived from the permission names so a
-- permission added above lands in the right roles without being listed twice.
SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_iam_role_permissions_tbl (role_code, permission_code)
SELECT r.role_code, p.code
  FROM ores_iam_permissions_tbl p
  JOIN (VALUES
        -- role, component, action ('%' for any)
        ('admin', '%', '%'),
        ('operations', 'dq', '%'), ('operations', 'refdata', '%'),
        ('operations', 'variability', '%'), ('operations', 'assets', '%'),
        ('operations', 'trading', 'read'), ('operations', 'telemetry', 'read'),
        ('trader', 'trading', '%'), ('trader', 'refdata', 'read'), ('trader', 'dq', 'read'),
        ('trader', 'assets', 'read'),
        ('risk_manager', 'trading', 'read'), ('risk_manager', 'refdata', 'read'),
        ('risk_manager', 'dq', 'read'), ('risk_manager', 'assets', 'read'),
        ('viewer', 'dq', 'read'), ('viewer', 'refdata', 'read'), ('viewer', 'trading', 'read'),
        ('viewer', 'variability', 'read'), ('viewer', 'assets', 'read')
       ) AS r (role_code, component, action)
    ON split_part(p.code, '::', 1) LIKE r.component
   AND split_part(p.code, ':', 4) LIKE r.action
 WHERE p.valid_to = ores_utility_infinity_timestamp_fn();
