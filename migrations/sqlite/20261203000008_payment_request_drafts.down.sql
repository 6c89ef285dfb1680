-- Back to every form field required: requests still incomplete cannot be
-- kept in the old shape and are dropped with their history.
CREATE TABLE payment_request_history_keep AS SELECT * FROM payment_request_history;
DROP TABLE payment_request_history;
CREATE TABLE payment_requests_old (
    id                    TEXT PRIMARY KEY,
    purpose               TEXT NOT NULL,
    contractor            TEXT NOT NULL,
    contractor_company_id TEXT REFERENCES companies (id),
    amount                TEXT NOT NULL,
    currency              TEXT NOT NULL,
    pay_by                TEXT NOT NULL,
    inn                   TEXT NOT NULL,
    kpp                   TEXT,
    bik                   TEXT,
    settlement_account    TEXT NOT NULL,
    correspondent_account TEXT,
    payment_purpose_text  TEXT NOT NULL,
    contractor_invoice    BLOB,
    payment_order         BLOB,
    status                TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'on_approval', 'approved', 'paid', 'rejected')),
    author_id             TEXT REFERENCES users (id),
    paid_date             TEXT,
    custom_fields         TEXT NOT NULL DEFAULT '{}',
    version               INTEGER NOT NULL DEFAULT 1,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);
INSERT INTO payment_requests_old
SELECT id, purpose, contractor, contractor_company_id, amount, currency, pay_by, inn, kpp, bik,
       settlement_account, correspondent_account, payment_purpose_text, NULL, NULL, status,
       author_id, paid_date, custom_fields, version, created_at, updated_at
FROM payment_requests
WHERE purpose IS NOT NULL AND contractor IS NOT NULL AND amount IS NOT NULL AND pay_by IS NOT NULL
  AND inn IS NOT NULL AND settlement_account IS NOT NULL AND payment_purpose_text IS NOT NULL;
DROP TABLE payment_requests;
ALTER TABLE payment_requests_old RENAME TO payment_requests;
CREATE INDEX payment_requests_status ON payment_requests (status, pay_by);
CREATE TABLE payment_request_history (
    id          TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES payment_requests (id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    user_id     TEXT REFERENCES users (id),
    from_status TEXT,
    to_status   TEXT,
    comment     TEXT
);
INSERT INTO payment_request_history
SELECT * FROM payment_request_history_keep WHERE request_id IN (SELECT id FROM payment_requests);
DROP TABLE payment_request_history_keep;
