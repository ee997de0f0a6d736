//! Merging the run.json files of a partitioned run (`run --partition`) into the document the
//! unsharded run would have written: the same scenarios, verdicts and counts.
//!
//! Times: `started_at` is the earliest shard's, `finished_at` the latest's, and
//! `summary.wall_time` the longest shard's (shards run side by side). The command line is
//! the first shard's; `scenario_files` and `scenario_sources` are the unions, and the
//! requirement matrix is built again from all the scenarios and the union of the manual
//! verdicts.

use super::json::RunReport;
use std::collections::BTreeSet;

/// Why shards cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("shard {index} was written by hwconform {found} ({commit}); shard 1 by {expected}: merge runs of one harness")]
    Harness {
        index: usize,
        found: String,
        commit: String,
        expected: String,
    },
    #[error("shard {index} ran against {found:?}; shard 1 against {expected:?}: merge runs against the same targets")]
    Targets {
        index: usize,
        found: String,
        expected: String,
    },
    #[error("shard {index} has report format version {found}; shard 1 has {expected}")]
    Version {
        index: usize,
        found: u32,
        expected: u32,
    },
    #[error("shard {index} has another implementation conformance statement than shard 1")]
    Ics { index: usize },
    #[error("scenario {id} is in more than one shard: the shards overlap")]
    Overlap { id: String },
}

/// One document from the shards (given in any order).
pub fn merge(shards: Vec<RunReport>) -> Result<RunReport, MergeError> {
    let mut shards = shards.into_iter();
    let mut out = shards.next().ok_or(MergeError::Empty)?;
    let mut seen: BTreeSet<String> = out.scenarios.iter().map(|s| s.id.clone()).collect();
    let mut sns: BTreeSet<String> = BTreeSet::new();
    let targets = |r: &RunReport| format!("{} {:?}", r.target, r.meta.targets);
    for (i, shard) in shards.enumerate() {
        let index = i + 2;
        if shard.version != out.version {
            return Err(MergeError::Version {
                index,
                found: shard.version,
                expected: out.version,
            });
        }
        if (&shard.meta.harness_version, &shard.meta.git_commit)
            != (&out.meta.harness_version, &out.meta.git_commit)
        {
            return Err(MergeError::Harness {
                index,
                found: shard.meta.harness_version.clone(),
                commit: shard.meta.git_commit.clone(),
                expected: format!("{} ({})", out.meta.harness_version, out.meta.git_commit),
            });
        }
        // A shard with no scenarios of one side never saw that target start.
        if shard.meta.targets != out.meta.targets {
            return Err(MergeError::Targets {
                index,
                found: targets(&shard),
                expected: targets(&out),
            });
        }
        if shard.ics != out.ics {
            return Err(MergeError::Ics { index });
        }
        for s in &shard.scenarios {
            if !seen.insert(s.id.clone()) {
                return Err(MergeError::Overlap { id: s.id.clone() });
            }
        }
        if out.target.is_empty() {
            out.target = shard.target.clone();
        }
        out.meta.started_at = min_nonempty(&out.meta.started_at, &shard.meta.started_at);
        out.meta.finished_at = out
            .meta
            .finished_at
            .clone()
            .max(shard.meta.finished_at.clone());
        out.meta.scenario_files.extend(shard.meta.scenario_files);
        out.meta
            .scenario_sources
            .extend(shard.meta.scenario_sources);
        sns.extend(shard.meta.sns);
        out.summary.wall_time = out.summary.wall_time.max(shard.summary.wall_time);
        out.scenarios.extend(shard.scenarios);
        out.manual = super::manual::union(&out.manual, &shard.manual);
    }
    // The cover describes the whole run: every shard's SNs and scenario files.
    sns.extend(std::mem::take(&mut out.meta.sns));
    out.meta.sns = sns.into_iter().take(super::cover::MAX_SNS).collect();
    if out.meta.scenario_set.is_some() {
        out.meta.scenario_set = Some(super::json::ScenarioSet::of(&out.meta.scenario_sources));
    }
    out.scenarios.sort_by(|a, b| a.id.cmp(&b.id));
    out.recount();
    // Each shard judged only its own scenarios: the matrix is the whole run's again.
    out.rebuild_matrix();
    Ok(out)
}

/// RFC 3339 UTC strings of one format order as text; an empty one (unknown) loses.
fn min_nonempty(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => a.min(b).to_string(),
    }
}
