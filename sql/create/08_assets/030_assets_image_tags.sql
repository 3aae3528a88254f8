-- Which tags an image carries.
CREATE TABLE ores_assets_image_tags_tbl (
    tenant_id uuid NOT NULL DEFAULT ores_utility_current_tenant_id_fn(),
    image_id uuid NOT NULL,
    tag_code text NOT NULL,
    version integer NOT NULL DEFAULT 0,
    modified_by text NOT NULL DEFAULT current_user,
    performed_by text NOT NULL DEFAULT current_user,
    change_reason_code text NOT NULL DEFAULT 'system.new_record',
    change_commentary text NOT NULL DEFAULT '',
    valid_from timestamptz NOT NULL DEFAULT clock_timestamp(),
    valid_to timestamptz NOT NULL DEFAULT ores_utility_infinity_timestamp_fn(),
    CONSTRAINT image_tags_pk_idx PRIMARY KEY (tenant_id, image_id, tag_code, valid_from),
    CONSTRAINT image_tags_validity_idx EXCLUDE USING gist (tenant_id WITH =, hashtextextended(image_id::text || '/' || tag_code, 0) WITH =, image_id WITH =, tag_code WITH =, tstzrange(valid_from, valid_to) WITH &&),
    CHECK (valid_from < valid_to)
);

CREATE UNIQUE INDEX image_tags_current_idx ON ores_assets_image_tags_tbl (tenant_id, image_id, tag_code)
    WHERE valid_to = ores_utility_infinity_timestamp_fn();

CREATE OR REPLACE TRIGGER ores_assets_image_tags_insert_trg BEFORE INSERT ON ores_assets_image_tags_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_insert_fn('image_id,tag_code');
CREATE OR REPLACE TRIGGER ores_assets_image_tags_lookup_trg AFTER INSERT ON ores_assets_image_tags_tbl
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ores_utility_versioned_lookup_fn('image_id=ores_assets_images_tbl.image_id', 'tag_code=ores_assets_tags_tbl.code');
CREATE OR REPLACE TRIGGER ores_assets_image_tags_update_trg BEFORE UPDATE ON ores_assets_image_tags_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_update_fn();
CREATE OR REPLACE TRIGGER ores_assets_image_tags_delete_trg BEFORE DELETE ON ores_assets_image_tags_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_versioned_delete_fn('image_id,tag_code');
CREATE OR REPLACE TRIGGER ores_assets_image_tags_notify_trg AFTER INSERT OR UPDATE OR DELETE ON ores_assets_image_tags_tbl
    FOR EACH ROW EXECUTE FUNCTION ores_utility_notify_trigger_fn('image_id,tag_code');

ALTER TABLE ores_assets_image_tags_tbl ENABLE ROW LEVEL SECURITY;
ALTER TABLE ores_assets_image_tags_tbl FORCE ROW LEVEL SECURITY;
CREATE POLICY ores_assets_image_tags_tenant_pol ON ores_assets_image_tags_tbl
    USING (tenant_id = ores_utility_current_tenant_id_fn())
    WITH CHECK (tenant_id = ores_utility_current_tenant_id_fn());
-- Shared reference data: every tenant reads the system tenant's rows beside its own.
CREATE POLICY ores_assets_image_tags_shared_read_pol ON ores_assets_image_tags_tbl FOR SELECT
    USING (tenant_id = ores_utility_system_tenant_id_fn());
