//! The checks of a process file that need more than its syntax: the actions
//! it uses are installed in that major version, its templates compile, and
//! every variable they read exists (`deal.amout` is a typo, not an empty value).

use super::catalog::ActionLookup;
use super::definition::{self, Places, Process, Trigger, Work};
use super::diagnostics::{Diagnostics, Span};
use super::expr::Templates;
use super::input_check::{SchemaCache, SourceSpans, templated_strings};
use super::scope;
use crate::crm::EntityKind;
use crate::crm::schema::spec;
use std::collections::BTreeSet;

/// Parses `source` and checks it against the installed actions.
pub fn validate(
    file: &str,
    source: &str,
    actions: &dyn ActionLookup,
) -> Result<Process, Diagnostics> {
    let (process, places) = definition::parse(file, source)?;
    let mut diags = Diagnostics::new(file, source);
    let spans = SourceSpans::parse(source);
    check(&process, &places, &spans, actions, &mut diags);
    if diags.is_empty() {
        Ok(process)
    } else {
        Err(diags)
    }
}

fn check(
    process: &Process,
    places: &Places,
    spans: &SourceSpans<'_>,
    actions: &dyn ActionLookup,
    diags: &mut Diagnostics,
) {
    let templates = Templates::new();
    let mut schemas = SchemaCache::default();
    let subject = match &process.trigger {
        Trigger::Entity(t) => Some(t.kind),
        _ => None,
    };
    let names = Names {
        process,
        subject,
        earlier_steps: BTreeSet::new(),
        item: None,
    };
    if let Some(c) = &process.condition {
        names.check_vars(
            templates.expression_variables(c),
            places.condition.clone(),
            "condition",
            diags,
        );
    }
    if let Some(o) = &process.once_per {
        names.check_vars(
            templates.template_variables(o),
            places.once_per.clone(),
            "once_per",
            diags,
        );
    }
    let mut names = names;
    for (index, (step, at)) in process.steps.iter().zip(&places.steps).enumerate() {
        // A value of the input is reported on its own line when the file
        // has one for it, else on the input as a whole.
        let input_at = |path: &[String], key: bool| {
            spans
                .step_input(index, path, key)
                .unwrap_or_else(|| at.input.clone())
        };
        match &step.work {
            Work::Action {
                uses,
                input,
                for_each,
            } => {
                if let Some(fe) = for_each {
                    for (field, _, value) in &fe.filters {
                        names.check_vars(
                            templates.value_variables(value),
                            at.uses.clone(),
                            &format!("step `{}`: for_each where `{field}`", step.id),
                            diags,
                        );
                    }
                }
                names.item = for_each.as_ref().map(|fe| (fe.var.clone(), fe.kind));
                if actions.manifest(uses).is_none() {
                    let versions = actions.versions(&uses.id);
                    let detail = if versions.is_empty() {
                        "no such action is installed".to_owned()
                    } else {
                        format!("installed versions: {}", versions.join(", "))
                    };
                    diags.push(
                        at.uses.clone(),
                        format!("step `{}`: unknown action `{uses}` ({detail})", step.id),
                    );
                }
                for (path, text) in templated_strings(input) {
                    names.check_vars(
                        templates.value_variables(&serde_json::Value::String(text.to_owned())),
                        input_at(&path, false),
                        &format!("step `{}`: input `{}`", step.id, path.join(".")),
                        diags,
                    );
                }
                if let Some(manifest) = actions.manifest(uses) {
                    for problem in schemas.check(&uses.to_string(), &manifest.input_schema, input) {
                        diags.push(
                            input_at(&problem.path, problem.key),
                            format!("step `{}`: {}", step.id, problem.describe()),
                        );
                    }
                }
            }
            Work::Approval(a) => {
                for (what, text) in [
                    ("title", Some(&a.title)),
                    ("description", Some(&a.description)),
                    ("assignee", a.assignee.as_ref()),
                ] {
                    if let Some(text) = text {
                        names.check_vars(
                            templates.template_variables(text),
                            at.uses.clone(),
                            &format!("step `{}`: approval {what}", step.id),
                            diags,
                        );
                    }
                }
            }
        }
        if let Some(c) = &step.condition {
            names.check_vars(
                templates.expression_variables(c),
                at.condition.clone(),
                &format!("step `{}`: if", step.id),
                diags,
            );
        }
        if let Some(t) = &step.at {
            names.check_vars(
                templates.template_variables(t),
                at.step.clone(),
                &format!("step `{}`: at", step.id),
                diags,
            );
        }
        names.item = None;
        names.earlier_steps.insert(step.id.clone());
    }
}

