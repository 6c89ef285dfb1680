-- The process engine: definitions and their versions, runs, steps, the
-- attempt log, the event cursor, cron schedules and API tokens.
-- A run keeps the process version it started with; steps are the durable
-- unit of work that workers claim with a lease.

CREATE TABLE processes (
    id              TEXT PRIMARY KEY,
    current_version INTEGER NOT NULL,
    enabled         INTEGER NOT NULL DEFAULT 1,
    updated_at      TEXT NOT NULL
);

CREATE TABLE process_versions (
    process_id  TEXT NOT NULL REFERENCES processes (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    digest      TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (process_id, version)
);

CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    process_id      TEXT NOT NULL,
    process_version INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    -- What started it: the event, tick or call, as JSON.
    trigger         TEXT NOT NULL,
    -- The subject entity, if the trigger had one.
    entity_kind     TEXT,
    entity_id       TEXT,
    -- Deduplicates one trigger (an event id, a cron tick) per process.
    trigger_key     TEXT NOT NULL,
    -- The rendered `once_per` key: a process never runs twice for it.
    once_key        TEXT,
    error           TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    finished_at     TEXT,
    FOREIGN KEY (process_id, process_version) REFERENCES process_versions (process_id, version),
    UNIQUE (process_id, trigger_key)
);
CREATE UNIQUE INDEX runs_once ON runs (process_id, once_key) WHERE once_key IS NOT NULL;
CREATE INDEX runs_by_status ON runs (status, created_at);
CREATE INDEX runs_by_process ON runs (process_id, created_at);

CREATE TABLE run_steps (
    id          TEXT PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    -- The step's position in the process version, and its id there.
    step_index  INTEGER NOT NULL,
    step_key    TEXT NOT NULL,
    -- For a for-each step: which item this row works on (NULL: the row
    -- that finds the items).
    item        INTEGER,
    -- waiting: an approval step waits for a person's decision.
    status      TEXT NOT NULL CHECK (status IN ('pending', 'running', 'waiting', 'done', 'skipped', 'failed', 'cancelled')),
    due_at      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_until TEXT,
    input       TEXT,
    output      TEXT,
    error       TEXT,
    created_at  TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT
);
CREATE INDEX run_steps_due ON run_steps (status, due_at);
CREATE INDEX run_steps_by_run ON run_steps (run_id, created_at);

-- Every attempt of every step: the execution log.
CREATE TABLE step_attempts (
    id          TEXT PRIMARY KEY,
    step_id     TEXT NOT NULL REFERENCES run_steps (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('done', 'skipped', 'failed', 'retrying', 'waiting')),
    input       TEXT,
    output      TEXT,
    error       TEXT,
    logs        TEXT NOT NULL DEFAULT '[]',
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX step_attempts_by_step ON step_attempts (step_id, attempt);

-- Human decisions an approval step waits for.
CREATE TABLE approvals (
    id            TEXT PRIMARY KEY,
    run_id        TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id       TEXT NOT NULL UNIQUE REFERENCES run_steps (id) ON DELETE CASCADE,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    -- Who may decide: one user, or anyone with the role.
    assignee_id   TEXT REFERENCES users (id),
    assignee_role TEXT CHECK (assignee_role IN ('manager', 'head_of_sales', 'accountant', 'admin')),
    entity_kind   TEXT,
    entity_id     TEXT,
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'cancelled')),
    decided_by    TEXT,
    comment       TEXT,
    expires_at    TEXT,
    created_at    TEXT NOT NULL,
    decided_at    TEXT,
    CHECK (assignee_id IS NOT NULL OR assignee_role IS NOT NULL)
);
CREATE INDEX approvals_open ON approvals (status, expires_at);

-- How far the engine has read the event log.
CREATE TABLE engine_cursors (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
);
INSERT INTO engine_cursors (name, seq) VALUES ('events', 0);

-- The next fire time of each cron process; a tick missed while the server
-- was down fires once, then the schedule moves past now.
CREATE TABLE schedules (
    process_id TEXT PRIMARY KEY REFERENCES processes (id) ON DELETE CASCADE,
    expr       TEXT NOT NULL,
    timezone   TEXT NOT NULL,
    next_at    TEXT NOT NULL
);

-- API bearer tokens; only the BLAKE3 hash of a token is kept.
CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id    TEXT REFERENCES users (id),
    role       TEXT NOT NULL CHECK (role IN ('manager', 'head_of_sales', 'accountant', 'admin')),
    label      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
