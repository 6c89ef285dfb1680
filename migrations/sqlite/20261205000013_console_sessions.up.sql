-- Sessions of the web console: a person signs in with their API token and
-- gets a cookie holding a session id; only the id's hash is stored. A
-- session ends at sign-out, at expiry, or when its token is deleted.
CREATE TABLE console_sessions (
    id_hash    TEXT PRIMARY KEY,
    token_id   TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    -- The CSRF token every form and htmx request of the session carries.
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX console_sessions_by_token ON console_sessions (token_id);
