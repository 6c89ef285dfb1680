//! Parsing a process's `[trigger]` table: exactly one kind of trigger, and
//! no key that belongs to another kind.

use super::{
    DEFAULT_TIMEZONE, EntityEvent, EntityTrigger, ParamType, RawTrigger, Span, Trigger,
    cron_schedule,
};
use crate::crm::EntityKind;
use crate::engine::diagnostics::Diagnostics;
use std::collections::BTreeMap;
use toml::Spanned;

pub(super) fn parse_trigger(
    raw: RawTrigger,
    span: Span,
    diags: &mut Diagnostics,
) -> Option<Trigger> {
    let kinds = [
        raw.event.is_some(),
        raw.cron.is_some(),
        raw.manual.as_ref().is_some_and(|m| *m.get_ref()),
        raw.webhook.as_ref().is_some_and(|w| *w.get_ref()),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        diags.push(
            span,
            "a trigger needs exactly one of `event`, `cron`, `manual = true` or `webhook = true`"
                .to_owned(),
        );
        return None;
    }
    // Keys that belong to another kind of trigger are mistakes, not noise.
    let stray = |diags: &mut Diagnostics, name: &str, s: Option<Span>, for_kind: &str| {
        if let Some(s) = s {
            diags.push(s, format!("`{name}` applies only to {for_kind} triggers"));
        }
    };
    if let Some(event) = raw.event {
        stray(
            diags,
            "timezone",
            raw.timezone.as_ref().map(Spanned::span),
            "cron",
        );
        stray(
            diags,
            "secret",
            raw.secret.as_ref().map(Spanned::span),
            "webhook",
        );
        let text = event.get_ref();
        let Some((kind_name, event_name)) = text.split_once('.') else {
            diags.push(
                event.span(),
                format!("event `{text}` must be `<entity>.<change>`, such as `deal.stage_changed`"),
            );
            return None;
        };
        let Some(kind) = EntityKind::parse(&kind_name.replace('_', "-")) else {
            diags.push(
                event.span(),
                format!("unknown entity `{kind_name}` in event `{text}`"),
            );
            return None;
        };
        let ev = match event_name {
            "created" => EntityEvent::Created,
            "updated" => EntityEvent::Updated,
            "stage_changed" => EntityEvent::StageChanged,
            "status_changed" => EntityEvent::StatusChanged,
            "converted" => EntityEvent::Converted,
            other => {
                diags.push(
                    event.span(),
                    format!(
                        "unknown change `{other}`: use created, updated, stage_changed, status_changed or converted"
                    ),
                );
                return None;
            }
        };
        if ev == EntityEvent::StageChanged && kind != EntityKind::Deal {
            diags.push(event.span(), "only deals have stages".to_owned());
        }
        if ev == EntityEvent::Converted && kind != EntityKind::Lead {
            diags.push(event.span(), "only leads are converted".to_owned());
        }
        if ev == EntityEvent::StatusChanged
            && crate::crm::schema::spec(kind).field("status").is_none()
        {
            diags.push(event.span(), format!("a {kind} has no status"));
        }
        let moves = matches!(ev, EntityEvent::StageChanged | EntityEvent::StatusChanged);
        for (name, value) in [("from", &raw.from), ("to", &raw.to)] {
            if let Some(v) = value
                && !moves
            {
                diags.push(
                    v.span(),
                    format!("`{name}` applies only to stage_changed and status_changed"),
                );
            }
        }
        if let Some(fields) = &raw.fields {
            if ev != EntityEvent::Updated {
                diags.push(
                    fields.span(),
                    "`fields` applies only to `updated`".to_owned(),
                );
            }
            let spec = crate::crm::schema::spec(kind);
            for f in fields.get_ref() {
                if spec.field(f).is_none() {
                    diags.push(fields.span(), format!("a {kind} has no field `{f}`"));
                }
            }
        }
        if let Some(status_values) = status_values(kind, ev) {
            for v in [&raw.from, &raw.to].into_iter().flatten() {
                if !status_values.contains(&v.get_ref().as_str()) {
                    diags.push(
                        v.span(),
                        format!(
                            "`{}` is not a {kind} status: use one of {}",
                            v.get_ref(),
                            status_values.join(", ")
                        ),
                    );
                }
            }
        }
        return Some(Trigger::Entity(EntityTrigger {
            kind,
            event: ev,
            from: raw.from.map(Spanned::into_inner),
            to: raw.to.map(Spanned::into_inner),
            fields: raw.fields.map(Spanned::into_inner).unwrap_or_default(),
        }));
    }
    for (name, s) in [
        ("from", raw.from.as_ref().map(Spanned::span)),
        ("to", raw.to.as_ref().map(Spanned::span)),
        ("fields", raw.fields.as_ref().map(Spanned::span)),
    ] {
        stray(diags, name, s, "entity `event`");
    }
    if let Some(expr) = raw.cron {
        stray(
            diags,
            "secret",
            raw.secret.as_ref().map(Spanned::span),
            "webhook",
        );
        let schedule = match cron_schedule(expr.get_ref()) {
            Ok(s) => s,
            Err(e) => {
                diags.push(expr.span(), e);
                return None;
            }
        };
        let timezone = match &raw.timezone {
            None => DEFAULT_TIMEZONE,
            Some(tz) => match tz.get_ref().parse::<chrono_tz::Tz>() {
                Ok(tz) => tz,
                Err(_) => {
                    diags.push(
                        tz.span(),
                        format!(
                            "unknown time zone `{}` (use an IANA name such as Europe/Moscow)",
                            tz.get_ref()
                        ),
                    );
                    return None;
                }
            },
        };
        return Some(Trigger::Cron {
            expr: expr.into_inner(),
            schedule: Box::new(schedule),
            timezone,
        });
    }
    stray(
        diags,
        "timezone",
        raw.timezone.as_ref().map(Spanned::span),
        "cron",
    );
    if raw.manual.is_some_and(|m| m.into_inner()) {
        let mut params = BTreeMap::new();
        for (name, ty) in raw.params.unwrap_or_default() {
            match ParamType::parse(ty.get_ref()) {
                Some(t) => {
                    params.insert(name, t);
                }
                None => diags.push(
                    ty.span(),
                    format!(
                        "parameter `{name}`: unknown type `{}` (string, decimal, integer, bool, date)",
                        ty.get_ref()
                    ),
                ),
            }
        }
        return Some(Trigger::Manual { params });
    }
    match raw.secret {
        Some(secret) if secret.get_ref().len() >= 16 => Some(Trigger::Webhook {
            secret: secret.into_inner(),
        }),
        Some(secret) => {
            diags.push(
                secret.span(),
                "a webhook secret needs at least 16 characters".to_owned(),
            );
            None
        }
        None => {
            diags.push(span, "a webhook trigger needs a `secret`".to_owned());
            None
        }
    }
}

/// The values `from`/`to` may take for a status trigger (stages are per
/// pipeline and checked against the database when the process is loaded).
fn status_values(kind: EntityKind, event: EntityEvent) -> Option<&'static [&'static str]> {
    if event != EntityEvent::StatusChanged {
        return None;
    }
    match crate::crm::schema::spec(kind).field("status")?.ty {
        crate::crm::FieldType::Enum(values) => Some(values),
        _ => None,
    }
}
