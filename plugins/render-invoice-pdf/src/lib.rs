//! `render-invoice-pdf`: renders an invoice as the Russian "Счёт на оплату"
//! form — the seller's bank block, both parties with INN/KPP and addresses,
//! the items table, VAT lines, the total and the total in words, the due date
//! — in DejaVu Sans embedded for Cyrillic, and stores the PDF with the invoice
//! (`GET /api/v1/invoices/{id}/pdf` serves it; `send-email` attaches it).

mod fonts;
mod html;
mod layout;
mod model;
mod pdf;

use robota_sdk::{Action, Capability, Context, EntityKind, EntityRef, Error, Manifest, crm};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The name the PDF is stored under, unless the input gives another.
pub const DEFAULT_FILE: &str = "invoice.pdf";

/// What the action takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The invoice.
    invoice_id: String,
    /// The stored file's name.
    #[serde(default)]
    file: Option<String>,
    /// `pdf` (stored with the invoice) or `html` (the printable page,
    /// returned in the output, nothing stored).
    #[serde(default)]
    format: Format,
}

/// What to render.
#[derive(Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Format {
    /// The PDF, stored as a file of the invoice.
    #[default]
    Pdf,
    /// The HTML page, returned.
    Html,
}

/// What the action returns.
#[derive(Serialize)]
struct Output {
    invoice_id: String,
    number: String,
    /// The stored file (pdf).
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    bytes: usize,
    /// The PDF's pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pages: Option<usize>,
    /// The page (html).
    #[serde(skip_serializing_if = "Option::is_none")]
    html: Option<String>,
}

/// Renders an invoice record to PDF bytes; returns them and the page count.
fn render(record: &Value) -> Result<(Vec<u8>, usize), Error> {
    let doc = model::InvoiceDoc::from_record(record)?;
    let fonts = fonts::Fonts::embedded().map_err(Error::Failed)?;
    let pages = layout::layout(&doc, &fonts);
    let bytes = pdf::write(&pages, &doc.title()).map_err(Error::Failed)?;
    Ok((bytes, pages.len()))
}

struct RenderInvoicePdf;

impl Action for RenderInvoicePdf {
    type Input = Input;
    type Output = Output;

    fn manifest() -> Manifest {
        Manifest::new(
            "render-invoice-pdf",
            env!("CARGO_PKG_VERSION"),
            "Render an invoice as a PDF",
        )
        .description(
            "Renders the Russian 'Счёт на оплату' form of an invoice (bank block, parties, items, \
             VAT, total in words, due date) and stores the PDF with the invoice",
        )
        .input_schema(json!({
            "type": "object",
            "required": ["invoice_id"],
            "additionalProperties": false,
            "properties": {
                "invoice_id": { "type": "string" },
                "file": { "type": "string", "default": DEFAULT_FILE },
                "format": { "enum": ["pdf", "html"], "default": "pdf" }
            }
        }))
        .output_schema(json!({
            "type": "object",
            "properties": {
                "invoice_id": { "type": "string" },
                "number": { "type": "string" },
                "file": { "type": "string" },
                "bytes": { "type": "integer" },
                "pages": { "type": "integer" },
                "html": { "type": "string" }
            }
        }))
        .capability(Capability::CrmRead)
        .capability(Capability::CrmWrite)
    }

    fn run(_ctx: &Context, input: Input) -> Result<Output, Error> {
        let target = EntityRef {
            kind: EntityKind::Invoice,
            id: input.invoice_id,
        };
        let record: Value = crm::get(&target)?;
        let number = record
            .get("number")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if input.format == Format::Html {
            let page = html::render(&model::InvoiceDoc::from_record(&record)?);
            return Ok(Output {
                invoice_id: target.id,
                number,
                file: None,
                bytes: page.len(),
                pages: None,
                html: Some(page),
            });
        }
        let (bytes, pages) = render(&record)?;
        let name = input.file.unwrap_or_else(|| DEFAULT_FILE.to_owned());
        let size = bytes.len();
        crm::attach_file(
            &target,
            &crm::File {
                name: name.clone(),
                content_type: "application/pdf".into(),
                content: bytes,
            },
        )?;
        Ok(Output {
            number,
            invoice_id: target.id,
            file: Some(name),
            bytes: size,
            pages: Some(pages),
            html: None,
        })
    }
}

robota_sdk::export_action!(RenderInvoicePdf);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_small_pdf_with_the_fonts_subset() {
        let record = json!({
            "number": "2026-00001", "issue_date": "2026-11-22", "due_date": "2026-11-27",
            "currency": "RUB",
            "seller": { "name": "ООО \"Робота\"", "inn": "7707083893" },
            "buyer": { "name": "ООО \"Ромашка\"", "inn": "7736207543" },
            "items": [{ "name": "Насос", "quantity": "1", "price": "100", "vat_rate": "20" }]
        });
        let (bytes, pages) = render(&record).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        assert_eq!(pages, 1);
        // Two subset faces, not two whole 700 KiB fonts.
        assert!(bytes.len() < 100_000, "{} bytes", bytes.len());
    }
}
