//! The JSON report: the run's results as data, for tools (`hwconform diff` compares two).
//!
//! # Format, version 1
//!
//! One object, pretty-printed, keys in this order:
//!
//! ```json
//! {
//!   "version": 1,
//!   "target": "mock",
//!   "meta": { "harness_version": "0.1.0", "git_commit": "5996beb", "started_at": "2026-12-02T13:00:00Z",
//!             "finished_at": "2026-12-02T13:00:02Z", "command_line": ["hwconform", "run", "--identity", "<redacted>"],
//!             "targets": { "cloud": "mock", "device": "sim" }, "catalog_version": "sha1:…",
//!             "scenario_files": { "scenarios/cloud/lifecycle/register.yaml": "sha1:…" } },
//!   "summary": { "passed": 12, "failed": 1, "errored": 0, "skipped": 2, "wall_time": 1.23 },
//!   "scenarios": [
//!     {
//!       "id": "cloud.lifecycle.register",
//!       "title": "…",
//!       "file": "scenarios/cloud/lifecycle/register.yaml",
//!       "role": "device",
//!       "requirements": ["C4"],
//!       "tags": [],
//!       "verdict": "pass",
//!       "wall_time": 0.012,
//!       "scenario_time": 95.0,
//!       "transcript": { "entries": [ { "at": 0.0, "event": "opened", "conn": "c1", "local": "…" } ] }
//!     }
//!   ],
//!   "requirements": [
//!     { "id": "C4", "text": "…", "source": "D 91370", "strength": "must", "status": "pass",
//!       "scenarios": [ { "scenario": "cloud.lifecycle.register", "outcome": "pass" } ] }
//!   ]
//! }
//! ```
//!
//! - `requirements` is the requirement matrix: every D/C obligation in order, `status` one of
//!   `pass`, `fail`, `error`, `inconclusive`, `warn`, `not_applicable`, `manual_pending`,
//!   `not_covered`; `detail` (skip reasons, a manual check's automated half, who signed) and
//!   `manual` (the recorded manual verdict: `verdict`, `by`, `at`, `note`) when there are.
//! - `manual` (top level, only when there are): every manual verdict the matrix was built
//!   with, as recorded by `hwconform manual record` ([`super::manual`]).
//!
//! - `version` changes only when a field is removed or changes meaning; new fields may be
//!   added within a version.
//! - `target` is the target name from `RunStarted` (empty if the run never started).
//! - `meta` (added within version 1; absent from older files): where the evidence came from.
//!   `harness_version` is the crate version, `git_commit` the short commit it was built from
//!   (`unknown` outside a git checkout); `started_at`/`finished_at` are RFC 3339 UTC, to the
//!   second; `command_line` is the argv with the values of `--identity` and
//!   `--control-token` and every known credential (anywhere, a `--device exec:` command
//!   included) replaced by `<redacted>`; `targets` the `--cloud`/`--device` choices, their
//!   credentials redacted likewise (only secrets are hidden); `catalog_version`
//!   the SHA-1 of the protocol catalog the run was judged with (the catalog carries no
//!   version number); `scenario_files` the SHA-1 of each scenario file that ran, by path,
//!   and `scenario_sources` its text; `partition` (only on a shard) the `--partition` it ran
//!   with, and `missing_shards` (only on a merge of an incomplete set) the shards it lacks.
//!   `lab` and `operator` (`--lab`, `--operator`), `sns` (the SNs the device under test gave
//!   in its frames), `ics_file` and `manual_file` (`{ "path", "sha256": "sha256:…" }` of the
//!   ICS and manual-verdicts files), `cloud_statement_file` (likewise, of `--cloud-statement`)
//!   and `cloud_statement` (the values it declared: `vendor`, `product`, `version`,
//!   `heartbeat_expiry`, `subscribe_window`, `subscribe_limit`, `max_frame_bytes`,
//!   `visitor_list`, each only when stated) and `scenario_set` (`{ "count", "sha256" }` over every
//!   scenario file's path and text) are what the signed cover shows; each is left out when
//!   there is none.
//!   `hwconform diff` ignores all of `meta`.
//! - `statement` (last): the result a lab signs ([`super::cover::ResultStatement`]):
//!   `{ "result": "conforms" | "does_not_conform" | "incomplete", "failed": [...],
//!   "not_judged": [...], "in_scope": N }` over the obligations of the families the run
//!   reached, less those the ICS makes not applicable.
//! - `ics` (after `meta`, only when the run had a device target and an implementation
//!   conformance statement for it): `{ "vendor", "model", "firmware_version",
//!   "provisioning": "per-device" | "seed" | null, "features": { "door": true, ... } }`.
//! - `summary` is the engine's [`RunSummary`](crate::engine::RunSummary); `scenarios` are
//!   [`ScenarioResult`]s **sorted by id**, so two runs diff line by line whatever order the
//!   scenarios finished in.
//! - `verdict` is `pass`, `fail`, `error` or `skip`. A fail or error adds the
//!   [`Failure`](crate::engine::Failure) fields beside it (`message`, `rule`, `step`,
//!   `step_kind`, `line`, `col`, `expected`, `actual`; `null` when unknown); a skip adds
//!   `reason`.
//! - Durations are seconds as numbers, rounded to the millisecond. Outside `meta` the file
//!   holds no timestamps, hostnames or absolute clock readings; `wall_time` fields and `meta`
//!   are the only values that vary between identical runs, and a diff ignores them.
//! - The file reads back into a [`RunReport`] (`RunReport::parse`): every other format is
//!   rendered from that one model, so a report can be rebuilt from run.json.
//! - Transcript frames are stored with secrets already redacted (`"<redacted>"`).

