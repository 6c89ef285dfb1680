//! Parsing one `[[step]]`: an action (optionally for each found entity) or
//! an approval, with its timing, retries and failure handling.

use super::{
    ActionRef, Approval, Decision, ForEach, Next, OnFailure, RawApproval, RawForEach, RawStep,
    RetryPolicy, Span, Step, StepPlaces, Work, valid_id,
};
use crate::crm::EntityKind;
use crate::engine::diagnostics::Diagnostics;
use crate::plugins::limits::parse_duration;
use serde_json::Value;
use std::time::Duration;
use toml::Spanned;

pub(super) fn parse_step(
    raw: RawStep,
    span: Span,
    diags: &mut Diagnostics,
) -> (Option<Step>, StepPlaces) {
    let places = StepPlaces {
        step: span.clone(),
        uses: raw
            .uses
            .as_ref()
            .map(Spanned::span)
            .or_else(|| raw.approval.as_ref().map(Spanned::span))
            .unwrap_or_else(|| span.clone()),
        input: raw.input.as_ref().map(Spanned::span).unwrap_or_default(),
        condition: raw
            .condition
            .as_ref()
            .map(Spanned::span)
            .unwrap_or_default(),
    };
    let before = diags.len();
    if !valid_id(raw.id.get_ref()) {
        diags.push(
            raw.id.span(),
            format!(
                "step id `{}` must be lowercase letters, digits, `-` or `_`",
                raw.id.get_ref()
            ),
        );
    }
    let kind = match (&raw.uses, &raw.approval) {
        (Some(uses), None) => match uses.get_ref().parse::<ActionRef>() {
            Ok(u) => Some(Work::Action {
                uses: u,
                input: match &raw.input {
                    None => Value::Object(Default::default()),
                    Some(t) => serde_json::to_value(t.get_ref()).unwrap_or(Value::Null),
                },
                for_each: raw.for_each.as_ref().and_then(|f| parse_for_each(f, diags)),
            }),
            Err(e) => {
                diags.push(uses.span(), e);
                None
            }
        },
        (None, Some(approval)) => {
            if let Some(f) = &raw.for_each {
                diags.push(
                    f.span(),
                    "`for_each` goes with `uses`, not with `approval`".to_owned(),
                );
            }
            if let Some(input) = &raw.input {
                diags.push(input.span(), "an approval step takes no `input`".to_owned());
            }
            parse_approval(approval, diags).map(Work::Approval)
        }
        _ => {
            diags.push(
                places.step.clone(),
                format!(
                    "step `{}` needs exactly one of `uses` (an action) or `approval`",
                    raw.id.get_ref()
                ),
            );
            None
        }
    };
    let after = duration(&raw.after, "after", diags);
    let at_offset = raw.offset.as_ref().and_then(|o| {
        let text = o.get_ref().trim();
        let (sign, rest) = match text.strip_prefix('-') {
            Some(rest) => (-1, rest),
            None => (1, text.strip_prefix('+').unwrap_or(text)),
        };
        match parse_duration(rest).map(chrono::Duration::from_std) {
            Ok(Ok(d)) => Some(d * sign),
            _ => {
                diags.push(
                    o.span(),
                    format!("offset `{text}` is not a duration such as -1d or 2h"),
                );
                None
            }
        }
    });
    if let (Some(o), None) = (&raw.offset, &raw.at) {
        diags.push(o.span(), "`offset` shifts `at`; give `at` too".to_owned());
    }
    let timeout = duration(&raw.timeout, "timeout", diags);
    if let (Some(t), Some(span)) = (timeout, raw.timeout.as_ref().map(Spanned::span))
        && t > crate::engine::runtime::MAX_STEP_TIME
    {
        diags.push(
            span,
            "timeout: a step may take at most 15m; split longer work into steps with `after`"
                .to_owned(),
        );
    }
    let mut retry = RetryPolicy::default();
    if let Some(r) = &raw.retry {
        let r = r.get_ref();
        if let Some(a) = &r.attempts {
            match u32::try_from(*a.get_ref()) {
                Ok(n) if (1..=100).contains(&n) => retry.attempts = n,
                _ => diags.push(a.span(), "retry.attempts must be 1 to 100".to_owned()),
            }
        }
        if let Some(b) = duration(&r.backoff, "retry.backoff", diags) {
            retry.backoff = b;
        }
        if let Some(m) = duration(&r.max_backoff, "retry.max_backoff", diags) {
            retry.max_backoff = m;
        }
    }
    let on_failure = match raw.on_failure.as_ref().map(|s| (s.get_ref().as_str(), s)) {
        None | Some(("fail", _)) => OnFailure::Fail,
        Some(("continue", _)) => OnFailure::Continue,
        Some((other, s)) => match other.strip_prefix("process:") {
            Some(id) if valid_id(id) => OnFailure::Process(id.to_owned()),
            _ => {
                diags.push(
                    s.span(),
                    format!(
                        "on_failure `{other}`: use `fail`, `continue` or `process:<process id>`"
                    ),
                );
                OnFailure::Fail
            }
        },
    };
    let target = |t: &Option<Spanned<String>>| {
        t.as_ref().map(|n| match n.get_ref().as_str() {
            "end" => Next::End,
            id => Next::Step(id.to_owned()),
        })
    };
    let next = target(&raw.next);
    let otherwise = target(&raw.otherwise);
    if let (Some(e), None) = (&raw.otherwise, &raw.condition) {
        diags.push(e.span(), "`else` goes with `if`".to_owned());
    }
    let step = match kind {
        Some(work) if diags.len() == before => Some(Step {
            id: raw.id.into_inner(),
            work,
            condition: raw.condition.map(Spanned::into_inner),
            after,
            at: raw.at.map(Spanned::into_inner),
            at_offset,
            timeout,
            retry,
            on_failure,
            next,
            otherwise,
        }),
        _ => None,
    };
    (step, places)
}

