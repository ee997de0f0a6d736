//! The JUnit XML report, for CI systems: written with the `junit-report` crate when the run
//! finishes.
//!
//! Layout:
//! - one `<testsuite>` per side under test, named for the *target*: `cloud-target` holds the
//!   scenarios where the harness plays a device ([`Role::Device`]), `device-target` those where
//!   it plays the cloud ([`Role::Cloud`]); a suite with no scenarios is left out; each carries
//!   a `skipped` count (skip and manual), which the crate does not write;
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
//! - when the run has an implementation conformance statement, the `device-target` suite's
//!   properties go on with `ics.vendor`, `ics.model`, `ics.firmware_version`,
//!   `ics.provisioning` and one `ics.features.<name>` (`true`/`false`) per feature.
//!
//! Text is copied from the results only; characters XML 1.0 cannot carry become U+FFFD.

use super::brief::Brief;
use super::formats::{InMemory, Part, Scenarios};
use super::json::{RunMeta, RunReport};
use super::sink::{write_file_with, Out, ReportError};
use super::terminal::{finding_line, location, render_transcript};
use crate::engine::transcript::render_entry;
use crate::engine::{Failure, Outcome, ScenarioResult, Verdict};
use crate::ics::IcsSummary;
use crate::scenario::Role;
use junit_report::{OffsetDateTime, Report, TestCase, TestCaseBuilder, TestSuite};
use std::fmt::Write as _;

/// How many frames a failure's text shows (the whole transcript is in `system-out`).
const LAST_FRAMES: usize = 6;

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

/// Writes the JUnit XML of `head` and its `scenarios`. The suites' opening tags (totals,
/// properties) come from a skeleton: the same report with every test case stood in for by
/// one of the same result and time but no text, which the crate writes in kilobytes; each
/// real test case ([`test_case_xml`]) is then put in its place, one at a time.
pub(crate) fn write_document(
    head: &RunReport,
    scenarios: &dyn Scenarios,
    out: &mut Out,
) -> Result<(), ReportError> {
    let briefs = scenarios.briefs();
    let started = OffsetDateTime::parse(
        &head.meta.started_at,
        &time::format_description::well_known::Rfc3339,
    )
    .ok();
    let mut skeleton = Report::new();
    let mut suites = Vec::new();
    for role in [Role::Device, Role::Cloud] {
        let mut of_role: Vec<usize> = (0..briefs.len())
            .filter(|&i| briefs[i].role == role)
            .collect();
        if of_role.is_empty() {
            continue;
        }
        of_role.sort_by(|&a, &b| briefs[a].id.cmp(&briefs[b].id));
        let mut suite = TestSuite::new(suite_name(role));
        if let Some(t) = started {
            suite.set_timestamp(t);
        }
        suite.add_testcases(of_role.iter().map(|&i| stand_in(&briefs[i])));
        skeleton.add_testsuite(suite);
        suites.push((role, of_role));
    }
    let mut xml = Vec::new();
    skeleton
        .write_xml(&mut xml)
        .map_err(|source| ReportError::Xml {
            path: out.path.to_path_buf(),
            source,
        })?;
    xml.push(b'\n');
    let mut xml = String::from_utf8_lossy(&xml).into_owned();
    // The totals are recomputed per suite by junit-report from the test cases.
    for role in [Role::Device, Role::Cloud] {
        let skipped = briefs
            .iter()
            .filter(|b| b.role == role && matches!(b.outcome, Outcome::Skip | Outcome::Manual))
            .count();
        xml = with_skipped(&xml, suite_name(role), skipped);
    }
    let mut props = meta_properties(&head.meta);
    if let Some(ics) = &head.ics {
        props.extend(properties(ics));
    }
    for role in [Role::Device, Role::Cloud] {
        // The ICS is about the device: only its suite carries it.
        let props: Vec<(String, String)> = props
            .iter()
            .filter(|(k, _)| role == Role::Cloud || !k.starts_with("ics."))
            .cloned()
            .collect();
        if !props.is_empty() {
            xml = with_properties(&xml, suite_name(role), &props);
        }
    }
    let Some(first) = xml.find("<testsuite ").filter(|_| !suites.is_empty()) else {
        return out.put(xml.as_bytes());
    };
    out.put(&xml.as_bytes()[..first])?;
    for (role, of_role) in suites {
        let Some((open, mut end)) = suite_tag(&xml, suite_name(role)) else {
            return out.put(xml.as_bytes());
        };
        if xml[end..].starts_with("<properties>") {
            end += xml[end..]
                .find("</properties>")
                .map_or(0, |p| p + "</properties>".len());
        }
        out.put(&xml.as_bytes()[open..end])?;
        for i in of_role {
            scenarios.put(i, Part::Junit, out)?;
        }
        out.put(b"</testsuite>")?;
    }
    out.put(b"</testsuites>\n")
}

