//! The JUnit XML report, for CI systems: written with an XML writer (quick-xml), never by
//! editing text.
//!
//! Layout:
//! - one `<testsuite>` per side under test, named for the *target*: `cloud-target` holds the
//!   scenarios where the harness plays a device ([`Role::Device`]), `device-target` those where
//!   it plays the cloud ([`Role::Cloud`]), `observed` observer scenarios ([`Role::Observer`],
//!   both parties under test); a suite with no scenarios is left out; each carries
//!   `tests`, `failures` (fail and inconclusive), `errors` and `skipped` (skip and manual);
//! - one `<testcase>` per scenario, by id: `name` = scenario id, `classname` = the id without
//!   its last dotted part (`device.lifecycle`; the suite name for an id without a dot), `file`
//!   = the scenario file, `time` = wall time;
//! - fail → `<failure type="<rule id or mismatch>" message="<message>">` whose text holds the
//!   message, location, expected/actual, the diff against the golden transcript and the last
//!   frames; error → `<error>` likewise (type = rule id or `error`); inconclusive →
//!   `<failure type="inconclusive">` (nothing was proven); warn → a pass; skip →
//!   `<skipped type="skip" message="<reason>">`; manual → `<skipped type="manual">` with a
//!   one-line message (parsers collapse newlines in attributes);
//! - `<system-out>` = the requirements, a warning, the manual instructions (`check by hand:`),
//!   every finding and the rendered transcript;
//! - every suite opens with `<properties>` of the run metadata (see [`super::json`]):
//!   `hwconform.version`, `hwconform.git_commit`, `hwconform.started_at`,
//!   `hwconform.finished_at`, `hwconform.command_line` (redacted), `hwconform.catalog_version`
//!   and one `hwconform.target.<side>` per target, then `hwconform.partition` on a shard and
//!   `hwconform.missing_shards` (comma-separated) on a partial merge; `timestamp` is `meta.started_at`, so the
//!   file is a pure function of run.json;
//! - then the statement of the result the cover shows: `hwconform.result` (`conforms`,
//!   `does_not_conform`, `incomplete`) and `hwconform.statement` (`does not conform: D2, D13`);
//! - when the run has an implementation conformance statement, the `device-target` suite's
//!   properties go on with `ics.vendor`, `ics.model`, `ics.firmware_version`,
//!   `ics.provisioning` and one `ics.features.<name>` (`true`/`false`) per feature.
//!
//! Text is copied from the results only; characters XML 1.0 cannot carry become U+FFFD.

use super::evidence::Evidence;
use super::formats::{Format, InMemory, ReportFormat, Scenarios};
use super::json::{RunMeta, RunReport};
use super::sink::{write_file_with, Out, ReportError};
use super::terminal::{finding_line, render_transcript};
use crate::engine::{Outcome, ScenarioResult, Verdict};
use crate::ics::IcsSummary;
use crate::scenario::Role;
use quick_xml::events::{BytesCData, BytesDecl, BytesEnd, BytesStart, Event};
use quick_xml::Writer;
use std::fmt::Write as _;

/// `--report junit`.
pub(crate) struct Junit;

impl ReportFormat {
    #[allow(non_upper_case_globals)]
    pub const Junit: ReportFormat = ReportFormat(&Junit);
}

