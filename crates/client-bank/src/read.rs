//! Reading the format: [`decode`] the file's bytes, then [`parse`] the text.

use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::str::FromStr;

/// Why a file is not a statement: the line and what is wrong, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Malformed {}

/// One payment document of the statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The line its section starts on, for messages.
    pub line: usize,
    /// `СекцияДокумент=` value, such as "Платежное поручение".
    pub kind: String,
    /// Every `key=value` of the section.
    pub fields: BTreeMap<String, String>,
    /// `Сумма`, exact.
    pub amount: Decimal,
}

impl Document {
    /// A field's value, or "" when absent.
    pub fn get(&self, key: &str) -> &str {
        self.fields.get(key).map_or("", String::as_str).trim()
    }

    /// The day the money arrived (`ДатаПоступило`, else `Дата`) as YYYY-MM-DD.
    pub fn received_on(&self) -> Option<String> {
        let d = match self.get("ДатаПоступило") {
            "" => self.get("Дата"),
            d => d,
        };
        iso_date(d)
    }
}

/// A parsed statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The header's `key=value` lines (the last of a repeated key wins).
    pub header: BTreeMap<String, String>,
    /// The accounts the statement is for (`РасчСчет=` lines of the header).
    pub accounts: Vec<String>,
    /// The payment documents, in file order.
    pub documents: Vec<Document>,
}

/// "20.11.2026" → "2026-11-20".
pub fn iso_date(d: &str) -> Option<String> {
    let mut parts = d.trim().split('.');
    let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
    let ok = parts.next().is_none()
        && day.len() == 2
        && month.len() == 2
        && year.len() == 4
        && [day, month, year]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_digit()));
    ok.then(|| format!("{year}-{month}-{day}"))
}

/// The text of the file's bytes: UTF-8 if they are valid UTF-8, else
/// Windows-1251, or DOS 866 when the header says `Кодировка=DOS`.
pub fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_owned();
    }
    let (text, _, _) = encoding_rs::WINDOWS_1251.decode(bytes);
    let dos = text
        .lines()
        .take(20)
        .any(|l| l.trim().eq_ignore_ascii_case("Кодировка=DOS"));
    if dos {
        encoding_rs::IBM866.decode(bytes).0.into_owned()
    } else {
        text.into_owned()
    }
}

fn bad(line: usize, what: impl std::fmt::Display) -> Malformed {
    Malformed(format!("statement line {line}: {what}"))
}

/// Parses a statement; the error names the line and what is wrong.
pub fn parse(text: &str) -> Result<Statement, Malformed> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    match lines.by_ref().find(|(_, l)| !l.is_empty()) {
        Some((_, "1CClientBankExchange")) => {}
        Some((n, other)) => {
            return Err(bad(
                n,
                format!(
                    "`{}` where a 1C client-bank exchange file starts with `1CClientBankExchange`",
                    other.chars().take(40).collect::<String>()
                ),
            ));
        }
        None => return Err(Malformed("the statement is empty".into())),
    }
    let mut statement = Statement {
        header: BTreeMap::new(),
        accounts: Vec::new(),
        documents: Vec::new(),
    };
    let mut current: Option<Document> = None;
    let mut in_account = false;
    let mut ended = false;
    for (n, line) in lines {
        if line.is_empty() {
            continue;
        }
        if ended {
            return Err(bad(n, "text after КонецФайла"));
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (line, ""),
        };
        match (key, current.as_mut()) {
            ("КонецДокумента", Some(_)) => {
                if let Some(mut doc) = current.take() {
                    doc.amount = amount(&doc)?;
                    statement.documents.push(doc);
                }
            }
            ("КонецДокумента", None) => {
                return Err(bad(n, "КонецДокумента without СекцияДокумент"));
            }
            ("СекцияДокумент", Some(open)) => {
                return Err(bad(
                    n,
                    format!(
                        "a new document starts before the one from line {} ends (КонецДокумента)",
                        open.line
                    ),
                ));
            }
            ("КонецФайла", Some(open)) => {
                return Err(bad(
                    n,
                    format!("the file ends inside the document from line {}", open.line),
                ));
            }
            (_, Some(doc)) => {
                if !line.contains('=') {
                    return Err(bad(n, format!("`{line}` is not a key=value line")));
                }
                doc.fields.insert(key.to_owned(), value.to_owned());
            }
            ("СекцияДокумент", None) => {
                if value.is_empty() {
                    return Err(bad(n, "СекцияДокумент needs the document's kind"));
                }
                current = Some(Document {
                    line: n,
                    kind: value.to_owned(),
                    fields: BTreeMap::new(),
                    amount: Decimal::ZERO,
                });
            }
            ("СекцияРасчСчет", None) => in_account = true,
            ("КонецРасчСчет", None) => in_account = false,
            ("КонецФайла", None) => ended = true,
            (_, None) => {
                if !line.contains('=') {
                    return Err(bad(n, format!("`{line}` is not a key=value line")));
                }
                if key == "РасчСчет" && !in_account {
                    statement.accounts.push(value.to_owned());
                }
                if !in_account {
                    statement.header.insert(key.to_owned(), value.to_owned());
                }
            }
        }
    }
    if let Some(open) = current {
        return Err(bad(
            open.line,
            "the document never ends (no КонецДокумента)",
        ));
    }
    if !ended {
        return Err(Malformed(
            "the statement is cut short: it does not end with КонецФайла".into(),
        ));
    }
    Ok(statement)
}

