-- Run once on the test template by `compass db test`, as the DDL login, after the
-- administrator installed the [tests] extensions (pgTAP is not a trusted extension,
-- so this line only finds it there; it documents what the suite needs).
create extension if not exists pgtap;
