//! The terminal report: one line per scenario, evidence for failures, and a summary line that
//! CI tooling can read; plus [`requirement_table`], the requirement-by-requirement view.

use super::evidence::Evidence;
use super::sink::{ReportError, Reporter};
use crate::engine::event::Event;
use crate::engine::transcript::render_entry;
use crate::engine::{Finding, RunEvent, RunSummary, ScenarioResult, Severity, Transcript, Verdict};
use std::fmt::Write as _;
use std::io::Write;

/// Indentation of everything under a scenario's line.
const INDENT: &str = "      ";

/// `--report terminal`: streamed by [`TerminalReporter`] as the run goes; no file.
pub(crate) struct Terminal;

impl super::ReportFormat {
    #[allow(non_upper_case_globals)]
    pub const Terminal: super::ReportFormat = super::ReportFormat(&Terminal);
}

impl super::formats::Format for Terminal {
    fn name(&self) -> &'static str {
        "terminal"
    }
    fn help(&self) -> &'static str {
        "Progress and results on stdout (only while running)"
    }
}

/// What the terminal report shows. The caller decides colour (on for a TTY, off otherwise).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TerminalOptions {
    /// Print the full transcript of every scenario, not only the last frames of failures.
    pub verbose: bool,
    /// Colour verdict words with ANSI escapes. The summary lines are never coloured, so CI
    /// tooling can match them.
    pub color: bool,
    /// Print [`requirement_table`] after the summary.
    pub requirements: bool,
}

/// Human-readable progress and results on a stream (normally stdout).
///
/// Output, per event:
/// - `RunStarted`: `running 12 scenarios against mock`, then with a statement for the device
///   `device under test: Acme DC-100 firmware 2.3.1, per-device provisioning, features: ...`
/// - `Notice`: the text alone on a line, on the notice stream (stderr unless told otherwise:
///   a person waiting on a device must see it even when the results go to a file)
/// - `ScenarioFinished` (as each scenario finishes, in that order): `[n/N] PASS  <id>
///   [<requirements>] <wall>s (scenario clock <t>s)`, then for
///   a fail or error an indented block (message, `--> file:line:col (step N, kind)`, rule,
///   `expected:` / `actual:`, `diff:` against the golden transcript, last frames) and for a
///   skip the reason.
/// - `RunFinished`: `summary: 12 passed, 1 failed, 2 skipped` alone on a line (the line CI
///   tooling reads), then `0 errored, wall time 1.230s`, then the statement of the result
///   the cover shows ([`super::cover::ResultStatement`]): `statement: does not conform: D2`.
pub struct TerminalReporter<W: Write> {
    out: W,
    notices: Box<dyn Write + Send>,
    options: TerminalOptions,
    /// Without the evidence: for the statement of the result and the requirement table.
    results: Vec<super::brief::Brief>,
    /// Manual verdicts for the requirement table.
    manual: Vec<super::matrix::ManualRecord>,
    /// The rows of the requirement table: the run's profile's obligations.
    obligations: super::json::Obligations,
    /// The live status line to take off the screen before printing.
    status: Option<std::sync::Arc<super::status::StatusLine>>,
    /// Scenarios in the run and how many have finished, for the `[n/N]` progress prefix.
    total: usize,
    finished: usize,
}

impl<W: Write> TerminalReporter<W> {
    pub fn new(out: W, options: TerminalOptions) -> TerminalReporter<W> {
        TerminalReporter {
            out,
            notices: Box::new(std::io::stderr()),
            options,
            results: Vec::new(),
            manual: Vec::new(),
            obligations: Default::default(),
            status: None,
            total: 0,
            finished: 0,
        }
    }

    /// Puts these manual verdicts in the requirement table.
    pub fn with_manual(mut self, records: Vec<super::matrix::ManualRecord>) -> TerminalReporter<W> {
        self.manual = records;
        self
    }

    /// Lists these obligations in the requirement table (the run's profile's, from its
    /// metadata; the default profile's otherwise).
    pub fn with_obligations(
        mut self,
        obligations: super::json::Obligations,
    ) -> TerminalReporter<W> {
        self.obligations = obligations;
        self
    }

    /// Clears this status line before each write.
    pub fn with_status(
        mut self,
        status: Option<std::sync::Arc<super::status::StatusLine>>,
    ) -> TerminalReporter<W> {
        self.status = status;
        self
    }

    /// Writes notices to `notices` instead of stderr.
    pub fn with_notices(mut self, notices: Box<dyn Write + Send>) -> TerminalReporter<W> {
        self.notices = notices;
        self
    }

