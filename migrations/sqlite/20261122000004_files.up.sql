-- Files stored with an entity: an invoice's PDF, a contractor's invoice scan,
-- an imported bank statement. One name per entity; storing a file under a
-- name it already has replaces it.
CREATE TABLE entity_files (
    id           TEXT PRIMARY KEY,
    entity_kind  TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    content      BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    UNIQUE (entity_kind, entity_id, name)
);

-- The invoice's PDF now lives in entity_files like every other file.
ALTER TABLE invoices DROP COLUMN pdf;
