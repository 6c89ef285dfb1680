//! Money rules: line totals and VAT, exact and rounded to kopecks the way
//! Russian invoices do (half away from zero).
//!
//! Prices include VAT ("в т.ч. НДС"): a line's VAT is its total × rate / (100 + rate).

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;
use std::str::FromStr;

/// Rounds to kopecks, half away from zero.
pub fn round_money(x: Decimal) -> Decimal {
    x.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// A money amount as stored and shown: exact, with at least two decimals
/// (`100.5` → `100.50`, `1.2345` stays `1.2345`), never rounded here.
pub fn money_text(x: Decimal) -> String {
    let mut d = x.normalize();
    if d.scale() < 2 {
        d.rescale(2);
    }
    d.to_string()
}

/// The VAT included in `gross` at `rate` ("20", "10", "0" or "none").
pub fn vat_included(gross: Decimal, rate: &str) -> Decimal {
    match Decimal::from_str(rate) {
        Ok(r) if !r.is_zero() => round_money(gross * r / (Decimal::ONE_HUNDRED + r)),
        _ => Decimal::ZERO,
    }
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
        let line = round_money(dec(item.get("quantity")) * dec(item.get("price")));
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
    fn vat_is_included_and_rounded_half_up() {
        assert_eq!(vat_included(d("120"), "20"), d("20"));
        assert_eq!(vat_included(d("110"), "10"), d("10"));
        assert_eq!(vat_included(d("100"), "0"), d("0"));
        assert_eq!(vat_included(d("100"), "none"), d("0"));
        // 0.05 × 20/120 = 0.008333… → 0.01
        assert_eq!(vat_included(d("0.05"), "20"), d("0.01"));
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
