-- Which component ran each attempt (its BLAKE3 digest): the run log shows
-- exactly what code a step ran, across upgrades of an action.
ALTER TABLE step_attempts ADD COLUMN digest TEXT;
