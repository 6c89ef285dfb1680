//! Process definitions: the TOML an admin writes, parsed into a checked
//! [`Process`]. Every error carries the place in the file it is about, so
//! `robota process validate` can print `file:line:col: reason`.
//!
//! ```toml
//! id = "welcome-call"
//! title = "Call the client after the deal reaches negotiation"
//!
//! [trigger]
//! event = "deal.stage_changed"
//! to = "negotiation"
//!
//! condition = "deal.amount > 10000"
//! once_per = "{{ deal.id }}"
//!
//! [[step]]
//! id = "task"
//! uses = "create-task@1"
//! after = "3d"
//! input = { title = "Call about {{ deal.title }}", entity = "deal:{{ deal.id }}" }
//! ```

use super::diagnostics::{Diagnostics, Span};
use crate::crm::EntityKind;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;
use toml::Spanned;

mod step;
mod trigger;

/// A checked process definition.
#[derive(Debug, Clone)]
pub struct Process {
    /// Stable id, `[a-z0-9-]+`.
    pub id: String,
    /// Human title.
    pub title: String,
    /// Whether new runs start.
    pub enabled: bool,
    /// What starts a run.
    pub trigger: Trigger,
    /// A minijinja expression that must be true for a run to start.
    pub condition: Option<String>,
    /// A template whose value a process runs at most once for.
    pub once_per: Option<String>,
    /// Values the steps' templates can use as `constants.NAME`.
    pub constants: Value,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// What starts a run.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// A change of a CRM entity.
    Entity(EntityTrigger),
    /// A cron schedule in a time zone.
    Cron {
        /// The expression as written (5 fields, or 6 with seconds).
        expr: String,
        /// The parsed schedule.
        schedule: Box<cron::Schedule>,
        /// The zone the expression is read in.
        timezone: chrono_tz::Tz,
    },
    /// Started by a user through the API or the CLI, with typed parameters.
    Manual {
        /// Parameter name → type.
        params: BTreeMap<String, ParamType>,
    },
    /// Started by a POST to the process's webhook with its secret.
    Webhook {
        /// The shared secret the caller must present.
        secret: String,
    },
}

/// A trigger on entity changes.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityTrigger {
    /// Which kind of entity.
    pub kind: EntityKind,
    /// Which change.
    pub event: EntityEvent,
    /// For stage or status changes: only from this value.
    pub from: Option<String>,
    /// For stage or status changes: only to this value.
    pub to: Option<String>,
    /// For updates: only when one of these fields changed (empty: any).
    pub fields: Vec<String>,
}

/// The entity changes a process can trigger on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityEvent {
    /// The entity was created.
    Created,
    /// Any field changed.
    Updated,
    /// A deal moved to another stage.
    StageChanged,
    /// An invoice's or payment request's status changed.
    StatusChanged,
    /// A lead was converted into a deal, a contact and maybe a company.
    Converted,
}

impl EntityEvent {
    /// The event's name in process files.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityEvent::Created => "created",
            EntityEvent::Updated => "updated",
            EntityEvent::StageChanged => "stage_changed",
            EntityEvent::StatusChanged => "status_changed",
            EntityEvent::Converted => "converted",
        }
    }
}

/// The type of a manual start's parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// Any text.
    String,
    /// An exact decimal, given as a string or a number.
    Decimal,
    /// A whole number.
    Integer,
    /// true or false.
    Bool,
    /// A date, "YYYY-MM-DD".
    Date,
}

impl ParamType {
    fn parse(name: &str) -> Option<ParamType> {
        Some(match name {
            "string" => ParamType::String,
            "decimal" => ParamType::Decimal,
            "integer" => ParamType::Integer,
            "bool" => ParamType::Bool,
            "date" => ParamType::Date,
            _ => return None,
        })
    }
}

