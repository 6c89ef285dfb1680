-- The whole schema on PostgreSQL: the same tables and columns as the
-- SQLite migrations end with (a test keeps the two equal), with the types
-- PostgreSQL has: exact numeric for money and quantities, timestamptz for
-- instants, date for days, jsonb for JSON, boolean for flags, bytea for
-- file contents. Ids stay text (time-ordered UUIDv7 made by the host).

CREATE TABLE users (
    id              text PRIMARY KEY,
    email           text NOT NULL UNIQUE,
    name            text NOT NULL,
    role            text NOT NULL CHECK (role IN ('manager', 'head_of_sales', 'accountant', 'admin')),
    active          boolean NOT NULL DEFAULT true,
    custom_fields   jsonb NOT NULL DEFAULT '{}',
    version         bigint NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    notify_by_email boolean NOT NULL DEFAULT false
);

CREATE TABLE companies (
    id                    text PRIMARY KEY,
    kind                  text NOT NULL CHECK (kind IN ('organisation', 'sole_trader')),
    short_name            text NOT NULL,
    full_name             text,
    legal_form            text,
    inn                   text,
    kpp                   text,
    ogrn                  text,
    legal_address         text,
    postal_address        text,
    director              text,
    email                 text,
    phone                 text,
    region                text,
    bank_name             text,
    bik                   text,
    settlement_account    text,
    correspondent_account text,
    responsible_id        text REFERENCES users (id),
    custom_fields         jsonb NOT NULL DEFAULT '{}',
    version               bigint NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    director_post         text,
    okved                 text,
    registered_on         date
);
CREATE INDEX companies_inn ON companies (inn);
CREATE INDEX companies_responsible ON companies (responsible_id);

CREATE TABLE contacts (
    id             text PRIMARY KEY,
    first_name     text NOT NULL,
    last_name      text NOT NULL,
    middle_name    text,
    phones         jsonb NOT NULL DEFAULT '[]',
    emails         jsonb NOT NULL DEFAULT '[]',
    position       text,
    company_id     text REFERENCES companies (id),
    responsible_id text REFERENCES users (id),
    custom_fields  jsonb NOT NULL DEFAULT '{}',
    version        bigint NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX contacts_company ON contacts (company_id);
CREATE INDEX contacts_responsible ON contacts (responsible_id);

CREATE TABLE pipelines (
    id         text PRIMARY KEY,
    code       text NOT NULL UNIQUE,
    name       text NOT NULL,
    is_default boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL
);

CREATE TABLE stages (
    id              text PRIMARY KEY,
    pipeline_id     text NOT NULL REFERENCES pipelines (id),
    code            text NOT NULL,
    name            text NOT NULL,
    sort            bigint NOT NULL,
    semantic        text NOT NULL DEFAULT 'open' CHECK (semantic IN ('open', 'won', 'lost')),
    required_fields jsonb NOT NULL DEFAULT '[]',
    UNIQUE (pipeline_id, code)
);

CREATE TABLE products (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    sku           text,
    unit          text NOT NULL DEFAULT 'шт',
    price         numeric NOT NULL,
    currency      text NOT NULL,
    vat_rate      text NOT NULL CHECK (vat_rate IN ('20', '10', '0', 'none')),
    active        boolean NOT NULL DEFAULT true,
    custom_fields jsonb NOT NULL DEFAULT '{}',
    version       bigint NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE TABLE deals (
    id             text PRIMARY KEY,
    title          text NOT NULL,
    pipeline_id    text NOT NULL REFERENCES pipelines (id),
    stage          text NOT NULL,
    amount         numeric NOT NULL DEFAULT 0,
    currency       text NOT NULL DEFAULT 'RUB',
    company_id     text REFERENCES companies (id),
    contact_id     text REFERENCES contacts (id),
    responsible_id text REFERENCES users (id),
    payment_method text,
    closed_at      timestamptz,
    custom_fields  jsonb NOT NULL DEFAULT '{}',
    version        bigint NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    FOREIGN KEY (pipeline_id, stage) REFERENCES stages (pipeline_id, code)
);
CREATE INDEX deals_stage ON deals (pipeline_id, stage);
CREATE INDEX deals_company ON deals (company_id);
CREATE INDEX deals_responsible ON deals (responsible_id);

CREATE TABLE deal_items (
    id         text PRIMARY KEY,
    deal_id    text NOT NULL REFERENCES deals (id) ON DELETE CASCADE,
    position   bigint NOT NULL,
    product_id text REFERENCES products (id),
    name       text NOT NULL,
    quantity   numeric NOT NULL,
    unit       text NOT NULL DEFAULT 'шт',
    price      numeric NOT NULL,
    vat_rate   text NOT NULL CHECK (vat_rate IN ('20', '10', '0', 'none')),
    UNIQUE (deal_id, position)
);

-- One row per year; a commit that issues an invoice bumps it in its own
-- transaction (the row lock orders concurrent issuers on every node), so
-- numbers stay unique and gap-free.
CREATE TABLE invoice_counters (
    year     bigint PRIMARY KEY,
    last_seq bigint NOT NULL
);

CREATE TABLE invoices (
    id               text PRIMARY KEY,
    number           text NOT NULL UNIQUE,
    year             bigint NOT NULL,
    seq              bigint NOT NULL,
    deal_id          text REFERENCES deals (id),
    buyer_company_id text REFERENCES companies (id),
    buyer_contact_id text REFERENCES contacts (id),
    buyer            jsonb NOT NULL DEFAULT '{}',
    seller           jsonb NOT NULL DEFAULT '{}',
    subtotal         numeric NOT NULL DEFAULT 0,
    vat_total        numeric NOT NULL DEFAULT 0,
    total            numeric NOT NULL DEFAULT 0,
    currency         text NOT NULL DEFAULT 'RUB',
    issue_date       date NOT NULL,
    due_date         date NOT NULL,
    status           text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'sent', 'paid', 'overdue', 'cancelled')),
    paid_date        date,
    custom_fields    jsonb NOT NULL DEFAULT '{}',
    version          bigint NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    UNIQUE (year, seq)
);
CREATE INDEX invoices_deal ON invoices (deal_id);
CREATE INDEX invoices_status_due ON invoices (status, due_date);

