//! Running one claimed step: build what its templates see, check its `if`,
//! render its input, call its action (or open its approval, or find the
//! items of its for-each), and commit the outcome with the action's CRM
//! writes.
//!
//! A for-each step is a chain of durable rows: the first finds the items
//! and records their ids as its output; then one row per item runs the
//! action with the item as a template variable, each scheduling the next,
//! and the last goes on to the step after the loop. A crash resumes at the
//! item it was on.

use super::catalog::InstalledAction;
use super::committer::Committer;
use super::definition::{ActionRef, ForEach, OnFailure, Process, Step, Work};
use super::flow::Outcome;
use super::runtime::{Active, Engine, chrono_duration, jitter, retryable, then_after};
use super::scope::{self, Scope};
use crate::crm::{CrmError, EntityRef, Filter};
use crate::plugins::CallRequest;
use crate::store::CrmStore as _;
use crate::store::prelude::*;
use crate::store::runs::{AttemptStatus, ClaimedStep, NewStep, StepFinish, Then};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

impl Engine {
    /// Runs a claimed step and commits what came of it.
    pub(super) async fn run_step(
        &self,
        claimed: ClaimedStep,
        via: &Committer,
    ) -> anyhow::Result<()> {
        // Held (its lease renewed on a shared database) until its finish
        // is committed or dropped.
        let _held = self.hold(&claimed.id);
        self.run_held_step(claimed, via).await
    }

    async fn run_held_step(&self, claimed: ClaimedStep, via: &Committer) -> anyhow::Result<()> {
        let started = self.clock.now();
        let process = self
            .process(&claimed.process_id, claimed.process_version)
            .await?;
        let Some(step) = process.steps.get(claimed.index) else {
            let finish = self.failed(
                &claimed,
                started,
                None,
                format!("the process has no step {}", claimed.index),
                &process,
            );
            return self.commit(via, finish).await;
        };
        let scope = match self.step_scope(&claimed, &process, step).await {
            Ok(s) => s,
            Err(e) => {
                let finish = self.failed(&claimed, started, None, format!("{e:#}"), &process);
                return self.commit(via, finish).await;
            }
        };
        if let (Some(at), None) = (&step.at, claimed.item) {
            match self.step_time(at, step.at_offset, &scope) {
                Ok(when) if when > started => {
                    self.store
                        .defer_step(&claimed.id, claimed.attempt, when)
                        .await?;
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) => {
                    let finish = self.failed(&claimed, started, None, format!("at: {e}"), &process);
                    return self.commit(via, finish).await;
                }
            }
        }
        let mut finish = self
            .attempt(&claimed, &process, step, &scope, started)
            .await;
        self.continue_loop(&mut finish, &claimed, &process, step, &scope);
        self.error_process(&mut finish, &claimed, step).await;
        let had_changes = !finish.changes.is_empty();
        let input = finish.input.clone();
        match self.store_finish(via, finish).await {
            Ok(_) => Ok(()),
            Err(CrmError::Storage(e)) => {
                // The lease runs out and another attempt runs the step again.
                anyhow::bail!("committing step {} failed: {e}", claimed.id)
            }
            Err(CrmError::Conflict(e)) if !had_changes => {
                tracing::info!(step = %claimed.id, "step result dropped: {e}");
                Ok(())
            }
            Err(e) => {
                // The action's writes were refused: a conflict runs the step
                // again; a bad write is the action's final failure.
                let message = format!("the action's CRM changes were refused: {e}");
                let mut finish = if matches!(e, CrmError::Conflict(_))
                    && claimed.attempt < step.retry.attempts
                {
                    let mut f = self.finish(
                        &claimed,
                        started,
                        AttemptStatus::Retrying,
                        input,
                        Err(message),
                        &process,
                    );
                    f.then = Then::Retry(self.clock.now());
                    f
                } else {
                    self.failed(&claimed, started, input, message, &process)
                };
                self.continue_loop(&mut finish, &claimed, &process, step, &scope);
                self.error_process(&mut finish, &claimed, step).await;
                self.commit(via, finish).await
            }
        }
    }

