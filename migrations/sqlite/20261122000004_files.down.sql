ALTER TABLE invoices ADD COLUMN pdf BLOB;
DROP TABLE entity_files;
