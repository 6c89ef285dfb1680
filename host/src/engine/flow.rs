//! The shape of a process's step graph: where each step can go, the checks
//! that keep it finite and fully reachable, and the step after a given one.
//!
//! Steps run in file order unless a step says otherwise: `next` jumps
//! forward (or to `end`), a false `if` skips to the following step (or to
//! its `else`), and an
//! approval goes to `on_approve` (default: the following step) or
//! `on_reject` (default: the end). Jumps only go forward, so every run ends.

use super::definition::{Next, Places, Process, Step, Work};
use super::diagnostics::Diagnostics;
use std::collections::BTreeMap;

/// How a step ended, for choosing the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It ran.
    Done,
    /// Its `if` was false.
    Skipped,
    /// A person approved it.
    Approved,
    /// A person rejected it (or its timeout counted as a rejection).
    Rejected,
}

/// Where step `i` can go: None is the end of the run.
fn targets(step: &Step) -> Vec<(Option<&Next>, Default)> {
    let mut out = match &step.work {
        Work::Action { .. } => vec![(step.next.as_ref(), Default::Following)],
        Work::Approval(a) => vec![
            (
                a.on_approve.as_ref().or(step.next.as_ref()),
                Default::Following,
            ),
            (a.on_reject.as_ref(), Default::End),
        ],
    };
    if step.condition.is_some() {
        out.push((step.otherwise.as_ref(), Default::Following));
    }
    out
}

/// Where an edge without an explicit target goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Default {
    Following,
    End,
}

/// Step ids are unique, targets exist and only go forward (a loop would run
/// forever), and every step can be reached from the first.
pub fn check(steps: &[Step], places: &Places, diags: &mut Diagnostics) {
    let mut index = BTreeMap::new();
    for (i, s) in steps.iter().enumerate() {
        if index.insert(s.id.as_str(), i).is_some() {
            diags.push(
                places.steps[i].step.clone(),
                format!("step id `{}` is used twice", s.id),
            );
        }
    }
    let mut reachable = vec![false; steps.len()];
    if let Some(first) = reachable.first_mut() {
        *first = true;
    }
    for (i, s) in steps.iter().enumerate() {
        let mut goes_to = Vec::new();
        for (target, default) in targets(s) {
            match (target, default) {
                (None, Default::Following) => goes_to.push(i + 1),
                (None, Default::End) | (Some(Next::End), _) => {}
                (Some(Next::Step(id)), _) => match index.get(id.as_str()) {
                    None => diags.push(
                        places.steps[i].step.clone(),
                        format!("step `{}`: no step `{id}` to go to", s.id),
                    ),
                    Some(&t) if t <= i => diags.push(
                        places.steps[i].step.clone(),
                        format!(
                            "step `{}`: going to `{id}` goes back and makes a cycle",
                            s.id
                        ),
                    ),
                    Some(&t) => goes_to.push(t),
                },
            }
        }
        if reachable[i] {
            for t in goes_to {
                if let Some(r) = reachable.get_mut(t) {
                    *r = true;
                }
            }
        }
    }
    for (i, s) in steps.iter().enumerate() {
        if !reachable[i] {
            diags.push(
                places.steps[i].step.clone(),
                format!("step `{}` can never run: no step leads to it", s.id),
            );
        }
    }
}

