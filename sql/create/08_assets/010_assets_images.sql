-- Images (flags, logos) with their bytes. The digest lets a client skip downloading
-- an image it already has.
CREATE TABLE ores_assets_images_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    image_id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL,
    mime_type text NOT NULL CHECK (mime_type ~ '^image/[a-z0-9.+-]+$'),
    content bytea NOT NULL,
    sha256 text NOT NULL GENERATED ALWAYS AS (encode(digest(content, 'sha256'), 'hex')) STORED,
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT images_pk_idx PRIMARY KEY (tenant_id, image_id, valid_from),
    CONSTRAINT images_validity_idx EXCLUDE USING gist (tenant_id WITH =, image_id WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX images_current_idx ON ores_assets_images_tbl (tenant_id, image_id)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();
CREATE INDEX images_name_trgm_idx ON ores_assets_images_tbl USING gin (name gin_trgm_ops);

CREATE OR REPLACE TRIGGER ores_assets_images_insert_trg BEFORE INSERT ON ores_assets_images_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('image_id');
CREATE OR REPLACE TRIGGER ores_assets_images_lookup_trg AFTER INSERT ON ores_assets_images_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn();
CREATE OR REPLACE TRIGGER ores_assets_images_update_trg BEFORE UPDATE ON ores_assets_images_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_assets_images_delete_trg BEFORE DELETE ON ores_assets_images_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('image_id');
CREATE OR REPLACE TRIGGER ores_assets_images_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_assets_images_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('image_id');

ALTER TABLE ores_assets_images_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_assets_images_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_assets_images_tenant_pol ON ores_assets_images_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
-- Shared reference data: every tenant reads the system tenant's rows beside its own.
CREATE POLICY ores_assets_images_shared_read_pol ON ores_assets_images_tbl FOR SELECT
    USING (tenant_id = ores_utility_system_tenant_id_fn());
