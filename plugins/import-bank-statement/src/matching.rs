//! Matching an incoming payment to an open invoice: by the invoice number in
//! the payment purpose, then the amount and the payer's INN must agree.

use robota_client_bank::Document;
use robota_sdk::Decimal;
use serde::Serialize;
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

/// Why a payment was not matched: a code with its parameters (what the
/// report's `reasons` carry, so a client says it in its own language) and
/// English words (`Display`, the report's `reason`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", content = "params", rename_all = "kebab-case")]
pub enum Mismatch {
    /// The invoice is paid already.
    AlreadyPaid {
        /// Its number.
        invoice: String,
    },
    /// The invoice is cancelled.
    InvoiceCancelled {
        /// Its number.
        invoice: String,
    },
    /// The payment is dated before the invoice was issued.
    PaidBeforeIssue {
        /// The payment's date.
        paid: String,
        /// The invoice's number.
        invoice: String,
        /// Its issue date.
        issued: String,
    },
    /// The amount is not the invoice's total.
    AmountDiffers {
        /// The payment's amount.
        amount: String,
        /// The invoice's number.
        invoice: String,
        /// Its total.
        total: String,
    },
    /// The payer is not the invoice's buyer.
    PayerInnDiffers {
        /// The payer's INN.
        payer_inn: String,
        /// The invoice's number.
        invoice: String,
        /// The buyer's INN.
        buyer_inn: String,
    },
    /// No word of the purpose is a number of ours.
    NoInvoiceNumber {
        /// The payment's purpose.
        purpose: String,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::AlreadyPaid { invoice } => write!(f, "invoice {invoice} is already paid"),
            Mismatch::InvoiceCancelled { invoice } => write!(f, "invoice {invoice} is cancelled"),
            Mismatch::PaidBeforeIssue {
                paid,
                invoice,
                issued,
            } => write!(
                f,
                "payment dated {paid} is before invoice {invoice} was issued on {issued}"
            ),
            Mismatch::AmountDiffers {
                amount,
                invoice,
                total,
            } => write!(
                f,
                "amount {amount} differs from invoice {invoice} total {total}"
            ),
            Mismatch::PayerInnDiffers {
                payer_inn,
                invoice,
                buyer_inn,
            } => write!(
                f,
                "payer INN `{payer_inn}` is not the INN {buyer_inn} of invoice {invoice}'s buyer"
            ),
            Mismatch::NoInvoiceNumber { purpose } => {
                write!(f, "no invoice number of ours in the purpose `{purpose}`")
            }
        }
    }
}

/// Why a payment was not matched to `invoice`, or `None` if it pays it.
pub fn mismatch(doc: &Document, invoice: &Value) -> Option<Mismatch> {
    let text = |k: &str| invoice.get(k).and_then(Value::as_str).unwrap_or_default();
    let number = text("number").to_owned();
    match text("status") {
        "paid" => return Some(Mismatch::AlreadyPaid { invoice: number }),
        "cancelled" => return Some(Mismatch::InvoiceCancelled { invoice: number }),
        _ => {}
    }
    // ISO dates compare as text. A payment cannot pay an invoice issued
    // after it: that is another payment (or a typo) for a person to look at.
    let issued = text("issue_date");
    if let Some(paid) = doc.received_on()
        && !issued.is_empty()
        && paid.as_str() < issued
    {
        return Some(Mismatch::PaidBeforeIssue {
            paid,
            invoice: number,
            issued: issued.to_owned(),
        });
    }
    let total = Decimal::from_str(text("total")).unwrap_or_default();
    if doc.amount != total {
        return Some(Mismatch::AmountDiffers {
            amount: doc.amount.to_string(),
            invoice: number,
            total: total.to_string(),
        });
    }
    let buyer_inn = invoice
        .get("buyer")
        .and_then(|b| b.get("inn"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let payer_inn = doc.get("ПлательщикИНН");
    if !buyer_inn.is_empty() && payer_inn != buyer_inn {
        return Some(Mismatch::PayerInnDiffers {
            payer_inn: payer_inn.to_owned(),
            invoice: number,
            buyer_inn: buyer_inn.to_owned(),
        });
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
                .to_string()
                .contains("amount 1000 differs")
        );
        assert!(
            mismatch(&doc("1200", "7707083893"), &invoice("sent"))
                .unwrap()
                .to_string()
                .contains("payer INN")
        );
        assert!(
            mismatch(&doc("1200", "7736207543"), &invoice("paid"))
                .unwrap()
                .to_string()
                .contains("already paid")
        );
        let mut early = invoice("sent");
        early["issue_date"] = json!("2026-11-24");
        let early_one = mismatch(&doc("1200", "7736207543"), &early).unwrap();
        assert_eq!(
            early_one.to_string(),
            "payment dated 2026-11-23 is before invoice 2026-00001 was issued on 2026-11-24"
        );
        assert_eq!(
            serde_json::to_value(&early_one).unwrap(),
            json!({"code": "paid-before-issue", "params": {"paid": "2026-11-23", "invoice": "2026-00001", "issued": "2026-11-24"}})
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
                .to_string()
                .contains("cancelled")
        );
    }
}
