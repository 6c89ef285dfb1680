-- Links that open an invoice's PDF without a token (e-mailed to a client):
-- only the token's hash is stored; a link expires and can be revoked.
CREATE TABLE share_links (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    entity_kind TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    created_by  TEXT,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX share_links_entity ON share_links (entity_kind, entity_id);