/// `Сумма` of a document: a positive exact amount ("1200.50" or "1200,50").
fn amount(doc: &Document) -> Result<Decimal, Malformed> {
    let text = doc.get("Сумма");
    let value = Decimal::from_str(&text.replace(',', ".").replace(' ', ""))
        .ok()
        .filter(|d| *d > Decimal::ZERO && d.scale() <= 2);
    value.ok_or_else(|| {
        bad(
            doc.line,
            format!(
                "document № {}: Сумма `{text}` is not a positive amount with at most two decimals",
                doc.get("Номер")
            ),
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    pub(crate) const SAMPLE: &str = "1CClientBankExchange\r\nВерсияФормата=1.03\r\nКодировка=Windows\r\n\
        РасчСчет=40702810400000000001\r\nСекцияРасчСчет\r\nРасчСчет=40702810400000000001\r\nНачальныйОстаток=0.00\r\nКонецРасчСчет\r\n\
        СекцияДокумент=Платежное поручение\r\nНомер=15\r\nДата=20.11.2026\r\nСумма=120000.00\r\n\
        ПлательщикИНН=7736207543\r\nПолучательСчет=40702810400000000001\r\n\
        НазначениеПлатежа=Оплата по счету № 2026-00001 от 22.11.2026\r\nКонецДокумента\r\nКонецФайла\r\n";

    #[test]
    fn parses_header_accounts_and_documents() {
        let s = parse(SAMPLE).unwrap();
        assert_eq!(s.accounts, vec!["40702810400000000001"]);
        assert_eq!(s.documents.len(), 1);
        let d = &s.documents[0];
        assert_eq!(d.kind, "Платежное поручение");
        assert_eq!(d.amount, Decimal::from(120_000));
        assert_eq!(d.get("ПлательщикИНН"), "7736207543");
        assert_eq!(d.received_on().as_deref(), Some("2026-11-20"));
    }

    #[test]
    fn windows_1251_and_utf8_decode_to_the_same_text() {
        let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode(SAMPLE);
        assert_ne!(&cp1251[..], SAMPLE.as_bytes());
        assert_eq!(decode(&cp1251), SAMPLE);
        assert_eq!(decode(SAMPLE.as_bytes()), SAMPLE);
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), SAMPLE.as_bytes()].concat();
        assert_eq!(decode(&with_bom), SAMPLE);
    }

    #[test]
    fn malformed_files_name_the_line() {
        let msg = |text: &str| match parse(text) {
            Err(Malformed(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(msg("hello\n").contains("line 1"), "{}", msg("hello\n"));
        assert!(msg("").contains("empty"));
        let cut = SAMPLE.replace("КонецДокумента\r\nКонецФайла\r\n", "");
        assert!(
            msg(&cut).contains("line 9: the document never ends"),
            "{}",
            msg(&cut)
        );
        let no_end = SAMPLE.replace("КонецФайла\r\n", "");
        assert!(msg(&no_end).contains("КонецФайла"));
        let bad_sum = SAMPLE.replace("Сумма=120000.00", "Сумма=12O000");
        assert!(
            msg(&bad_sum).contains("Сумма `12O000`"),
            "{}",
            msg(&bad_sum)
        );
        let negative = SAMPLE.replace("Сумма=120000.00", "Сумма=-5");
        assert!(msg(&negative).contains("positive"));
        let stray = SAMPLE.replace("Номер=15", "Номер 15");
        assert!(msg(&stray).contains("line 10"), "{}", msg(&stray));
    }

    #[test]
    fn dates_convert_only_when_well_formed() {
        assert_eq!(iso_date("01.02.2026").as_deref(), Some("2026-02-01"));
        assert_eq!(iso_date("1.2.2026"), None);
        assert_eq!(iso_date("2026-02-01"), None);
    }
}
