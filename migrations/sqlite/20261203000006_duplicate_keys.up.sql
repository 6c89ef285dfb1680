-- The keys contacts and companies are compared by to find duplicates
-- (normalised phone, e-mail, INN, company name), kept in step with every
-- write so a check is an index lookup. The host fills it for records made
-- before this table existed.
CREATE TABLE duplicate_keys (
    entity_kind TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (entity_kind, entity_id, key, value)
);
CREATE INDEX duplicate_keys_value ON duplicate_keys (entity_kind, key, value);