impl Format for Junit {
    fn name(&self) -> &'static str {
        "junit"
    }
    fn help(&self) -> &'static str {
        "DIR/junit.xml"
    }
    fn file_name(&self) -> Option<&'static str> {
        Some("junit.xml")
    }
    fn has_parts(&self) -> bool {
        true
    }
    fn part(&self, r: &ScenarioResult, path: &std::path::Path) -> Result<Vec<u8>, ReportError> {
        test_case_xml(r).map_err(|source| ReportError::Xml {
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

/// Writes a run as JUnit XML: a pure function of the [`RunReport`], so `hwconform report`
/// rebuilds the same bytes from run.json.
pub fn write_junit(report: &RunReport, path: &std::path::Path) -> Result<(), ReportError> {
    write_file_with(path, |out| {
        write_document(&report.head(), &InMemory::new(&report.scenarios), out)
    })
}

/// The JUnit XML of a run.
pub fn render(run: &RunReport) -> Result<Vec<u8>, ReportError> {
    let mut xml = Vec::new();
    write_document(
        &run.head(),
        &InMemory::new(&run.scenarios),
        &mut Out {
            path: std::path::Path::new("junit.xml"),
            w: &mut xml,
        },
    )?;
    Ok(xml)
}

/// Writes the JUnit XML of `head` and its `scenarios` with an XML writer: each suite's
/// opening tag (totals from the scenarios' briefs) and properties, then each test case
/// ([`test_case_xml`]) one at a time, so a large run is never held whole.
pub(crate) fn write_document(
    head: &RunReport,
    scenarios: &dyn Scenarios,
    out: &mut Out,
) -> Result<(), ReportError> {
    let path = out.path.to_path_buf();
    let xml_error = |source| ReportError::Xml {
        path: path.clone(),
        source,
    };
    let briefs = scenarios.briefs();
    let mut props = meta_properties(&head.meta);
    if let Some(statement) = &head.statement {
        props.extend(statement_properties(statement));
    }
    if let Some(ics) = &head.ics {
        props.extend(properties(ics));
    }
    let mut w = Writer::new(Vec::new());
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))
        .map_err(xml_error)?;
    w.write_event(Event::Start(BytesStart::new("testsuites")))
        .map_err(xml_error)?;
    out.put(&std::mem::take(w.get_mut()))?;
    let mut id = 0;
    for role in [Role::Device, Role::Cloud, Role::Observer] {
        let mut of_role: Vec<usize> = (0..briefs.len())
            .filter(|&i| briefs[i].role == role)
            .collect();
        if of_role.is_empty() {
            continue;
        }
        of_role.sort_by(|&a, &b| briefs[a].id.cmp(&briefs[b].id));
        let count = |pred: fn(Outcome) -> bool| {
            of_role
                .iter()
                .filter(|&&i| pred(briefs[i].outcome))
                .count()
                .to_string()
        };
        let millis: i64 = of_role
            .iter()
            .map(|&i| case_millis(briefs[i].wall_time))
            .sum();
        let name = suite_name(role);
        let mut suite = BytesStart::new("testsuite");
        suite.push_attribute(("id", id.to_string().as_str()));
        suite.push_attribute(("name", name));
        suite.push_attribute(("package", format!("testsuite/{name}").as_str()));
        suite.push_attribute(("tests", of_role.len().to_string().as_str()));
        suite.push_attribute(("errors", count(|o| o == Outcome::Error).as_str()));
        suite.push_attribute((
            "failures",
            count(|o| matches!(o, Outcome::Fail | Outcome::Inconclusive)).as_str(),
        ));
        suite.push_attribute((
            "skipped",
            count(|o| matches!(o, Outcome::Skip | Outcome::Manual)).as_str(),
        ));
        suite.push_attribute(("hostname", "localhost"));
        if !head.meta.started_at.is_empty() {
            suite.push_attribute(("timestamp", head.meta.started_at.as_str()));
        }
        suite.push_attribute(("time", seconds(millis).as_str()));
        w.write_event(Event::Start(suite)).map_err(xml_error)?;
        id += 1;
        // The ICS is about the device: only its suite carries it.
        let props: Vec<&(String, String)> = props
            .iter()
            .filter(|(k, _)| role == Role::Cloud || !k.starts_with("ics."))
            .collect();
        if !props.is_empty() {
            w.create_element("properties")
                .write_inner_content(|w| {
                    for (name, value) in &props {
                        w.create_element("property")
                            .with_attribute(("name", xml_text(name).as_str()))
                            .with_attribute(("value", xml_text(value).as_str()))
                            .write_empty()?;
                    }
                    Ok(())
                })
                .map_err(xml_error)?;
        }
        out.put(&std::mem::take(w.get_mut()))?;
        for i in of_role {
            scenarios.put(i, ReportFormat::Junit, out)?;
        }
        w.write_event(Event::End(BytesEnd::new("testsuite")))
            .map_err(xml_error)?;
        out.put(&std::mem::take(w.get_mut()))?;
    }
    w.write_event(Event::End(BytesEnd::new("testsuites")))
        .map_err(xml_error)?;
    w.get_mut().push(b'\n');
    out.put(w.get_ref())
}

/// A test case's time in milliseconds: rounded as run.json rounds it, so a JUnit file
/// rebuilt from run.json is the same.
fn case_millis(wall: std::time::Duration) -> i64 {
    (wall.as_secs_f64() * 1000.0).round().min(i64::MAX as f64) as i64
}

/// Seconds as JUnit writes them (`0.012`).
fn seconds(millis: i64) -> String {
    (millis as f64 / 1000.0).to_string()
}

/// One scenario's `<testcase>` element.
pub(crate) fn test_case_xml(r: &ScenarioResult) -> Result<Vec<u8>, std::io::Error> {
    let mut w = Writer::new(Vec::new());
    write_test_case(&mut w, r, suite_name(r.role))?;
    Ok(w.into_inner())
}

/// The run metadata as JUnit properties (`hwconform.*`), in a fixed order; none for a run
/// without metadata (an old run.json).
fn meta_properties(meta: &RunMeta) -> Vec<(String, String)> {
    if *meta == RunMeta::default() {
        return Vec::new();
    }
    let mut out = vec![
        (
            "hwconform.version".to_string(),
            meta.harness_version.clone(),
        ),
        ("hwconform.git_commit".to_string(), meta.git_commit.clone()),
        ("hwconform.started_at".to_string(), meta.started_at.clone()),
        (
            "hwconform.finished_at".to_string(),
            meta.finished_at.clone(),
        ),
        (
            "hwconform.command_line".to_string(),
            meta.command_line.join(" "),
        ),
        (
            "hwconform.catalog_version".to_string(),
            meta.catalog_version.clone(),
        ),
    ];
    out.extend(
        meta.targets
            .iter()
            .map(|(k, v)| (format!("hwconform.target.{k}"), v.clone())),
    );
    if let Some(p) = &meta.partition {
        out.push(("hwconform.partition".to_string(), p.clone()));
    }
    if !meta.missing_shards.is_empty() {
        out.push((
            "hwconform.missing_shards".to_string(),
            meta.missing_shards.join(","),
        ));
    }
    out
}

/// The statement of the result, as the cover words it (`hwconform.statement`) and as a
/// tool matches it (`hwconform.result`: `conforms`, `does_not_conform`, `incomplete`).
fn statement_properties(statement: &super::cover::ResultStatement) -> Vec<(String, String)> {
    let result = serde_json::to_value(statement.result)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    vec![
        ("hwconform.result".to_string(), result),
        ("hwconform.statement".to_string(), statement.text()),
    ]
}

/// The suite name for scenarios of a role: named for the side under test.
pub fn suite_name(role: Role) -> &'static str {
    match role {
        Role::Device => "cloud-target",
        Role::Cloud => "device-target",
        Role::Observer => "observed",
    }
}