CREATE TABLE invoice_items (
    id         text PRIMARY KEY,
    invoice_id text NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    position   bigint NOT NULL,
    product_id text REFERENCES products (id),
    name       text NOT NULL,
    quantity   numeric NOT NULL,
    unit       text NOT NULL DEFAULT 'шт',
    price      numeric NOT NULL,
    vat_rate   text NOT NULL CHECK (vat_rate IN ('20', '10', '0', 'none')),
    UNIQUE (invoice_id, position)
);

CREATE TABLE tasks (
    id            text PRIMARY KEY,
    title         text NOT NULL,
    description   text,
    assignee_id   text REFERENCES users (id),
    due_at        timestamptz,
    entity_kind   text,
    entity_id     text,
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    done_at       timestamptz,
    custom_fields jsonb NOT NULL DEFAULT '{}',
    version       bigint NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    kind          text NOT NULL DEFAULT 'task' CHECK (kind IN ('task', 'call', 'meeting')),
    starts_at     timestamptz,
    place         text
);
CREATE INDEX tasks_assignee ON tasks (assignee_id, status);

CREATE TABLE notifications (
    id          text PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users (id),
    title       text NOT NULL,
    body        text NOT NULL,
    entity_kind text,
    entity_id   text,
    read_at     timestamptz,
    created_at  timestamptz NOT NULL
);
CREATE INDEX notifications_user ON notifications (user_id, read_at);

CREATE TABLE timeline (
    id          text PRIMARY KEY,
    entity_kind text NOT NULL,
    entity_id   text NOT NULL,
    at          timestamptz NOT NULL,
    kind        text NOT NULL,
    text        text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}',
    user_id     text
);
CREATE INDEX timeline_entity ON timeline (entity_kind, entity_id, at);

CREATE TABLE custom_field_defs (
    id          text PRIMARY KEY,
    entity_kind text NOT NULL,
    code        text NOT NULL,
    name        text NOT NULL,
    type        text NOT NULL CHECK (type IN ('text', 'number', 'decimal', 'date', 'bool', 'enum')),
    options     jsonb NOT NULL DEFAULT '[]',
    required_at jsonb NOT NULL DEFAULT '[]',
    UNIQUE (entity_kind, code)
);

-- Events in commit order. A sequence's numbers are taken before commit, so
-- on several nodes a reader of "seq > cursor" could pass a number whose
-- transaction commits later: the engine on PostgreSQL claims events by row
-- instead (see DESIGN.md, "Where it goes past one machine").
CREATE TABLE events (
    seq         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    id          text NOT NULL UNIQUE,
    entity_kind text NOT NULL,
    entity_id   text NOT NULL,
    kind        text NOT NULL,
    changes     jsonb NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL
);

CREATE TABLE mail_outbox (
    id          text PRIMARY KEY,
    message_id  text NOT NULL UNIQUE,
    recipients  jsonb NOT NULL,
    cc          jsonb NOT NULL DEFAULT '[]',
    subject     text NOT NULL,
    text_body   text NOT NULL,
    html_body   text,
    attachments jsonb NOT NULL DEFAULT '[]',
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts    bigint NOT NULL DEFAULT 0,
    last_error  text,
    next_at     timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    sent_at     timestamptz
);
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_at);

