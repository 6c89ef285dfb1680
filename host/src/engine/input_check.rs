//! A step's input checked where it is written: every key and template of
//! `[step.input]` gets its own line in a diagnostic, and the input is
//! checked against the action's input JSON Schema before a run ever tries it.
//!
//! A templated string's value is known only when a run renders it (a whole
//! `{{ expression }}` may even become a number), so the schema check skips
//! what sits at or under a templated string and checks everything else:
//! unknown keys, missing required ones, and the types and values of the
//! literal ones.

use super::diagnostics::Span;
use super::expr::is_template;
use serde_json::Value;
use std::collections::HashMap;
use toml::de::{DeTable, DeValue};

/// The spans of a process file's values, looked up by path.
pub struct SourceSpans<'i> {
    doc: Option<toml::Spanned<DeTable<'i>>>,
}

impl<'i> SourceSpans<'i> {
    /// Reads the spans of `source` (a file that did not parse has none).
    pub fn parse(source: &'i str) -> SourceSpans<'i> {
        SourceSpans {
            doc: DeTable::parse(source).ok(),
        }
    }

    /// The span of `[step.input]`'s value at `path` in the `step`-th step
    /// (the key's span with `key = true`: an unknown key points at its name).
    pub fn step_input(&self, step: usize, path: &[String], key: bool) -> Option<Span> {
        let doc = self.doc.as_ref()?.get_ref();
        let DeValue::Array(steps) = doc.get("step")?.get_ref() else {
            return None;
        };
        let DeValue::Table(table) = steps.get(step)?.get_ref() else {
            return None;
        };
        let (input_key, mut value) = table.get_key_value("input")?;
        let mut key_span = input_key.span();
        for segment in path {
            let next = match value.get_ref() {
                DeValue::Table(t) => t
                    .get_key_value(segment.as_str())
                    .map(|(k, v)| (k.span(), v)),
                DeValue::Array(items) => segment
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i))
                    .map(|v| (v.span(), v)),
                _ => None,
            };
            let (k, v) = next?;
            key_span = k;
            value = v;
        }
        Some(if key { key_span } else { value.span() })
    }
}

/// One problem of a step's input: where (a path inside the input, and
/// whether it is a key the input should not have) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputProblem {
    /// The path inside the input, such as `["entity", "kind"]`.
    pub path: Vec<String>,
    /// Whether the path names a key that should not be there.
    pub key: bool,
    /// What is wrong.
    pub message: String,
}

impl InputProblem {
    /// `input: …` for the input as a whole, `input `a.b`: …` for a part.
    pub fn describe(&self) -> String {
        if self.path.is_empty() {
            format!("input: {}", self.message)
        } else {
            format!("input `{}`: {}", self.path.join("."), self.message)
        }
    }
}

/// Compiled input schemas of actions, by the action's `id@version`, so a
/// folder of processes compiles each once.
#[derive(Default)]
pub struct SchemaCache {
    compiled: HashMap<String, Result<jsonschema::Validator, String>>,
}

impl SchemaCache {
    /// The problems of `input` against `schema` (the schema of `action`),
    /// templated values left out; a schema that does not compile is one
    /// problem naming the action.
    pub fn check(&mut self, action: &str, schema: &Value, input: &Value) -> Vec<InputProblem> {
        let validator = self
            .compiled
            .entry(action.to_owned())
            .or_insert_with(|| jsonschema::validator_for(schema).map_err(|e| e.to_string()));
        let validator = match validator {
            Ok(v) => v,
            Err(e) => {
                return vec![InputProblem {
                    path: Vec::new(),
                    key: false,
                    message: format!(
                        "the input schema of `{action}` is not a valid JSON Schema: {e}"
                    ),
                }];
            }
        };
        let mut problems = Vec::new();
        for error in validator.iter_errors(input) {
            let path: Vec<String> = error
                .instance_path()
                .iter()
                .map(|s| s.to_string())
                .collect();
            if templated_at(input, &path) {
                continue;
            }
            match error.kind() {
                jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                    for name in unexpected {
                        let mut key = path.clone();
                        key.push(name.clone());
                        problems.push(InputProblem {
                            path: key.clone(),
                            key: true,
                            message: format!("not an input of `{action}`"),
                        });
                    }
                }
                _ => problems.push(InputProblem {
                    path,
                    key: false,
                    message: error.to_string(),
                }),
            }
        }
        problems
    }
}

