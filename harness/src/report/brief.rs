//! What a report keeps of a scenario once its evidence has been written out: enough for the
//! requirement matrix, the JUnit suite totals and the terminal's requirement table, never the
//! transcript (a 10,000-scenario run must not hold 10,000 transcripts to the end).

use crate::engine::{Outcome, ScenarioResult, Verdict};
use crate::scenario::Role;
use std::collections::BTreeMap;
use std::time::Duration;

/// One scenario's result without its evidence.
#[derive(Clone, Debug, PartialEq)]
pub struct Brief {
    pub id: String,
    pub role: Role,
    /// The verdict's kind.
    pub outcome: Outcome,
    /// Why it was skipped (the matrix shows skip reasons).
    pub skip_reason: Option<String>,
    pub obligations: BTreeMap<String, Outcome>,
    pub not_reached: BTreeMap<String, String>,
    pub wall_time: Duration,
    /// The SNs a device under test gave in this scenario's frames ([`super::cover::sns_in`]).
    pub sns: Vec<String>,
}

impl Brief {
    pub fn of(r: &ScenarioResult) -> Brief {
        Brief {
            id: r.id.clone(),
            role: r.role,
            outcome: Outcome::of(&r.verdict),
            skip_reason: r.skip_reason().map(str::to_string),
            obligations: r.obligations.clone(),
            not_reached: r.not_reached.clone(),
            wall_time: r.wall_time,
            sns: sns_of(r),
        }
    }
}

/// What the requirement matrix reads of a result: a whole [`ScenarioResult`] or its [`Brief`].
pub trait Cites {
    fn id(&self) -> &str;
    fn obligations(&self) -> &BTreeMap<String, Outcome>;
    /// Why a cited obligation was not judged, by id.
    fn not_reached(&self) -> &BTreeMap<String, String>;
    fn skip_reason(&self) -> Option<&str>;
    /// The SNs the device under test gave (none when the target is a cloud).
    fn sns(&self) -> Vec<String>;
}

fn sns_of(r: &ScenarioResult) -> Vec<String> {
    let mut sns = std::collections::BTreeSet::new();
    if r.role == Role::Cloud {
        super::cover::sns_in(&r.transcript.entries, &mut sns);
    }
    sns.into_iter().collect()
}

impl Cites for ScenarioResult {
    fn id(&self) -> &str {
        &self.id
    }
    fn obligations(&self) -> &BTreeMap<String, Outcome> {
        &self.obligations
    }
    fn not_reached(&self) -> &BTreeMap<String, String> {
        &self.not_reached
    }
    fn skip_reason(&self) -> Option<&str> {
        match &self.verdict {
            Verdict::Skip { reason } => Some(reason),
            _ => None,
        }
    }
    fn sns(&self) -> Vec<String> {
        sns_of(self)
    }
}

impl Cites for Brief {
    fn id(&self) -> &str {
        &self.id
    }
    fn obligations(&self) -> &BTreeMap<String, Outcome> {
        &self.obligations
    }
    fn not_reached(&self) -> &BTreeMap<String, String> {
        &self.not_reached
    }
    fn skip_reason(&self) -> Option<&str> {
        self.skip_reason.as_deref()
    }
    fn sns(&self) -> Vec<String> {
        self.sns.clone()
    }
}