/// `<testcase name time classname file>` with its result (`failure`, `error` or
/// `skipped`, the [`Evidence`] in a failure's body) and `system-out`.
fn write_test_case(
    w: &mut Writer<Vec<u8>>,
    r: &ScenarioResult,
    suite: &str,
) -> std::io::Result<()> {
    // A dotted class, as JUnit tools group it: the scenario id without its last part.
    let class =
        r.id.rsplit_once('.')
            .map(|(group, _)| group.to_string())
            .unwrap_or_else(|| suite.to_string());
    let mut case = BytesStart::new("testcase");
    case.push_attribute(("name", xml_text(&r.id).as_str()));
    case.push_attribute(("time", seconds(case_millis(r.wall_time)).as_str()));
    case.push_attribute(("classname", xml_text(&class).as_str()));
    case.push_attribute(("file", xml_text(&r.file.display().to_string()).as_str()));
    w.write_event(Event::Start(case))?;
    // (element, type, message, body)
    let result: Option<(&str, String, String, Option<String>)> = match &r.verdict {
        // A warning is a deviation that does not bind the target: a pass, the warning in
        // system-out.
        Verdict::Pass | Verdict::Warn(_) => None,
        Verdict::Fail(f) => Some((
            "failure",
            f.rule.clone().unwrap_or_else(|| "mismatch".into()),
            f.message.clone(),
            Some(failure_body(&Evidence::of(r, f))),
        )),
        // Nothing was proven: CI must not read it as a pass (the exit code is 1 too).
        Verdict::Inconclusive(f) => Some((
            "failure",
            "inconclusive".into(),
            f.message.clone(),
            Some(failure_body(&Evidence::of(r, f))),
        )),
        Verdict::Error(f) => Some((
            "error",
            f.rule.clone().unwrap_or_else(|| "error".into()),
            f.message.clone(),
            Some(failure_body(&Evidence::of(r, f))),
        )),
        Verdict::Skip { reason } => Some(("skipped", "skip".into(), reason.clone(), None)),
        // Parsers collapse newlines in an attribute: the instructions go in system-out.
        Verdict::Manual { .. } => Some((
            "skipped",
            "manual".into(),
            "not observable on the wire: the lab checks it by hand (instructions in system-out)"
                .into(),
            None,
        )),
    };
    if let Some((element, kind, message, body)) = result {
        let el = w
            .create_element(element)
            .with_attribute(("type", xml_text(&kind).as_str()))
            .with_attribute(("message", xml_text(&message).as_str()));
        match body {
            Some(body) => {
                el.write_inner_content(|w| w.write_event(Event::CData(BytesCData::new(body))))?;
            }
            None => {
                el.write_empty()?;
            }
        }
    }
    let mut out = String::new();
    if !r.requirements.is_empty() {
        let _ = writeln!(out, "requirements: {}", r.requirements.join(", "));
    }
    if let Verdict::Warn(f) = &r.verdict {
        let _ = writeln!(out, "warning: {}", f.message);
    }
    if let Verdict::Manual { instructions } = &r.verdict {
        let _ = writeln!(out, "check by hand:\n{instructions}");
    }
    for f in &r.findings {
        let _ = writeln!(out, "{}", finding_line(f));
    }
    out.push_str(&render_transcript(&r.transcript, ""));
    if !out.is_empty() {
        w.create_element("system-out")
            .write_inner_content(|w| w.write_event(Event::CData(BytesCData::new(cdata(&out)))))?;
    }
    w.write_event(Event::End(BytesEnd::new("testcase")))
}