    fn notice(&mut self, text: &str) -> Result<(), ReportError> {
        let _pause = self.status.as_deref().map(super::status::StatusLine::pause);
        writeln!(self.notices, "{text}")
            .and_then(|()| self.notices.flush())
            .map_err(ReportError::Terminal)
    }

    /// The stream, once the run is over (tests read their buffer back this way).
    pub fn into_inner(self) -> W {
        self.out
    }

    fn write(&mut self, text: &str) -> Result<(), ReportError> {
        let _pause = self.status.as_deref().map(super::status::StatusLine::pause);
        self.out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(ReportError::Terminal)
    }
}

impl<W: Write> Reporter for TerminalReporter<W> {
    fn on_event(&mut self, event: &Event) -> Result<(), ReportError> {
        match &event.kind {
            RunEvent::RunStarted {
                scenarios,
                target,
                ics,
            } => {
                self.total = *scenarios;
                let noun = if *scenarios == 1 {
                    "scenario"
                } else {
                    "scenarios"
                };
                self.write(&format!("running {scenarios} {noun} against {target}\n"))?;
                if let Some(ics) = ics {
                    self.write(&format!("device under test: {}\n", ics.banner()))?;
                }
            }
            // A scenario is reported once, when it has a verdict; with concurrency a start
            // line would interleave with other scenarios' results.
            // Steps, findings and SLOW lines are the status line's and the result's to show.
            RunEvent::ScenarioStarted { .. }
            | RunEvent::Step { .. }
            | RunEvent::Finding { .. }
            | RunEvent::Slow { .. }
            | RunEvent::Interrupted { .. } => {}
            RunEvent::Notice { text } => self.notice(text)?,
            RunEvent::ScenarioFinished { result, .. } => {
                self.finished += 1;
                let width = self.total.max(self.finished).to_string().len();
                let text = format!(
                    "[{:>width$}/{}] {}",
                    self.finished,
                    self.total.max(self.finished),
                    render_result(result, self.options)
                );
                self.write(&text)?;
                self.results.push(super::brief::Brief::of(result));
            }
            RunEvent::RunFinished(summary) => {
                let mut text = render_summary(summary);
                let rows =
                    super::matrix::build(&self.obligations.list(), &self.results, &self.manual);
                text.push_str(&statement_line(&super::cover::ResultStatement::of(&rows)));
                if self.options.requirements {
                    text.push('\n');
                    text.push_str(&render_matrix(&rows));
                }
                self.write(&text)?;
            }
        }
        self.out.flush().map_err(ReportError::Terminal)
    }
}

/// The verdict word, padded so ids line up.
fn verdict_word(v: &Verdict, color: bool) -> String {
    let (word, ansi) = match v {
        Verdict::Pass => ("PASS", "32"),
        Verdict::Fail(_) => ("FAIL", "31"),
        Verdict::Inconclusive(_) => ("INCONC", "33"),
        Verdict::Warn(_) => ("WARN", "33"),
        Verdict::Error(_) => ("ERROR", "35"),
        Verdict::Skip { .. } => ("SKIP", "33"),
        Verdict::Manual { .. } => ("MANUAL", "36"),
    };
    if color {
        format!("\x1b[1;{ansi}m{word:<6}\x1b[0m")
    } else {
        format!("{word:<6}")
    }
}

/// Everything the terminal prints for one finished scenario.
fn render_result(r: &ScenarioResult, opts: TerminalOptions) -> String {
    let mut s = String::new();
    let reqs = if r.requirements.is_empty() {
        String::new()
    } else {
        format!(" [{}]", r.requirements.join(", "))
    };
    let _ = writeln!(
        s,
        "{} {}{reqs} {:.3}s (scenario clock {:.1}s)",
        verdict_word(&r.verdict, opts.color),
        r.id,
        r.wall_time.as_secs_f64(),
        r.scenario_time.as_secs_f64(),
    );
    match &r.verdict {
        Verdict::Pass => {}
        Verdict::Fail(f) | Verdict::Error(f) | Verdict::Inconclusive(f) | Verdict::Warn(f) => {
            // With -v the whole transcript follows: the last frames would say it twice.
            render_evidence(&mut s, &Evidence::of(r, f), opts.color, !opts.verbose);
        }
        Verdict::Skip { reason } => push_field(&mut s, "skipped: ", reason),
        Verdict::Manual { instructions } => push_field(&mut s, "check by hand: ", instructions),
    }
    // The failure above already names the first broken rule; the rest are listed.
    let shown = r.verdict.failure().and_then(|f| f.rule.as_deref());
    for f in r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning || Some(f.rule.as_str()) != shown)
    {
        push_field(&mut s, "", &finding_line(f));
    }
    if opts.verbose && !r.transcript.entries.is_empty() {
        let _ = writeln!(s, "{INDENT}transcript:");
        s.push_str(&render_transcript(&r.transcript, &format!("{INDENT}  ")));
    }
    s
}

