//! `create-task`: creates a CRM task — a call, a meeting, a review — for a
//! user, due in a number of days (or business days), linked to the entity
//! the process is about, and notes it on that entity's timeline.

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use robota_sdk::{Action, Capability, Context, EntityInput, EntityKind, Error, Manifest, crm};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What the action takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The task's title.
    title: String,
    /// Details.
    #[serde(default)]
    description: Option<String>,
    /// Who does it; by default the entity's responsible user.
    #[serde(default)]
    assignee_id: Option<String>,
    /// Due this many days from now (0: today).
    #[serde(default)]
    due_in_days: Option<u32>,
    /// Count only Monday to Friday.
    #[serde(default)]
    business_days: bool,
    /// The entity the task is about, `{"kind": "deal", "id": "…"}`.
    #[serde(default)]
    entity: Option<EntityInput>,
}

/// What the action returns.
#[derive(Serialize)]
struct Output {
    id: String,
    due_at: Option<String>,
    assignee_id: Option<String>,
}

struct CreateTask;

/// `days` days after `from`; with `business`, skipping Saturdays and Sundays.
fn due_after(from: DateTime<Utc>, days: u32, business: bool) -> DateTime<Utc> {
    if !business {
        return from + Duration::days(i64::from(days));
    }
    let mut at = from;
    let mut left = days;
    while left > 0 {
        at += Duration::days(1);
        if !matches!(at.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    at
}

impl Action for CreateTask {
    type Input = Input;
    type Output = Output;

    fn manifest() -> Manifest {
        Manifest::new("create-task", env!("CARGO_PKG_VERSION"), "Create a task")
            .description("Creates a task for a user, due in N (business) days, linked to an entity")
            .input_schema(json!({
                "type": "object",
                "required": ["title"],
                "additionalProperties": false,
                "properties": {
                    "title": { "type": "string", "minLength": 1 },
                    "description": { "type": "string" },
                    "assignee_id": { "type": "string" },
                    "due_in_days": { "type": "integer", "minimum": 0 },
                    "business_days": { "type": "boolean" },
                    "entity": {
                        "type": "object",
                        "required": ["kind", "id"],
                        "properties": { "kind": { "type": "string" }, "id": { "type": "string" } }
                    }
                }
            }))
            .output_schema(json!({
                "type": "object",
                "properties": {
                    "id": { "type": "string" },
                    "due_at": { "type": ["string", "null"] },
                    "assignee_id": { "type": ["string", "null"] }
                }
            }))
            .capability(Capability::CrmRead)
            .capability(Capability::CrmWrite)
    }

    fn run(_ctx: &Context, input: Input) -> Result<Output, Error> {
        if input.title.trim().is_empty() {
            return Err(Error::InvalidInput("title must not be empty".into()));
        }
        let mut assignee = input.assignee_id;
        let entity = input
            .entity
            .as_ref()
            .map(|e| e.entity_ref("entity"))
            .transpose()?;
        if let Some(entity) = &entity {
            // Reading the entity checks it exists and gives its owner.
            let record: serde_json::Value = crm::get(entity)?;
            if assignee.is_none() {
                assignee = record
                    .get("responsible_id")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
            }
        }
        let due_at = input.due_in_days.map(|d| {
            due_after(Utc::now(), d, input.business_days)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        });
        let mut fields = json!({ "title": input.title, "status": "open" });
        if let Some(d) = &input.description {
            fields["description"] = json!(d);
        }
        if let Some(a) = &assignee {
            fields["assignee_id"] = json!(a);
        }
        if let Some(d) = &due_at {
            fields["due_at"] = json!(d);
        }
        if let Some(e) = &entity {
            fields["entity_kind"] = json!(e.kind.as_str());
            fields["entity_id"] = json!(e.id);
        }
        let task = crm::create(EntityKind::Task, &fields)?;
        if let Some(e) = &entity {
            crm::add_note(
                e,
                &format!(
                    "Task created: {}",
                    fields["title"].as_str().unwrap_or_default()
                ),
            )?;
        }
        Ok(Output {
            id: task.id,
            due_at,
            assignee_id: assignee,
        })
    }
}

robota_sdk::export_action!(CreateTask);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_days_skip_the_weekend() {
        // Friday 2026-11-20 + 1 business day = Monday 2026-11-23.
        let friday = DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(due_after(friday, 1, true).weekday(), Weekday::Mon);
        assert_eq!(due_after(friday, 1, false).weekday(), Weekday::Sat);
        assert_eq!(due_after(friday, 5, true).day(), 27);
        assert_eq!(due_after(friday, 0, true), friday);
    }
}
