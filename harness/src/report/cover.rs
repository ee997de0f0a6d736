//! The cover a lab signs: who tested what with which plan, and one statement of the result
//! over the obligations the run could judge. The statement is data (run.json's `statement`)
//! so a tool reads the same words a person signs; the HTML cover is one view of it.
//!
//! The scope of the statement is the obligation families the run reached (D for a device
//! under test, C for a cloud), less what the ICS makes not applicable: a device-only run says
//! nothing about C1–C24, and a feature the device does not have is not held against it.

use super::json::{RunMeta, RunReport};
use super::matrix::{Row, Status};
use crate::engine::transcript::{TranscriptEntry, TranscriptEvent};
use maud::{html, Markup};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What the run says of the target as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Conformance {
    /// Every obligation in scope was judged and none failed.
    Conforms,
    /// At least one obligation in scope failed.
    DoesNotConform,
    /// None failed, but some in scope were not judged (inconclusive, not tested, a manual
    /// check not signed, no scenario, a harness error).
    Incomplete,
}

/// The one sentence a lab signs, with the obligations behind it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResultStatement {
    pub result: Conformance,
    /// The obligations in scope that failed, in the matrix's order.
    pub failed: Vec<String>,
    /// The obligations in scope the run could not judge, in the matrix's order.
    pub not_judged: Vec<String>,
    /// How many obligations were in scope (applicable to the target the run tested).
    pub in_scope: usize,
}

impl ResultStatement {
    /// The statement over `rows`: see the [module docs](self) for the scope.
    pub fn of(rows: &[Row]) -> ResultStatement {
        let families = families(rows);
        let mut statement = ResultStatement {
            result: Conformance::Conforms,
            failed: vec![],
            not_judged: vec![],
            in_scope: 0,
        };
        for r in rows
            .iter()
            .filter(|r| in_scope(r, &families) && r.status != Status::NotApplicable)
        {
            statement.in_scope += 1;
            match r.status {
                Status::Fail => statement.failed.push(r.id.clone()),
                Status::Pass | Status::Warn | Status::NotApplicable => {}
                Status::Error
                | Status::Inconclusive
                | Status::NotTested
                | Status::ManualPending
                | Status::NotCovered => statement.not_judged.push(r.id.clone()),
            }
        }
        statement.result = if !statement.failed.is_empty() {
            Conformance::DoesNotConform
        } else if !statement.not_judged.is_empty() || statement.in_scope == 0 {
            Conformance::Incomplete
        } else {
            Conformance::Conforms
        };
        statement
    }

    /// `conforms`, `does not conform: D2, D13`, `incomplete: not judged D7, D9`.
    pub fn text(&self) -> String {
        let list = |ids: &[String]| ids.join(", ");
        match self.result {
            Conformance::Conforms => "conforms".into(),
            Conformance::DoesNotConform if self.not_judged.is_empty() => {
                format!("does not conform: {}", list(&self.failed))
            }
            Conformance::DoesNotConform => format!(
                "does not conform: {} (not judged: {})",
                list(&self.failed),
                list(&self.not_judged)
            ),
            Conformance::Incomplete if self.in_scope == 0 => {
                "incomplete: no obligation was in scope".into()
            }
            Conformance::Incomplete => format!("incomplete: not judged {}", list(&self.not_judged)),
        }
    }
}

/// The id's family: its letters before the number (`D`, `C`).
pub fn family(id: &str) -> &str {
    let end = id.find(|c: char| c.is_ascii_digit()).unwrap_or(id.len());
    &id[..end]
}

/// The families some scenario of the run cites.
pub fn families(rows: &[Row]) -> BTreeSet<&str> {
    rows.iter()
        .filter(|r| !r.scenarios.is_empty())
        .map(|r| family(&r.id))
        .collect()
}

/// Whether the run could judge `row`: a scenario of the run cites its family.
pub fn in_scope(row: &Row, families: &BTreeSet<&str>) -> bool {
    families.contains(family(&row.id))
}