use super::cover::ResultStatement;
use super::formats::{Format, InMemory, ReportFormat, Scenarios};
use super::matrix::ManualRecord;
use super::sink::{write_file_with, Out, ReportError};
use crate::engine::event::Event;
use crate::engine::{RunEvent, RunSummary, ScenarioResult};
use crate::ics::IcsSummary;
use crate::profile::{Profile, Statement};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The version written in the `version` field.
pub const JSON_FORMAT_VERSION: u32 = 1;

/// The run as every report sees it (see the [module docs](self)): built once after judging,
/// written as run.json and read back from it.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunReport {
    pub version: u32,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub meta: RunMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ics: Option<IcsSummary>,
    pub summary: RunSummary,
    pub scenarios: Vec<ScenarioResult>,
    /// The requirement matrix ([`super::matrix`]): every obligation, in the profile's order.
    #[serde(default)]
    pub requirements: Vec<super::matrix::Row>,
    /// The manual verdicts the matrix was built with ([`super::manual`]), so a rebuilt report
    /// has the same matrix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manual: Vec<ManualRecord>,
    /// The one statement of the result a lab signs ([`super::cover`]), over the matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<ResultStatement>,
}

/// Where the evidence came from: which harness, when, how it was invoked, against what.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunMeta {
    pub harness_version: String,
    pub git_commit: String,
    pub started_at: String,
    pub finished_at: String,
    pub command_line: Vec<String>,
    pub targets: BTreeMap<String, String>,
    /// The protocol profile the run was judged with (`wecom`); empty in a run.json of an
    /// older harness, which knew only WeCom.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub profile: String,
    /// The profile's version ([`Profile::version`]: for WeCom the hash of its catalog).
    pub catalog_version: String,
    pub scenario_files: BTreeMap<String, String>,
    /// The text of each scenario file that ran, by path: the evidence says what was asked.
    #[serde(default)]
    pub scenario_sources: BTreeMap<String, String>,
    /// The lab that ran it and signs the report (`--lab`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub lab: String,
    /// Who ran it (`--operator`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operator: String,
    /// The SNs the device under test gave in its frames (at most [`super::cover::MAX_SNS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sns: Vec<String>,
    /// The ICS file the run used, and its hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ics_file: Option<HashedFile>,
    /// The cloud conformance statement the run used (`--cloud-statement`), and its hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_statement_file: Option<HashedFile>,
    /// What that statement declared (the windows the cloud was held to narrow the FAQ's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_statement: Option<crate::ics::cloud::CloudStatementSummary>,
    /// The manual verdicts file applied, and its hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_file: Option<HashedFile>,
    /// The scenario set: how many files and one hash of them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_set: Option<ScenarioSet>,
    /// Set when `hwconform rejudge` judged the recorded transcripts again: when, and with
    /// which harness (the rest of `meta` still describes the run that recorded them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejudged: Option<Rejudged>,
    /// The shard this run was (`run --partition`): `count:K/N` or `hash:K/N`, so that
    /// `report merge` can tell whether it was given every shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Set on a merge of an incomplete shard set (`report merge --allow-partial`): the shards
    /// it went without. The report then covers only part of the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_shards: Vec<String>,
    /// The obligations of the profile, the rows of the matrix: not written (`profile` names
    /// them).
    #[serde(skip)]
    #[schemars(skip)]
    pub obligations: Obligations,
}

