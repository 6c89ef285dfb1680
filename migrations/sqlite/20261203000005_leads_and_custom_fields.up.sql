-- Scenario 2: the lead pipeline of seed 002 (new → qualification →
-- proposal_sent → meeting → agreement_received → converted, or junk), the
-- fields each lead status requires, and custom fields that stages require.

-- SQLite cannot change a CHECK in place: rebuild the table with the new
-- statuses, carrying the old names over (agreement → agreement_received,
-- lost → junk). Nothing refers to leads by foreign key.
CREATE TABLE leads_new (
    id                   TEXT PRIMARY KEY,
    title                TEXT NOT NULL,
    name                 TEXT,
    phone                TEXT,
    email                TEXT,
    city                 TEXT,
    source               TEXT,
    topic                TEXT,
    status               TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'qualification', 'proposal_sent', 'meeting', 'agreement_received', 'converted', 'junk')),
    responsible_id       TEXT REFERENCES users (id),
    converted_deal_id    TEXT,
    converted_contact_id TEXT,
    converted_company_id TEXT,
    custom_fields        TEXT NOT NULL DEFAULT '{}',
    version              INTEGER NOT NULL DEFAULT 1,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
INSERT INTO leads_new
SELECT id, title, name, phone, email, city, source, topic,
       CASE status WHEN 'agreement' THEN 'agreement_received' WHEN 'lost' THEN 'junk' ELSE status END,
       responsible_id, converted_deal_id, converted_contact_id, converted_company_id,
       custom_fields, version, created_at, updated_at
FROM leads;
DROP TABLE leads;
ALTER TABLE leads_new RENAME TO leads;
CREATE INDEX leads_status ON leads (status);

-- What a lead must have to enter each status, as deal stages list theirs
-- (a JSON array of field names; `custom_fields.<name>` for a custom field).
CREATE TABLE lead_statuses (
    code            TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    sort            INTEGER NOT NULL,
    semantic        TEXT NOT NULL CHECK (semantic IN ('open', 'won', 'lost')),
    required_fields TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO lead_statuses (code, name, sort, semantic) VALUES
    ('new',                'New',                10, 'open'),
    ('qualification',      'Qualification',      20, 'open'),
    ('proposal_sent',      'Proposal sent',      30, 'open'),
    ('meeting',            'Meeting',            40, 'open'),
    ('agreement_received', 'Agreement received', 50, 'open'),
    ('converted',          'Converted',          60, 'won'),
    ('junk',               'Junk',               70, 'lost');

-- A custom field may be required from some stages (deals) or statuses
-- (leads) on: a JSON array of their codes.
ALTER TABLE custom_field_defs ADD COLUMN required_at TEXT NOT NULL DEFAULT '[]';

-- What the company registry knows and the company card shows: the
-- director's post, the main OKVED code and the registration date.
ALTER TABLE companies ADD COLUMN director_post TEXT;
ALTER TABLE companies ADD COLUMN okved TEXT;
ALTER TABLE companies ADD COLUMN registered_on TEXT;

-- A task may be a call or a meeting (seed 002: the meeting at the client's
-- site): a meeting has its time and place.
ALTER TABLE tasks ADD COLUMN kind TEXT NOT NULL DEFAULT 'task' CHECK (kind IN ('task', 'call', 'meeting'));
ALTER TABLE tasks ADD COLUMN starts_at TEXT;
ALTER TABLE tasks ADD COLUMN place TEXT;
