DROP INDEX payment_requests_author;
DROP INDEX contacts_responsible;
DROP INDEX companies_responsible;
DROP INDEX deals_responsible;
DROP INDEX leads_responsible;
ALTER TABLE payment_requests DROP COLUMN returned_by;
DROP INDEX record_access_user;
DROP TABLE record_access;