/// One step of a process.
#[derive(Debug, Clone)]
pub struct Step {
    /// Unique within the process; later steps read `steps.ID.output`.
    pub id: String,
    /// What the step does.
    pub work: Work,
    /// Run only when this expression is true; otherwise skip to the next step.
    pub condition: Option<String>,
    /// Wait this long after the previous step before running.
    pub after: Option<Duration>,
    /// Run no earlier than this date or time (a template, such as
    /// `{{ invoice.due_date }}`), shifted by `at_offset`; checked again when
    /// the step comes due, so a moved date moves the step.
    pub at: Option<String>,
    /// Added to `at` (negative: before it), such as `-1d`.
    pub at_offset: Option<chrono::Duration>,
    /// The call's deadline (the host's default when absent).
    pub timeout: Option<Duration>,
    /// How often and how patiently to retry.
    pub retry: RetryPolicy,
    /// What a final failure does.
    pub on_failure: OnFailure,
    /// Where a false `if` goes (None: the next in order): the else branch.
    pub otherwise: Option<Next>,
    /// The step to go to after this one (None: the next in order).
    pub next: Option<Next>,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Work {
    /// Calls an action.
    Action {
        /// The action and its major version.
        uses: ActionRef,
        /// The input, with minijinja templates in its strings.
        input: Value,
        /// Run the action once for each entity a CRM query finds.
        for_each: Option<ForEach>,
    },
    /// Waits for a person to approve or reject.
    Approval(Approval),
}

impl Work {
    /// The action this step calls, if it calls one.
    pub fn action(&self) -> Option<&ActionRef> {
        match self {
            Work::Action { uses, .. } => Some(uses),
            Work::Approval(_) => None,
        }
    }
}

/// `for_each = { kind = "invoice", where = { status = "overdue" }, as = "invoice" }`:
/// the step's action runs once per entity found, each a durable step of its
/// own (a crash mid-loop resumes at the item it was on).
#[derive(Debug, Clone)]
pub struct ForEach {
    /// What to look for.
    pub kind: EntityKind,
    /// Conditions: field, operator, value (strings may be templates).
    pub filters: Vec<(String, crate::crm::FilterOp, Value)>,
    /// The variable each item is known by in the step's templates.
    pub var: String,
    /// At most this many items.
    pub limit: u32,
}

/// An approval step: a human task with a decision the run branches on.
#[derive(Debug, Clone)]
pub struct Approval {
    /// The task's title (a template).
    pub title: String,
    /// Details (a template).
    pub description: String,
    /// The user who decides (a template giving a user id).
    pub assignee: Option<String>,
    /// Or anyone with this role.
    pub role: Option<String>,
    /// How long the decision may take.
    pub timeout: Option<Duration>,
    /// What a timeout counts as.
    pub on_timeout: Decision,
    /// Where an approval goes (None: the next step).
    pub on_approve: Option<Next>,
    /// Where a rejection goes (None: the run ends).
    pub on_reject: Option<Next>,
}

/// A person's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Approved.
    Approve,
    /// Rejected.
    Reject,
}

impl Decision {
    /// "approved" or "rejected", as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approved",
            Decision::Reject => "rejected",
        }
    }
}

/// Where a step goes after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The step with this id.
    Step(String),
    /// The run ends.
    End,
}

/// `uses = "create-invoice@1"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionRef {
    /// The action's manifest id.
    pub id: String,
    /// The major version the process was written for.
    pub major: u64,
}

impl std::fmt::Display for ActionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.id, self.major)
    }
}

impl FromStr for ActionRef {
    type Err = String;

    fn from_str(text: &str) -> Result<ActionRef, String> {
        let (id, major) = text
            .split_once('@')
            .ok_or_else(|| format!("`{text}` must be `<action>@<major version>`"))?;
        if !valid_id(id) {
            return Err(format!(
                "`{id}` is not an action id (lowercase letters, digits and `-`)"
            ));
        }
        let major = major
            .parse::<u64>()
            .map_err(|_| format!("`{major}` is not a major version number"))?;
        Ok(ActionRef {
            id: id.to_owned(),
            major,
        })
    }
}

/// Retries of a step whose action failed with a `transient` error, timed out
/// or crashed the host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait before the second attempt; doubled for each further one.
    pub backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `next` (2, 3, …): exponential, capped, with
    /// up to 25% jitter drawn from `jitter` (0.0..1.0) so retries of many
    /// runs do not stampede together.
    pub fn delay_before(&self, next: u32, jitter: f64) -> Duration {
        let doublings = next.saturating_sub(2).min(30);
        let base = self
            .backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff);
        base.mul_f64(1.0 + 0.25 * jitter.clamp(0.0, 1.0))
    }
}

/// What a step's final failure does to its run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnFailure {
    /// The run fails with the action's message.
    Fail,
    /// The run goes on with the next step.
    Continue,
    /// The run fails and this process starts, with the failure as `params`
    /// (`process`, `run_id`, `step`, `error`), in the same transaction.
    Process(String),
}

/// Whether `id` is a valid process, step or action id.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !id.starts_with('-')
}

