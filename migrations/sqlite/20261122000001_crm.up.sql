-- The CRM: every entity of SCENARIOS.md.
-- Ids are time-ordered UUIDv7 text made by the host. Money and quantities are
-- exact decimals stored as TEXT (never REAL) next to their currency.
-- Timestamps are UTC RFC 3339 text ("2026-11-22T09:00:00.000000Z"), dates
-- are "YYYY-MM-DD"; both sort correctly as text. Every entity row carries a
-- version that each update bumps, for optimistic checks.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('manager', 'head_of_sales', 'accountant', 'admin')),
    active        INTEGER NOT NULL DEFAULT 1,
    custom_fields TEXT NOT NULL DEFAULT '{}',
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE companies (
    id                    TEXT PRIMARY KEY,
    kind                  TEXT NOT NULL CHECK (kind IN ('organisation', 'sole_trader')),
    short_name            TEXT NOT NULL,
    full_name             TEXT,
    legal_form            TEXT,
    inn                   TEXT,
    kpp                   TEXT,
    ogrn                  TEXT,
    legal_address         TEXT,
    postal_address        TEXT,
    director              TEXT,
    email                 TEXT,
    phone                 TEXT,
    region                TEXT,
    bank_name             TEXT,
    bik                   TEXT,
    settlement_account    TEXT,
    correspondent_account TEXT,
    responsible_id        TEXT REFERENCES users (id),
    custom_fields         TEXT NOT NULL DEFAULT '{}',
    version               INTEGER NOT NULL DEFAULT 1,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);
CREATE INDEX companies_inn ON companies (inn);

