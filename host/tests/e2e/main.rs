//! The end-to-end tests: the real binary, real plugins, real servers (SMTP,
//! the INN registry stand-in, an OCI registry, Chromium, PostgreSQL), one
//! test binary so the workspace links one large executable instead of one
//! per file (each is ~250 MB in debug; linking them was minutes and gigabytes).

mod common;

mod access;
mod cli;
mod company_lookup;
mod component_cache;
mod console;
mod conversion;
mod crm_store;
mod demo;
mod engine;
mod foreign_plugins;
mod http_grants;
mod import;
mod invoice_out;
mod invoices;
mod leads;
mod mail;
mod marketplace;
mod meetings;
mod nodes;
mod payment_requests;
mod plugin_crm;
mod sandbox;
mod sandbox_limits;
mod scenario3;
mod serve;
mod standard_actions;