fn parse_for_each(raw: &Spanned<RawForEach>, diags: &mut Diagnostics) -> Option<ForEach> {
    let f = raw.get_ref();
    let Some(kind) = EntityKind::parse(&f.kind.replace('_', "-")) else {
        diags.push(
            raw.span(),
            format!("for_each: unknown entity kind `{}`", f.kind),
        );
        return None;
    };
    let spec = crate::crm::schema::spec(kind);
    let mut filters = Vec::new();
    for (key, value) in &f.filters {
        let (field, op) = match crate::crm::FilterOp::split(key) {
            Ok(x) => x,
            Err(e) => {
                diags.push(raw.span(), format!("for_each: {e}"));
                continue;
            }
        };
        if spec.field(field).is_none() {
            diags.push(
                raw.span(),
                format!("for_each: a {kind} has no field `{field}`"),
            );
            continue;
        }
        filters.push((
            field.to_owned(),
            op,
            serde_json::to_value(value).unwrap_or(Value::Null),
        ));
    }
    let var = f
        .var
        .clone()
        .unwrap_or_else(|| crate::engine::scope::var_name(kind).to_owned());
    if !valid_id(&var) || var.contains('-') {
        diags.push(
            raw.span(),
            format!("for_each: `as = \"{var}\"` is not a variable name"),
        );
    }
    let limit = match f.limit {
        None => 1000,
        Some(n) if (1..=10_000).contains(&n) => u32::try_from(n).unwrap_or(1000),
        Some(_) => {
            diags.push(raw.span(), "for_each: limit must be 1 to 10000".to_owned());
            1000
        }
    };
    Some(ForEach {
        kind,
        filters,
        var,
        limit,
    })
}

fn parse_approval(raw: &Spanned<RawApproval>, diags: &mut Diagnostics) -> Option<Approval> {
    let a = raw.get_ref();
    if a.assignee.is_some() == a.role.is_some() {
        diags.push(
            raw.span(),
            "an approval needs exactly one of `assignee` (a user id) or `role`".to_owned(),
        );
        return None;
    }
    if let Some(role) = &a.role
        && !crate::crm::schema::ROLES.contains(&role.get_ref().as_str())
    {
        diags.push(
            role.span(),
            format!(
                "unknown role `{}`: use one of {}",
                role.get_ref(),
                crate::crm::schema::ROLES.join(", ")
            ),
        );
        return None;
    }
    let on_timeout = match a.on_timeout.as_ref().map(|s| (s.get_ref().as_str(), s)) {
        None | Some(("reject", _)) => Decision::Reject,
        Some(("approve", _)) => Decision::Approve,
        Some((other, s)) => {
            diags.push(
                s.span(),
                format!("on_timeout `{other}`: use `approve` or `reject`"),
            );
            return None;
        }
    };
    let target = |t: &Option<String>| {
        t.as_ref().map(|n| match n.as_str() {
            "end" => Next::End,
            id => Next::Step(id.to_owned()),
        })
    };
    Some(Approval {
        title: a.title.clone(),
        description: a.description.clone(),
        assignee: a.assignee.clone(),
        role: a.role.as_ref().map(|r| r.get_ref().clone()),
        timeout: duration(&a.timeout, "approval.timeout", diags),
        on_timeout,
        on_approve: target(&a.on_approve),
        on_reject: target(&a.on_reject),
    })
}

/// A duration value, or None with a diagnostic if it does not parse.
fn duration(d: &Option<Spanned<String>>, name: &str, diags: &mut Diagnostics) -> Option<Duration> {
    let d = d.as_ref()?;
    match parse_duration(d.get_ref()) {
        Ok(v) => Some(v),
        Err(e) => {
            diags.push(d.span(), format!("{name}: {e}"));
            None
        }
    }
}