/// The obligations a run's matrix lists: its profile's, taken when the run's metadata is
/// made ([`RunMeta::for_profile`]). A document read back from run.json lists the default
/// profile's.
#[derive(Clone, Default)]
pub struct Obligations(Option<std::sync::Arc<[Statement]>>);

impl Obligations {
    pub fn of(profile: &dyn Profile) -> Obligations {
        Obligations(Some(profile.statements().into()))
    }

    /// The statements, in the profile's order.
    pub fn list(&self) -> std::sync::Arc<[Statement]> {
        match &self.0 {
            Some(list) => list.clone(),
            None => crate::profile::default_profile().statements().into(),
        }
    }
}

/// Not part of what a document says (its `profile` is).
impl PartialEq for Obligations {
    fn eq(&self, _: &Obligations) -> bool {
        true
    }
}

impl Eq for Obligations {}

impl std::fmt::Debug for Obligations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Obligations({})", self.0.as_ref().map_or(0, |l| l.len()))
    }
}

/// A file the result depends on: its path as given and `sha256:<hex>` of its bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HashedFile {
    pub path: String,
    pub sha256: String,
}

impl HashedFile {
    /// Reads `path` and hashes it.
    pub fn read(path: &std::path::Path) -> std::io::Result<HashedFile> {
        Ok(HashedFile {
            path: path.display().to_string(),
            sha256: super::cover::sha256_of(&std::fs::read(path)?),
        })
    }
}

/// The scenario files of a run as one test plan ([`super::cover::scenario_set_hash`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScenarioSet {
    pub count: usize,
    pub sha256: String,
}

impl ScenarioSet {
    /// The set of these scenario files (path → text).
    pub fn of(sources: &BTreeMap<String, String>) -> ScenarioSet {
        ScenarioSet {
            count: sources.len(),
            sha256: super::cover::scenario_set_hash(
                sources.iter().map(|(p, t)| (p.as_str(), t.as_str())),
            ),
        }
    }
}

/// Which harness judged a recorded run again, and when.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Rejudged {
    pub at: String,
    pub harness_version: String,
    pub git_commit: String,
}

/// The commit the harness was built from (build.rs), `unknown` outside a git checkout.
pub const GIT_COMMIT: &str = env!("HWCONFORM_GIT_COMMIT");

impl RunMeta {
    /// The metadata every run has, with the default profile (see [`RunMeta::for_profile`]).
    pub fn of_this_harness() -> RunMeta {
        RunMeta::for_profile(&*crate::profile::default_profile())
    }

    /// The metadata every run has: this harness's version and commit, the profile's name and
    /// version and its obligations. The CLI adds the command line, targets and scenario files.
    pub fn for_profile(profile: &dyn Profile) -> RunMeta {
        RunMeta {
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: GIT_COMMIT.to_string(),
            profile: profile.name().to_string(),
            catalog_version: profile.version(),
            obligations: Obligations::of(profile),
            ..RunMeta::default()
        }
    }
}

/// `sha1:<hex>` of some bytes, as `meta` writes hashes.
pub fn sha1_of(bytes: &[u8]) -> String {
    use sha1::Digest;
    format!("sha1:{}", hex::encode(sha1::Sha1::digest(bytes)))
}