/// The variables a template in the process may read at some point.
struct Names<'a> {
    process: &'a Process,
    subject: Option<EntityKind>,
    earlier_steps: BTreeSet<String>,
    /// The for-each variable of the step being checked.
    item: Option<(String, EntityKind)>,
}

impl Names<'_> {
    fn check_vars(
        &self,
        vars: Result<BTreeSet<String>, String>,
        span: Span,
        what: &str,
        diags: &mut Diagnostics,
    ) {
        match vars {
            Err(e) => diags.push(span, format!("{what}: {e}")),
            Ok(vars) => {
                for v in vars {
                    if let Err(e) = self.check_path(&v) {
                        diags.push(span.clone(), format!("{what}: {e}"));
                    }
                }
            }
        }
    }

    fn check_path(&self, path: &str) -> Result<(), String> {
        let parts: Vec<&str> = path.split('.').collect();
        let root = parts[0];
        match root {
            "trigger" | "run" | "now" | "today" => Ok(()),
            "loop" if self.item.is_some() => Ok(()),
            "constants" => match parts.get(1) {
                Some(name) if self.process.constants.get(*name).is_none() => {
                    Err(format!("unknown constant `{name}`"))
                }
                _ => Ok(()),
            },
            "params" => match (&self.process.trigger, parts.get(1)) {
                (Trigger::Manual { params }, Some(name)) if !params.contains_key(*name) => {
                    Err(format!("unknown parameter `{name}`"))
                }
                (Trigger::Manual { .. } | Trigger::Webhook { .. }, _) => Ok(()),
                _ => Err("`params` exist only for manual and webhook triggers".to_owned()),
            },
            "steps" => match parts.get(1) {
                None => Ok(()),
                Some(id) if !self.earlier_steps.contains(*id) => Err(format!(
                    "`{path}`: no earlier step `{id}` (a step can read only the steps before it)"
                )),
                Some(_) => match parts.get(2) {
                    None | Some(&"output") | Some(&"status") => Ok(()),
                    Some(other) => Err(format!(
                        "`{path}`: a step has `output` and `status`, not `{other}`"
                    )),
                },
            },
            var if self.item.as_ref().is_some_and(|(v, _)| v == var) => match &self.item {
                Some((_, kind)) => check_field(*kind, &parts[1..], path),
                None => Ok(()),
            },
            _ => {
                let Some(kind) = self.subject else {
                    return Err(format!("unknown variable `{root}`"));
                };
                if root != "entity" && root != scope::var_name(kind) {
                    return Err(format!(
                        "unknown variable `{root}` (this process is about a {kind}: use `{}`)",
                        scope::var_name(kind)
                    ));
                }
                check_field(kind, &parts[1..], path)
            }
        }
    }
}

