-- The main financial centres; tenants add the rest they need.
SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);

INSERT INTO ores_refdata_business_centres_tbl (code, name, country_code) VALUES
    ('AUSY', 'Sydney', 'AU'), ('CATO', 'Toronto', 'CA'), ('CHZU', 'Zurich', 'CH'),
    ('DEFR', 'Frankfurt', 'DE'), ('FRPA', 'Paris', 'FR'), ('GBLO', 'London', 'GB'),
    ('HKHK', 'Hong Kong', 'HK'), ('JPTO', 'Tokyo', 'JP'), ('SGSI', 'Singapore', 'SG'),
    ('USNY', 'New York', 'US');
