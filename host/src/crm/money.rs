//! Money rules: line totals and VAT, exact and rounded to kopecks the way
//! Russian invoices do (half away from zero).
//!
//! Prices include VAT ("в т.ч. НДС"): a line's VAT is its total × rate / (100 + rate).

use rust_decimal::Decimal;
use serde_json::Value;
use std::str::FromStr;

pub use robota_money_rules::{line_amount, round_money, vat_included};

/// A money amount as stored and shown: exact, with at least two decimals
/// (`100.5` → `100.50`, `1.2345` stays `1.2345`), never rounded here.
pub fn money_text(x: Decimal) -> String {
    let mut d = x.normalize();
    if d.scale() < 2 {
        d.rescale(2);
    }
    d.to_string()
}

/// Totals of a list of normalised line items (see `validate`): the sum
/// without VAT, the VAT, and the total with VAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Total without VAT.
    pub subtotal: Decimal,
    /// VAT included in the total.
    pub vat: Decimal,
    /// Total with VAT.
    pub total: Decimal,
}

/// Sums normalised items; items that lack numbers count as zero (validation
/// has already refused those).
pub fn totals(items: &[Value]) -> Totals {
    let dec = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .and_then(|s| Decimal::from_str(s).ok())
            .unwrap_or_default()
    };
    let mut total = Decimal::ZERO;
    let mut vat = Decimal::ZERO;
    for item in items {
        let line = line_amount(dec(item.get("quantity")), dec(item.get("price")));
        total += line;
        vat += vat_included(
            line,
            item.get("vat_rate")
                .and_then(Value::as_str)
                .unwrap_or("none"),
        );
    }
    Totals {
        subtotal: total - vat,
        vat,
        total,
    }
}

/// Writes an invoice record's computed `subtotal`, `vat_total` and `total`
/// from its normalised `items` (the store at commit, the session at once).
pub fn put_invoice_totals(record: &mut serde_json::Map<String, Value>) {
    let t = match record.get("items") {
        Some(Value::Array(items)) => totals(items),
        _ => return,
    };
    record.insert("subtotal".into(), Value::String(money_text(t.subtotal)));
    record.insert("vat_total".into(), Value::String(money_text(t.vat)));
    record.insert("total".into(), Value::String(money_text(t.total)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_text_keeps_every_digit_and_shows_kopecks() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(money_text(d("100.5")), "100.50");
        assert_eq!(money_text(d("3000")), "3000.00");
        assert_eq!(money_text(d("1.2345")), "1.2345");
        assert_eq!(money_text(d("150000.000")), "150000.00");
    }
    use serde_json::json;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test decimal")
    }

    #[test]
    fn totals_sum_lines_exactly() {
        let items = vec![
            json!({"quantity": "3", "price": "0.10", "vat_rate": "20"}),
            json!({"quantity": "1", "price": "1000.00", "vat_rate": "none"}),
        ];
        let t = totals(&items);
        assert_eq!(t.total, d("1000.30"));
        assert_eq!(t.vat, d("0.05"));
        assert_eq!(t.subtotal, d("1000.25"));
    }
}