/// A test case with `b`'s result and time and no text: enough for the suite's totals.
fn stand_in(b: &Brief) -> TestCase {
    let time = case_time(b.wall_time);
    match b.outcome {
        Outcome::Pass | Outcome::Warn => TestCase::success("", time),
        Outcome::Fail | Outcome::Inconclusive => TestCase::failure("", time, "", ""),
        Outcome::Error => TestCase::error("", time, "", ""),
        Outcome::Skip | Outcome::Manual => {
            let mut tc = TestCase::skipped_with_cause("", "", "");
            tc.time = time;
            tc
        }
    }
}

/// A test case's time: rounded as run.json rounds it, so a JUnit file rebuilt from run.json
/// is the same.
fn case_time(wall: std::time::Duration) -> junit_report::Duration {
    let ms = (wall.as_secs_f64() * 1000.0).round().min(i64::MAX as f64) as i64;
    junit_report::Duration::milliseconds(ms)
}

/// One scenario's `<testcase>` element, as the crate writes it inside its suite.
pub(crate) fn test_case_xml(r: &ScenarioResult) -> Result<Vec<u8>, junit_report::Error> {
    let name = suite_name(r.role);
    let mut suite = TestSuite::new(name);
    suite.add_testcase(test_case(r, name));
    let mut report = Report::new();
    report.add_testsuite(suite);
    let mut xml = Vec::new();
    report.write_xml(&mut xml)?;
    // Between the suite's opening tag (no `>` in its escaped attributes) and its end.
    const END: &[u8] = b"</testsuite></testsuites>";
    let open = xml
        .windows(11)
        .position(|w| w == b"<testsuite ")
        .unwrap_or(0);
    let start = xml[open..]
        .iter()
        .position(|&c| c == b'>')
        .map_or(xml.len(), |p| open + p + 1);
    let end = if xml.ends_with(END) {
        xml.len() - END.len()
    } else {
        xml.len()
    };
    Ok(xml[start.min(end)..end].to_vec())
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

/// The suite name for scenarios of a role: named for the side under test.
pub fn suite_name(role: Role) -> &'static str {
    match role {
        Role::Device => "cloud-target",
        Role::Cloud => "device-target",
    }
}

fn test_case(r: &ScenarioResult, suite: &str) -> TestCase {
    let name = xml_text(&r.id);
    let time = case_time(r.wall_time);
    let mut tc = match &r.verdict {
        Verdict::Pass => TestCaseBuilder::success(&name, time).build(),
        Verdict::Fail(f) => {
            let kind = xml_text(f.rule.as_deref().unwrap_or("mismatch"));
            TestCaseBuilder::failure(&name, time, &kind, &xml_text(&f.message))
                .set_trace(&cdata(&failure_text(r, f)))
                .build()
        }
        // Nothing was proven: CI must not read it as a pass (the exit code is 1 too).
        Verdict::Inconclusive(f) => {
            TestCaseBuilder::failure(&name, time, "inconclusive", &xml_text(&f.message))
                .set_trace(&cdata(&failure_text(r, f)))
                .build()
        }
        // A deviation that does not bind the target: a pass, with the warning in system-out.
        Verdict::Warn(_) => TestCaseBuilder::success(&name, time).build(),
        Verdict::Error(f) => {
            let kind = xml_text(f.rule.as_deref().unwrap_or("error"));
            TestCaseBuilder::error(&name, time, &kind, &xml_text(&f.message))
                .set_trace(&cdata(&failure_text(r, f)))
                .build()
        }
        Verdict::Skip { reason } => {
            let mut tc = TestCase::skipped_with_cause(&name, "skip", &xml_text(reason));
            tc.time = time;
            tc
        }
        // Parsers collapse newlines in an attribute: the instructions go in system-out.
        Verdict::Manual { .. } => {
            let mut tc = TestCase::skipped_with_cause(&name, "manual", "not observable on the wire: the lab checks it by hand (instructions in system-out)");
            tc.time = time;
            tc
        }
    };
    // A dotted class, as JUnit tools group it: the scenario id without its last part.
    let class =
        r.id.rsplit_once('.')
            .map(|(group, _)| group.to_string())
            .unwrap_or_else(|| suite.to_string());
    tc.set_classname(&xml_text(&class));
    tc.set_filepath(&xml_text(&r.file.display().to_string()));
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
        tc.set_system_out(&cdata(&out));
    }
    tc
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