    /// When a step with `at` may run: the rendered date or time plus the offset.
    /// A date alone means its midnight in the company's time zone.
    fn step_time(
        &self,
        at: &str,
        offset: Option<chrono::Duration>,
        scope: &Scope,
    ) -> Result<DateTime<Utc>, String> {
        let text = self.templates.render(at, &scope.to_value(false))?;
        let text = text.trim();
        let base = if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            t.with_timezone(&Utc)
        } else if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            d.and_hms_opt(0, 0, 0)
                .and_then(|t| {
                    t.and_local_timezone(super::definition::DEFAULT_TIMEZONE)
                        .earliest()
                })
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| format!("`{text}` has no midnight"))?
        } else {
            return Err(format!(
                "`{text}` is not a date (YYYY-MM-DD) or an RFC 3339 time"
            ));
        };
        Ok(base + offset.unwrap_or_else(chrono::Duration::zero))
    }

    /// On a final failure with `on_failure = "process:<id>"`, the error
    /// process's run, to start with the failure.
    async fn error_process(&self, finish: &mut StepFinish, claimed: &ClaimedStep, step: &Step) {
        let (Then::Fail(message), OnFailure::Process(id)) = (&finish.then, &step.on_failure) else {
            return;
        };
        let current = match self.store.current_process(id).await {
            Ok(p) => p.filter(|p| p.enabled),
            Err(e) => {
                tracing::warn!(process = %id, "error process not started: {e}");
                None
            }
        };
        let Some(current) = current else {
            tracing::warn!(process = %id, "the error process is not installed or is disabled");
            return;
        };
        let params = json!({
            "process": claimed.process_id,
            "run_id": claimed.run_id,
            "step": claimed.key,
            "error": message,
        });
        let run = match self.process(id, current.version).await {
            Ok(p) => {
                self.new_run(
                    &p,
                    current.version,
                    json!({ "type": "error", "failed_run": claimed.run_id }),
                    claimed.subject.clone(),
                    format!("error:{}", claimed.id),
                    params,
                )
                .await
            }
            Err(e) => Err(e),
        };
        match run {
            Ok(run) => finish.start = run,
            Err(e) => tracing::warn!(process = %id, "error process not started: {e:#}"),
        }
    }

    fn failed(
        &self,
        claimed: &ClaimedStep,
        started: DateTime<Utc>,
        input: Option<Value>,
        error: String,
        process: &Process,
    ) -> StepFinish {
        self.finish(
            claimed,
            started,
            AttemptStatus::Failed,
            input,
            Err(error),
            process,
        )
    }

    /// One attempt of the step, up to (not including) the commit.
    async fn attempt(
        &self,
        claimed: &ClaimedStep,
        process: &Process,
        step: &Step,
        scope: &Scope,
        started: DateTime<Utc>,
    ) -> StepFinish {
        let (uses, input, for_each) = match &step.work {
            Work::Action {
                uses,
                input,
                for_each,
            } => (uses, input, for_each),
            Work::Approval(approval) => {
                return match self.condition(step, scope) {
                    Ok(true) => self.open_approval(claimed, started, approval, scope, process),
                    Ok(false) => self.finish(
                        claimed,
                        started,
                        AttemptStatus::Skipped,
                        None,
                        Ok(Value::Null),
                        process,
                    ),
                    Err(e) => self.failed(claimed, started, None, e, process),
                };
            }
        };
        if let (Some(fe), None) = (for_each, claimed.item) {
            return self
                .find_items(claimed, process, step, fe, scope, started)
                .await;
        }
        match self.condition(step, scope) {
            Ok(true) => {}
            Ok(false) => {
                return self.finish(
                    claimed,
                    started,
                    AttemptStatus::Skipped,
                    None,
                    Ok(Value::Null),
                    process,
                );
            }
            Err(e) => return self.failed(claimed, started, None, e, process),
        }
        let input = match self.templates.render_value(input, &scope.to_value(false)) {
            Ok(v) => v,
            Err(e) => return self.failed(claimed, started, None, format!("input: {e}"), process),
        };
        let active = self.active();
        let action = match self.action_of_run(&active, claimed.action_set, uses).await {
            Ok(a) => a,
            Err(e) => return self.failed(claimed, started, Some(input), e, process),
        };
        let mut limits = action.limits;
        if let Some(t) = step.timeout {
            limits.deadline = t;
        }
        let request = CallRequest {
            run_id: claimed.run_id.clone(),
            step_id: claimed.id.clone(),
            idempotency_key: claimed.id.clone(),
            attempt: claimed.attempt,
            input: input.to_string(),
            grants: action.grants.clone(),
            config: action.config.clone(),
            limits,
            store: self.store.clone(),
            read: scope.read.clone(),
        };
        let digest = action.plugin.digest.clone();
        let mut f = match self.host.call(&action.plugin, request).await {
            Ok(outcome) => {
                let mut f = self.finish(
                    claimed,
                    started,
                    AttemptStatus::Done,
                    Some(input),
                    Ok(outcome.output),
                    process,
                );
                f.changes = outcome.changes;
                f.logs = serde_json::to_value(&outcome.logs).unwrap_or(Value::Null);
                f
            }
            Err(e) if retryable(&e) && claimed.attempt < step.retry.attempts => {
                let delay = step.retry.delay_before(claimed.attempt + 1, jitter());
                let mut f = self.finish(
                    claimed,
                    started,
                    AttemptStatus::Retrying,
                    Some(input),
                    Err(e.to_string()),
                    process,
                );
                f.then = Then::Retry(self.clock.now() + chrono_duration(Some(delay)));
                f
            }
            Err(e) => self.failed(claimed, started, Some(input), e.to_string(), process),
        };
        f.digest = Some(digest);
        f
    }

    /// The component step `uses` runs: the one the run started with (set
    /// `set`), unless the action was installed after it started.
    async fn action_of_run<'a>(
        &self,
        active: &'a Active,
        set: Option<i64>,
        uses: &ActionRef,
    ) -> Result<&'a InstalledAction, String> {
        let not_installed = || format!("action `{uses}` is not installed");
        let catalog = &active.catalog;
        // Most runs started with what is installed now.
        let Some(set) = set.filter(|s| *s != active.set) else {
            return catalog.get(uses).ok_or_else(not_installed);
        };
        let pins = self.pins_of(set).await?;
        match pins.get(&uses.to_string()) {
            None => catalog.get(uses).ok_or_else(not_installed),
            Some(digest) => catalog.get_pinned(uses, digest).ok_or_else(|| {
                format!(
                    "action `{uses}` changed after this run started, and the component it started with ({digest}) is no longer installed"
                )
            }),
        }
    }

    /// The step's `if`, true when it has none.
    fn condition(&self, step: &Step, scope: &Scope) -> Result<bool, String> {
        match &step.condition {
            None => Ok(true),
            Some(c) => self
                .templates
                .condition(c, &scope.to_value(true))
                .map_err(|e| format!("if: {e}")),
        }
    }

    /// The first row of a for-each: finds the items and starts the chain.
    async fn find_items(
        &self,
        claimed: &ClaimedStep,
        process: &Process,
        step: &Step,
        fe: &ForEach,
        scope: &Scope,
        started: DateTime<Utc>,
    ) -> StepFinish {
        let ctx = scope.to_value(false);
        let mut filters = Vec::new();
        for (field, op, value) in &fe.filters {
            match self.templates.render_value(value, &ctx) {
                Ok(value) => filters.push(Filter {
                    field: field.clone(),
                    op: *op,
                    value,
                }),
                Err(e) => {
                    return self.failed(
                        claimed,
                        started,
                        None,
                        format!("for_each where `{field}`: {e}"),
                        process,
                    );
                }
            }
        }
        let found = match self.store.query(fe.kind, &filters, fe.limit).await {
            Ok(rows) => rows,
            Err(e) => {
                return self.failed(claimed, started, None, format!("for_each: {e}"), process);
            }
        };
        let ids: Vec<Value> = found.iter().filter_map(|r| r.get("id").cloned()).collect();
        let now = self.clock.now();
        let mut f = self.finish(
            claimed,
            started,
            AttemptStatus::Done,
            Some(json!({ "kind": fe.kind, "where": filters.iter().map(|f| json!([f.field, format!("{:?}", f.op).to_lowercase(), f.value])).collect::<Vec<_>>() })),
            Ok(json!({ "items": ids, "count": ids.len() })),
            process,
        );
        if !ids.is_empty() {
            f.then = Then::Next(item_step(step, claimed.index, 0, now));
        }
        f
    }

    /// After an item of a for-each, the chain goes on to the next item, and
    /// after the last to the step after the loop.
    fn continue_loop(
        &self,
        finish: &mut StepFinish,
        claimed: &ClaimedStep,
        process: &Process,
        step: &Step,
        scope: &Scope,
    ) {
        let (Some(k), Some(item)) = (claimed.item, &scope.item) else {
            return;
        };
        let goes_on = match finish.status {
            AttemptStatus::Done | AttemptStatus::Skipped => true,
            AttemptStatus::Failed => step.on_failure == OnFailure::Continue,
            AttemptStatus::Retrying | AttemptStatus::Waiting => false,
        };
        if !goes_on {
            return;
        }
        let now = self.clock.now();
        finish.then = if k + 1 < item.count {
            Then::Next(item_step(step, claimed.index, k + 1, now))
        } else {
            then_after(process, claimed.index, Outcome::Done, now)
        };
    }

    /// What the step's templates see.
    async fn step_scope(
        &self,
        claimed: &ClaimedStep,
        process: &Process,
        step: &Step,
    ) -> anyhow::Result<Scope> {
        let mut read = Vec::new();
        let subject = match &claimed.subject {
            Some(s) => {
                let (stored, view) = scope::load_subject_read(self.store.as_ref(), s).await?;
                read.push((s.clone(), stored));
                Some((s.kind, view))
            }
            None => None,
        };
        let steps = self.store.step_results(&claimed.run_id).await?;
        let params = claimed
            .trigger
            .get("params")
            .cloned()
            .unwrap_or(Value::Null);
        let item = match (claimed.item, &step.work) {
            (
                Some(k),
                Work::Action {
                    for_each: Some(fe), ..
                },
            ) => {
                let ids = steps
                    .get(&step.id)
                    .and_then(|s| s["output"]["items"].as_array())
                    .ok_or_else(|| {
                        anyhow::anyhow!("for_each: the items of `{}` are missing", step.id)
                    })?;
                let id = ids
                    .get(k)
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow::anyhow!("for_each: no item {k} of `{}`", step.id))?;
                let target = EntityRef {
                    kind: fe.kind,
                    id: id.to_owned(),
                };
                let (stored, value) =
                    scope::load_subject_read(self.store.as_ref(), &target).await?;
                read.push((target, stored));
                Some(scope::Item {
                    var: fe.var.clone(),
                    kind: fe.kind,
                    value,
                    index: k,
                    count: ids.len(),
                })
            }
            _ => None,
        };
        Ok(Scope {
            subject,
            trigger: claimed.trigger.clone(),
            constants: process.constants.clone(),
            params,
            steps,
            item,
            run: json!({
                "id": claimed.run_id,
                "process": claimed.process_id,
                "version": claimed.process_version,
                "step": claimed.key,
                "attempt": claimed.attempt,
            }),
            now: Some(self.clock.now()),
            read,
        })
    }
}

/// The row for item `k` of a for-each step.
fn item_step(step: &Step, index: usize, k: usize, now: DateTime<Utc>) -> NewStep {
    NewStep {
        index,
        key: format!("{}[{k}]", step.id),
        item: Some(k),
        due_at: now,
    }
}