/// `deal.amount`, `deal.company.inn`: each part a field of its entity.
fn check_field(kind: EntityKind, parts: &[&str], path: &str) -> Result<(), String> {
    let Some(field) = parts.first() else {
        return Ok(());
    };
    if scope::SYSTEM_FIELDS.contains(field)
        || scope::derived_fields(kind).contains(field)
        || spec(kind).field(field).is_some()
    {
        return Ok(());
    }
    if let Some(related) = scope::relation(kind, field) {
        return check_field(related, &parts[1..], path);
    }
    Err(format!("`{path}`: a {kind} has no field `{field}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::definition::ActionRef;
    use crate::plugins::Manifest;

    struct Fake(Vec<Manifest>);

    impl ActionLookup for Fake {
        fn manifest(&self, r: &ActionRef) -> Option<&Manifest> {
            self.0
                .iter()
                .find(|m| m.id == r.id && m.version.starts_with(&format!("{}.", r.major)))
        }
        fn versions(&self, id: &str) -> Vec<String> {
            self.0
                .iter()
                .filter(|m| m.id == id)
                .map(|m| m.version.clone())
                .collect()
        }
    }

    fn actions() -> Fake {
        Fake(vec![Manifest {
            id: "create-task".into(),
            version: "1.2.0".into(),
            title: String::new(),
            description: String::new(),
            input_schema: serde_json::json!({}),
            output_schema: serde_json::json!({}),
            capabilities: vec![],
            http_hosts: vec![],
        }])
    }

    fn check_src(source: &str) -> Result<Process, String> {
        validate("p.toml", source, &actions()).map_err(|d| d.to_string())
    }

    const GOOD: &str = r#"
id = "welcome"
condition = "deal.amount > 10000 and deal.company.inn != '' and deal.contact.email != ''"
once_per = "{{ deal.id }}"

[trigger]
event = "deal.stage_changed"
to = "negotiation"

[constants]
days = 3

[[step]]
id = "task"
uses = "create-task@1"
input = { title = "Call {{ deal.title }} in {{ constants.days }} days", entity = "deal:{{ entity.id }}" }

[[step]]
id = "again"
uses = "create-task@1"
if = "steps.task.output.id != ''"
input = { title = "{{ steps.task.output.id }}" }
"#;

    #[test]
    fn a_good_process_passes() {
        let p = check_src(GOOD).unwrap();
        assert_eq!(p.steps.len(), 2);
    }

    #[test]
    fn unknown_action_or_version_is_named() {
        let e = check_src(&GOOD.replacen("create-task@1", "create-task@2", 1)).unwrap_err();
        assert!(
            e.contains("p.toml:15:8: step `task`: unknown action `create-task@2` (installed versions: 1.2.0)"),
            "{e}"
        );
        let e = check_src(&GOOD.replacen("create-task@1", "send-fax@1", 1)).unwrap_err();
        assert!(e.contains("no such action is installed"), "{e}");
    }

    #[test]
    fn unknown_fields_and_variables_are_named() {
        let e = check_src(&GOOD.replace("deal.amount >", "deal.amout >")).unwrap_err();
        assert!(
            e.contains("p.toml:3:13: condition: `deal.amout`: a deal has no field `amout`"),
            "{e}"
        );
        let e = check_src(&GOOD.replace("deal.company.inn", "deal.company.innn")).unwrap_err();
        assert!(e.contains("a company has no field `innn`"), "{e}");
        let e = check_src(&GOOD.replace("constants.days", "constants.weeks")).unwrap_err();
        assert!(e.contains("unknown constant `weeks`"), "{e}");
        let e = check_src(&GOOD.replace("{{ deal.title }}", "{{ invoice.number }}")).unwrap_err();
        assert!(e.contains("unknown variable `invoice`"), "{e}");
    }

    #[test]
    fn a_step_reads_only_earlier_steps() {
        let e = check_src(&GOOD.replace(
            "title = \"Call {{ deal.title }}",
            "title = \"{{ steps.again.output.id }} {{ deal.title }}",
        ))
        .unwrap_err();
        assert!(e.contains("no earlier step `again`"), "{e}");
    }

    #[test]
    fn bad_template_syntax_is_reported() {
        let e = check_src(&GOOD.replace("{{ deal.title }}", "{{ deal.title")).unwrap_err();
        assert!(e.contains("step `task`: input"), "{e}");
        assert!(e.contains("syntax error"), "{e}");
    }
}