CREATE TABLE processes (
    id              text PRIMARY KEY,
    current_version bigint NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    updated_at      timestamptz NOT NULL
);

CREATE TABLE process_versions (
    process_id text NOT NULL REFERENCES processes (id) ON DELETE CASCADE,
    version    bigint NOT NULL,
    digest     text NOT NULL,
    file_name  text NOT NULL,
    source     text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (process_id, version)
);

CREATE TABLE action_sets (
    id         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    -- {"send-email@1": "<digest>", …} with sorted keys, as text: the text
    -- is the set's identity.
    pins       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);

CREATE TABLE runs (
    id              text PRIMARY KEY,
    process_id      text NOT NULL,
    process_version bigint NOT NULL,
    status          text NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    trigger         jsonb NOT NULL,
    entity_kind     text,
    entity_id       text,
    trigger_key     text NOT NULL,
    once_key        text,
    error           text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    action_set      bigint REFERENCES action_sets (id),
    FOREIGN KEY (process_id, process_version) REFERENCES process_versions (process_id, version),
    UNIQUE (process_id, trigger_key)
);
CREATE UNIQUE INDEX runs_once ON runs (process_id, once_key) WHERE once_key IS NOT NULL;
CREATE INDEX runs_by_status ON runs (status, created_at);
CREATE INDEX runs_by_process ON runs (process_id, created_at);

CREATE TABLE run_steps (
    id          text PRIMARY KEY,
    run_id      text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_index  bigint NOT NULL,
    step_key    text NOT NULL,
    item        bigint,
    status      text NOT NULL CHECK (status IN ('pending', 'running', 'waiting', 'done', 'skipped', 'failed', 'cancelled')),
    due_at      timestamptz NOT NULL,
    attempts    bigint NOT NULL DEFAULT 0,
    lease_until timestamptz,
    input       jsonb,
    output      jsonb,
    error       text,
    created_at  timestamptz NOT NULL,
    started_at  timestamptz,
    finished_at timestamptz
);
CREATE INDEX run_steps_due ON run_steps (status, due_at);
CREATE INDEX run_steps_by_run ON run_steps (run_id, created_at);

CREATE TABLE step_attempts (
    id          text PRIMARY KEY,
    step_id     text NOT NULL REFERENCES run_steps (id) ON DELETE CASCADE,
    attempt     bigint NOT NULL,
    status      text NOT NULL CHECK (status IN ('done', 'skipped', 'failed', 'retrying', 'waiting')),
    input       jsonb,
    output      jsonb,
    error       text,
    logs        jsonb NOT NULL DEFAULT '[]',
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    duration_ms bigint NOT NULL,
    digest      text
);
CREATE INDEX step_attempts_by_step ON step_attempts (step_id, attempt);

CREATE TABLE approvals (
    id            text PRIMARY KEY,
    run_id        text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id       text NOT NULL UNIQUE REFERENCES run_steps (id) ON DELETE CASCADE,
    title         text NOT NULL,
    description   text NOT NULL DEFAULT '',
    assignee_id   text REFERENCES users (id),
    assignee_role text CHECK (assignee_role IN ('manager', 'head_of_sales', 'accountant', 'admin')),
    entity_kind   text,
    entity_id     text,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'cancelled')),
    decided_by    text,
    comment       text,
    expires_at    timestamptz,
    created_at    timestamptz NOT NULL,
    decided_at    timestamptz,
    CHECK (assignee_id IS NOT NULL OR assignee_role IS NOT NULL)
);
CREATE INDEX approvals_open ON approvals (status, expires_at);

CREATE TABLE engine_cursors (
    name text PRIMARY KEY,
    seq  bigint NOT NULL
);

CREATE TABLE schedules (
    process_id text PRIMARY KEY REFERENCES processes (id) ON DELETE CASCADE,
    expr       text NOT NULL,
    timezone   text NOT NULL,
    next_at    timestamptz NOT NULL
);

CREATE TABLE api_tokens (
    id         text PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    user_id    text REFERENCES users (id),
    role       text NOT NULL CHECK (role IN ('manager', 'head_of_sales', 'accountant', 'admin')),
    label      text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE entity_files (
    id           text PRIMARY KEY,
    entity_kind  text NOT NULL,
    entity_id    text NOT NULL,
    name         text NOT NULL,
    content_type text NOT NULL,
    size         bigint NOT NULL,
    content      bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    UNIQUE (entity_kind, entity_id, name)
);

CREATE TABLE leads (
    id                   text PRIMARY KEY,
    title                text NOT NULL,
    name                 text,
    phone                text,
    email                text,
    city                 text,
    source               text,
    topic                text,
    status               text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'qualification', 'proposal_sent', 'meeting', 'agreement_received', 'converted', 'junk')),
    responsible_id       text REFERENCES users (id),
    converted_deal_id    text,
    converted_contact_id text,
    converted_company_id text,
    custom_fields        jsonb NOT NULL DEFAULT '{}',
    version              bigint NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);
