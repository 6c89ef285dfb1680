//! `import-bank-statement`: reads a 1C client-bank exchange statement
//! (UTF-8 or Windows-1251), takes the incoming payments — those to the
//! seller's accounts or INN — and matches each to an open invoice by the
//! invoice number in the payment purpose, the amount and the payer's INN.
//! Matched invoices become paid on the day the money arrived; the report
//! lists every payment that did not match and why. The outgoing payments
//! are matched to approved payment requests (payee INN, account and
//! amount): those become paid on the day the money left, with the bank's
//! payment order stored as `payment-order.txt`. A malformed statement fails
//! the step naming the line, and changes nothing.

mod matching;

use robota_client_bank as statement;

use base64::Engine as _;
use robota_sdk::{Action, Capability, Context, EntityKind, Error, Manifest, config, crm};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What the action takes: the file, as base64 (any encoding) or as text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The statement file's bytes, base64.
    #[serde(default)]
    content_base64: Option<String>,
    /// The statement as text.
    #[serde(default)]
    text: Option<String>,
}

/// A payment matched to an invoice.
#[derive(Serialize)]
struct Matched {
    document: String,
    date: String,
    amount: String,
    payer_inn: String,
    invoice_id: String,
    invoice_number: String,
}

/// A payment left unmatched, and why.
#[derive(Serialize)]
struct Unmatched {
    document: String,
    date: String,
    amount: String,
    payer: String,
    payer_inn: String,
    purpose: String,
    /// Why, in English.
    reason: String,
    /// Why, as codes with their parameters (one per invoice the purpose
    /// names, or one saying it names none).
    reasons: Vec<matching::Mismatch>,
}

/// An outgoing payment matched to a payment request.
#[derive(Serialize)]
struct PaidRequest {
    document: String,
    date: String,
    amount: String,
    payee_inn: String,
    request_id: String,
}

/// What the action returns.
#[derive(Serialize)]
struct Output {
    documents: usize,
    incoming: usize,
    outgoing: usize,
    matched: Vec<Matched>,
    unmatched: Vec<Unmatched>,
    paid_requests: Vec<PaidRequest>,
}

