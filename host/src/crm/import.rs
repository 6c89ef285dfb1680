//! Reading a CSV file of contacts or companies for import: UTF-8 (with or
//! without a BOM) or Windows-1251, `;` or `,` between fields, a header row
//! naming the columns by field name or by the Russian headings Bitrix24 and
//! Excel exports use. Each row becomes the fields of one record, or the
//! reason it cannot.

use super::EntityKind;
use super::schema::spec;
use serde_json::{Map, Value};

/// The most rows one import takes.
pub const MAX_IMPORT_ROWS: usize = 10_000;

/// One data row: its line in the file (the header is line 1) and its
/// fields, or what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    /// The row's line number.
    pub line: usize,
    /// The record's fields, or (field, reason).
    pub fields: Result<Map<String, Value>, (Option<String>, String)>,
}

/// Russian headings and other common names of columns: (heading, field).
const ALIASES: &[(&str, &str)] = &[
    ("название", "short_name"),
    ("название компании", "short_name"),
    ("краткое наименование", "short_name"),
    ("полное наименование", "full_name"),
    ("организационно-правовая форма", "legal_form"),
    ("форма собственности", "legal_form"),
    ("инн", "inn"),
    ("кпп", "kpp"),
    ("огрн", "ogrn"),
    ("огрнип", "ogrn"),
    ("юридический адрес", "legal_address"),
    ("почтовый адрес", "postal_address"),
    ("директор", "director"),
    ("руководитель", "director"),
    ("регион", "region"),
    ("банк", "bank_name"),
    ("бик", "bik"),
    ("расчетный счет", "settlement_account"),
    ("р/с", "settlement_account"),
    ("корреспондентский счет", "correspondent_account"),
    ("к/с", "correspondent_account"),
    ("тип", "kind"),
    ("имя", "first_name"),
    ("фамилия", "last_name"),
    ("отчество", "middle_name"),
    ("должность", "position"),
    ("телефон", "phone"),
    ("рабочий телефон", "phone"),
    ("мобильный телефон", "phone"),
    ("e-mail", "email"),
    ("email", "email"),
    ("эл. почта", "email"),
    ("электронная почта", "email"),
    ("рабочий e-mail", "email"),
];

/// Decodes the file: UTF-8 when it is valid UTF-8 (a BOM is dropped),
/// Windows-1251 otherwise.
pub fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::WINDOWS_1251
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

/// The field a column heading names for `kind`, if any.
fn field_of(kind: EntityKind, heading: &str) -> Option<&'static str> {
    let h = heading.trim().to_lowercase().replace('ё', "е");
    let name = ALIASES
        .iter()
        .find(|(alias, _)| *alias == h)
        .map(|(_, f)| *f)
        .unwrap_or(h.as_str());
    // Contacts keep lists of phones and e-mails: a `phone` column fills them.
    let name = match (kind, name) {
        (EntityKind::Contact, "phone" | "phones") => "phones",
        (EntityKind::Contact, "email" | "emails") => "emails",
        (_, other) => other,
    };
    spec(kind)
        .field(name)
        .filter(|f| f.writable && f.ty != super::FieldType::Items)
        .map(|f| f.name)
}

/// Parses `text` into rows of `kind`. A header that names no field, a file
/// without rows or with too many is refused as a whole.
pub fn parse(kind: EntityKind, text: &str) -> Result<Vec<ImportRow>, String> {
    let first_line = text.lines().next().unwrap_or_default();
    let delimiter = if first_line.matches(';').count() >= first_line.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headings = reader
        .headers()
        .map_err(|e| format!("line 1: the header row cannot be read: {e}"))?
        .clone();
    let mut columns = Vec::with_capacity(headings.len());
    for (i, heading) in headings.iter().enumerate() {
        let field = field_of(kind, heading).ok_or_else(|| {
            format!(
                "line 1, column {}: `{heading}` names no field of a {kind}; use a field name such as {} or a heading such as ИНН",
                i + 1,
                spec(kind).fields.first().map_or("name", |f| f.name)
            )
        })?;
        if columns.contains(&field) {
            return Err(format!("line 1: two columns fill `{field}`"));
        }
        columns.push(field);
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        if rows.len() == MAX_IMPORT_ROWS {
            return Err(format!("more than {MAX_IMPORT_ROWS} rows: split the file"));
        }
        let fields = match record {
            Err(e) => Err((None, format!("the row cannot be read: {e}"))),
            Ok(record) if record.len() > columns.len() => Err((
                None,
                format!(
                    "{} cells, but the header has {} columns",
                    record.len(),
                    columns.len()
                ),
            )),
            Ok(record) => Ok(row_fields(kind, &columns, &record)),
        };
        if matches!(&fields, Ok(f) if f.is_empty()) {
            continue; // a blank line
        }
        rows.push(ImportRow { line, fields });
    }
    if rows.is_empty() {
        return Err("the file has a header but no rows".into());
    }
    Ok(rows)
}

/// A row's non-empty cells as fields; a company's kind follows its INN
/// when the file does not say.
fn row_fields(
    kind: EntityKind,
    columns: &[&'static str],
    record: &csv::StringRecord,
) -> Map<String, Value> {
    let mut fields = Map::new();
    for (field, cell) in columns.iter().zip(record.iter()) {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        let value = match *field {
            "phones" | "emails" => Value::Array(
                cell.split([',', ';'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            ),
            _ => Value::String(cell.to_owned()),
        };
        fields.insert((*field).to_owned(), value);
    }
    if kind == EntityKind::Company && !fields.is_empty() && !fields.contains_key("kind") {
        let sole_trader = fields
            .get("inn")
            .and_then(Value::as_str)
            .is_some_and(|i| i.len() == 12);
        fields.insert(
            "kind".into(),
            Value::String(
                if sole_trader {
                    "sole_trader"
                } else {
                    "organisation"
                }
                .into(),
            ),
        );
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1251_with_semicolons_and_russian_headings() {
        let text = "Название;ИНН;Телефон\r\nООО «Ромашка»;7707083893;8 495 123-45-67\r\n";
        let bytes = encoding_rs::WINDOWS_1251.encode(text).0.into_owned();
        let rows = parse(EntityKind::Company, &decode(&bytes)).unwrap();
        let fields = rows[0].fields.as_ref().unwrap();
        assert_eq!(rows[0].line, 2);
        assert_eq!(fields["short_name"], "ООО «Ромашка»");
        assert_eq!(fields["inn"], "7707083893");
        assert_eq!(fields["kind"], "organisation");
    }

    #[test]
    fn utf8_with_a_bom_and_commas() {
        let text = "\u{feff}first_name,last_name,phone\nАда,Лавлейс,\"+7 916 1, 8 916 2\"\n\n";
        let rows = parse(EntityKind::Contact, &decode(text.as_bytes())).unwrap();
        assert_eq!(rows.len(), 1);
        let fields = rows[0].fields.as_ref().unwrap();
        assert_eq!(fields["phones"], serde_json::json!(["+7 916 1", "8 916 2"]));
    }

    #[test]
    fn an_unknown_heading_refuses_the_file() {
        let e = parse(EntityKind::Company, "Название;Факс\nx;1\n").unwrap_err();
        assert!(e.contains("`Факс` names no field"), "{e}");
        assert!(
            parse(EntityKind::Company, "inn\n")
                .unwrap_err()
                .contains("no rows")
        );
    }
}
