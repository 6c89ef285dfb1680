//! The invoice as the form prints it: every figure and phrase computed from
//! the invoice record, before anything is laid out.

use chrono::{Datelike, NaiveDate};
use robota_amount_words::rubles_in_words;
use robota_money_rules::{line_amount, vat_included};
use robota_sdk::{Decimal, Error};
use serde_json::Value;
use std::collections::BTreeMap;
use std::str::FromStr;

/// One party's block: the name and a line of requisites.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Party {
    /// The name with legal form.
    pub name: String,
    /// ИНН.
    pub inn: String,
    /// КПП.
    pub kpp: String,
    /// The legal address.
    pub address: String,
    /// The bank's name.
    pub bank_name: String,
    /// БИК.
    pub bik: String,
    /// Расчётный счёт.
    pub settlement_account: String,
    /// Корреспондентский счёт.
    pub correspondent_account: String,
    /// Руководитель.
    pub director: String,
    /// Бухгалтер.
    pub accountant: String,
}

impl Party {
    fn from_json(v: Option<&Value>) -> Party {
        let text = |k: &str| {
            v.and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        Party {
            name: text("name"),
            inn: text("inn"),
            kpp: text("kpp"),
            address: text("address"),
            bank_name: text("bank_name"),
            bik: text("bik"),
            settlement_account: text("settlement_account"),
            correspondent_account: text("correspondent_account"),
            director: text("director"),
            accountant: text("accountant"),
        }
    }

    /// "ООО «Ромашка», ИНН 7707083893, КПП 770701001, 101000, Москва, …".
    pub fn description(&self) -> String {
        let mut parts = vec![self.name.clone()];
        if !self.inn.is_empty() {
            parts.push(format!("ИНН {}", self.inn));
        }
        if !self.kpp.is_empty() {
            parts.push(format!("КПП {}", self.kpp));
        }
        if !self.address.is_empty() {
            parts.push(self.address.clone());
        }
        parts.join(", ")
    }
}

/// One line of the items table.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// What is sold.
    pub name: String,
    /// How many.
    pub quantity: Decimal,
    /// The unit, such as "шт".
    pub unit: String,
    /// The price of one, VAT included.
    pub price: Decimal,
    /// quantity × price, rounded to kopecks.
    pub amount: Decimal,
}

/// Everything the form shows.
#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceDoc {
    /// The invoice number.
    pub number: String,
    /// The issue date.
    pub issue_date: NaiveDate,
    /// The due date.
    pub due_date: NaiveDate,
    /// The seller.
    pub seller: Party,
    /// The buyer.
    pub buyer: Party,
    /// The lines.
    pub lines: Vec<Line>,
    /// The total with VAT.
    pub total: Decimal,
    /// "в т.ч. НДС 20%: 20 000,00" lines, or one "Без НДС".
    pub vat_lines: Vec<(String, String)>,
    /// The currency code.
    pub currency: String,
}

fn decimal(v: Option<&Value>, what: &str) -> Result<Decimal, Error> {
    let text = v.and_then(Value::as_str).unwrap_or_default();
    Decimal::from_str(text)
        .map_err(|_| Error::InvalidInput(format!("invoice {what} `{text}` is not a decimal")))
}

fn date(v: &Value, key: &str) -> Result<NaiveDate, Error> {
    let text = v.get(key).and_then(Value::as_str).unwrap_or_default();
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| Error::InvalidInput(format!("invoice {key} `{text}` is not a date")))
}