/// The approved payment request an outgoing payment pays: same payee INN,
/// amount and (when the document names it) account; of several, the one
/// whose purpose text is the payment's, then the one due first.
fn find_request(doc: &statement::Document) -> Result<Option<Value>, Error> {
    let inn = doc.get("ПолучательИНН");
    if inn.is_empty() {
        return Ok(None);
    }
    let account = doc.get("ПолучательСчет");
    let mut found: Vec<Value> = crm::Query::new(EntityKind::PaymentRequest)
        .eq("status", "approved")
        .eq("inn", inn)
        .limit(1000)
        .fetch()?;
    found.retain(|r| {
        let text = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
        matching::same_amount(doc.amount, text("amount"))
            && (account.is_empty() || text("settlement_account") == account)
    });
    let purpose = doc.get("НазначениеПлатежа");
    found.sort_by_key(|r| {
        let text = |k: &str| {
            r.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        (text("payment_purpose_text") != purpose, text("pay_by"))
    });
    Ok(found.into_iter().next())
}

/// Marks `target` (an invoice or a payment request) paid on `date` (if
/// known) by payment order `doc`, noting which order on its timeline.
fn mark_paid(
    target: &robota_sdk::EntityRef,
    doc: &statement::Document,
    date: &str,
) -> Result<(), Error> {
    let mut fields = json!({ "status": "paid" });
    if !date.is_empty() {
        fields["paid_date"] = json!(date);
    }
    crm::update(target, &fields)?;
    crm::add_note(
        target,
        &format!(
            "Paid: payment order № {} of {} for {}, from the bank statement",
            doc.get("Номер"),
            doc.get("Дата"),
            doc.amount
        ),
    )
}

/// Marks `request` paid by `doc`: the bank's order stored with it, paid on
/// the day the money left.
fn pay_request(doc: &statement::Document, request: &Value) -> Result<PaidRequest, Error> {
    let id = request
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let target = robota_sdk::EntityRef {
        kind: EntityKind::PaymentRequest,
        id: id.clone(),
    };
    let left = match doc.get("ДатаСписано") {
        "" => doc.get("Дата"),
        d => d,
    };
    let date = statement::iso_date(left).unwrap_or_default();
    let mut order = format!("СекцияДокумент={}\r\n", doc.kind);
    for (k, v) in &doc.fields {
        order.push_str(&format!("{k}={v}\r\n"));
    }
    order.push_str("КонецДокумента\r\n");
    crm::attach_file(
        &target,
        &crm::File {
            name: "payment-order.txt".into(),
            content_type: "text/plain; charset=utf-8".into(),
            content: order.into_bytes(),
        },
    )?;
    mark_paid(&target, doc, &date)?;
    Ok(PaidRequest {
        document: doc.get("Номер").to_owned(),
        date,
        amount: doc.amount.to_string(),
        payee_inn: doc.get("ПолучательИНН").to_owned(),
        request_id: id,
    })
}

/// The invoice a payment pays, or why none.
fn find_invoice(
    doc: &statement::Document,
) -> Result<Result<Value, Vec<matching::Mismatch>>, Error> {
    let purpose = doc.get("НазначениеПлатежа");
    let mut reasons = Vec::new();
    for candidate in matching::number_candidates(purpose) {
        let found: Vec<Value> = crm::Query::new(EntityKind::Invoice)
            .eq("number", &candidate)
            .limit(1)
            .fetch()?;
        if let Some(invoice) = found.into_iter().next() {
            match matching::mismatch(doc, &invoice) {
                None => return Ok(Ok(invoice)),
                Some(why) => reasons.push(why),
            }
        }
    }
    if reasons.is_empty() {
        reasons.push(matching::Mismatch::NoInvoiceNumber {
            purpose: purpose.to_owned(),
        });
    }
    Ok(Err(reasons))
}

struct ImportBankStatement;

impl Action for ImportBankStatement {
    type Input = Input;
    type Output = Output;

    fn manifest() -> Manifest {
        Manifest::new(
            "import-bank-statement",
            env!("CARGO_PKG_VERSION"),
            "Import a bank statement",
        )
        .description(
            "Reads a 1C client-bank exchange statement (UTF-8 or Windows-1251), marks the invoices \
             its incoming payments pay (number in the purpose, amount, payer INN) as paid, marks \
             the approved payment requests its outgoing payments pay (payee INN, account, amount) \
             as paid with the bank's payment order, and reports the payments it could not match",
        )
        .input_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "content_base64": { "type": "string" },
                "text": { "type": "string" }
            }
        }))
        .output_schema(json!({
            "type": "object",
            "properties": {
                "documents": { "type": "integer" },
                "incoming": { "type": "integer" },
                "outgoing": { "type": "integer" },
                "matched": { "type": "array" },
                "unmatched": { "type": "array" },
                "paid_requests": { "type": "array" }
            }
        }))
        .capability(Capability::CrmRead)
        .capability(Capability::CrmWrite)
    }

    fn run(_ctx: &Context, input: Input) -> Result<Output, Error> {
        let text = match (input.content_base64, input.text) {
            (Some(b64), None) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| {
                        Error::InvalidInput(format!("content_base64 is not base64: {e}"))
                    })?;
                statement::decode(&bytes)
            }
            (None, Some(text)) => text,
            _ => {
                return Err(Error::InvalidInput(
                    "give the statement as content_base64 or as text (one of them)".into(),
                ));
            }
        };
        let st = statement::parse(&text).map_err(|e| Error::InvalidInput(e.0))?;
        let our_inn = config::get("seller.inn")?.unwrap_or_default();
        let mut accounts = st.accounts.clone();
        if let Some(a) = config::get("seller.settlement_account")? {
            accounts.push(a);
        }
        let mut out = Output {
            documents: st.documents.len(),
            incoming: 0,
            outgoing: 0,
            matched: Vec::new(),
            unmatched: Vec::new(),
            paid_requests: Vec::new(),
        };
        for doc in &st.documents {
            let to_us = accounts.iter().any(|a| a == doc.get("ПолучательСчет"))
                || (!our_inn.is_empty() && doc.get("ПолучательИНН") == our_inn);
            if !to_us {
                out.outgoing += 1;
                if let Some(request) = find_request(doc)? {
                    out.paid_requests.push(pay_request(doc, &request)?);
                }
                continue;
            }
            out.incoming += 1;
            let date = doc.received_on().unwrap_or_default();
            match find_invoice(doc)? {
                Ok(invoice) => {
                    let id = invoice
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let number = invoice
                        .get("number")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let target = robota_sdk::EntityRef {
                        kind: EntityKind::Invoice,
                        id: id.to_owned(),
                    };
                    mark_paid(&target, doc, &date)?;
                    out.matched.push(Matched {
                        document: doc.get("Номер").to_owned(),
                        date: date.clone(),
                        amount: doc.amount.to_string(),
                        payer_inn: doc.get("ПлательщикИНН").to_owned(),
                        invoice_id: id.to_owned(),
                        invoice_number: number.to_owned(),
                    });
                }
                Err(reasons) => out.unmatched.push(Unmatched {
                    document: doc.get("Номер").to_owned(),
                    date,
                    amount: doc.amount.to_string(),
                    payer: match doc.get("Плательщик1") {
                        "" => doc.get("Плательщик").to_owned(),
                        p => p.to_owned(),
                    },
                    payer_inn: doc.get("ПлательщикИНН").to_owned(),
                    purpose: doc.get("НазначениеПлатежа").to_owned(),
                    reason: reasons
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                    reasons,
                }),
            }
        }
        Ok(out)
    }
}

robota_sdk::export_action!(ImportBankStatement);