/// Now, as `meta` writes times: RFC 3339 UTC to the second (the JUnit timestamp is the same
/// instant, so a rebuilt JUnit file is byte-identical).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl RunReport {
    /// The document for a run, scenarios sorted by id.
    pub fn new(
        target: impl Into<String>,
        summary: RunSummary,
        mut scenarios: Vec<ScenarioResult>,
    ) -> RunReport {
        scenarios.sort_by(|a, b| a.id.cmp(&b.id));
        let meta = RunMeta::default();
        let requirements = super::matrix::build(&meta.obligations.list(), &scenarios, &[]);
        RunReport {
            version: JSON_FORMAT_VERSION,
            target: target.into(),
            meta,
            ics: None,
            summary,
            scenarios,
            requirements,
            manual: vec![],
            statement: None,
        }
        .judged()
    }

    /// The document with `records` added to its manual verdicts and the matrix built again.
    pub fn with_manual(mut self, records: &[ManualRecord]) -> RunReport {
        self.manual = super::manual::union(&self.manual, records);
        self.rebuild_matrix();
        self
    }

    /// Counts the verdicts again (after scenarios were merged or judged again); the wall
    /// time stays.
    pub fn recount(&mut self) {
        let mut summary = RunSummary {
            wall_time: self.summary.wall_time,
            ..RunSummary::default()
        };
        for s in &self.scenarios {
            summary.add(&s.verdict);
        }
        self.summary = summary;
    }

    /// Builds the requirement matrix again from the scenarios and manual verdicts.
    pub fn rebuild_matrix(&mut self) {
        self.requirements =
            super::matrix::build(&self.meta.obligations.list(), &self.scenarios, &self.manual);
        self.statement = Some(ResultStatement::of(&self.requirements));
    }

    /// The document with its statement made from its matrix.
    fn judged(mut self) -> RunReport {
        self.statement = Some(ResultStatement::of(&self.requirements));
        self
    }

    /// The document as pretty JSON with a final newline.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        let mut s = serde_json::to_string_pretty(self)?;
        s.push('\n');
        Ok(s)
    }

    /// The document without its scenarios (what the file formats need besides them).
    pub fn head(&self) -> RunReport {
        RunReport {
            version: self.version,
            target: self.target.clone(),
            meta: self.meta.clone(),
            ics: self.ics.clone(),
            summary: self.summary.clone(),
            scenarios: Vec::new(),
            requirements: self.requirements.clone(),
            manual: self.manual.clone(),
            statement: self.statement.clone(),
        }
    }

    /// A document read back from run.json text, checked as every reader checks it
    /// ([`parse_run`]); `path` names the file in the errors.
    pub fn parse(text: &str, path: &Path) -> Result<RunReport, RunFileError> {
        parse_run(text, path)
    }

    /// Reads and checks a run.json.
    pub fn load(path: &Path) -> Result<RunReport, RunFileError> {
        parse_run(&read_run(path)?, path)
    }

    /// Reads and checks a run.json judged with `profile` (refusing one of another), its
    /// matrix rebuilt with that profile's obligations.
    pub fn load_for(path: &Path, profile: &dyn Profile) -> Result<RunReport, RunFileError> {
        let mut report: RunReport = parse_run_for(&read_run(path)?, path, profile)?;
        report.meta.obligations = Obligations::of(profile);
        Ok(report)
    }
}

/// Why a file is not a usable run report; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum RunFileError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a JSON run report this hwconform can read", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} is a run report of version {found}; this hwconform reads version {JSON_FORMAT_VERSION}", path.display())]
    Version { path: PathBuf, found: u64 },
    #[error("{} lists scenario {id} twice", path.display())]
    Duplicate { path: PathBuf, id: String },
    #[error("{}: scenario {id} has the unknown verdict `{verdict}` (one of: {})", path.display(), VERDICTS.join(", "))]
    Verdict {
        path: PathBuf,
        id: String,
        verdict: String,
    },
    /// Its verdicts and obligation ids mean something only under the profile that judged it.
    #[error("{} was judged with profile `{found}`; this hwconform runs profile `{expected}`", path.display())]
    Profile {
        path: PathBuf,
        found: String,
        expected: String,
    },
}

/// Refuses a run.json judged with another profile than `profile`: its obligation ids,
/// verdicts and matrix rows belong to that profile. A file that names none (an older
/// harness, which knew one protocol) is taken as it is.
pub fn check_profile(text: &str, path: &Path, profile: &dyn Profile) -> Result<(), RunFileError> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(default)]
        meta: Meta,
    }
    #[derive(Deserialize, Default)]
    struct Meta {
        #[serde(default)]
        profile: String,
    }
    let head: Head = serde_json::from_str(text).map_err(|source| RunFileError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    match head.meta.profile.as_str() {
        "" => Ok(()),
        found if found == profile.name() => Ok(()),
        found => Err(RunFileError::Profile {
            path: path.to_path_buf(),
            found: found.to_string(),
            expected: profile.name().to_string(),
        }),
    }
}

