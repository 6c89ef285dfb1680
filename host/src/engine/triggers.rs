//! What starts runs: entity events (matched against entity triggers, the
//! condition checked on the entity as it is now), cron ticks (once per tick,
//! once after downtime), manual starts with typed parameters and webhooks
//! with their secret. Each start renders the `once_per` key so a process
//! never runs twice for the same thing.

use super::committer::Committer;
use super::definition::{self, EntityEvent, Process, Trigger};
use super::runtime::{EVENT_BATCH, Engine, StartError, chrono_duration};
use super::scope::{self, Scope};
use crate::crm::{CrmError, EntityRef, new_id};
use crate::store::CrmStore as _;
use crate::store::events::{EventRow, EventStarts};
use crate::store::prelude::*;
use crate::store::runs::{NewRun, NewStep};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

impl Engine {
    /// Reads new events and starts the runs they trigger. Returns how many
    /// runs started.
    pub async fn dispatch_events(&self) -> anyhow::Result<usize> {
        self.dispatch_events_via(&Committer::Direct).await
    }

    /// [`Engine::dispatch_events`], committing the runs through `via`.
    pub(super) async fn dispatch_events_via(&self, via: &Committer) -> anyhow::Result<usize> {
        let from = self.store.event_cursor().await?;
        let events = self.store.events_after(from, EVENT_BATCH).await?;
        let Some(to) = events.last().map(|e| e.seq) else {
            return Ok(0);
        };
        let processes = self.enabled_processes().await?;
        let mut runs = Vec::new();
        for event in &events {
            for (version, process) in &processes {
                if let Some(run) = self.run_for_event(process, *version, event).await {
                    runs.push(run);
                }
            }
        }
        match self.store_starts(via, EventStarts { from, to, runs }).await {
            Ok(n) => Ok(n),
            // Another dispatcher moved the cursor: it started these runs.
            Err(CrmError::Conflict(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    async fn run_for_event(
        &self,
        process: &Process,
        version: i64,
        event: &EventRow,
    ) -> Option<NewRun> {
        let Trigger::Entity(t) = &process.trigger else {
            return None;
        };
        if t.kind != event.entity.kind || !event_matches(t, event) {
            return None;
        }
        let trigger = json!({
            "type": "event",
            "event": event.kind,
            "event_id": event.id,
            "entity": event.entity,
            "changes": event.changes,
            "at": event.at,
        });
        self.new_run(
            process,
            version,
            trigger,
            Some(event.entity.clone()),
            format!("event:{}", event.id),
            Value::Null,
        )
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(process = %process.id, event = %event.id, "not started: {e:#}");
            None
        })
    }

    /// A run of `process` if its condition holds, with its `once_per` key.
    pub(super) async fn new_run(
        &self,
        process: &Process,
        version: i64,
        trigger: Value,
        subject: Option<EntityRef>,
        trigger_key: String,
        params: Value,
    ) -> anyhow::Result<Option<NewRun>> {
        let now = self.clock.now();
        let subject_view = match &subject {
            Some(s) => match scope::load_subject(self.store.as_ref(), s).await {
                Ok(v) => Some((s.kind, v)),
                // Deleted since the event: nothing to run on.
                Err(CrmError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let scope = Scope {
            subject: subject_view,
            trigger: trigger.clone(),
            constants: process.constants.clone(),
            params,
            steps: Map::new(),
            item: None,
            run: json!({ "process": process.id, "version": version }),
            now: Some(now),
            read: Vec::new(),
        };
        if let Some(c) = &process.condition
            && !self
                .templates
                .condition(c, &scope.to_value(true))
                .map_err(|e| anyhow::anyhow!("condition: {e}"))?
        {
            return Ok(None);
        }
        let once_key = match &process.once_per {
            Some(t) => Some(
                self.templates
                    .render(t, &scope.to_value(false))
                    .map_err(|e| anyhow::anyhow!("once_per: {e}"))?,
            ),
            None => None,
        };
        let Some(first) = process.steps.first() else {
            return Ok(None);
        };
        let mut trigger = trigger;
        if let Value::Object(m) = &mut trigger {
            m.insert("params".into(), scope.params.clone());
        }
        Ok(Some(NewRun {
            id: new_id(),
            process_id: process.id.clone(),
            process_version: version,
            trigger,
            subject,
            trigger_key,
            once_key,
            action_set: Some(self.active().set),
            first_step: NewStep {
                item: None,
                index: 0,
                key: first.id.clone(),
                due_at: now + chrono_duration(first.after),
            },
        }))
    }

    /// Starts a manual process with `params`; returns the run id.
    pub async fn start_manual(
        &self,
        process_id: &str,
        params: Value,
        subject: Option<EntityRef>,
    ) -> Result<String, StartError> {
        let current = self
            .store
            .current_process(process_id)
            .await?
            .ok_or_else(|| StartError::UnknownProcess(process_id.to_owned()))?;
        if !current.enabled {
            return Err(StartError::Disabled(process_id.to_owned()));
        }
        let process = self.process(process_id, current.version).await?;
        let Trigger::Manual { params: wanted } = &process.trigger else {
            return Err(StartError::WrongTrigger(process_id.to_owned(), "manually"));
        };
        let params = super::params::check(wanted, params).map_err(StartError::BadParams)?;
        if let Some(s) = &subject
            && self.store.get(s).await?.is_none()
        {
            return Err(StartError::BadParams(format!(
                "{s} not found: start the process on an existing entity"
            )));
        }
        self.start_direct(
            &process,
            current.version,
            json!({ "type": "manual" }),
            subject,
            params,
        )
        .await
    }

    /// Starts a webhook process if `secret` is its secret.
    pub async fn start_webhook(
        &self,
        process_id: &str,
        secret: &str,
        body: Value,
    ) -> Result<String, StartError> {
        let current = self
            .store
            .current_process(process_id)
            .await?
            .ok_or_else(|| StartError::UnknownProcess(process_id.to_owned()))?;
        let process = self.process(process_id, current.version).await?;
        let Trigger::Webhook { secret: expected } = &process.trigger else {
            return Err(StartError::WrongTrigger(
                process_id.to_owned(),
                "by a webhook",
            ));
        };
        // Compare in constant time so the secret cannot be guessed byte by byte.
        if !constant_time_eq(expected.as_bytes(), secret.as_bytes()) {
            return Err(StartError::UnknownProcess(process_id.to_owned()));
        }
        if !current.enabled {
            return Err(StartError::Disabled(process_id.to_owned()));
        }
        self.start_direct(
            &process,
            current.version,
            json!({ "type": "webhook" }),
            None,
            body,
        )
        .await
    }

    async fn start_direct(
        &self,
        process: &Process,
        version: i64,
        trigger: Value,
        subject: Option<EntityRef>,
        params: Value,
    ) -> Result<String, StartError> {
        let key = format!("call:{}", new_id());
        let run = self
            .new_run(process, version, trigger, subject, key, params)
            .await?
            .ok_or_else(|| StartError::BadParams("the process's condition is false".into()))?;
        match self.store.start_run(&run).await? {
            Some(id) => {
                self.poke();
                Ok(id)
            }
            None => Err(StartError::AlreadyRan(
                process.id.clone(),
                run.once_key.unwrap_or_default(),
            )),
        }
    }

    /// Fires every cron schedule that is due: once, however many ticks were
    /// missed, then moves it to its next tick after now.
    pub async fn fire_schedules(&self) -> anyhow::Result<usize> {
        let now = self.clock.now();
        let mut fired = 0;
        for (process_id, expr, tz, next_at) in self.store.schedules().await? {
            let due = DateTime::parse_from_rfc3339(&next_at)
                .with_context(|| format!("schedule of `{process_id}`"))?
                .with_timezone(&Utc);
            if due > now {
                continue;
            }
            let current = self.store.current_process(&process_id).await?;
            let Some(current) = current else { continue };
            let schedule = definition::cron_schedule(&expr).map_err(anyhow::Error::msg)?;
            let zone: chrono_tz::Tz = tz.parse().map_err(|_| anyhow::anyhow!("bad zone {tz}"))?;
            let next = schedule
                .after(&now.with_timezone(&zone))
                .next()
                .map_or(now + chrono::Duration::days(36500), |n| {
                    n.with_timezone(&Utc)
                });
            let process = self.process(&process_id, current.version).await?;
            let run = if current.enabled {
                self.new_run(
                    &process,
                    current.version,
                    json!({ "type": "cron", "tick": next_at }),
                    None,
                    format!("cron:{next_at}"),
                    Value::Null,
                )
                .await?
            } else {
                None
            };
            let started = match run {
                Some(run) => {
                    self.store
                        .fire_schedule(&process_id, &next_at, next, &run)
                        .await?
                }
                // Disabled or condition false: the tick passes without a run.
                None => {
                    self.store
                        .upsert_schedule(&process_id, &expr, &tz, next)
                        .await?;
                    false
                }
            };
            if started {
                fired += 1;
            }
        }
        if fired > 0 {
            self.poke();
        }
        Ok(fired)
    }
}

/// Whether an event is the change a trigger waits for.
fn event_matches(t: &definition::EntityTrigger, event: &EventRow) -> bool {
    let changed = |field: &str| event.changes.get(field).and_then(Value::as_array);
    let moved = |field: &str| -> bool {
        let Some(pair) = changed(field) else {
            return false;
        };
        let (old, new) = (
            pair.first().and_then(Value::as_str),
            pair.get(1).and_then(Value::as_str),
        );
        t.from.as_deref().is_none_or(|f| old == Some(f))
            && t.to.as_deref().is_none_or(|to| new == Some(to))
    };
    match t.event {
        EntityEvent::Created => event.kind == "created",
        // A stage move is an update too; a deletion or a conversion is not.
        EntityEvent::Updated => {
            matches!(event.kind.as_str(), "updated" | "stage_changed")
                && (t.fields.is_empty() || t.fields.iter().any(|f| changed(f).is_some()))
        }
        EntityEvent::StageChanged => event.kind == "stage_changed" && moved("stage"),
        // A record created straight into the status a trigger waits for
        // (with no `from`) has entered it too: a payment request created
        // `on_approval` goes to its approver like one moved there.
        EntityEvent::StatusChanged if event.kind == "created" => {
            t.from.is_none()
                && t.to.as_deref().is_some_and(|to| {
                    event.changes.get("status").and_then(Value::as_str) == Some(to)
                })
        }
        EntityEvent::StatusChanged => {
            matches!(event.kind.as_str(), "updated" | "stage_changed") && moved("status")
        }
        EntityEvent::Converted => event.kind == "converted",
    }
}

/// Compares secrets in constant time so they cannot be guessed byte by byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::EntityKind;
    use crate::engine::definition::EntityTrigger;

    fn event(kind: &str, changes: Value) -> EventRow {
        EventRow {
            seq: 1,
            id: "e1".into(),
            kind: kind.into(),
            entity: EntityRef {
                kind: EntityKind::Deal,
                id: "d1".into(),
            },
            changes,
            at: String::new(),
        }
    }

    fn trigger(
        event: EntityEvent,
        from: Option<&str>,
        to: Option<&str>,
        fields: &[&str],
    ) -> EntityTrigger {
        EntityTrigger {
            kind: EntityKind::Deal,
            event,
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
            fields: fields.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn stage_triggers_check_from_and_to() {
        let e = event("stage_changed", json!({ "stage": ["new", "invoice"] }));
        assert!(event_matches(
            &trigger(EntityEvent::StageChanged, None, Some("invoice"), &[]),
            &e
        ));
        assert!(event_matches(
            &trigger(EntityEvent::StageChanged, Some("new"), None, &[]),
            &e
        ));
        assert!(!event_matches(
            &trigger(EntityEvent::StageChanged, None, Some("paid"), &[]),
            &e
        ));
        assert!(!event_matches(
            &trigger(
                EntityEvent::StageChanged,
                Some("lost"),
                Some("invoice"),
                &[]
            ),
            &e
        ));
        // A stage move is also an update of the stage field.
        assert!(event_matches(
            &trigger(EntityEvent::Updated, None, None, &["stage"]),
            &e
        ));
        assert!(!event_matches(
            &trigger(EntityEvent::Updated, None, None, &["amount"]),
            &e
        ));
    }

    #[test]
    fn created_and_updated_are_distinct() {
        let created = event("created", json!({ "title": "x" }));
        assert!(event_matches(
            &trigger(EntityEvent::Created, None, None, &[]),
            &created
        ));
        assert!(!event_matches(
            &trigger(EntityEvent::Updated, None, None, &[]),
            &created
        ));
        let updated = event("updated", json!({ "amount": ["1.00", "2.00"] }));
        assert!(event_matches(
            &trigger(EntityEvent::Updated, None, None, &["amount"]),
            &updated
        ));
        assert!(!event_matches(
            &trigger(EntityEvent::Created, None, None, &[]),
            &updated
        ));
    }

    #[test]
    fn a_record_created_into_a_status_enters_it() {
        let created = event("created", json!({ "status": "on_approval", "title": "x" }));
        assert!(event_matches(
            &trigger(EntityEvent::StatusChanged, None, Some("on_approval"), &[]),
            &created
        ));
        assert!(
            !event_matches(
                &trigger(
                    EntityEvent::StatusChanged,
                    Some("draft"),
                    Some("on_approval"),
                    &[]
                ),
                &created
            ),
            "it came from no status"
        );
        assert!(
            !event_matches(
                &trigger(EntityEvent::StatusChanged, None, None, &[]),
                &created
            ),
            "any move: a creation is no move"
        );
        assert!(!event_matches(
            &trigger(EntityEvent::StatusChanged, None, Some("approved"), &[]),
            &created
        ));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