/// The step after step `index` ended with `outcome`; None ends the run.
pub fn next_index(process: &Process, index: usize, outcome: Outcome) -> Option<usize> {
    let step = process.steps.get(index)?;
    let (target, default) = match (outcome, &step.work) {
        (Outcome::Skipped, _) => (step.otherwise.as_ref(), Default::Following),
        (Outcome::Approved, Work::Approval(a)) => (
            a.on_approve.as_ref().or(step.next.as_ref()),
            Default::Following,
        ),
        (Outcome::Rejected, Work::Approval(a)) => (a.on_reject.as_ref(), Default::End),
        _ => (step.next.as_ref(), Default::Following),
    };
    let next = match (target, default) {
        (None, Default::Following) => Some(index + 1),
        (None, Default::End) | (Some(Next::End), _) => None,
        (Some(Next::Step(id)), _) => process.steps.iter().position(|s| &s.id == id),
    };
    next.filter(|&n| n < process.steps.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::definition::test_support::{errors, ok};

    #[test]
    fn next_index_follows_gotos_and_skips() {
        let p = ok(r#"
id = "g"
[trigger]
manual = true
[[step]]
id = "a"
uses = "x@1"
if = "false"
next = "c"
[[step]]
id = "b"
uses = "x@1"
next = "end"
[[step]]
id = "c"
uses = "x@1"
"#);
        assert_eq!(next_index(&p, 0, Outcome::Done), Some(2));
        assert_eq!(next_index(&p, 0, Outcome::Skipped), Some(1));
        assert_eq!(next_index(&p, 1, Outcome::Done), None);
        assert_eq!(next_index(&p, 2, Outcome::Done), None);
    }

    #[test]
    fn if_else_branches() {
        let p = ok(r#"
id = "branch"
[trigger]
manual = true
[[step]]
id = "big"
uses = "x@1"
if = "params.n > 10"
else = "small"
next = "end"
[[step]]
id = "small"
uses = "x@1"
"#);
        assert_eq!(next_index(&p, 0, Outcome::Done), None);
        assert_eq!(next_index(&p, 0, Outcome::Skipped), Some(1));
        let e = errors(
            r#"
id = "x"
[trigger]
manual = true
[[step]]
id = "a"
uses = "x@1"
else = "b"
[[step]]
id = "b"
uses = "x@1"
"#,
        );
        assert!(e.contains("`else` goes with `if`"), "{e}");
    }

    #[test]
    fn approvals_branch_on_the_decision() {
        let p = ok(r#"
id = "pay"
[trigger]
manual = true
[[step]]
id = "approve"
approval = { title = "Pay?", role = "head_of_sales", on_reject = "rejected" }
[[step]]
id = "pay"
uses = "x@1"
next = "end"
[[step]]
id = "rejected"
uses = "x@1"
"#);
        assert_eq!(next_index(&p, 0, Outcome::Approved), Some(1));
        assert_eq!(next_index(&p, 0, Outcome::Rejected), Some(2));
        assert_eq!(next_index(&p, 1, Outcome::Done), None);
    }

    #[test]
    fn a_rejection_ends_the_run_by_default_so_later_steps_need_a_path() {
        let e = errors(
            r#"
id = "pay"
[trigger]
manual = true
[[step]]
id = "approve"
approval = { title = "Pay?", role = "head_of_sales" }
next = "end"
[[step]]
id = "pay"
uses = "x@1"
"#,
        );
        assert!(e.contains("step `pay` can never run"), "{e}");
    }

    #[test]
    fn approval_mistakes_are_named() {
        let e = errors(
            r#"
id = "pay"
[trigger]
manual = true
[[step]]
id = "approve"
approval = { title = "Pay?", role = "boss" }
"#,
        );
        assert!(e.contains("unknown role `boss`"), "{e}");
        let e = errors(
            r#"
id = "pay"
[trigger]
manual = true
[[step]]
id = "approve"
uses = "x@1"
approval = { title = "Pay?", role = "admin" }
"#,
        );
        assert!(
            e.contains("exactly one of `uses` (an action) or `approval`"),
            "{e}"
        );
    }

    #[test]
    fn cycles_and_unreachable_steps_are_refused() {
        let e = errors(
            r#"
id = "loop"
[trigger]
manual = true
[[step]]
id = "a"
uses = "x@1"
[[step]]
id = "b"
uses = "x@1"
next = "a"
"#,
        );
        assert!(e.contains("goes back and makes a cycle"), "{e}");
        let e = errors(
            r#"
id = "dead"
[trigger]
manual = true
[[step]]
id = "a"
uses = "x@1"
next = "end"
[[step]]
id = "b"
uses = "x@1"
"#,
        );
        assert!(e.contains("p.toml:9:1: step `b` can never run"), "{e}");
    }
}
