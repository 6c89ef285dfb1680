//! minijinja for process conditions and step inputs.
//!
//! Conditions (`deal.amount > 10000`) are expressions; inputs are JSON whose
//! strings may hold templates. An input string that is exactly one
//! `{{ expression }}` keeps the expression's type (a number stays a number,
//! an object an object); any other string is rendered as text.
//!
//! Undefined variables are errors, not empty strings: a typo in a process
//! must fail the step with its name rather than send an e-mail to nobody.
//! Every evaluation runs on a fuel budget so a template cannot loop forever.

use minijinja::{Environment, UndefinedBehavior, Value as JinjaValue};
use serde_json::Value;
use std::collections::BTreeSet;

/// The fuel one evaluation may burn (roughly, instructions).
const FUEL: u64 = 100_000;

fn date_arg(text: &str) -> Result<chrono::NaiveDate, minijinja::Error> {
    // A timestamp counts by its date part.
    let day = text.get(..10).unwrap_or(text);
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("`{text}` is not a date (YYYY-MM-DD)"),
        )
    })
}

/// `{{ today | add_days(-14) }}`: the date so many days later (or earlier).
fn add_days(date: &str, days: f64) -> Result<String, minijinja::Error> {
    // Numbers may arrive as floats (decimal fields are floats in templates).
    if days.fract() != 0.0 || days.abs() > 1e6 {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("add_days needs a whole number of days, not {days}"),
        ));
    }
    let days = days as i64;
    let d = date_arg(date)?;
    d.checked_add_signed(chrono::Duration::days(days))
        .map(|d| d.to_string())
        .ok_or_else(|| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("{date} + {days} days is out of range"),
            )
        })
}

/// `{{ invoice.due_date | days_since(today) }}`: whole days from the date to
/// `until` (negative if it is later).
fn days_since(date: &str, until: &str) -> Result<i64, minijinja::Error> {
    Ok((date_arg(until)? - date_arg(date)?).num_days())
}

/// The template engine of the process engine.
pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Templates {
        Templates::new()
    }
}

impl Templates {
    /// An engine with strict undefined variables and a fuel limit.
    pub fn new() -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.set_keep_trailing_newline(true);
        env.add_filter("add_days", add_days);
        env.add_filter("days_since", days_since);
        // `money` and `date`: amounts and dates printed as the invoices print them.
        robota_template_filters::register(&mut env);
        Templates { env }
    }

    /// Compiles `expr` and returns the variables it reads, as dotted paths
    /// (`deal.company.inn`).
    pub fn expression_variables(&self, expr: &str) -> Result<BTreeSet<String>, String> {
        let compiled = self
            .env
            .compile_expression(expr)
            .map_err(|e| describe(&e))?;
        Ok(compiled.undeclared_variables(true).into_iter().collect())
    }

    /// Compiles `text` as a template and returns the variables it reads.
    pub fn template_variables(&self, text: &str) -> Result<BTreeSet<String>, String> {
        let compiled = self.env.template_from_str(text).map_err(|e| describe(&e))?;
        Ok(compiled.undeclared_variables(true).into_iter().collect())
    }

    /// Every variable the strings inside `value` read, or the first error.
    pub fn value_variables(&self, value: &Value) -> Result<BTreeSet<String>, String> {
        let mut out = BTreeSet::new();
        let mut err = None;
        walk_strings(value, &mut |s| {
            if err.is_some() || !is_template(s) {
                return;
            }
            let found = match whole_expression(s) {
                Some(expr) => self.expression_variables(expr),
                None => self.template_variables(s),
            };
            match found {
                Ok(vars) => out.extend(vars),
                Err(e) => err = Some(format!("`{s}`: {e}")),
            }
        });
        match err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Evaluates a condition against `context`.
    pub fn condition(&self, expr: &str, context: &Value) -> Result<bool, String> {
        let compiled = self
            .env
            .compile_expression(expr)
            .map_err(|e| describe(&e))?;
        let value = compiled
            .eval(JinjaValue::from_serialize(context))
            .map_err(|e| describe(&e))?;
        Ok(value.is_true())
    }

    /// Renders one template string.
    pub fn render(&self, text: &str, context: &Value) -> Result<String, String> {
        self.env
            .render_str(text, JinjaValue::from_serialize(context))
            .map_err(|e| describe(&e))
    }

    /// Renders every template inside `value`.
    pub fn render_value(&self, value: &Value, context: &Value) -> Result<Value, String> {
        // The context is turned into minijinja's values once for all the
        // strings (it holds the trigger, the subject and every step's output:
        // converting it per string cost more than the rendering).
        let context = JinjaValue::from_serialize(context);
        self.render_in(value, &context)
    }

    fn render_in(&self, value: &Value, context: &JinjaValue) -> Result<Value, String> {
        Ok(match value {
            Value::String(s) if s.contains("{{") || s.contains("{%") => match whole_expression(s) {
                Some(expr) => {
                    let compiled = self
                        .env
                        .compile_expression(expr)
                        .map_err(|e| format!("`{s}`: {}", describe(&e)))?;
                    let v = compiled
                        .eval(context.clone())
                        .map_err(|e| format!("`{s}`: {}", describe(&e)))?;
                    serde_json::to_value(&v).map_err(|e| format!("`{s}`: {e}"))?
                }
                None => Value::String(
                    self.env
                        .render_str(s, context.clone())
                        .map_err(|e| format!("`{s}`: {}", describe(&e)))?,
                ),
            },
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.render_in(v, context))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.render_in(v, context)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }
}

/// The expression inside a string that is exactly `{{ expr }}`.
/// Whether `s` holds a template (`{{ … }}` or `{% … %}`) rather than plain text.
pub(crate) fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

fn whole_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    // `{{ a }} and {{ b }}` is a template, not one expression.
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

fn walk_strings(value: &Value, f: &mut impl FnMut(&str)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|v| walk_strings(v, f)),
        Value::Object(map) => map.values().for_each(|v| walk_strings(v, f)),
        _ => {}
    }
}

