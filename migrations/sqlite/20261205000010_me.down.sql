DROP TABLE saved_filters;
ALTER TABLE users DROP COLUMN notify_by_email;
