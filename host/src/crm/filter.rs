//! Filters over entity fields, evaluated in memory (for a step's own buffered
//! writes and for exact decimal comparisons) with the same meaning the store
//! gives them in SQL.

use super::schema::{EntitySpec, FieldType};
use super::{CrmError, EntityKind, Wrong};
use rust_decimal::Decimal;
use serde_json::Value;
use std::cmp::Ordering;
use std::str::FromStr;

/// How a filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
    /// Text contains, ignoring case.
    Contains,
    /// Empty.
    IsNull,
}

impl FilterOp {
    /// The operator named in a query (`amount.gt=…`) or a process's `where`.
    pub fn parse(name: &str) -> Option<FilterOp> {
        Some(match name {
            "eq" => FilterOp::Eq,
            "ne" => FilterOp::Ne,
            "lt" => FilterOp::Lt,
            "le" => FilterOp::Le,
            "gt" => FilterOp::Gt,
            "ge" => FilterOp::Ge,
            "contains" => FilterOp::Contains,
            "null" => FilterOp::IsNull,
            _ => return None,
        })
    }

    /// The names [`FilterOp::parse`] knows, for error messages.
    pub const NAMES: &'static str = "eq, ne, lt, le, gt, ge, contains, null";

    /// `amount.gt` → (`amount`, Gt); a bare name is an equality.
    pub fn split(key: &str) -> Result<(&str, FilterOp), String> {
        match key.rsplit_once('.') {
            None => Ok((key, FilterOp::Eq)),
            Some((field, op)) => FilterOp::parse(op).map(|op| (field, op)).ok_or_else(|| {
                format!(
                    "filter `{key}`: unknown operator `{op}` ({})",
                    FilterOp::NAMES
                )
            }),
        }
    }
}

/// One condition on a field.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The field's name.
    pub field: String,
    /// The comparison.
    pub op: FilterOp,
    /// The value compared with.
    pub value: Value,
}

impl Filter {
    /// `field` from `from` to `to`, both included (dates or numbers as text).
    pub fn between(field: &str, from: &str, to: &str) -> Vec<Filter> {
        [(FilterOp::Ge, from), (FilterOp::Le, to)]
            .into_iter()
            .map(|(op, value)| Filter {
                field: field.to_owned(),
                op,
                value: Value::String(value.to_owned()),
            })
            .collect()
    }

    /// Checks that the field exists on `kind` and the value suits it.
    pub fn check(&self, spec: &EntitySpec) -> Result<(), CrmError> {
        let Some(field) = spec.field(&self.field) else {
            return Err(CrmError::field(
                spec.kind,
                &self.field,
                Wrong::NoFilterField,
            ));
        };
        if self.op == FilterOp::IsNull {
            return Ok(());
        }
        match (&field.ty, &self.value) {
            (FieldType::Decimal, Value::String(s)) if Decimal::from_str(s).is_err() => {
                Err(CrmError::field(
                    spec.kind,
                    &self.field,
                    Wrong::FilterNotDecimal {
                        value: format!("`{s}`"),
                    },
                ))
            }
            (FieldType::Decimal, Value::Number(_) | Value::String(_)) => Ok(()),
            (FieldType::Decimal, other) => Err(CrmError::field(
                spec.kind,
                &self.field,
                Wrong::FilterNotDecimal {
                    value: other.to_string(),
                },
            )),
            (
                FieldType::Items
                | FieldType::Json
                | FieldType::TextList
                | FieldType::EmailList
                | FieldType::PhoneList,
                _,
            ) if self.op != FilterOp::Contains => {
                Err(CrmError::field(spec.kind, &self.field, Wrong::OnlyContains))
            }
            _ => Ok(()),
        }
    }

    /// Whether `row` (an entity's JSON object) passes this filter.
    pub fn matches(&self, kind: EntityKind, spec: &EntitySpec, row: &Value) -> bool {
        let actual = row.get(&self.field).unwrap_or(&Value::Null);
        let is_decimal = spec
            .field(&self.field)
            .is_some_and(|f| f.ty == FieldType::Decimal);
        let _ = kind;
        match self.op {
            FilterOp::IsNull => actual.is_null() || actual.as_str() == Some(""),
            FilterOp::Contains => {
                let needle = value_text(&self.value).to_lowercase();
                value_text(actual).to_lowercase().contains(&needle)
            }
            op => {
                if actual.is_null() {
                    return op == FilterOp::Ne && !self.value.is_null();
                }
                let ord = if is_decimal {
                    match (decimal_of(actual), decimal_of(&self.value)) {
                        (Some(a), Some(b)) => a.cmp(&b),
                        _ => return false,
                    }
                } else {
                    compare_plain(actual, &self.value)
                };
                match op {
                    FilterOp::Eq => ord == Ordering::Equal,
                    FilterOp::Ne => ord != Ordering::Equal,
                    FilterOp::Lt => ord == Ordering::Less,
                    FilterOp::Le => ord != Ordering::Greater,
                    FilterOp::Gt => ord == Ordering::Greater,
                    FilterOp::Ge => ord != Ordering::Less,
                    FilterOp::Contains | FilterOp::IsNull => false,
                }
            }
        }
    }
}

/// A JSON scalar's text, as SQL would compare it.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A decimal from a JSON string or number.
pub fn decimal_of(v: &Value) -> Option<Decimal> {
    match v {
        Value::String(s) => Decimal::from_str(s).ok(),
        Value::Number(n) => Decimal::from_str(&n.to_string()).ok(),
        _ => None,
    }
}

fn compare_plain(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => value_text(a).cmp(&value_text(b)),
        },
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => value_text(a).cmp(&value_text(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::schema::spec;
    use serde_json::json;

    #[test]
    fn decimals_compare_exactly_not_as_text() {
        let spec = spec(EntityKind::Deal);
        let row = json!({ "amount": "9.50" });
        let gt = |v: Value| Filter {
            field: "amount".into(),
            op: FilterOp::Gt,
            value: v,
        };
        // As text "9.50" > "10000" would hold; as decimals it must not.
        assert!(!gt(json!("10000")).matches(EntityKind::Deal, spec, &row));
        assert!(gt(json!("9.49")).matches(EntityKind::Deal, spec, &row));
        assert!(
            Filter {
                field: "amount".into(),
                op: FilterOp::Eq,
                value: json!("9.5")
            }
            .matches(EntityKind::Deal, spec, &row)
        );
    }

    #[test]
    fn unknown_field_and_bad_decimal_are_refused() {
        let spec = spec(EntityKind::Deal);
        let f = Filter {
            field: "amout".into(),
            op: FilterOp::Eq,
            value: json!(1),
        };
        assert_eq!(
            f.check(spec).unwrap_err().to_string(),
            "deal.amout: no such field to filter on"
        );
        let f = Filter {
            field: "amount".into(),
            op: FilterOp::Gt,
            value: json!("ten"),
        };
        assert!(f.check(spec).is_err());
    }

    #[test]
    fn contains_ignores_case_and_is_null_sees_empty() {
        let spec = spec(EntityKind::Company);
        let row = json!({ "short_name": "ООО Ромашка", "kpp": null });
        let c = Filter {
            field: "short_name".into(),
            op: FilterOp::Contains,
            value: json!("ромашка"),
        };
        assert!(c.matches(EntityKind::Company, spec, &row));
        let n = Filter {
            field: "kpp".into(),
            op: FilterOp::IsNull,
            value: Value::Null,
        };
        assert!(n.matches(EntityKind::Company, spec, &row));
    }
}
