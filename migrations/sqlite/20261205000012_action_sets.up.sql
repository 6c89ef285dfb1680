-- The installed actions a run started with. A set maps each `id@major` to
-- the digest of the component installed then; a run names its set, so an
-- action upgraded mid-run does not change the run's behaviour. Sets are
-- shared: the same installed actions give the same row.
CREATE TABLE action_sets (
    id         INTEGER PRIMARY KEY,
    -- JSON object {"send-email@1": "<digest>", …}, keys sorted.
    pins       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
-- NULL for runs started before sets were kept: they use what is installed.
ALTER TABLE runs ADD COLUMN action_set INTEGER REFERENCES action_sets (id);