/// [`parse_run`], then [`check_profile`]: a run.json the reader of `profile` may use.
pub fn parse_run_for<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
    profile: &dyn Profile,
) -> Result<T, RunFileError> {
    let doc = parse_run(text, path)?;
    check_profile(text, path, profile)?;
    Ok(doc)
}

/// Every verdict a run.json may hold ([`Verdict::name`](crate::engine::Verdict::name)).
pub const VERDICTS: &[&str] = &[
    "pass",
    "fail",
    "inconclusive",
    "warn",
    "error",
    "skip",
    "manual",
];

/// The text of a run.json.
pub fn read_run(path: &Path) -> Result<String, RunFileError> {
    std::fs::read_to_string(path).map_err(|source| RunFileError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// What every reader of run.json (`report`, `report merge`, `rejudge`, `diff`) checks before
/// reading it as its own type `T`: the format version (first, since another version's fields
/// may mean other things), each scenario id once, each verdict one this harness knows. One
/// check for all, so no reader accepts a file another refuses.
pub fn parse_run<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
) -> Result<T, RunFileError> {
    #[derive(Deserialize)]
    struct Versioned {
        version: u64,
    }
    #[derive(Deserialize)]
    struct Head {
        scenarios: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        id: String,
        verdict: String,
    }
    let json = |source| RunFileError::Json {
        path: path.to_path_buf(),
        source,
    };
    let Versioned { version } = serde_json::from_str(text).map_err(json)?;
    if version != u64::from(JSON_FORMAT_VERSION) {
        return Err(RunFileError::Version {
            path: path.to_path_buf(),
            found: version,
        });
    }
    let head: Head = serde_json::from_str(text).map_err(json)?;
    let mut seen = std::collections::HashSet::new();
    for e in &head.scenarios {
        if !seen.insert(e.id.as_str()) {
            return Err(RunFileError::Duplicate {
                path: path.to_path_buf(),
                id: e.id.clone(),
            });
        }
        if !VERDICTS.contains(&e.verdict.as_str()) {
            return Err(RunFileError::Verdict {
                path: path.to_path_buf(),
                id: e.id.clone(),
                verdict: e.verdict.clone(),
            });
        }
    }
    serde_json::from_str(text).map_err(json)
}

/// What every file report knows of a run besides its scenarios: the target, the device's
/// statement, the metadata and the manual verdicts; [`Collector`] and
/// [`FileReports`](super::FileReports) both build their document's head from it.
#[derive(Default)]
pub(crate) struct RunHead {
    target: String,
    ics: Option<IcsSummary>,
    meta: RunMeta,
    manual: Vec<ManualRecord>,
}

impl RunHead {
    pub(crate) fn new(meta: RunMeta, manual: Vec<ManualRecord>) -> RunHead {
        RunHead {
            meta,
            manual,
            ..RunHead::default()
        }
    }

    /// Folds these manual verdicts into the matrix.
    pub(crate) fn set_manual(&mut self, records: Vec<ManualRecord>) {
        self.manual = records;
    }

    /// Takes in `RunStarted`.
    pub(crate) fn started(&mut self, target: &str, ics: &Option<IcsSummary>) {
        self.target = target.to_string();
        self.ics = ics.clone();
        if self.meta.started_at.is_empty() {
            self.meta.started_at = now_rfc3339();
        }
    }

    /// The document of the finished run without its scenarios, its matrix built from
    /// `results` (any order) and the manual verdicts. Called once, on `RunFinished`.
    pub(crate) fn finish<R: super::brief::Cites>(
        &mut self,
        summary: &RunSummary,
        results: &[R],
    ) -> RunReport {
        let mut meta = std::mem::take(&mut self.meta);
        if meta.finished_at.is_empty() {
            meta.finished_at = now_rfc3339();
        }
        let manual = if self.manual.is_empty() {
            Vec::new()
        } else {
            super::manual::union(&[], &self.manual)
        };
        let requirements = super::matrix::build(&meta.obligations.list(), results, &manual);
        if meta.sns.is_empty() {
            let mut sns = std::collections::BTreeSet::new();
            for r in results {
                sns.extend(r.sns().iter().cloned());
            }
            meta.sns = sns.into_iter().take(super::cover::MAX_SNS).collect();
        }
        RunReport {
            version: JSON_FORMAT_VERSION,
            target: self.target.clone(),
            meta,
            ics: self.ics.clone(),
            summary: summary.clone(),
            scenarios: Vec::new(),
            requirements,
            manual,
            statement: None,
        }
        .judged()
    }
}

/// Collects the run's events into a [`RunReport`] held whole in memory, transcripts and all
/// (for tools and tests; `hwconform run` streams its reports through
/// [`FileReports`](super::FileReports) instead).
#[derive(Default)]
pub struct Collector {
    head: RunHead,
    /// The engine's results as they came: shared, not copied (a transcript can be large).
    results: Vec<std::sync::Arc<ScenarioResult>>,
}

impl Collector {
    pub fn new(meta: RunMeta) -> Collector {
        Collector {
            head: RunHead::new(meta, Vec::new()),
            ..Collector::default()
        }
    }

    /// Folds these manual verdicts into the matrix of the finished document.
    pub fn with_manual(mut self, records: Vec<ManualRecord>) -> Collector {
        self.head.set_manual(records);
        self
    }

    /// Takes in one event; returns the finished document on `RunFinished`.
    pub fn on_event(&mut self, event: &Event) -> Option<RunReport> {
        match &event.kind {
            RunEvent::RunStarted {
                scenarios,
                target,
                ics,
            } => {
                self.head.started(target, ics);
                self.results = Vec::with_capacity(*scenarios);
                None
            }
            // Notices are for the person at the terminal; the report has the target.
            // Notices are for the person at the terminal; the report has the verdicts.
            RunEvent::Notice { .. }
            | RunEvent::ScenarioStarted { .. }
            | RunEvent::Step { .. }
            | RunEvent::Finding { .. }
            | RunEvent::Slow { .. }
            | RunEvent::Interrupted { .. } => None,
            RunEvent::ScenarioFinished { result, .. } => {
                self.results.push(result.clone());
                None
            }
            RunEvent::RunFinished(summary) => {
                // Each result is held only here by now, so unwrapping moves it out.
                let mut results: Vec<ScenarioResult> = std::mem::take(&mut self.results)
                    .into_iter()
                    .map(std::sync::Arc::unwrap_or_clone)
                    .collect();
                results.sort_by(|a, b| a.id.cmp(&b.id));
                let head = self.head.finish(summary, &results);
                Some(RunReport {
                    scenarios: results,
                    ..head
                })
            }
        }
    }
}

/// `--report json`.
pub(crate) struct Json;

impl ReportFormat {
    #[allow(non_upper_case_globals)]
    pub const Json: ReportFormat = ReportFormat(&Json);
}

impl Format for Json {
    fn name(&self) -> &'static str {
        "json"
    }
    fn help(&self) -> &'static str {
        "DIR/run.json"
    }
    fn file_name(&self) -> Option<&'static str> {
        Some("run.json")
    }
    fn has_parts(&self) -> bool {
        true
    }
    fn part(&self, r: &ScenarioResult, path: &Path) -> Result<Vec<u8>, ReportError> {
        entry(r).map_err(|source| ReportError::Json {
            path: path.to_path_buf(),
            source,
        })
    }
    fn write(
        &self,
        head: &RunReport,
        scenarios: &dyn Scenarios,
        out: &mut Out,
    ) -> Result<(), ReportError> {
        write_document(head, scenarios, out)
    }
}