/// The SNs the device under test gave in its frames (the `sn` of what it sent, at any
/// depth a frame nests it): which unit was tested, read from the evidence, not the set-up.
pub fn sns_in(entries: &[TranscriptEntry], into: &mut BTreeSet<String>) {
    fn walk(v: &serde_json::Value, depth: usize, into: &mut BTreeSet<String>) {
        if depth > 4 || into.len() >= MAX_SNS {
            return;
        }
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        serde_json::Value::String(sn) if k == "sn" && !sn.is_empty() => {
                            into.insert(sn.clone());
                        }
                        _ => walk(v, depth + 1, into),
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for v in items {
                    walk(v, depth + 1, into)
                }
            }
            _ => {}
        }
    }
    for e in entries {
        if let TranscriptEvent::Received {
            frame: crate::engine::transcript::Frame::Json { json },
            ..
        } = &e.event
        {
            walk(json, 0, into);
        }
    }
}

/// The most SNs a report lists (a fleet run may use hundreds; the cover says how many more).
pub const MAX_SNS: usize = 64;

/// `sha256:<hex>` of some bytes: the hash a signed cover quotes (a lab can recompute it with
/// `sha256sum`).
pub fn sha256_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The hash of a scenario set: of each file's path and text, in path order, so the same
/// files give the same hash whatever order they ran in.
pub fn scenario_set_hash<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    use sha2::Digest;
    let mut files: Vec<_> = files.into_iter().collect();
    files.sort();
    let mut h = sha2::Sha256::new();
    for (path, text) in files {
        h.update(path.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.update([0]);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The cover of the HTML report.
pub fn cover(report: &RunReport) -> Markup {
    let m = &report.meta;
    let statement = ResultStatement::of(&report.requirements);
    let class = match statement.result {
        Conformance::Conforms => "conforms",
        Conformance::DoesNotConform => "fails",
        Conformance::Incomplete => "incomplete",
    };
    html! {
        section #cover {
            div class={"statement " (class)} {
                p .label { "Result over the " (statement.in_scope) " applicable obligations" }
                p #statement { (statement.text()) }
            }
            div .cover-grid {
                (lab(m))
                (device(report))
                (plan(report))
                (run(report))
            }
            (signature(m))
        }
    }
}

fn lab(m: &RunMeta) -> Markup {
    html! {
        div .cover-part {
            h2 { "Laboratory" }
            dl {
            dt { "lab" } dd { (or_unstated(&m.lab, "--lab")) }
            dt { "operator" } dd { (or_unstated(&m.operator, "--operator")) }
        } }
    }
}

fn device(report: &RunReport) -> Markup {
    let m = &report.meta;
    html! {
        div .cover-part {
            h2 { "Under test" }
            dl {
            dt { "target" } dd { (report.target) }
            @if let Some(ics) = &report.ics {
                dt { "vendor" } dd { (ics.vendor) }
                dt { "model" } dd { (ics.model) }
                dt { "firmware" } dd { (ics.firmware_version) }
            }
            @if !m.sns.is_empty() {
                dt { "SN" } dd .sns { (m.sns.join(", ")) @if m.sns.len() >= MAX_SNS { " …" } }
            }
            @match &m.ics_file {
                Some(f) => { dt { "ICS" } dd { code { (f.path) } br; code .hash { (f.sha256) } } }
                None => @if report.ics.is_some() { dt { "ICS" } dd { "the reference device's own (built in)" } }
            }
            @match &m.cloud_statement_file {
                Some(f) => {
                    dt { "cloud statement" } dd { code { (f.path) } br; code .hash { (f.sha256) } }
                    @for (name, value) in m.cloud_statement.as_ref().map(|c| c.declared()).unwrap_or_default() {
                        dt { (name) } dd { (value) }
                    }
                }
                None => @if m.targets.get("cloud").is_some_and(|c| c.starts_with("ws")) {
                    dt { "cloud statement" } dd { span .unstated { "none: held to the FAQ's ranges (--cloud-statement)" } }
                }
            }
        } }
    }
}

fn plan(report: &RunReport) -> Markup {
    let m = &report.meta;
    html! {
        div .cover-part {
            h2 { "Test plan" }
            dl {
            dt { "scenarios" } dd {
                (report.summary.total()) " run"
                @if let Some(set) = &m.scenario_set { " from " (set.count) " files" br; code .hash { (set.sha256) } }
            }
            dt { "harness" } dd { "hwconform " (m.harness_version) " · commit " code { (m.git_commit) } }
            dt { "protocol catalog" } dd { code .hash { (m.catalog_version) } }
            dt { "manual verdicts" } dd {
                @match &m.manual_file {
                    Some(f) => { code { (f.path) } " (" (report.manual.len()) " records)" br; code .hash { (f.sha256) } }
                    None => "none applied",
                }
            }
        } }
    }
}

fn run(report: &RunReport) -> Markup {
    let m = &report.meta;
    html! {
        div .cover-part {
            h2 { "Run" }
            dl {
            dt { "started" } dd { (m.started_at) }
            dt { "finished" } dd { (m.finished_at) }
            @if let Some(r) = &m.rejudged { dt { "judged again" } dd { (r.at) " by hwconform " (r.harness_version) " (" (r.git_commit) ")" } }
            @for (role, choice) in &m.targets { dt { "--" (role) } dd { code { (choice) } } }
            @if !m.command_line.is_empty() { dt { "command line" } dd { code { (m.command_line.join(" ")) } } }
            @if let Some(p) = &m.partition { dt { "shard" } dd { code { (p) } } }
            @if !m.missing_shards.is_empty() { dt { "partial" } dd .partial { "missing shard(s) " (m.missing_shards.join(", ")) ": this report covers only the shards merged" } }
        } }
    }
}

fn signature(m: &RunMeta) -> Markup {
    html! {
        div .signature {
            p { "Signed for " (or_unstated(&m.lab, "the lab")) " by " (or_unstated(&m.operator, "the operator")) }
            p .lines { span { "signature" } span { "date" } }
        }
    }
}

fn or_unstated(value: &str, how: &str) -> Markup {
    html! {
        @if value.is_empty() { span .unstated { "not stated (" (how) ")" } } @else { (value) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, status: Status, cited: bool) -> Row {
        Row {
            id: id.into(),
            text: String::new(),
            source: String::new(),
            strength: String::new(),
            status,
            detail: String::new(),
            manual: None,
            scenarios: if cited {
                vec![super::super::matrix::Given {
                    scenario: format!("s.{id}"),
                    outcome: "pass".into(),
                    reason: None,
                }]
            } else {
                vec![]
            },
        }
    }

    #[rstest::rstest]
    #[case::conforms(&[("D1", Status::Pass), ("D2", Status::Warn), ("D3", Status::NotApplicable)], Conformance::Conforms, "conforms")]
    #[case::fails(&[("D1", Status::Pass), ("D2", Status::Fail), ("D13", Status::Fail)], Conformance::DoesNotConform, "does not conform: D2, D13")]
    #[case::fails_and_unjudged(&[("D2", Status::Fail), ("D7", Status::Inconclusive)], Conformance::DoesNotConform, "does not conform: D2 (not judged: D7)")]
    #[case::incomplete(&[("D1", Status::Pass), ("D7", Status::Inconclusive), ("D8", Status::ManualPending), ("D9", Status::NotTested), ("D10", Status::Error)], Conformance::Incomplete, "incomplete: not judged D7, D8, D9, D10")]
    #[case::nothing(&[("D3", Status::NotApplicable)], Conformance::Incomplete, "incomplete: no obligation was in scope")]
    fn the_statement_is_over_what_the_run_could_judge(
        #[case] rows: &[(&str, Status)],
        #[case] result: Conformance,
        #[case] text: &str,
    ) {
        let mut all: Vec<Row> = rows.iter().map(|(id, s)| row(id, *s, true)).collect();
        // A device run: the cloud's obligations are out of scope, whatever their status.
        all.push(row("C1", Status::NotCovered, false));
        all.push(row("C2", Status::NotCovered, false));
        let s = ResultStatement::of(&all);
        assert_eq!((s.result, s.text().as_str()), (result, text));
        // An obligation of the device no scenario cites is not judged.
        let mut with_gap = all.clone();
        with_gap.push(row("D40", Status::NotCovered, false));
        let s = ResultStatement::of(&with_gap);
        assert!(s.not_judged.contains(&"D40".to_string()), "{s:?}");
        if result == Conformance::Conforms {
            assert_eq!(
                s.result,
                Conformance::Incomplete,
                "a gap makes it incomplete"
            );
        }
    }

    #[test]
    fn the_cover_of_a_signed_run() {
        use super::super::json::{HashedFile, RunMeta, ScenarioSet};
        let mut report = RunReport::new(
            "the device started by `./fw <x>`",
            Default::default(),
            vec![],
        );
        report.requirements = vec![
            row("D1", Status::Pass, true),
            row("D2", Status::Fail, true),
            row("D7", Status::Inconclusive, true),
            row("C1", Status::NotCovered, false),
        ];
        report.meta = RunMeta {
            harness_version: "0.1.0".into(),
            git_commit: "abc1234".into(),
            started_at: "2026-12-02T13:00:00Z".into(),
            finished_at: "2026-12-02T13:05:00Z".into(),
            command_line: vec![
                "hwconform".into(),
                "run".into(),
                "--identity".into(),
                "<redacted>".into(),
            ],
            targets: [("device".to_string(), "exec:./fw <x>".to_string())].into(),
            catalog_version: "sha1:00".into(),
            lab: "Acme <Test> Lab".into(),
            operator: String::new(),
            sns: vec!["SN-1".into()],
            ics_file: Some(HashedFile {
                path: "acme.toml".into(),
                sha256: "sha256:11".into(),
            }),
            manual_file: Some(HashedFile {
                path: "m.json".into(),
                sha256: "sha256:22".into(),
            }),
            scenario_set: Some(ScenarioSet {
                count: 46,
                sha256: "sha256:33".into(),
            }),
            ..RunMeta::default()
        };
        report.ics = Some(crate::ics::IcsSummary {
            vendor: "Acme".into(),
            model: "DC-100".into(),
            firmware_version: "2.3.1".into(),
            provisioning: None,
            features: Default::default(),
        });
        let html = cover(&report).into_string();
        assert!(html.contains("does not conform: D2 (not judged: D7)"));
        assert!(!html.contains("<x>") && !html.contains("<Test>"), "escaped");
        insta::assert_snapshot!(html.replace("><", ">\n<"));
    }

    #[test]
    fn sns_are_read_from_what_the_target_sent() {
        let mut t = crate::engine::Transcript::default();
        let json = |v: serde_json::Value| crate::engine::transcript::Frame::Json { json: v.into() };
        t.push(
            std::time::Duration::ZERO,
            TranscriptEvent::Received {
                conn: "c1".into(),
                frame: json(serde_json::json!({"cmd": "register", "body": {"sn": "SN-1"}})),
            },
        );
        t.push(
            std::time::Duration::ZERO,
            TranscriptEvent::Sent {
                conn: "c1".into(),
                frame: json(serde_json::json!({"body": {"sn": "SN-harness"}})),
            },
        );
        let mut sns = BTreeSet::new();
        sns_in(&t.entries, &mut sns);
        assert_eq!(sns.into_iter().collect::<Vec<_>>(), ["SN-1"]);
    }

    #[test]
    fn the_scenario_set_hash_ignores_order_and_sees_every_byte() {
        let a = scenario_set_hash([("a.yaml", "x"), ("b.yaml", "y")]);
        assert_eq!(a, scenario_set_hash([("b.yaml", "y"), ("a.yaml", "x")]));
        assert_ne!(a, scenario_set_hash([("a.yaml", "x"), ("b.yaml", "z")]));
        assert_ne!(a, scenario_set_hash([("a.yaml", "xb.yaml"), ("", "y")]));
        assert_eq!(
            sha256_of(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
