//! Writing payment orders (`СекцияДокумент=Платежное поручение`) for upload
//! into a bank client, as version 1.03 of the format describes them.

use rust_decimal::Decimal;
use std::fmt::Write as _;

/// One side of a payment: the payer or the payee.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Party {
    /// The name as the bank shows it (`ООО «Ромашка»`).
    pub name: String,
    /// ИНН.
    pub inn: String,
    /// КПП (organisations).
    pub kpp: String,
    /// The settlement account (расчётный счёт).
    pub account: String,
    /// The bank's name.
    pub bank_name: String,
    /// БИК.
    pub bik: String,
    /// The bank's correspondent account.
    pub correspondent_account: String,
}

/// One payment order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOrder {
    /// Its number.
    pub number: String,
    /// Its date, YYYY-MM-DD.
    pub date: String,
    /// The amount, exact (written with two decimals).
    pub amount: Decimal,
    /// Who pays.
    pub payer: Party,
    /// Who is paid.
    pub payee: Party,
    /// НазначениеПлатежа: what the payment is for.
    pub purpose: String,
    /// Очередность: 5 for ordinary payments to contractors.
    pub priority: u8,
}

/// A file of payment orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// When it is made: YYYY-MM-DD and HH:MM:SS.
    pub created: (String, String),
    /// The period it covers, YYYY-MM-DD (first and last day).
    pub period: (String, String),
    /// The account the orders are paid from.
    pub account: String,
    /// The orders.
    pub orders: Vec<PaymentOrder>,
}

/// "2026-11-20" → "20.11.2026"; anything else as it is.
fn ru_date(iso: &str) -> String {
    let parts: Vec<&str> = iso.split('-').collect();
    match parts.as_slice() {
        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => format!("{d}.{m}.{y}"),
        _ => iso.to_owned(),
    }
}

/// A value fit for one `key=value` line: no line breaks, trimmed.
fn one_line(value: &str) -> String {
    value
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Export {
    /// The file's text, lines ending in CRLF as bank clients expect.
    pub fn text(&self) -> String {
        let mut out = String::from("1CClientBankExchange\r\n");
        let mut line = |key: &str, value: &str| {
            let _ = match value {
                // Markers (`КонецДокумента`) are lines of their own.
                "\0" => write!(out, "{key}\r\n"),
                _ => write!(out, "{key}={}\r\n", one_line(value)),
            };
        };
        line("ВерсияФормата", "1.03");
        line("Кодировка", "Windows");
        line("Отправитель", "robota");
        line("Получатель", "");
        line("ДатаСоздания", &ru_date(&self.created.0));
        line("ВремяСоздания", &self.created.1);
        line("ДатаНачала", &ru_date(&self.period.0));
        line("ДатаКонца", &ru_date(&self.period.1));
        line("РасчСчет", &self.account);
        line("Документ", "Платежное поручение");
        for order in &self.orders {
            line("СекцияДокумент", "Платежное поручение");
            line("Номер", &order.number);
            line("Дата", &ru_date(&order.date));
            line("Сумма", &format!("{:.2}", order.amount.round_dp(2)));
            for (side, p) in [("Плательщик", &order.payer), ("Получатель", &order.payee)]
            {
                line(&format!("{side}Счет"), &p.account);
                line(side, &format!("ИНН {} {}", p.inn, p.name));
                line(&format!("{side}ИНН"), &p.inn);
                line(&format!("{side}1"), &p.name);
                line(&format!("{side}РасчСчет"), &p.account);
                line(&format!("{side}Банк1"), &p.bank_name);
                line(&format!("{side}БИК"), &p.bik);
                line(&format!("{side}Корсчет"), &p.correspondent_account);
                line(&format!("{side}КПП"), &p.kpp);
            }
            line("ВидОплаты", "01");
            line("Очередность", &order.priority.to_string());
            line("НазначениеПлатежа", &order.purpose);
            line("КонецДокумента", "\0");
        }
        line("КонецФайла", "\0");
        out
    }
}

/// `text` in Windows-1251, or the first character it cannot hold.
pub fn encode_1251(text: &str) -> Result<Vec<u8>, char> {
    let (bytes, _, lossy) = encoding_rs::WINDOWS_1251.encode(text);
    if lossy {
        // Find the culprit to name it.
        let bad = text
            .chars()
            .find(|c| {
                let mut buf = [0u8; 4];
                encoding_rs::WINDOWS_1251.encode(c.encode_utf8(&mut buf)).2
            })
            .unwrap_or('?');
        return Err(bad);
    }
    Ok(bytes.into_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::str::FromStr as _;

    fn party(name: &str, inn: &str, account: &str) -> Party {
        Party {
            name: name.into(),
            inn: inn.into(),
            kpp: "773601001".into(),
            account: account.into(),
            bank_name: "ПАО Сбербанк".into(),
            bik: "044525225".into(),
            correspondent_account: "30101810400000000225".into(),
        }
    }

    fn export() -> Export {
        Export {
            created: ("2026-12-05".into(), "10:15:00".into()),
            period: ("2026-12-20".into(), "2026-12-20".into()),
            account: "40702810500000001234".into(),
            orders: vec![PaymentOrder {
                number: "1".into(),
                date: "2026-12-20".into(),
                amount: Decimal::from_str("120000.5").unwrap(),
                payer: party("ООО «Робота»", "7736207543", "40702810500000001234"),
                payee: party("ООО «Арендодатель»", "5001007329", "40702810438000060473"),
                purpose: "Оплата аренды\nза декабрь".into(),
                priority: 5,
            }],
        }
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        let text = export().text();
        let statement = crate::parse(&text).unwrap();
        assert_eq!(statement.accounts, ["40702810500000001234"]);
        let doc = &statement.documents[0];
        assert_eq!(doc.kind, "Платежное поручение");
        assert_eq!(doc.amount, Decimal::from_str("120000.50").unwrap());
        assert_eq!(doc.get("Сумма"), "120000.50");
        assert_eq!(doc.get("Дата"), "20.12.2026");
        assert_eq!(doc.get("ПлательщикИНН"), "7736207543");
        assert_eq!(doc.get("ПолучательСчет"), "40702810438000060473");
        assert_eq!(doc.get("Получатель"), "ИНН 5001007329 ООО «Арендодатель»");
        assert_eq!(doc.get("Очередность"), "5");
        // A line break in a value would end the line: it becomes a space.
        assert_eq!(doc.get("НазначениеПлатежа"), "Оплата аренды за декабрь");
        assert!(text.ends_with("КонецДокумента\r\nКонецФайла\r\n"));
    }

    #[test]
    fn windows_1251_round_trips_and_names_what_it_cannot_hold() {
        let text = export().text();
        let bytes = encode_1251(&text).unwrap();
        assert_eq!(crate::decode(&bytes), text);
        assert_eq!(encode_1251("Оплата ✓"), Err('✓'));
    }
}