/// The ICS as JUnit properties (name, value), in a fixed order.
fn properties(ics: &IcsSummary) -> Vec<(String, String)> {
    let mut out = vec![
        ("ics.vendor".to_string(), ics.vendor.clone()),
        ("ics.model".to_string(), ics.model.clone()),
        (
            "ics.firmware_version".to_string(),
            ics.firmware_version.clone(),
        ),
        (
            "ics.provisioning".to_string(),
            ics.provisioning
                .map_or("unstated", |p| p.as_str())
                .to_string(),
        ),
    ];
    out.extend(
        ics.features
            .iter()
            .map(|(k, v)| (format!("ics.features.{k}"), v.to_string())),
    );
    out
}

/// The body of a `<failure>` or `<error>`: the failure's [`Evidence`] as plain text, in a
/// CDATA section.
pub(crate) fn failure_body(e: &Evidence) -> String {
    cdata(&e.text())
}

/// `text` with every character XML 1.0 cannot hold (most C0 controls, lone surrogates can't
/// occur in `str`, U+FFFE/U+FFFF) replaced by U+FFFD. quick-xml escapes `<&>"'` itself.
fn xml_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
            _ => c,
        })
        .collect()
}

/// Text for a CDATA section: `]]>` would end the section early, so it is split across two
/// sections (`]]` in one, `>` in the next), which a parser joins back into the same text.
fn cdata(text: &str) -> String {
    xml_text(text).replace("]]>", "]]]]><![CDATA[>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdata_round_trips_through_a_parser() {
        let text = "a ]]> b <x> & \u{1} end";
        let mut w = Writer::new(Vec::new());
        w.create_element("system-out")
            .write_inner_content(|w| w.write_event(Event::CData(BytesCData::new(cdata(text)))))
            .unwrap();
        let xml = String::from_utf8(w.into_inner()).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let out = doc
            .descendants()
            .find(|n| n.has_tag_name("system-out"))
            .unwrap();
        let got: String = out.children().filter_map(|n| n.text()).collect();
        assert_eq!(got, "a ]]> b <x> & \u{fffd} end");
    }

    #[test]
    fn suites_are_named_for_the_side_under_test() {
        assert_eq!(suite_name(Role::Device), "cloud-target");
        assert_eq!(suite_name(Role::Cloud), "device-target");
    }
}
