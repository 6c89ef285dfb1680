//! The keys two records are duplicates by: a phone in E.164 (the Russian
//! `8 …` and `+7 …` forms are one number), a case-folded e-mail, an INN,
//! and a company name without its legal form, quotes, case or spaces
//! (`ООО "Ромашка"` = `Ромашка ООО` = `ромашка`).

use super::EntityKind;
use serde::Serialize;
use serde_json::{Map, Value};

/// A stored record that looks like the one being written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// contact or company.
    pub kind: EntityKind,
    /// Its id.
    pub id: String,
    /// Its name as people read it.
    pub name: String,
    /// Which keys matched: phone, email, inn, name.
    pub matched: Vec<String>,
    /// On a lead's conversion: the fields where the stored record and the
    /// lead disagree, for a merge chosen field by field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differs: Vec<Difference>,
}

/// A field where a stored record and what a lead would write disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The field (`first_name`, `region`).
    pub field: String,
    /// The stored value (null when empty).
    pub stored: serde_json::Value,
    /// The lead's value.
    pub lead: serde_json::Value,
}

/// A phone number in E.164, the key phones are compared by.
pub use robota_requisites::phone_e164 as phone_key;

/// An e-mail address trimmed and case-folded, if it looks like one.
pub fn email_key(text: &str) -> Option<String> {
    let e = text.trim().to_lowercase();
    e.contains('@').then_some(e)
}

/// Legal forms as written in names, longest first (a full form contains
/// the words of shorter ones).
const LEGAL_FORMS: &[&str] = &[
    "общество с ограниченной ответственностью",
    "публичное акционерное общество",
    "непубличное акционерное общество",
    "закрытое акционерное общество",
    "открытое акционерное общество",
    "акционерное общество",
    "индивидуальный предприниматель",
    "автономная некоммерческая организация",
    "некоммерческая организация",
    "общество",
];

/// Abbreviated legal forms, dropped as whole words.
const LEGAL_ABBREVIATIONS: &[&str] = &[
    "ооо", "пао", "зао", "оао", "ао", "нао", "ип", "ано", "нко", "мкк", "llc", "ltd", "inc",
];

/// A company name reduced to what tells companies apart, or None if
/// nothing is left (a name that is only a legal form).
pub fn company_name_key(text: &str) -> Option<String> {
    let mut name = text.to_lowercase().replace('ё', "е");
    for form in LEGAL_FORMS {
        name = name.replace(form, " ");
    }
    let words: Vec<String> = name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !LEGAL_ABBREVIATIONS.contains(w))
        .map(str::to_owned)
        .collect();
    let key = words.concat();
    (!key.is_empty()).then_some(key)
}

/// The duplicate keys of a contact or a company record: (key, value).
pub fn keys_of(kind: EntityKind, record: &Map<String, Value>) -> Vec<(&'static str, String)> {
    let text = |name: &str| record.get(name).and_then(Value::as_str);
    let list = |name: &str| -> Vec<&str> {
        match record.get(name) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    };
    let mut keys = Vec::new();
    match kind {
        EntityKind::Contact => {
            keys.extend(
                list("phones")
                    .into_iter()
                    .filter_map(phone_key)
                    .map(|k| ("phone", k)),
            );
            keys.extend(
                list("emails")
                    .into_iter()
                    .filter_map(email_key)
                    .map(|k| ("email", k)),
            );
        }
        EntityKind::Company => {
            if let Some(inn) = text("inn").map(str::trim).filter(|s| !s.is_empty()) {
                keys.push(("inn", inn.to_owned()));
            }
            for name in ["short_name", "full_name"] {
                if let Some(k) = text(name).and_then(company_name_key) {
                    keys.push(("name", k));
                }
            }
            keys.extend(text("phone").and_then(phone_key).map(|k| ("phone", k)));
            keys.extend(text("email").and_then(email_key).map(|k| ("email", k)));
        }
        _ => {}
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Whether duplicates are looked for among records of `kind`.
pub fn is_checked(kind: EntityKind) -> bool {
    matches!(kind, EntityKind::Contact | EntityKind::Company)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn russian_phone_forms_are_one_number() {
        let want = Some("+74951234567".to_owned());
        for p in [
            "8 (495) 123-45-67",
            "+7 495 123-45-67",
            "74951234567",
            "495 123 45 67",
        ] {
            assert_eq!(phone_key(p), want, "{p}");
        }
        assert_eq!(
            phone_key("+44 20 7946 0958").as_deref(),
            Some("+442079460958")
        );
        assert_eq!(phone_key("12-34"), None);
    }

    #[test]
    fn company_names_drop_form_quotes_case_and_spaces() {
        for n in [
            "ООО \"Ромашка\"",
            "Ромашка ООО",
            "ромашка",
            "ООО «Ромашка»",
            "Общество с ограниченной ответственностью «РОМАШКА»",
        ] {
            assert_eq!(company_name_key(n).as_deref(), Some("ромашка"), "{n}");
        }
        assert_eq!(
            company_name_key("ПАО СБЕРБАНК").as_deref(),
            Some("сбербанк")
        );
        assert_eq!(company_name_key("Тёплый дом").as_deref(), Some("теплыйдом"));
        assert_eq!(company_name_key("ООО"), None);
    }

    #[test]
    fn emails_fold_case() {
        assert_eq!(
            email_key(" S.Kuznetsov@Romashka.example ").as_deref(),
            Some("s.kuznetsov@romashka.example")
        );
    }

    #[test]
    fn a_contact_is_keyed_by_each_phone_and_email() {
        let record =
            json!({ "phones": ["8 916 555-12-34", "+7 916 555 12 34"], "emails": ["A@b.ru"] });
        let keys = keys_of(EntityKind::Contact, record.as_object().unwrap());
        assert_eq!(
            keys,
            vec![
                ("email", "a@b.ru".to_owned()),
                ("phone", "+79165551234".to_owned())
            ]
        );
    }
}