// ---- the file as written ----------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcess {
    id: Spanned<String>,
    title: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    trigger: Spanned<RawTrigger>,
    condition: Option<Spanned<String>>,
    once_per: Option<Spanned<String>>,
    #[serde(default)]
    constants: toml::Table,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    event: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<String>>,
    fields: Option<Spanned<Vec<String>>>,
    cron: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    manual: Option<Spanned<bool>>,
    params: Option<BTreeMap<String, Spanned<String>>>,
    webhook: Option<Spanned<bool>>,
    secret: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Spanned<String>,
    uses: Option<Spanned<String>>,
    approval: Option<Spanned<RawApproval>>,
    for_each: Option<Spanned<RawForEach>>,
    #[serde(default)]
    input: Option<Spanned<toml::Table>>,
    #[serde(rename = "if")]
    condition: Option<Spanned<String>>,
    after: Option<Spanned<String>>,
    at: Option<Spanned<String>>,
    offset: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    retry: Option<Spanned<RawRetry>>,
    on_failure: Option<Spanned<String>>,
    next: Option<Spanned<String>>,
    #[serde(rename = "else")]
    otherwise: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForEach {
    kind: String,
    #[serde(default, rename = "where")]
    filters: toml::Table,
    #[serde(rename = "as")]
    var: Option<String>,
    limit: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    title: String,
    #[serde(default)]
    description: String,
    assignee: Option<String>,
    role: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    on_timeout: Option<Spanned<String>>,
    on_approve: Option<String>,
    on_reject: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    attempts: Option<Spanned<i64>>,
    backoff: Option<Spanned<String>>,
    max_backoff: Option<Spanned<String>>,
}

/// The places of a parsed process's parts, for later checks to point at.
#[derive(Debug, Clone, Default)]
pub struct Places {
    /// The trigger table.
    pub trigger: Span,
    /// The `condition` value.
    pub condition: Span,
    /// The `once_per` value.
    pub once_per: Span,
    /// Per step: the step table, its `uses`, its `input`, its `if`.
    pub steps: Vec<StepPlaces>,
}

/// Where one step's parts are.
#[derive(Debug, Clone, Default)]
pub struct StepPlaces {
    /// The whole step.
    pub step: Span,
    /// `uses`, or the `approval` table.
    pub uses: Span,
    /// `input`.
    pub input: Span,
    /// `if`.
    pub condition: Span,
}

/// The company's default time zone for schedules.
pub const DEFAULT_TIMEZONE: chrono_tz::Tz = crate::clock::COMPANY_TIMEZONE;

/// Parses and checks the structure of one process file. Checks that need
/// the action catalog and the templates' variables live in
/// [`super::validate`].
pub fn parse(file: &str, source: &str) -> Result<(Process, Places), Diagnostics> {
    let mut diags = Diagnostics::new(file, source);
    let raw: RawProcess = match toml::from_str(source) {
        Ok(raw) => raw,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            diags.push(span, e.message().trim_end().to_owned());
            return Err(diags);
        }
    };
    let mut places = Places {
        trigger: raw.trigger.span(),
        ..Places::default()
    };
    if !valid_id(raw.id.get_ref()) {
        diags.push(
            raw.id.span(),
            format!(
                "process id `{}` must be lowercase letters, digits, `-` or `_`",
                raw.id.get_ref()
            ),
        );
    }
    let trigger =
        trigger::parse_trigger(raw.trigger.into_inner(), places.trigger.clone(), &mut diags);
    if let Some(c) = &raw.condition {
        places.condition = c.span();
    }
    if let Some(o) = &raw.once_per {
        places.once_per = o.span();
    }
    let constants = match serde_json::to_value(&raw.constants) {
        Ok(v) => v,
        Err(e) => {
            diags.push(0..0, format!("constants: {e}"));
            Value::Null
        }
    };
    if raw.step.is_empty() {
        diags.push(0..0, "a process needs at least one [[step]]".to_owned());
    }
    let mut steps = Vec::new();
    for raw_step in raw.step {
        let span = raw_step.span();
        let (step, step_places) = step::parse_step(raw_step.into_inner(), span, &mut diags);
        places.steps.push(step_places);
        if let Some(step) = step {
            steps.push(step);
        }
    }
    super::flow::check(&steps, &places, &mut diags);
    match trigger {
        Some(trigger) if diags.is_empty() => Ok((
            Process {
                id: raw.id.into_inner(),
                title: raw.title.unwrap_or_default(),
                enabled: raw.enabled,
                trigger,
                condition: raw.condition.map(Spanned::into_inner),
                once_per: raw.once_per.map(Spanned::into_inner),
                constants,
                steps,
            },
            places,
        )),
        _ => Err(diags),
    }
}

/// Parses a cron expression of 5 fields (minute precision, as crontab) or
/// 6–7 (with seconds, as the `cron` crate reads them).
pub fn cron_schedule(expr: &str) -> Result<cron::Schedule, String> {
    let fields = expr.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {expr}")
    } else {
        expr.to_owned()
    };
    cron::Schedule::from_str(&full).map_err(|e| format!("bad cron expression `{expr}`: {e}"))
}

/// Parsing helpers for the tests of this module and of [`super::flow`].
#[cfg(test)]
pub(crate) mod test_support {
    use super::{Process, parse};