/// Whether the value at `path` of `input`, or one above it, is a templated
/// string (known only when a run renders it).
fn templated_at(input: &Value, path: &[String]) -> bool {
    let mut value = input;
    for segment in path {
        if is_templated(value) {
            return true;
        }
        let next = match value {
            Value::Object(map) => map.get(segment.as_str()),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(v) => value = v,
            None => return false,
        }
    }
    is_templated(value)
}

fn is_templated(value: &Value) -> bool {
    value.as_str().is_some_and(is_template)
}

/// Every string of `input` that holds a template, with its path.
pub fn templated_strings(input: &Value) -> Vec<(Vec<String>, &str)> {
    fn walk<'v>(value: &'v Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, &'v str)>) {
        match value {
            Value::String(s) if is_template(s) => out.push((path.clone(), s)),
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(i.to_string());
                    walk(v, path, out);
                    path.pop();
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    path.push(k.clone());
                    walk(v, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(input, &mut Vec::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SOURCE: &str = r#"id = "p"
[trigger]
manual = true

[[step]]
id = "one"
uses = "x@1"
input = { a = 1 }

[[step]]
id = "two"
uses = "y@1"
[step.input]
title = "Hi {{ deal.title }}"
entity = { kind = "deal", id = "{{ deal.id }}" }
"#;

    fn line_of(span: Span) -> usize {
        SOURCE[..span.start].lines().count() + usize::from(SOURCE[..span.start].ends_with('\n'))
    }

    #[test]
    fn an_input_value_has_its_own_line() {
        let spans = SourceSpans::parse(SOURCE);
        let p = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            line_of(spans.step_input(1, &p(&["title"]), false).unwrap()),
            14
        );
        assert_eq!(
            line_of(spans.step_input(1, &p(&["entity", "id"]), false).unwrap()),
            15
        );
        assert_eq!(line_of(spans.step_input(0, &p(&["a"]), true).unwrap()), 8);
        assert_eq!(spans.step_input(1, &p(&["nope"]), false), None);
        assert_eq!(spans.step_input(5, &p(&["title"]), false), None);
    }

    #[test]
    fn the_schema_check_names_unknown_missing_and_mistyped_inputs_but_not_templates() {
        let schema = json!({
            "type": "object",
            "required": ["deal_id", "stage"],
            "properties": {
                "deal_id": { "type": "string" },
                "stage": { "type": "string" },
                "days": { "type": "integer", "minimum": 0 }
            },
            "additionalProperties": false
        });
        let mut cache = SchemaCache::default();
        let input = json!({ "deal_id": "{{ deal.id }}", "entity": { "kind": "deal" }, "days": -1 });
        let problems = cache.check("move-stage@1", &schema, &input);
        let messages: Vec<String> = problems.iter().map(InputProblem::describe).collect();
        assert!(
            messages.contains(&"input `entity`: not an input of `move-stage@1`".to_owned()),
            "{messages:?}"
        );
        assert!(
            messages.contains(&"input: \"stage\" is a required property".to_owned()),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("input `days`: ") && m.contains("minimum")),
            "{messages:?}"
        );
        assert_eq!(problems.len(), 3, "{problems:?}");
        let entity = problems.iter().find(|p| p.key).unwrap();
        assert_eq!(entity.path, ["entity"]);
        // A templated value may render to anything: not checked here.
        let templated =
            json!({ "deal_id": "{{ deal.id }}", "stage": "won", "days": "{{ constants.days }}" });
        assert!(cache.check("move-stage@1", &schema, &templated).is_empty());
    }
}