/// `xml` with a `<properties>` element as the first child of the suite named `suite` (the
/// `junit-report` crate has no properties; the schema wants them before the test cases).
fn with_properties(xml: &str, suite: &str, props: &[(String, String)]) -> String {
    let Some((_, end)) = suite_tag(xml, suite).filter(|(_, end)| !xml[..*end].ends_with("/>"))
    else {
        return xml.to_string();
    };
    let mut block = String::from("<properties>");
    for (name, value) in props {
        let _ = write!(
            block,
            "<property name=\"{}\" value=\"{}\"/>",
            attr(name),
            attr(value)
        );
    }
    block.push_str("</properties>");
    format!("{}{block}{}", &xml[..end], &xml[end..])
}

/// Where the opening tag of the suite named `suite` starts and ends.
fn suite_tag(xml: &str, suite: &str) -> Option<(usize, usize)> {
    let name = format!(" name=\"{suite}\"");
    xml.match_indices("<testsuite ")
        .map(|(open, _)| {
            (
                open,
                xml[open..].find('>').map_or(xml.len(), |e| open + e + 1),
            )
        })
        .find(|(open, end)| xml[*open..*end].contains(&name))
}

/// `xml` with a `skipped` count on the suite named `suite` (the crate writes none; CI
/// dashboards read it).
fn with_skipped(xml: &str, suite: &str, skipped: usize) -> String {
    let Some((open, _)) = suite_tag(xml, suite) else {
        return xml.to_string();
    };
    let at = open + "<testsuite".len();
    format!("{} skipped=\"{skipped}\"{}", &xml[..at], &xml[at..])
}

/// Text for an XML attribute value.
fn attr(text: &str) -> String {
    xml_text(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The body of a `<failure>` or `<error>`: the message, where, what was expected and what
/// arrived, the golden diff, and the last frames.
fn failure_text(r: &ScenarioResult, f: &Failure) -> String {
    let mut s = format!("{}\n--> {}\n", f.message, location(r, f));
    if let Some(rule) = &f.rule {
        let _ = writeln!(s, "rule: {rule}");
    }
    if let Some(expected) = &f.expected {
        let _ = writeln!(s, "expected: {expected}");
    }
    if let Some(actual) = &f.actual {
        let _ = writeln!(s, "actual:   {actual}");
    }
    if let Some(diff) = &f.diff {
        s.push_str("diff:\n");
        for line in diff.lines() {
            let _ = writeln!(s, "  {line}");
        }
    }
    let frames = r.transcript.last_frames(LAST_FRAMES);
    if !frames.is_empty() {
        s.push_str("last frames:\n");
        for e in frames {
            let _ = writeln!(s, "  {}", render_entry(e));
        }
    }
    s
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
        let mut suite = TestSuite::new("s");
        let mut tc = TestCase::success("t", junit_report::Duration::ZERO);
        tc.set_system_out(&cdata(text));
        suite.add_testcase(tc);
        let mut report = Report::new();
        report.add_testsuite(suite);
        let mut xml = Vec::new();
        report.write_xml(&mut xml).unwrap();
        let xml = String::from_utf8(xml).unwrap();
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