/// One line naming what went wrong, without minijinja's source excerpt.
fn describe(e: &minijinja::Error) -> String {
    let mut text = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(line) = e.line() {
        text.push_str(&format!(" (line {line})"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_compare_numbers_and_read_nested_fields() {
        let t = Templates::new();
        let ctx = json!({ "deal": { "amount": 15000.5, "company": { "inn": "7707083893" } } });
        assert!(t.condition("deal.amount > 10000", &ctx).unwrap());
        assert!(!t.condition("deal.amount > 20000", &ctx).unwrap());
        assert!(
            t.condition("deal.company.inn == '7707083893'", &ctx)
                .unwrap()
        );
    }

    #[test]
    fn date_filters_add_days_and_count_them() {
        let t = Templates::new();
        let ctx = json!({ "today": "2026-11-22", "due": "2026-11-01T00:00:00Z" });
        assert_eq!(
            t.render("{{ today | add_days(-14) }}", &ctx).unwrap(),
            "2026-11-08"
        );
        assert_eq!(
            t.render("{{ today | add_days(10) }}", &ctx).unwrap(),
            "2026-12-02"
        );
        assert!(t.condition("due | days_since(today) > 14", &ctx).unwrap());
        let e = t.render("{{ 'soon' | add_days(1) }}", &ctx).unwrap_err();
        assert!(e.contains("`soon` is not a date"), "{e}");
    }

    #[test]
    fn undefined_variables_are_errors() {
        let t = Templates::new();
        let e = t
            .condition("deal.amout > 1", &json!({ "deal": {} }))
            .unwrap_err();
        assert!(e.contains("undefined"), "{e}");
        let e = t.render("Hi {{ contact.name }}", &json!({})).unwrap_err();
        assert!(e.contains("undefined"), "{e}");
    }

    #[test]
    fn a_whole_expression_keeps_its_type() {
        let t = Templates::new();
        let ctx = json!({ "deal": { "id": "d1", "n": 3, "tags": ["a"] } });
        let input = json!({
            "id": "{{ deal.id }}",
            "n": "{{ deal.n }}",
            "tags": "{{ deal.tags }}",
            "text": "deal {{ deal.id }} x{{ deal.n }}",
            "plain": 5
        });
        let out = t.render_value(&input, &ctx).unwrap();
        assert_eq!(
            out,
            json!({ "id": "d1", "n": 3, "tags": ["a"], "text": "deal d1 x3", "plain": 5 })
        );
    }

    #[test]
    fn variables_are_listed_and_syntax_errors_reported() {
        let t = Templates::new();
        let vars = t
            .value_variables(
                &json!({ "a": "{{ deal.company.inn }}", "b": ["x {{ steps.s1.output.id }}"] }),
            )
            .unwrap();
        assert!(vars.contains("deal.company.inn"), "{vars:?}");
        assert!(vars.contains("steps.s1.output.id"), "{vars:?}");
        let e = t
            .value_variables(&json!({ "a": "{{ deal. }}" }))
            .unwrap_err();
        assert!(e.contains("syntax error"), "{e}");
    }

    #[test]
    fn runaway_templates_run_out_of_fuel() {
        let t = Templates::new();
        let e = t
            .render(
                "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                &json!({}),
            )
            .unwrap_err();
        assert!(e.contains("fuel"), "{e}");
    }
}