impl InvoiceDoc {
    /// Reads the invoice record the host returns from `crm.get`.
    pub fn from_record(v: &Value) -> Result<InvoiceDoc, Error> {
        let number = v
            .get("number")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Error::InvalidInput("the invoice has no number".into()))?
            .to_owned();
        let items = v
            .get("items")
            .and_then(Value::as_array)
            .filter(|i| !i.is_empty())
            .ok_or_else(|| Error::InvalidInput(format!("invoice {number} has no lines")))?;
        let mut lines = Vec::with_capacity(items.len());
        // VAT per rate, each line's VAT rounded as the host computes it.
        let mut vat: BTreeMap<u32, Decimal> = BTreeMap::new();
        let mut without_vat = false;
        for item in items {
            let quantity = decimal(item.get("quantity"), "quantity")?;
            let price = decimal(item.get("price"), "price")?;
            let amount = line_amount(quantity, price);
            match item
                .get("vat_rate")
                .and_then(Value::as_str)
                .unwrap_or("none")
            {
                "none" => without_vat = true,
                rate => {
                    let r: u32 = rate.parse().map_err(|_| {
                        Error::InvalidInput(format!("invoice VAT rate `{rate}` is unknown"))
                    })?;
                    *vat.entry(r).or_default() += vat_included(amount, rate);
                }
            }
            lines.push(Line {
                name: item
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                quantity,
                unit: item
                    .get("unit")
                    .and_then(Value::as_str)
                    .unwrap_or("шт")
                    .to_owned(),
                price,
                amount,
            });
        }
        let mut vat_lines: Vec<(String, String)> = vat
            .iter()
            .rev()
            .map(|(rate, sum)| (format!("В том числе НДС {rate}%:"), money(*sum)))
            .collect();
        if without_vat {
            vat_lines.push(("Без НДС".to_owned(), "-".to_owned()));
        }
        Ok(InvoiceDoc {
            total: lines.iter().map(|l| l.amount).sum(),
            number,
            issue_date: date(v, "issue_date")?,
            due_date: date(v, "due_date")?,
            seller: Party::from_json(v.get("seller")),
            buyer: Party::from_json(v.get("buyer")),
            lines,
            vat_lines,
            currency: v
                .get("currency")
                .and_then(Value::as_str)
                .unwrap_or("RUB")
                .to_owned(),
        })
    }

    /// "Счёт на оплату № 2026-00001 от 22 ноября 2026 г."
    pub fn title(&self) -> String {
        format!(
            "Счёт на оплату № {} от {}",
            self.number,
            long_date(self.issue_date)
        )
    }

    /// The currency as the form writes it after an amount.
    pub fn currency_short(&self) -> &str {
        if self.currency == "RUB" {
            "руб."
        } else {
            &self.currency
        }
    }

    /// "Всего наименований 2, на сумму 120 000,00 руб."
    pub fn summary(&self) -> String {
        format!(
            "Всего наименований {}, на сумму {} {}",
            self.lines.len(),
            money(self.total),
            self.currency_short()
        )
    }

    /// The total in words: "Сто двадцать тысяч рублей 00 копеек" for roubles;
    /// other currencies are written in figures.
    pub fn total_in_words(&self) -> String {
        if self.currency != "RUB" {
            return format!("{} {}", money(self.total), self.currency);
        }
        let kopecks_total = (self.total.abs() * Decimal::ONE_HUNDRED).trunc();
        let kopecks_total: u64 = kopecks_total.to_string().parse().unwrap_or(0);
        rubles_in_words(kopecks_total / 100, (kopecks_total % 100) as u32)
    }

    /// "Оплатить не позднее 27.11.2026".
    pub fn due_line(&self) -> String {
        format!("Оплатить не позднее {}", self.due_date.format("%d.%m.%Y"))
    }
}

/// "22 ноября 2026 г."
pub fn long_date(d: NaiveDate) -> String {
    const MONTHS: [&str; 12] = [
        "января",
        "февраля",
        "марта",
        "апреля",
        "мая",
        "июня",
        "июля",
        "августа",
        "сентября",
        "октября",
        "ноября",
        "декабря",
    ];
    format!(
        "{} {} {} г.",
        d.day(),
        MONTHS[d.month0() as usize],
        d.year()
    )
}

pub use robota_money_rules::print::{amount as money, quantity};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> Value {
        json!({
            "number": "2026-00007",
            "issue_date": "2026-11-22",
            "due_date": "2026-11-27",
            "currency": "RUB",
            "seller": { "name": "ООО \"Робота\"", "inn": "7707083893", "kpp": "770701001" },
            "buyer": { "name": "ООО \"Ромашка\"", "inn": "7736207543" },
            "items": [
                { "name": "Насос", "quantity": "2", "unit": "шт", "price": "50000", "vat_rate": "20" },
                { "name": "Монтаж", "quantity": "1", "price": "20000.50", "vat_rate": "none" }
            ]
        })
    }

    #[test]
    fn figures_and_phrases_come_from_the_record() {
        let doc = InvoiceDoc::from_record(&record()).unwrap();
        assert_eq!(
            doc.title(),
            "Счёт на оплату № 2026-00007 от 22 ноября 2026 г."
        );
        assert_eq!(doc.total, Decimal::from_str("120000.50").unwrap());
        assert_eq!(
            doc.vat_lines,
            vec![
                (
                    "В том числе НДС 20%:".to_owned(),
                    "16\u{a0}666,67".to_owned()
                ),
                ("Без НДС".to_owned(), "-".to_owned())
            ]
        );
        assert_eq!(doc.total_in_words(), "Сто двадцать тысяч рублей 50 копеек");
        assert_eq!(doc.due_line(), "Оплатить не позднее 27.11.2026");
        assert_eq!(
            doc.summary(),
            "Всего наименований 2, на сумму 120\u{a0}000,50 руб."
        );
        assert_eq!(doc.buyer.description(), "ООО \"Ромашка\", ИНН 7736207543");
    }

    #[test]
    fn a_record_without_lines_or_number_is_refused() {
        let mut r = record();
        r["items"] = json!([]);
        assert!(InvoiceDoc::from_record(&r).is_err());
        let mut r = record();
        r["number"] = json!("");
        assert!(InvoiceDoc::from_record(&r).is_err());
        let mut r = record();
        r["items"][0]["price"] = json!("abc");
        let e = InvoiceDoc::from_record(&r).unwrap_err();
        assert!(format!("{e:?}").contains("price `abc`"), "{e:?}");
    }
}
