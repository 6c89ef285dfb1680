//! The console's texts: one catalogue per language (`console/i18n/*.toml`,
//! sections of `key = "text"`), Russian by default. A key missing from a
//! catalogue shows as the key itself (and a test finds it first).

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language the console speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lang {
    /// Русский.
    #[default]
    Ru,
    /// English.
    En,
}

/// The catalogues' sources.
const RU: &str = include_str!("../../console/i18n/ru.toml");
const EN: &str = include_str!("../../console/i18n/en.toml");

impl Lang {
    /// `ru` or `en`.
    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "ru" => Some(Lang::Ru),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// Its code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    /// The text of `key` (`section.name`), or the key when there is none.
    pub fn text(self, key: &str) -> &str {
        self.lookup(key).unwrap_or(key)
    }

    /// What an API problem with `code` and `params` says in this language
    /// (`problems.<code>`), if the catalogue has the code.
    pub fn problem(self, code: &str, params: &serde_json::Value) -> Option<String> {
        let text = self.lookup(&format!("problems.{code}"))?;
        Some(fill(self, text, params))
    }

    /// The text of `key`, if the catalogue has it.
    pub fn lookup(self, key: &str) -> Option<&'static str> {
        catalogue(self).get(key).map(String::as_str)
    }
}

/// `text` with each `{name}` replaced by the parameter `name` and each
/// `{name:section}` by its label in `section` (a status's name); a list is
/// joined with commas. A placeholder without its parameter stays as it is.
fn fill(lang: Lang, text: &str, params: &serde_json::Value) -> String {
    use serde_json::Value;
    let say = |value: &Value, section: Option<&str>| -> String {
        let plain = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        section
            .and_then(|s| lang.lookup(&format!("{s}.{plain}")))
            .map_or(plain, str::to_owned)
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let inner = &rest[open + 1..open + close];
        let (name, section) = match inner.split_once(':') {
            Some((n, s)) => (n, Some(s)),
            None => (inner, None),
        };
        match params.get(name) {
            Some(Value::Array(items)) => out.push_str(
                &items
                    .iter()
                    .map(|v| say(v, section))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Some(v) => out.push_str(&say(v, section)),
            None => out.push_str(&rest[open..=open + close]),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

fn catalogue(lang: Lang) -> &'static HashMap<String, String> {
    static RU_TEXTS: OnceLock<HashMap<String, String>> = OnceLock::new();
    static EN_TEXTS: OnceLock<HashMap<String, String>> = OnceLock::new();
    let (cell, source) = match lang {
        Lang::Ru => (&RU_TEXTS, RU),
        Lang::En => (&EN_TEXTS, EN),
    };
    cell.get_or_init(|| flatten(source))
}

/// `[a] b = "x"` → `a.b` = `x`. A catalogue that does not parse is empty
/// (a test parses each, so it never ships so).
fn flatten(source: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Ok(table) = source.parse::<toml::Table>() {
        walk("", &table, &mut out);
    }
    out
}

fn walk(prefix: &str, table: &toml::Table, out: &mut HashMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Table(t) => walk(&key, t, out),
            _ => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogues_parse_and_have_the_same_keys() {
        for source in [RU, EN] {
            source.parse::<toml::Table>().unwrap();
        }
        let mut ru: Vec<_> = catalogue(Lang::Ru).keys().collect();
        let mut en: Vec<_> = catalogue(Lang::En).keys().collect();
        ru.sort();
        en.sort();
        assert_eq!(ru, en);
        assert_eq!(Lang::Ru.text("nav.deals"), "Сделки");
        assert_eq!(Lang::En.text("nav.deals"), "Deals");
        assert_eq!(Lang::Ru.text("no.such.key"), "no.such.key");
    }

    #[test]
    fn every_code_the_api_gives_is_said_in_both_languages() {
        use crate::crm::{Clash, Wrong};
        use strum::VariantNames as _;
        for code in Wrong::VARIANTS.iter().chain(Clash::VARIANTS) {
            for lang in [Lang::Ru, Lang::En] {
                assert!(
                    lang.problem(code, &serde_json::json!({})).is_some(),
                    "problems.{code} is missing from {}",
                    lang.code()
                );
            }
        }
    }

    #[test]
    fn every_kind_of_call_failure_is_said_in_both_languages() {
        for kind in crate::plugins::CallError::kinds() {
            for lang in [Lang::Ru, Lang::En] {
                assert!(
                    lang.lookup(&format!("call_errors.{kind}")).is_some(),
                    "call_errors.{kind} is missing from {}",
                    lang.code()
                );
            }
        }
    }

    #[test]
    fn a_problem_is_filled_with_its_parameters_and_labels() {
        let params = serde_json::json!({
            "from": "draft", "to": "paid", "allowed": ["on_approval"]
        });
        assert_eq!(
            Lang::Ru.problem("no-such-move", &params).unwrap(),
            "из «черновик» нельзя перейти в «оплачена»; можно: на согласовании"
        );
        assert_eq!(
            Lang::Ru
                .problem(
                    "wrong-length",
                    &serde_json::json!({"expected": [10, 12], "got": 3})
                )
                .unwrap(),
            "нужно цифр: 10, 12, а указано 3"
        );
        // A parameter the API did not send stays visible, not blank.
        assert_eq!(
            Lang::En
                .problem("not-decimal", &serde_json::json!({}))
                .unwrap(),
            "“{value}” is not a number"
        );
        assert_eq!(Lang::En.problem("no-such-code", &params), None);
    }

    #[test]
    fn every_text_a_template_asks_for_is_in_the_catalogues() {
        let re = regex_lite_keys();
        for (name, source) in super::super::render::TEMPLATES {
            for key in re(source) {
                for lang in [Lang::Ru, Lang::En] {
                    assert!(
                        lang.lookup(&key).is_some(),
                        "{name}: `{key}` is missing from {}",
                        lang.code()
                    );
                }
            }
        }
    }

    /// The keys of `t("…")` calls in a template.
    fn regex_lite_keys() -> impl Fn(&str) -> Vec<String> {
        |source: &str| {
            source
                .match_indices("t(\"")
                .filter_map(|(i, _)| {
                    let rest = &source[i + 3..];
                    let end = rest.find('"')?;
                    // `t("stage." ~ code)` builds its key: not a key itself.
                    let dynamic = rest[end + 1..].trim_start().starts_with('~');
                    (!dynamic).then(|| rest[..end].to_owned())
                })
                .collect()
        }
    }
}
