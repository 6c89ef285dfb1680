ALTER TABLE tasks DROP COLUMN place;
ALTER TABLE tasks DROP COLUMN starts_at;
ALTER TABLE tasks DROP COLUMN kind;
ALTER TABLE companies DROP COLUMN registered_on;
ALTER TABLE companies DROP COLUMN okved;
ALTER TABLE companies DROP COLUMN director_post;
ALTER TABLE custom_field_defs DROP COLUMN required_at;
DROP TABLE lead_statuses;
CREATE TABLE leads_old (
    id                   TEXT PRIMARY KEY,
    title                TEXT NOT NULL,
    name                 TEXT,
    phone                TEXT,
    email                TEXT,
    city                 TEXT,
    source               TEXT,
    topic                TEXT,
    status               TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'qualification', 'proposal_sent', 'meeting', 'agreement', 'converted', 'lost')),
    responsible_id       TEXT REFERENCES users (id),
    converted_deal_id    TEXT,
    converted_contact_id TEXT,
    converted_company_id TEXT,
    custom_fields        TEXT NOT NULL DEFAULT '{}',
    version              INTEGER NOT NULL DEFAULT 1,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
INSERT INTO leads_old
SELECT id, title, name, phone, email, city, source, topic,
       CASE status WHEN 'agreement_received' THEN 'agreement' WHEN 'junk' THEN 'lost' ELSE status END,
       responsible_id, converted_deal_id, converted_contact_id, converted_company_id,
       custom_fields, version, created_at, updated_at
FROM leads;
DROP TABLE leads;
ALTER TABLE leads_old RENAME TO leads;
