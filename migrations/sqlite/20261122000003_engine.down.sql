DROP TABLE api_tokens;
DROP TABLE schedules;
DROP TABLE engine_cursors;
DROP TABLE step_attempts;
DROP TABLE run_steps;
DROP TABLE runs;
DROP TABLE process_versions;
DROP TABLE processes;
