//! The 1C client-bank exchange format (`1CClientBankExchange`), which
//! Russian bank clients and 1C read and write: a header of `key=value`
//! lines, account sections, and one `СекцияДокумент=…` … `КонецДокумента`
//! section per payment, ending with `КонецФайла`. Files come in UTF-8,
//! Windows-1251 (`Кодировка=Windows`) or DOS 866 (`Кодировка=DOS`).
//!
//! [`read`] parses statements (the bank's list of what came in and went
//! out); [`write`] makes payment orders to upload into the bank client.
//! Both sides live here so what robota writes is what it reads back.

pub mod read;
pub mod write;

pub use read::{Document, Malformed, Statement, decode, iso_date, parse};
pub use write::{Export, Party, PaymentOrder, encode_1251};
