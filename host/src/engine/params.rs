//! Checking the parameters of a manual start against the process's types.

use super::definition::ParamType;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::str::FromStr;

/// The parameters normalised (decimals as exact strings), or one message
/// naming every parameter that is missing, unknown or of the wrong type.
pub fn check(wanted: &BTreeMap<String, ParamType>, given: Value) -> Result<Value, String> {
    let given = match given {
        Value::Null => Map::new(),
        Value::Object(m) => m,
        _ => return Err("parameters must be a JSON object".into()),
    };
    let mut problems = Vec::new();
    let mut out = Map::new();
    for (name, value) in &given {
        if !wanted.contains_key(name) {
            problems.push(format!("unknown parameter `{name}`"));
            continue;
        }
        match normalise(wanted[name], value) {
            Ok(v) => {
                out.insert(name.clone(), v);
            }
            Err(e) => problems.push(format!("parameter `{name}`: {e}")),
        }
    }
    for name in wanted.keys() {
        if !given.contains_key(name) {
            problems.push(format!("missing parameter `{name}`"));
        }
    }
    if problems.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(problems.join("; "))
    }
}

fn normalise(ty: ParamType, v: &Value) -> Result<Value, String> {
    match (ty, v) {
        (ParamType::String, Value::String(_)) | (ParamType::Bool, Value::Bool(_)) => Ok(v.clone()),
        (ParamType::Integer, Value::Number(n)) if n.is_i64() => Ok(v.clone()),
        (ParamType::Decimal, Value::String(s)) => rust_decimal::Decimal::from_str(s.trim())
            .map(|d| Value::String(d.to_string()))
            .map_err(|_| format!("`{s}` is not a decimal number")),
        (ParamType::Decimal, Value::Number(n)) => rust_decimal::Decimal::from_str(&n.to_string())
            .map(|d| Value::String(d.to_string()))
            .map_err(|_| format!("`{n}` is not a decimal number")),
        (ParamType::Date, Value::String(s)) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(|_| v.clone())
            .map_err(|_| format!("`{s}` is not a date (YYYY-MM-DD)")),
        (ty, other) => Err(format!("expected {ty:?}, got {other}").to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wanted() -> BTreeMap<String, ParamType> {
        BTreeMap::from([
            ("amount".to_owned(), ParamType::Decimal),
            ("due".to_owned(), ParamType::Date),
        ])
    }

    #[test]
    fn good_parameters_are_normalised() {
        let v = check(
            &wanted(),
            json!({ "amount": "1500.50", "due": "2026-12-01" }),
        )
        .unwrap();
        assert_eq!(v, json!({ "amount": "1500.50", "due": "2026-12-01" }));
    }

    #[test]
    fn every_problem_is_named() {
        let e = check(&wanted(), json!({ "amount": "lots", "extra": 1 })).unwrap_err();
        assert!(
            e.contains("parameter `amount`: `lots` is not a decimal number"),
            "{e}"
        );
        assert!(e.contains("unknown parameter `extra`"), "{e}");
        assert!(e.contains("missing parameter `due`"), "{e}");
    }
}
