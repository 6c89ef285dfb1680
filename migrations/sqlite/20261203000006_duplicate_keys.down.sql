DROP TABLE duplicate_keys;