/// Writes a report as run.json.
pub fn write_json(report: &RunReport, path: &std::path::Path) -> Result<(), ReportError> {
    write_file_with(path, |out| {
        write_document(&report.head(), &InMemory::new(&report.scenarios), out)
    })
}

/// Where the scenarios go in the head's JSON: the empty list of a key at depth 1 (no string
/// holds a raw newline, and deeper keys are indented further).
const SCENARIOS: &[u8] = b"\n  \"scenarios\": []";

/// Writes run.json: `head` (whose scenarios must be empty) with each scenario's entry
/// ([`entry`]) put in its place, so the file is byte for byte what [`RunReport::to_json`]
/// of the whole document gives, without the whole document (or even its head's text, which
/// holds every scenario file) in memory.
pub(crate) fn write_document(
    head: &RunReport,
    scenarios: &dyn Scenarios,
    out: &mut Out,
) -> Result<(), ReportError> {
    let json_err = |path: &std::path::Path, source| ReportError::Json {
        path: path.to_path_buf(),
        source,
    };
    if !head.scenarios.is_empty() {
        return Err(json_err(
            out.path,
            serde::ser::Error::custom("the head of a streamed run.json holds scenarios"),
        ));
    }
    let mut splice = Splice {
        out: &mut *out,
        scenarios,
        matched: 0,
        done: false,
        failed: None,
    };
    let written = serde_json::to_writer_pretty(&mut splice, head);
    let (done, failed) = (splice.done, splice.failed.take());
    if let Some(e) = failed {
        return Err(e);
    }
    written.map_err(|e| json_err(out.path, e))?;
    if !done {
        return Err(json_err(
            out.path,
            serde::ser::Error::custom("the head of a run.json has no scenarios list"),
        ));
    }
    out.put(b"\n")
}

