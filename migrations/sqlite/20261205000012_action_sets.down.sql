ALTER TABLE runs DROP COLUMN action_set;
DROP TABLE action_sets;