CREATE INDEX leads_status ON leads (status);
CREATE INDEX leads_responsible ON leads (responsible_id);

CREATE TABLE lead_statuses (
    code            text PRIMARY KEY,
    name            text NOT NULL,
    sort            bigint NOT NULL,
    semantic        text NOT NULL CHECK (semantic IN ('open', 'won', 'lost')),
    required_fields jsonb NOT NULL DEFAULT '[]'
);

CREATE TABLE duplicate_keys (
    entity_kind text NOT NULL,
    entity_id   text NOT NULL,
    key         text NOT NULL,
    value       text NOT NULL,
    PRIMARY KEY (entity_kind, entity_id, key, value)
);
CREATE INDEX duplicate_keys_value ON duplicate_keys (entity_kind, key, value);

CREATE TABLE share_links (
    id          text PRIMARY KEY,
    token_hash  text NOT NULL UNIQUE,
    entity_kind text NOT NULL,
    entity_id   text NOT NULL,
    created_by  text,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX share_links_entity ON share_links (entity_kind, entity_id);

CREATE TABLE payment_requests (
    id                    text PRIMARY KEY,
    purpose               text,
    contractor            text,
    contractor_company_id text REFERENCES companies (id),
    amount                numeric,
    currency              text NOT NULL DEFAULT 'RUB',
    pay_by                date,
    inn                   text,
    kpp                   text,
    bik                   text,
    settlement_account    text,
    correspondent_account text,
    payment_purpose_text  text,
    status                text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'on_approval', 'approved', 'paid', 'rejected')),
    author_id             text REFERENCES users (id),
    paid_date             date,
    returned_reason       text,
    custom_fields         jsonb NOT NULL DEFAULT '{}',
    version               bigint NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    returned_by           text REFERENCES users (id)
);
CREATE INDEX payment_requests_status ON payment_requests (status, pay_by);
CREATE INDEX payment_requests_inn ON payment_requests (inn);
CREATE INDEX payment_requests_author ON payment_requests (author_id);

CREATE TABLE payment_request_history (
    id          text PRIMARY KEY,
    request_id  text NOT NULL REFERENCES payment_requests (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    user_id     text REFERENCES users (id),
    from_status text,
    to_status   text,
    comment     text
);

CREATE TABLE record_access (
    entity_kind text NOT NULL,
    entity_id   text NOT NULL,
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    granted_by  text,
    granted_at  timestamptz NOT NULL,
    PRIMARY KEY (entity_kind, entity_id, user_id)
);
CREATE INDEX record_access_user ON record_access (user_id, entity_kind);

CREATE TABLE saved_filters (
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    view       text NOT NULL,
    filter     jsonb NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, view)
);

CREATE TABLE console_sessions (
    id_hash    text PRIMARY KEY,
    token_id   text NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    csrf       text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_by_token ON console_sessions (token_id);

-- The seed rows the SQLite migrations add: the default sales pipeline, the
-- lead statuses and the engine's event cursor.
INSERT INTO pipelines (id, code, name, is_default, created_at)
VALUES ('pipeline-sales', 'sales', 'Sales', true, '2026-11-22T00:00:00Z');

INSERT INTO stages (id, pipeline_id, code, name, sort, semantic, required_fields) VALUES
    ('stage-sales-new',          'pipeline-sales', 'new',          'New',          10, 'open', '[]'),
    ('stage-sales-negotiation',  'pipeline-sales', 'negotiation',  'Negotiation',  20, 'open', '[]'),
    ('stage-sales-invoice',      'pipeline-sales', 'invoice',      'Invoice',      30, 'open', '["company_id","amount"]'),
    ('stage-sales-invoice-sent', 'pipeline-sales', 'invoice_sent', 'Invoice sent', 40, 'open', '["company_id","amount"]'),
    ('stage-sales-paid',         'pipeline-sales', 'paid',         'Paid',         50, 'won',  '["company_id","amount"]'),
    ('stage-sales-lost',         'pipeline-sales', 'lost',         'Lost',         60, 'lost', '[]');

INSERT INTO lead_statuses (code, name, sort, semantic) VALUES
    ('new',                'New',                10, 'open'),
    ('qualification',      'Qualification',      20, 'open'),
    ('proposal_sent',      'Proposal sent',      30, 'open'),
    ('meeting',            'Meeting',            40, 'open'),
    ('agreement_received', 'Agreement received', 50, 'open'),
    ('converted',          'Converted',          60, 'won'),
    ('junk',               'Junk',               70, 'lost');

INSERT INTO engine_cursors (name, seq) VALUES ('events', 0);
