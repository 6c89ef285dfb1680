//! Money rules shared by the host (which stores invoice totals) and the
//! actions that print them (the invoice PDF), so a printed VAT line can never
//! disagree with the stored one; [`print`] is how amounts and dates print.
//!
//! Prices include VAT ("в т.ч. НДС"): a line's amount is quantity × price
//! rounded to kopecks, and its VAT is amount × rate / (100 + rate), rounded to
//! kopecks half away from zero, the way Russian invoices round.

pub mod print;

use rust_decimal::{Decimal, RoundingStrategy};
use std::str::FromStr;

/// Rounds to kopecks, half away from zero.
pub fn round_money(x: Decimal) -> Decimal {
    x.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// A line's amount: quantity × price, rounded to kopecks.
pub fn line_amount(quantity: Decimal, price: Decimal) -> Decimal {
    round_money(quantity * price)
}

/// The VAT included in `gross` at `rate` ("20", "10", "0" or "none").
pub fn vat_included(gross: Decimal, rate: &str) -> Decimal {
    match Decimal::from_str(rate) {
        Ok(r) if !r.is_zero() => round_money(gross * r / (Decimal::ONE_HUNDRED + r)),
        _ => Decimal::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn line_amounts_round_to_kopecks_half_away_from_zero() {
        assert_eq!(line_amount(d("3"), d("0.335")), d("1.01"));
        assert_eq!(line_amount(d("2"), d("0.0025")), d("0.01"));
        assert_eq!(line_amount(d("1.5"), d("100")), d("150"));
    }
}
