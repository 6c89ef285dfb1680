//! The same "Счёт на оплату" form as the PDF, as a printable HTML page
//! (A4 print styles), built from the same [`InvoiceDoc`], so the page a
//! manager opens and the PDF the client gets never disagree.

use crate::model::{InvoiceDoc, money, quantity};
use std::fmt::Write as _;

/// Text made safe for HTML.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
@page { size: A4; margin: 15mm; }
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 10pt; color: #000; max-width: 190mm; margin: 10mm auto; }
table { border-collapse: collapse; width: 100%; }
.bank td { border: 1px solid #000; padding: 2px 4px; vertical-align: top; }
.bank .label { font-size: 7pt; }
h1 { font-size: 14pt; margin: 18px 0 6px; padding-bottom: 4px; border-bottom: 2px solid #000; }
.parties td { padding: 4px 2px; vertical-align: top; }
.parties td:first-child { width: 30mm; }
.items th, .items td { border: 1px solid #000; padding: 2px 4px; }
.items th { font-weight: bold; text-align: center; }
.num { text-align: right; white-space: nowrap; }
.totals td { padding: 2px 4px; font-weight: bold; text-align: right; }
.words { font-weight: bold; }
.signatures { margin-top: 30px; border-top: 2px solid #000; padding-top: 20px; }
.signatures td { width: 50%; padding-right: 10mm; }
.signatures span { display: inline-block; min-width: 50mm; border-bottom: 1px solid #000; text-align: right; }
@media print { body { margin: 0; } }
";

/// The whole page.
pub fn render(doc: &InvoiceDoc) -> String {
    let s = &doc.seller;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"ru\"><head><meta charset=\"utf-8\"><title>{title}</title><style>{STYLE}</style></head><body>\n",
        title = esc(&doc.title())
    );
    let kpp = if s.kpp.is_empty() {
        String::new()
    } else {
        format!("КПП {}", esc(&s.kpp))
    };
    let _ = writeln!(
        h,
        "<table class=\"bank\">\
<tr><td colspan=\"2\" rowspan=\"2\">{bank}<br><span class=\"label\">Банк получателя</span></td><td>БИК</td><td>{bik}</td></tr>\
<tr><td>Сч. №</td><td>{corr}</td></tr>\
<tr><td>ИНН {inn}</td><td>{kpp}</td><td rowspan=\"2\">Сч. №</td><td rowspan=\"2\">{account}</td></tr>\
<tr><td colspan=\"2\">{name}<br><span class=\"label\">Получатель</span></td></tr>\
</table>",
        bank = esc(&s.bank_name),
        bik = esc(&s.bik),
        corr = esc(&s.correspondent_account),
        inn = esc(&s.inn),
        account = esc(&s.settlement_account),
        name = esc(&s.name),
    );
    let _ = write!(
        h,
        "<h1>{}</h1>\n<table class=\"parties\">",
        esc(&doc.title())
    );
    for (role, party) in [
        ("Поставщик (Исполнитель):", &doc.seller),
        ("Покупатель (Заказчик):", &doc.buyer),
    ] {
        let _ = write!(
            h,
            "<tr><td>{role}</td><td><b>{}</b></td></tr>",
            esc(&party.description())
        );
    }
    h.push_str("</table>\n<table class=\"items\"><tr><th>№</th><th>Товары (работы, услуги)</th><th>Кол-во</th><th>Ед.</th><th>Цена</th><th>Сумма</th></tr>\n");
    for (i, line) in doc.lines.iter().enumerate() {
        let _ = writeln!(
            h,
            "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            i + 1,
            esc(&line.name),
            quantity(line.quantity),
            esc(&line.unit),
            money(line.price),
            money(line.amount)
        );
    }
    h.push_str("</table>\n<table class=\"totals\">");
    let mut rows = vec![("Итого:".to_owned(), money(doc.total))];
    rows.extend(doc.vat_lines.iter().cloned());
    rows.push(("Всего к оплате:".to_owned(), money(doc.total)));
    for (label, value) in rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\" style=\"width:35mm\">{}</td></tr>",
            esc(&label),
            esc(&value)
        );
    }
    let _ = write!(
        h,
        "</table>\n<p>{}</p>\n<p class=\"words\">{}</p>\n<p>{}</p>\n",
        esc(&doc.summary()),
        esc(&doc.total_in_words()),
        esc(&doc.due_line())
    );
    let _ = write!(
        h,
        "<table class=\"signatures\"><tr><td><b>Руководитель</b> <span>{}</span></td><td><b>Бухгалтер</b> <span>{}</span></td></tr></table>\n</body></html>\n",
        esc(&s.director),
        esc(&s.accountant)
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_page_has_the_forms_parts_and_escapes_names() {
        let record = json!({
            "number": "2026-00001", "issue_date": "2026-11-22", "due_date": "2026-11-27",
            "currency": "RUB",
            "seller": { "name": "ООО <Робота>", "inn": "7707083893", "bik": "044525225" },
            "buyer": { "name": "ООО \"Ромашка\"", "inn": "7736207543" },
            "items": [{ "name": "Насос & монтаж", "quantity": "2", "price": "100", "vat_rate": "20" }]
        });
        let doc = InvoiceDoc::from_record(&record).unwrap();
        let page = render(&doc);
        assert!(
            page.contains("<h1>Счёт на оплату № 2026-00001 от 22 ноября 2026 г.</h1>"),
            "{page}"
        );
        assert!(page.contains("ООО &lt;Робота&gt;"));
        assert!(page.contains("Насос &amp; монтаж"));
        assert!(page.contains("Двести рублей 00 копеек"));
        assert!(page.contains("Оплатить не позднее 27.11.2026"));
        assert!(!page.contains("<Робота>"));
    }
}