/// Passes the head's JSON through to the document, and where [`SCENARIOS`] comes puts the
/// scenarios' entries in the list. Bytes that may begin the marker are held back until it
/// is clear whether they do (its first byte, a newline, occurs in it only there, so a
/// mismatch never hides a later start but at the byte that broke it).
struct Splice<'o, 'p, 's> {
    out: &'o mut Out<'p>,
    scenarios: &'s dyn Scenarios,
    /// How many bytes of the marker have been seen (and held back).
    matched: usize,
    done: bool,
    /// The document's own error, which `io::Write` cannot carry.
    failed: Option<ReportError>,
}

impl Splice<'_, '_, '_> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.out.put(bytes).map_err(|e| self.fail(e))
    }

    fn fail(&mut self, e: ReportError) -> std::io::Error {
        self.failed.get_or_insert(e);
        std::io::Error::other("writing run.json failed")
    }

    /// The list, whose opening bracket has been held back with the key.
    fn list(&mut self) -> std::io::Result<()> {
        self.put(&SCENARIOS[..SCENARIOS.len() - 1])?;
        let n = self.scenarios.briefs().len();
        for i in 0..n {
            self.put(if i == 0 { b"\n    " } else { b",\n    " })?;
            let scenarios = self.scenarios;
            scenarios
                .put(i, ReportFormat::Json, self.out)
                .map_err(|e| self.fail(e))?;
        }
        self.put(if n == 0 { b"]" } else { b"\n  ]" })
    }
}

impl std::io::Write for Splice<'_, '_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.done {
            self.put(buf)?;
            return Ok(buf.len());
        }
        let mut from = 0;
        for (i, &b) in buf.iter().enumerate() {
            if self.done {
                break;
            }
            if b != SCENARIOS[self.matched] && self.matched > 0 {
                self.put(&buf[from..i])?;
                self.put(&SCENARIOS[..self.matched])?;
                self.matched = 0;
                from = i;
            }
            if b == SCENARIOS[self.matched] {
                self.put(&buf[from..i])?;
                self.matched += 1;
                from = i + 1;
                if self.matched == SCENARIOS.len() {
                    self.list()?;
                    self.done = true;
                }
            }
        }
        self.put(&buf[from..])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One scenario as run.json holds it: pretty-printed at the depth of the `scenarios` list
/// (strings never hold a raw newline, so indenting every line is indenting the value).
pub(crate) fn entry(r: &ScenarioResult) -> Result<Vec<u8>, serde_json::Error> {
    Ok(serde_json::to_string_pretty(r)?
        .replace('\n', "\n    ")
        .into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run.json is refused only when it names a profile, and another than the reader's.
    #[rstest::rstest]
    #[case::same(r#"{"meta":{"profile":"wecom"}}"#, None)]
    #[case::older_harness_names_none(r#"{"meta":{}}"#, None)]
    #[case::no_meta(r#"{}"#, None)]
    #[case::another(r#"{"meta":{"profile":"toy"}}"#, Some("toy"))]
    fn a_run_of_another_profile_is_refused(#[case] text: &str, #[case] refused: Option<&str>) {
        let profile = crate::profile::default_profile();
        assert_eq!(profile.name(), "wecom");
        match (check_profile(text, Path::new("r/run.json"), &*profile), refused) {
            (Ok(()), None) => {}
            (Err(e @ RunFileError::Profile { .. }), Some(found)) => assert_eq!(
                e.to_string(),
                format!("r/run.json was judged with profile `{found}`; this hwconform runs profile `wecom`")
            ),
            (got, want) => panic!("{text}: got {got:?}, want refused {want:?}"),
        }
    }
}
