//! Invoices as CommerceML 2 (the exchange format 1C:Бухгалтерия imports):
//! one `Документ` per invoice with `ХозОперация` "Счет на оплату", its
//! number, date, due date, sum, currency, the buyer as `Контрагент` with
//! ИНН/КПП, and its lines with quantity, price, sum and VAT. Written piece
//! by piece so a long period streams.

use robota_money_rules::{line_amount, vat_included};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::str::FromStr;

/// The schema version written.
pub const SCHEMA_VERSION: &str = "2.08";

/// Text made safe for XML content and attributes.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab and newlines are not XML.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// The opening of the file, stamped with `formed_at` ("2026-12-03T10:00:00").
pub fn header(formed_at: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<КоммерческаяИнформация ВерсияСхемы=\"{SCHEMA_VERSION}\" ДатаФормирования=\"{}\">\n",
        esc(formed_at)
    )
}

/// The end of the file.
pub fn footer() -> &'static str {
    "</КоммерческаяИнформация>\n"
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn decimal(v: &Value, k: &str) -> Decimal {
    Decimal::from_str(text(v, k)).unwrap_or_default()
}

fn element(out: &mut String, indent: usize, name: &str, value: &str) {
    if !value.is_empty() {
        let _ = writeln!(out, "{:indent$}<{name}>{}</{name}>", "", esc(value));
    }
}

/// The VAT rate as CommerceML writes it.
fn rate_name(rate: &str) -> &str {
    if rate == "none" {
        "Без налога"
    } else {
        rate
    }
}

/// One invoice record (with its `items` and `buyer`) as a `Документ`.
pub fn document(invoice: &Map<String, Value>) -> String {
    let inv = Value::Object(invoice.clone());
    let mut out = String::from("  <Документ>\n");
    element(&mut out, 4, "Ид", text(&inv, "id"));
    element(&mut out, 4, "Номер", text(&inv, "number"));
    element(&mut out, 4, "Дата", text(&inv, "issue_date"));
    element(&mut out, 4, "ХозОперация", "Счет на оплату");
    element(&mut out, 4, "Роль", "Продавец");
    element(&mut out, 4, "Валюта", text(&inv, "currency"));
    element(&mut out, 4, "Курс", "1");
    element(&mut out, 4, "Сумма", text(&inv, "total"));
    let buyer = inv.get("buyer").cloned().unwrap_or(Value::Null);
    out.push_str("    <Контрагенты>\n      <Контрагент>\n");
    let buyer_id = match text(&inv, "buyer_company_id") {
        "" => text(&inv, "buyer_contact_id"),
        id => id,
    };
    element(&mut out, 8, "Ид", buyer_id);
    element(&mut out, 8, "Наименование", text(&buyer, "name"));
    element(
        &mut out,
        8,
        "ОфициальноеНаименование",
        text(&buyer, "full_name"),
    );
    element(&mut out, 8, "ИНН", text(&buyer, "inn"));
    element(&mut out, 8, "КПП", text(&buyer, "kpp"));
    element(&mut out, 8, "Роль", "Покупатель");
    if !text(&buyer, "address").is_empty() {
        out.push_str("        <ЮридическийАдрес>\n");
        element(&mut out, 10, "Представление", text(&buyer, "address"));
        out.push_str("        </ЮридическийАдрес>\n");
    }
    out.push_str("      </Контрагент>\n    </Контрагенты>\n");
    element(&mut out, 4, "Срок", text(&inv, "due_date"));
    let vat_total = text(&inv, "vat_total");
    out.push_str("    <Налоги>\n      <Налог>\n");
    element(&mut out, 8, "Наименование", "НДС");
    element(&mut out, 8, "УчтеноВСумме", "true");
    element(
        &mut out,
        8,
        "Сумма",
        if vat_total.is_empty() {
            "0.00"
        } else {
            vat_total
        },
    );
    out.push_str("      </Налог>\n    </Налоги>\n    <Товары>\n");
    for item in inv
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let quantity = decimal(item, "quantity");
        let price = decimal(item, "price");
        let sum = line_amount(quantity, price);
        let rate = text(item, "vat_rate");
        out.push_str("      <Товар>\n");
        element(&mut out, 8, "Ид", text(item, "product_id"));
        element(&mut out, 8, "Наименование", text(item, "name"));
        let unit = match text(item, "unit") {
            "" => "шт",
            u => u,
        };
        let _ = writeln!(
            out,
            "        <БазоваяЕдиница>{}</БазоваяЕдиница>",
            esc(unit)
        );
        element(&mut out, 8, "ЦенаЗаЕдиницу", &price.round_dp(2).to_string());
        element(&mut out, 8, "Количество", &quantity.normalize().to_string());
        element(&mut out, 8, "Сумма", &sum.to_string());
        out.push_str("        <СтавкиНалогов>\n          <СтавкаНалога>\n");
        element(&mut out, 12, "Наименование", "НДС");
        element(&mut out, 12, "Ставка", rate_name(rate));
        out.push_str("          </СтавкаНалога>\n        </СтавкиНалогов>\n        <Налоги>\n          <Налог>\n");
        element(&mut out, 12, "Наименование", "НДС");
        element(&mut out, 12, "УчтеноВСумме", "true");
        element(&mut out, 12, "Сумма", &vat_included(sum, rate).to_string());
        out.push_str("          </Налог>\n        </Налоги>\n      </Товар>\n");
    }
    out.push_str("    </Товары>\n    <ЗначенияРеквизитов>\n      <ЗначениеРеквизита>\n");
    element(&mut out, 8, "Наименование", "Статус");
    element(&mut out, 8, "Значение", text(&inv, "status"));
    out.push_str("      </ЗначениеРеквизита>\n    </ЗначенияРеквизитов>\n  </Документ>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_invoice_becomes_one_document_with_its_buyer_lines_and_vat() {
        let invoice = json!({
            "id": "inv-1", "number": "2026-00001", "issue_date": "2026-12-03", "due_date": "2026-12-10",
            "currency": "RUB", "total": "480000.00", "vat_total": "80000.00", "status": "sent",
            "buyer_company_id": "co-1",
            "buyer": { "name": "ООО \"Ромашка\" & Ко", "inn": "7707083893", "kpp": "773601001", "address": "Москва" },
            "items": [
                { "name": "Насос", "quantity": "2", "unit": "шт", "price": "200000.00", "vat_rate": "20" },
                { "name": "Монтаж", "quantity": "1", "unit": "усл", "price": "80000.00", "vat_rate": "none" }
            ]
        });
        let doc = document(invoice.as_object().unwrap());
        for want in [
            "<ХозОперация>Счет на оплату</ХозОперация>",
            "<Номер>2026-00001</Номер>",
            "<Наименование>ООО &quot;Ромашка&quot; &amp; Ко</Наименование>",
            "<ИНН>7707083893</ИНН>",
            "<КПП>773601001</КПП>",
            "<Сумма>400000.00</Сумма>",
            "<Сумма>66666.67</Сумма>",
            "<Ставка>Без налога</Ставка>",
            "<Количество>2</Количество>",
        ] {
            assert!(doc.contains(want), "{want} in {doc}");
        }
        let whole = format!("{}{doc}{}", header("2026-12-03T10:00:00"), footer());
        assert!(whole.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    }
}
