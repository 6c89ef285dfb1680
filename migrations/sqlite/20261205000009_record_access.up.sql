-- Who sees what (crate::access): a record shared with a user beyond its
-- responsible, and who returned a payment request for rework (accounting
-- keeps seeing the drafts it returned).
CREATE TABLE record_access (
    entity_kind TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    granted_by  TEXT,
    granted_at  TEXT NOT NULL,
    PRIMARY KEY (entity_kind, entity_id, user_id)
);
CREATE INDEX record_access_user ON record_access (user_id, entity_kind);

ALTER TABLE payment_requests ADD COLUMN returned_by TEXT REFERENCES users (id);

-- The access conditions look records up by their owner.
CREATE INDEX leads_responsible ON leads (responsible_id);
CREATE INDEX deals_responsible ON deals (responsible_id);
CREATE INDEX companies_responsible ON companies (responsible_id);
CREATE INDEX contacts_responsible ON contacts (responsible_id);
CREATE INDEX payment_requests_author ON payment_requests (author_id);