/// `warning D1 (step 3, line 7): ...`: one always-on finding.
pub(crate) fn finding_line(f: &Finding) -> String {
    let word = match f.severity {
        Severity::Fail => "broken",
        Severity::Warning => "warning",
    };
    let at = match (&f.step, f.line) {
        (Some(step), Some(line)) => format!(" (step {step}, line {line})"),
        (Some(step), None) => format!(" (step {step})"),
        _ => String::new(),
    };
    format!("{word} {}{at}: {}", f.rule, f.message)
}

/// The evidence block of a fail or error, without the frames.
/// A failure's [`Evidence`], indented under its scenario, the diff coloured when asked;
/// `frames`: with the last frames.
pub(crate) fn render_evidence(s: &mut String, e: &Evidence, color: bool, frames: bool) {
    for (label, value) in e.fields() {
        push_field(s, label, value);
    }
    if let Some(diff) = &e.diff {
        let _ = writeln!(s, "{INDENT}diff:");
        for line in diff.lines() {
            let _ = writeln!(s, "{INDENT}  {}", diff_line(line, color));
        }
    }
    if frames && !e.frames.is_empty() {
        let _ = writeln!(s, "{INDENT}last frames:");
        for line in &e.frames {
            let _ = writeln!(s, "{INDENT}  {line}");
        }
    }
}

/// A line of a unified diff, coloured like `git diff` when asked: removals red, additions
/// green, hunk headers cyan.
fn diff_line(line: &str, color: bool) -> String {
    let ansi = match line.as_bytes().first() {
        _ if !color || line.starts_with("---") || line.starts_with("+++") => {
            return line.to_string()
        }
        Some(b'-') => "31",
        Some(b'+') => "32",
        Some(b'@') => "36",
        _ => return line.to_string(),
    };
    format!("\x1b[{ansi}m{line}\x1b[0m")
}

/// `label value`, indented; continuation lines of a multi-line value line up under it.
fn push_field(s: &mut String, label: &str, value: &str) {
    let pad = " ".repeat(label.chars().count());
    for (i, line) in value.lines().enumerate() {
        let lead = if i == 0 { label } else { &pad };
        let _ = writeln!(s, "{INDENT}{lead}{line}");
    }
    if value.lines().next().is_none() {
        let _ = writeln!(s, "{INDENT}{label}");
    }
}

/// Every transcript entry, one per line, each prefixed with `indent`.
pub(crate) fn render_transcript(t: &Transcript, indent: &str) -> String {
    let mut s = String::new();
    for e in &t.entries {
        let _ = writeln!(s, "{indent}{}", render_entry(e));
    }
    s
}

/// The closing lines. The first is the one CI tooling reads: `N passed, N failed, N skipped`
/// alone on a line after one word with a colon. Errors go on the next line.
fn render_summary(sum: &RunSummary) -> String {
    format!(
        "summary: {} passed, {} failed, {} skipped\n{} inconclusive, {} warned, {} errored, {} manual, wall time {:.3}s\n",
        sum.passed,
        sum.failed,
        sum.skipped,
        sum.inconclusive,
        sum.warned,
        sum.errored,
        sum.manual,
        sum.wall_time.as_secs_f64(),
    )
}

/// The statement of the result, as the cover words it: `statement: does not conform: D2`.
pub(crate) fn statement_line(statement: &super::cover::ResultStatement) -> String {
    format!("statement: {}\n", statement.text())
}

/// The requirement matrix as a plain table: every obligation of the profile (uncovered ones
/// too), its status (see [`super::matrix`]) and its outcome in each scenario that cited it or
/// whose always-on rules saw it broken; a detail line under a row says why when the status
/// alone does not (skip reasons, the automated half of a manual check, who signed).
///
/// ```text
/// requirement  status          scenarios
/// C4           pass            cloud.lifecycle.register (pass)
/// C7           fail            cloud.heartbeat.late (fail), cloud.heartbeat.ok (pass)
/// C15          not covered
/// ```
pub fn requirement_table<R: super::brief::Cites>(results: &[R]) -> String {
    requirement_table_with(results, &[])
}

/// [`requirement_table`] with the manual verdicts recorded so far.
pub fn requirement_table_with<R: super::brief::Cites>(
    results: &[R],
    manual: &[super::matrix::ManualRecord],
) -> String {
    render_matrix(&super::matrix::build(
        &super::json::Obligations::default().list(),
        results,
        manual,
    ))
}

