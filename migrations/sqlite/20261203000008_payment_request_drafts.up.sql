-- Seed 003: a payment request is filled in over time; a draft may be
-- incomplete, and sending it for approval checks the form's required fields
-- (the host does). SQLite cannot drop NOT NULL in place, so the table is
-- rebuilt; its history refers to it, so the history is set aside and put
-- back (dropping a referenced table would cascade into it). The old BLOB
-- columns go: files live in entity_files.
CREATE TABLE payment_request_history_keep AS SELECT * FROM payment_request_history;
DROP TABLE payment_request_history;

CREATE TABLE payment_requests_new (
    id                    TEXT PRIMARY KEY,
    purpose               TEXT,
    contractor            TEXT,
    contractor_company_id TEXT REFERENCES companies (id),
    amount                TEXT,
    currency              TEXT NOT NULL DEFAULT 'RUB',
    pay_by                TEXT,
    inn                   TEXT,
    kpp                   TEXT,
    bik                   TEXT,
    settlement_account    TEXT,
    correspondent_account TEXT,
    payment_purpose_text  TEXT,
    status                TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'on_approval', 'approved', 'paid', 'rejected')),
    author_id             TEXT REFERENCES users (id),
    paid_date             TEXT,
    -- Why accounting last returned it for rework (set with the return).
    returned_reason       TEXT,
    custom_fields         TEXT NOT NULL DEFAULT '{}',
    version               INTEGER NOT NULL DEFAULT 1,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);
INSERT INTO payment_requests_new
SELECT id, purpose, contractor, contractor_company_id, amount, currency, pay_by, inn, kpp, bik,
       settlement_account, correspondent_account, payment_purpose_text, status, author_id,
       paid_date, NULL, custom_fields, version, created_at, updated_at
FROM payment_requests;
DROP TABLE payment_requests;
ALTER TABLE payment_requests_new RENAME TO payment_requests;
CREATE INDEX payment_requests_status ON payment_requests (status, pay_by);
CREATE INDEX payment_requests_inn ON payment_requests (inn);

CREATE TABLE payment_request_history (
    id          TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES payment_requests (id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    user_id     TEXT REFERENCES users (id),
    from_status TEXT,
    to_status   TEXT,
    comment     TEXT
);
INSERT INTO payment_request_history SELECT * FROM payment_request_history_keep;
DROP TABLE payment_request_history_keep;
