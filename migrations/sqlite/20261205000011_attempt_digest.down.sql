ALTER TABLE step_attempts DROP COLUMN digest;
