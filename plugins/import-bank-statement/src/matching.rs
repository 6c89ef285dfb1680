//! Matching an incoming payment to an open invoice: by the invoice number in
//! the payment purpose, then the amount and the payer's INN must agree.

use robota_client_bank::Document;
use robota_sdk::Decimal;
use serde_json::Value;
use std::str::FromStr;

/// The words of a payment purpose that could be an invoice number: runs of
/// letters, digits, `-` and `/` that hold a digit ("2026-00001", "№15").
pub fn number_candidates(purpose: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in purpose.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '/')) {
        let word = word.trim_matches(|c: char| c == '-' || c == '/');
        if word.chars().any(|c| c.is_ascii_digit()) && !out.iter().any(|w| w == word) {
            out.push(word.to_owned());
        }
    }
    out
}

/// Whether `amount` is the stored decimal `stored` ("120000.00" = 120000).
pub fn same_amount(amount: Decimal, stored: &str) -> bool {
    Decimal::from_str(stored).is_ok_and(|d| d == amount)
}

/// Why a payment was not matched to `invoice`, or `None` if it pays it.
pub fn mismatch(doc: &Document, invoice: &Value) -> Option<String> {
    let text = |k: &str| invoice.get(k).and_then(Value::as_str).unwrap_or_default();
    let number = text("number");
    match text("status") {
        "paid" => return Some(format!("invoice {number} is already paid")),
        "cancelled" => return Some(format!("invoice {number} is cancelled")),
        _ => {}
    }
    // ISO dates compare as text. A payment cannot pay an invoice issued
    // after it: that is another payment (or a typo) for a person to look at.
    let issued = text("issue_date");
    if let Some(paid) = doc.received_on()
        && !issued.is_empty()
        && paid.as_str() < issued
    {
        return Some(format!(
            "payment dated {paid} is before invoice {number} was issued on {issued}"
        ));
    }
    let total = Decimal::from_str(text("total")).unwrap_or_default();
    if doc.amount != total {
        return Some(format!(
            "amount {} differs from invoice {number} total {total}",
            doc.amount
        ));
    }
    let buyer_inn = invoice
        .get("buyer")
        .and_then(|b| b.get("inn"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let payer_inn = doc.get("ПлательщикИНН");
    if !buyer_inn.is_empty() && payer_inn != buyer_inn {
        return Some(format!(
            "payer INN `{payer_inn}` is not the INN {buyer_inn} of invoice {number}'s buyer"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn doc(amount: &str, inn: &str) -> Document {
        let mut fields = BTreeMap::new();
        fields.insert("ПлательщикИНН".to_owned(), inn.to_owned());
        fields.insert("Дата".to_owned(), "23.11.2026".to_owned());
        Document {
            line: 1,
            kind: "Платежное поручение".into(),
            fields,
            amount: Decimal::from_str(amount).unwrap(),
        }
    }

    fn invoice(status: &str) -> Value {
        json!({ "number": "2026-00001", "status": status, "total": "1200.00", "issue_date": "2026-11-22", "buyer": { "inn": "7736207543" } })
    }

    #[test]
    fn candidates_are_the_words_with_digits() {
        assert_eq!(
            number_candidates("Оплата по счету №2026-00001 от 22.11.2026, НДС 20%"),
            vec!["2026-00001", "22", "11", "2026", "20"]
        );
        assert!(number_candidates("Возврат займа").is_empty());
    }

    #[test]
    fn amount_inn_and_status_must_agree() {
        assert_eq!(mismatch(&doc("1200", "7736207543"), &invoice("sent")), None);
        assert_eq!(
            mismatch(&doc("1200.00", "7736207543"), &invoice("overdue")),
            None
        );
        assert!(
            mismatch(&doc("1000", "7736207543"), &invoice("sent"))
                .unwrap()
                .contains("amount 1000 differs")
        );
        assert!(
            mismatch(&doc("1200", "7707083893"), &invoice("sent"))
                .unwrap()
                .contains("payer INN")
        );
        assert!(
            mismatch(&doc("1200", "7736207543"), &invoice("paid"))
                .unwrap()
                .contains("already paid")
        );
        let mut early = invoice("sent");
        early["issue_date"] = json!("2026-11-24");
        assert_eq!(
            mismatch(&doc("1200", "7736207543"), &early).as_deref(),
            Some("payment dated 2026-11-23 is before invoice 2026-00001 was issued on 2026-11-24")
        );
        early["issue_date"] = json!("2026-11-23");
        assert_eq!(
            mismatch(&doc("1200", "7736207543"), &early),
            None,
            "the same day pays"
        );
        assert!(
            mismatch(&doc("1200", "7736207543"), &invoice("cancelled"))
                .unwrap()
                .contains("cancelled")
        );
    }
}
