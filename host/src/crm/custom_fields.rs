//! Custom fields an admin defines per entity kind: their definitions and
//! how a value is checked against one. Values live in each record's
//! `custom_fields` object; definitions in the store.

use super::EntityKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The types a custom field may have.
pub const CUSTOM_FIELD_TYPES: &[&str] = &["text", "number", "decimal", "date", "bool", "enum"];

/// The most custom fields one kind may have.
pub const MAX_CUSTOM_FIELDS: usize = 200;

/// One custom field of an entity kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomFieldDef {
    /// The key in `custom_fields` (`contract_number`): lower-case Latin
    /// letters, digits and `_`, starting with a letter.
    pub name: String,
    /// What people see (`Номер договора`).
    pub label: String,
    /// text, number, decimal, date, bool or enum.
    #[serde(rename = "type")]
    pub ty: String,
    /// An enum's values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// The deal stages (or lead statuses) from which the field must be
    /// filled: entering one of them without it is refused.
    #[serde(default)]
    pub required_at: Vec<String>,
}

impl CustomFieldDef {
    /// Checks the definition on its own; `at` says where it is in the
    /// request (`fields[2]`).
    pub fn check(&self, at: &str) -> Result<(), String> {
        let name_ok = self.name.len() <= 64
            && self.name.starts_with(|c: char| c.is_ascii_lowercase())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            return Err(format!(
                "{at}.name: `{}` must be lower-case Latin letters, digits and _, starting with a letter, at most 64",
                self.name
            ));
        }
        if self.label.trim().is_empty() || self.label.len() > 200 {
            return Err(format!("{at}.label: give a label of 1 to 200 bytes"));
        }
        if !CUSTOM_FIELD_TYPES.contains(&self.ty.as_str()) {
            return Err(format!(
                "{at}.type: `{}` is not one of {}",
                self.ty,
                CUSTOM_FIELD_TYPES.join(", ")
            ));
        }
        match (self.ty == "enum", self.options.is_empty()) {
            (true, true) => return Err(format!("{at}.options: an enum needs its values")),
            (false, false) => return Err(format!("{at}.options: only an enum has options")),
            _ => {}
        }
        if self.options.iter().any(|o| o.trim().is_empty()) {
            return Err(format!("{at}.options: a value cannot be empty"));
        }
        Ok(())
    }

    /// Whether `value` is a valid value of this field (null always is).
    pub fn accepts(&self, value: &Value) -> bool {
        match self.ty.as_str() {
            _ if value.is_null() => true,
            "text" => value.is_string(),
            "number" => value.is_i64(),
            "decimal" => super::filter::decimal_of(value).is_some() && !value.is_f64(),
            "date" => value
                .as_str()
                .is_some_and(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()),
            "bool" => value.is_boolean(),
            "enum" => value
                .as_str()
                .is_some_and(|s| self.options.iter().any(|o| o == s)),
            _ => false,
        }
    }
}

/// The kinds whose records move through stages or statuses, so their
/// custom fields may be required at some of them.
pub fn has_stages(kind: EntityKind) -> bool {
    matches!(kind, EntityKind::Deal | EntityKind::Lead)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(name: &str, ty: &str) -> CustomFieldDef {
        CustomFieldDef {
            name: name.into(),
            label: "Поле".into(),
            ty: ty.into(),
            options: vec![],
            required_at: vec![],
        }
    }

    #[test]
    fn names_types_and_options_are_checked() {
        assert!(def("contract_number", "text").check("fields[0]").is_ok());
        let e = def("Contract", "text").check("fields[0]").unwrap_err();
        assert!(e.starts_with("fields[0].name: `Contract`"), "{e}");
        let e = def("x", "money").check("fields[1]").unwrap_err();
        assert!(e.contains("fields[1].type: `money` is not one of"), "{e}");
        let e = def("x", "enum").check("fields[2]").unwrap_err();
        assert_eq!(e, "fields[2].options: an enum needs its values");
    }

    #[test]
    fn values_are_checked_by_type() {
        assert!(def("n", "number").accepts(&json!(3)));
        assert!(!def("n", "number").accepts(&json!("3")));
        assert!(def("d", "decimal").accepts(&json!("10.50")));
        assert!(!def("d", "decimal").accepts(&json!(10.5)));
        assert!(def("d", "date").accepts(&json!("2026-12-31")));
        assert!(!def("d", "date").accepts(&json!("31.12.2026")));
        let mut e = def("e", "enum");
        e.options = vec!["a".into()];
        assert!(e.accepts(&json!("a")) && !e.accepts(&json!("b")));
        assert!(e.accepts(&Value::Null));
    }
}
