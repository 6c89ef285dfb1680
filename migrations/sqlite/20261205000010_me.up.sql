-- A user's own settings: whether notifications also come by e-mail, and
-- the filters a screen opens with (the accountant's registry view).
ALTER TABLE users ADD COLUMN notify_by_email INTEGER NOT NULL DEFAULT 0;

CREATE TABLE saved_filters (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    view       TEXT NOT NULL,
    filter     TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, view)
);