CREATE TABLE contacts (
    id             TEXT PRIMARY KEY,
    first_name     TEXT NOT NULL,
    last_name      TEXT NOT NULL,
    middle_name    TEXT,
    phones         TEXT NOT NULL DEFAULT '[]',
    emails         TEXT NOT NULL DEFAULT '[]',
    position       TEXT,
    company_id     TEXT REFERENCES companies (id),
    responsible_id TEXT REFERENCES users (id),
    custom_fields  TEXT NOT NULL DEFAULT '{}',
    version        INTEGER NOT NULL DEFAULT 1,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX contacts_company ON contacts (company_id);

CREATE TABLE leads (
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

CREATE TABLE pipelines (
    id         TEXT PRIMARY KEY,
    code       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

-- A stage lists the fields a deal must have to enter it (a JSON array of names).
CREATE TABLE stages (
    id              TEXT PRIMARY KEY,
    pipeline_id     TEXT NOT NULL REFERENCES pipelines (id),
    code            TEXT NOT NULL,
    name            TEXT NOT NULL,
    sort            INTEGER NOT NULL,
    semantic        TEXT NOT NULL DEFAULT 'open' CHECK (semantic IN ('open', 'won', 'lost')),
    required_fields TEXT NOT NULL DEFAULT '[]',
    UNIQUE (pipeline_id, code)
);

CREATE TABLE products (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    sku           TEXT,
    unit          TEXT NOT NULL DEFAULT 'шт',
    price         TEXT NOT NULL,
    currency      TEXT NOT NULL,
    vat_rate      TEXT NOT NULL CHECK (vat_rate IN ('20', '10', '0', 'none')),
    active        INTEGER NOT NULL DEFAULT 1,
    custom_fields TEXT NOT NULL DEFAULT '{}',
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE deals (
    id             TEXT PRIMARY KEY,
    title          TEXT NOT NULL,
    pipeline_id    TEXT NOT NULL REFERENCES pipelines (id),
    stage          TEXT NOT NULL,
    amount         TEXT NOT NULL DEFAULT '0',
    currency       TEXT NOT NULL DEFAULT 'RUB',
    company_id     TEXT REFERENCES companies (id),
    contact_id     TEXT REFERENCES contacts (id),
    responsible_id TEXT REFERENCES users (id),
    payment_method TEXT,
    closed_at      TEXT,
    custom_fields  TEXT NOT NULL DEFAULT '{}',
    version        INTEGER NOT NULL DEFAULT 1,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    FOREIGN KEY (pipeline_id, stage) REFERENCES stages (pipeline_id, code)
);
CREATE INDEX deals_stage ON deals (pipeline_id, stage);
CREATE INDEX deals_company ON deals (company_id);

CREATE TABLE deal_items (
    id         TEXT PRIMARY KEY,
    deal_id    TEXT NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    product_id TEXT REFERENCES products (id),
    name       TEXT NOT NULL,
    quantity   TEXT NOT NULL,
    unit       TEXT NOT NULL DEFAULT 'шт',
    price      TEXT NOT NULL,
    vat_rate   TEXT NOT NULL CHECK (vat_rate IN ('20', '10', '0', 'none')),
    UNIQUE (deal_id, position)
);

-- Invoice numbers are gap-free per year: one counter row per year, bumped in
-- the same transaction that inserts the invoice.
CREATE TABLE invoice_counters (
    year     INTEGER PRIMARY KEY,
    last_seq INTEGER NOT NULL
);

CREATE TABLE invoices (
    id               TEXT PRIMARY KEY,
    number           TEXT NOT NULL UNIQUE,
    year             INTEGER NOT NULL,
    seq              INTEGER NOT NULL,
    deal_id          TEXT REFERENCES deals (id),
    buyer_company_id TEXT REFERENCES companies (id),
    buyer_contact_id TEXT REFERENCES contacts (id),
    buyer            TEXT NOT NULL DEFAULT '{}',
    seller           TEXT NOT NULL DEFAULT '{}',
    subtotal         TEXT NOT NULL DEFAULT '0',
    vat_total        TEXT NOT NULL DEFAULT '0',
    total            TEXT NOT NULL DEFAULT '0',
    currency         TEXT NOT NULL DEFAULT 'RUB',
    issue_date       TEXT NOT NULL,
    due_date         TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'sent', 'paid', 'overdue', 'cancelled')),
    paid_date        TEXT,
    pdf              BLOB,
    custom_fields    TEXT NOT NULL DEFAULT '{}',
    version          INTEGER NOT NULL DEFAULT 1,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (year, seq)
);
CREATE INDEX invoices_deal ON invoices (deal_id);
CREATE INDEX invoices_status_due ON invoices (status, due_date);

CREATE TABLE invoice_items (
    id         TEXT PRIMARY KEY,
    invoice_id TEXT NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    product_id TEXT REFERENCES products (id),
    name       TEXT NOT NULL,
    quantity   TEXT NOT NULL,
    unit       TEXT NOT NULL DEFAULT 'шт',
    price      TEXT NOT NULL,
    vat_rate   TEXT NOT NULL CHECK (vat_rate IN ('20', '10', '0', 'none')),
    UNIQUE (invoice_id, position)
);

CREATE TABLE payment_requests (
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

CREATE TABLE tasks (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    description TEXT,
    assignee_id TEXT REFERENCES users (id),
    due_at      TEXT,
    entity_kind TEXT,
    entity_id   TEXT,
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    done_at     TEXT,
    custom_fields TEXT NOT NULL DEFAULT '{}',
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX tasks_assignee ON tasks (assignee_id, status);

CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    entity_kind TEXT,
    entity_id   TEXT,
    read_at     TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX notifications_user ON notifications (user_id, read_at);

-- Everything that happened to an entity, newest last.
CREATE TABLE timeline (
    id          TEXT PRIMARY KEY,
    entity_kind TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    text        TEXT NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}',
    user_id     TEXT
);
CREATE INDEX timeline_entity ON timeline (entity_kind, entity_id, at);

-- Admin-defined fields; values live in each entity's custom_fields JSON.
CREATE TABLE custom_field_defs (
    id          TEXT PRIMARY KEY,
    entity_kind TEXT NOT NULL,
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    type        TEXT NOT NULL CHECK (type IN ('text', 'number', 'decimal', 'date', 'bool', 'enum')),
    options     TEXT NOT NULL DEFAULT '[]',
    UNIQUE (entity_kind, code)
);

-- Entity changes, written in the transaction that makes them; the process
-- engine turns them into runs.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    entity_kind TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    changes     TEXT NOT NULL DEFAULT '{}',
    at          TEXT NOT NULL
);

-- E-mail queued by actions, delivered by the dispatcher.
CREATE TABLE mail_outbox (
    id          TEXT PRIMARY KEY,
    message_id  TEXT NOT NULL UNIQUE,
    recipients  TEXT NOT NULL,
    cc          TEXT NOT NULL DEFAULT '[]',
    subject     TEXT NOT NULL,
    text_body   TEXT NOT NULL,
    html_body   TEXT,
    attachments TEXT NOT NULL DEFAULT '[]',
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    next_at     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    sent_at     TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_at);