/// The text table of matrix rows.
pub fn render_matrix(rows: &[super::matrix::Row]) -> String {
    let width = rows
        .iter()
        .map(|r| r.id.chars().count())
        .chain(["requirement".len()])
        .max()
        .unwrap_or(0);
    let mut s = format!("{:<width$}  {:<14}  scenarios\n", "requirement", "status");
    for r in rows {
        let cells: Vec<String> = r
            .scenarios
            .iter()
            .map(|g| format!("{} ({})", g.scenario, g.outcome))
            .collect();
        let line = format!(
            "{:<width$}  {:<14}  {}",
            r.id,
            r.status.name(),
            cells.join(", ")
        );
        let _ = writeln!(s, "{}", line.trim_end());
        if !r.detail.is_empty()
            && (r.status != super::matrix::Status::NotCovered || r.manual.is_some())
        {
            let _ = writeln!(s, "{:<width$}  {:<14}  {}", "", "", r.detail);
        }
    }
    s
}

/// Sort key for ids like `C10` or `D4a`: letters, number, rest. Ids without that shape sort
/// by their text after all others with the same prefix.
pub(super) fn natural_key(id: &str) -> (String, u64, String) {
    let split = id.find(|c: char| c.is_ascii_digit()).unwrap_or(id.len());
    let (prefix, tail) = id.split_at(split);
    let digits = tail
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(tail.len());
    match tail[..digits].parse::<u64>() {
        // Only a canonical number (no leading zeros) round-trips through the key.
        Ok(n) if n.to_string() == tail[..digits] && n != u64::MAX => {
            (prefix.to_string(), n, tail[digits..].to_string())
        }
        _ => (id.to_string(), u64::MAX, String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Failure;

    #[test]
    fn natural_key_orders_numbers_numerically_and_round_trips() {
        let mut ids = vec!["C10", "C2", "D1", "C1a", "C01", "misc"];
        ids.sort_by_key(|s| natural_key(s));
        assert_eq!(ids, ["C1a", "C2", "C10", "C01", "D1", "misc"]);
        for id in ["C10", "D4a", "C01", "misc", ""] {
            let (p, n, r) = natural_key(id);
            let back = if n == u64::MAX {
                p
            } else {
                format!("{p}{n}{r}")
            };
            assert_eq!(back, id);
        }
    }

    #[test]
    fn summary_line_is_what_ci_reads() {
        let sum = RunSummary {
            passed: 12,
            failed: 1,
            inconclusive: 4,
            warned: 5,
            errored: 3,
            skipped: 2,
            manual: 0,
            wall_time: std::time::Duration::from_millis(1230),
        };
        let text = render_summary(&sum);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "summary: 12 passed, 1 failed, 2 skipped",
                "4 inconclusive, 5 warned, 3 errored, 0 manual, wall time 1.230s"
            ]
        );
        let ci = regex::Regex::new(r"^(\w+: )?\d+ passed, \d+ failed(, \d+ skipped)?$").unwrap();
        assert_eq!(lines.iter().filter(|l| ci.is_match(l)).count(), 1);
    }

    #[test]
    fn a_golden_diff_is_shown_indented_under_the_failure() {
        let mut f = Failure::new("the conversation changed against golden/x.snap");
        f.diff = Some("--- golden/x.snap\n+++ this run\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n".into());
        let r = ScenarioResult {
            id: "x".into(),
            title: "t".into(),
            file: "x.yaml".into(),
            role: crate::scenario::Role::Device,
            requirements: vec![],
            tags: vec![],
            verdict: Verdict::Fail(f),
            findings: vec![],
            obligations: Default::default(),
            not_reached: Default::default(),
            wall_time: std::time::Duration::ZERO,
            scenario_time: std::time::Duration::ZERO,
            transcript: Transcript::default(),
            judged: None,
        };
        let plain = render_result(&r, TerminalOptions::default());
        assert!(plain.contains("      diff:\n        --- golden/x.snap\n        +++ this run\n        @@ -1,2 +1,2 @@\n         a\n        -b\n        +c\n"), "{plain}");
        let coloured = render_result(
            &r,
            TerminalOptions {
                color: true,
                ..TerminalOptions::default()
            },
        );
        assert!(
            coloured.contains("\x1b[31m-b\x1b[0m") && coloured.contains("\x1b[32m+c\x1b[0m"),
            "{coloured}"
        );
    }

    #[test]
    fn push_field_indents_continuation_lines() {
        let mut s = String::new();
        push_field(&mut s, "expected: ", "{\n  \"a\": 1\n}");
        assert_eq!(
            s,
            "      expected: {\n                  \"a\": 1\n                }\n"
        );
    }
}