    /// Parses a process that must be valid.
    pub fn ok(source: &str) -> Process {
        match parse("p.toml", source) {
            Ok((p, _)) => p,
            Err(d) => panic!("{d}"),
        }
    }

    /// Parses a process that must be invalid; its diagnostics as text.
    pub fn errors(source: &str) -> String {
        match parse("p.toml", source) {
            Ok(_) => panic!("expected errors"),
            Err(d) => d.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_support::{errors, ok};

    const BASIC: &str = r#"
id = "welcome"
title = "Welcome call"

[trigger]
event = "deal.stage_changed"
to = "negotiation"

[[step]]
id = "task"
uses = "create-task@1"
after = "3d"
input = { title = "Call {{ deal.title }}" }
retry = { attempts = 5, backoff = "2s" }
"#;

    #[test]
    fn parses_a_stage_trigger_and_a_delayed_step() {
        let p = ok(BASIC);
        assert_eq!(p.id, "welcome");
        match &p.trigger {
            Trigger::Entity(t) => {
                assert_eq!(t.kind, EntityKind::Deal);
                assert_eq!(t.event, EntityEvent::StageChanged);
                assert_eq!(t.to.as_deref(), Some("negotiation"));
            }
            other => panic!("{other:?}"),
        }
        let s = &p.steps[0];
        let Work::Action { uses, input, .. } = &s.work else {
            panic!("an action step")
        };
        assert_eq!(uses.to_string(), "create-task@1");
        assert_eq!(input["title"], "Call {{ deal.title }}");
        assert_eq!(s.after, Some(Duration::from_secs(3 * 86400)));
        assert_eq!(s.retry.attempts, 5);
    }

    #[test]
    fn unknown_keys_point_at_their_line() {
        let e = errors(&BASIC.replace("after = \"3d\"", "afterr = \"3d\""));
        assert!(e.starts_with("p.toml:12:1:"), "{e}");
        assert!(e.contains("afterr"), "{e}");
    }

    #[test]
    fn bad_cron_and_zone_are_named() {
        let e = errors(
            r#"
id = "daily"
[trigger]
cron = "61 9 * * *"
[[step]]
id = "a"
uses = "x@1"
"#,
        );
        assert!(
            e.contains("p.toml:4:8: bad cron expression `61 9 * * *`"),
            "{e}"
        );
        let e = errors(
            r#"
id = "daily"
[trigger]
cron = "0 9 * * *"
timezone = "Mars/Olympus"
[[step]]
id = "a"
uses = "x@1"
"#,
        );
        assert!(e.contains("unknown time zone `Mars/Olympus`"), "{e}");
        let p = ok(r#"
id = "daily"
[trigger]
cron = "0 9 * * *"
[[step]]
id = "a"
uses = "x@1"
"#);
        assert!(
            matches!(p.trigger, Trigger::Cron { timezone, .. } if timezone == DEFAULT_TIMEZONE)
        );
    }

    #[test]
    fn trigger_mistakes_are_named() {
        let e = errors(
            r#"
id = "x"
[trigger]
event = "invoice.status_changed"
to = "payed"
[[step]]
id = "a"
uses = "x@1"
"#,
        );
        assert!(e.contains("`payed` is not a invoice status"), "{e}");
        let e = errors(
            r#"
id = "x"
[trigger]
event = "deal.moved"
[[step]]
id = "a"
uses = "x"
"#,
        );
        assert!(e.contains("unknown change `moved`"), "{e}");
        assert!(e.contains("must be `<action>@<major version>`"), "{e}");
        let e = errors(
            r#"
id = "x"
[trigger]
event = "deal.updated"
cron = "0 9 * * *"
[[step]]
id = "a"
uses = "x@1"
"#,
        );
        assert!(e.contains("exactly one of"), "{e}");
    }

    #[test]
    fn a_step_may_take_at_most_fifteen_minutes() {
        let e = errors(&BASIC.replace("after = \"3d\"", "timeout = \"20m\""));
        assert!(
            e.contains("p.toml:12:11: timeout: a step may take at most 15m"),
            "{e}"
        );
        ok(&BASIC.replace("after = \"3d\"", "timeout = \"15m\""));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let r = RetryPolicy {
            attempts: 10,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
        };
        assert_eq!(r.delay_before(2, 0.0), Duration::from_secs(1));
        assert_eq!(r.delay_before(3, 0.0), Duration::from_secs(2));
        assert_eq!(r.delay_before(4, 0.0), Duration::from_secs(4));
        assert_eq!(r.delay_before(9, 0.0), Duration::from_secs(10));
        assert_eq!(r.delay_before(2, 1.0), Duration::from_millis(1250));
    }
}
