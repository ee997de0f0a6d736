//! The HTML report (`reports/report.html`): the certificate a lab hands back. One file that
//! needs nothing else (styles and script inline, no fetches), so it can be mailed, archived
//! or opened from a USB stick years later: the summary and run metadata, the requirement
//! matrix, and every scenario with its verdict, its failure evidence as the terminal shows it
//! and its wire log.
//!
//! Filters (scenario verdict, matrix status, requirement ids with `*` wildcards) run in the
//! page's script and live in the URL fragment (`report.html#verdict=fail&req=D1*`), so a
//! filtered view can be linked to. Without JavaScript everything is shown.
//!
//! Every value is escaped by `maud`; frames are already redacted in the model, so the page
//! shows no secret the model does not hold.

use super::evidence::{location, Evidence};
use super::formats::{Format, InMemory, ReportFormat, Scenarios};
use super::json::RunReport;
use super::matrix::{Row, Status};
use super::sink::{write_file_with, Out, ReportError};
use super::terminal::finding_line;
use crate::engine::transcript::{
    Frame, OutputSource, OutputStream, TranscriptEntry, TranscriptEvent,
};
use crate::engine::{Outcome, ScenarioResult, Verdict};
use crate::wire::{close_text, Party};
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// The reports' one stylesheet (the fleet page uses it too).
pub const STYLE: &str = include_str!("html/report.css");
const SCRIPT: &str = include_str!("html/report.js");

/// `--report html`.
pub(crate) struct Html;

impl ReportFormat {
    #[allow(non_upper_case_globals)]
    pub const Html: ReportFormat = ReportFormat(&Html);
}

impl Format for Html {
    fn name(&self) -> &'static str {
        "html"
    }
    fn help(&self) -> &'static str {
        "DIR/report.html: one self-contained page (summary, matrix, evidence, wire logs)"
    }
    fn file_name(&self) -> Option<&'static str> {
        Some("report.html")
    }
    fn has_parts(&self) -> bool {
        true
    }
    fn part(&self, r: &ScenarioResult, _path: &std::path::Path) -> Result<Vec<u8>, ReportError> {
        Ok(article(r).into_bytes())
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

/// Writes the report as one HTML file.
pub fn write_html(report: &RunReport, path: &std::path::Path) -> Result<(), ReportError> {
    write_file_with(path, |out| {
        write_document(&report.head(), &InMemory::new(&report.scenarios), out)
    })
}

/// The whole page.
pub fn render(report: &RunReport) -> String {
    let mut page = Vec::new();
    let written = write_document(
        &report.head(),
        &InMemory::new(&report.scenarios),
        &mut Out {
            path: std::path::Path::new("report.html"),
            w: &mut page,
        },
    );
    debug_assert!(
        written.is_ok(),
        "an HTML page in memory cannot fail to be written: {written:?}"
    );
    String::from_utf8(page).unwrap_or_default()
}

/// Stands in the page for the scenarios' articles: a comment, which no escaped value can
/// spell (`<` is always escaped) and the inline style does not hold.
const ARTICLES: &str = "<!--hwconform:articles-->";

/// Writes the page of `head` with each scenario's article ([`article`]) in its place, one at
/// a time.
pub(crate) fn write_document(
    head: &RunReport,
    scenarios: &dyn Scenarios,
    out: &mut Out,
) -> Result<(), ReportError> {
    let page = frame(head);
    let (before, after) = page.split_once(ARTICLES).unwrap_or((&page, ""));
    out.put(before.as_bytes())?;
    for i in 0..scenarios.briefs().len() {
        scenarios.put(i, ReportFormat::Html, out)?;
    }
    out.put(after.as_bytes())
}

/// The page around the articles.
fn frame(report: &RunReport) -> String {
    let title = format!(
        "hwconform report: {}",
        if report.target.is_empty() {
            "no target"
        } else {
            &report.target
        }
    );
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body data-js="off" {
                header {
                    h1 { "Conformance report" }
                    (super::cover::cover(report))
                    (summary(report))
                }
                nav #filters {
                    label { "Scenario verdict " select #f-verdict {
                        option value="" { "all" }
                        @for v in ["pass", "fail", "error", "inconclusive", "warn", "skip", "manual"] { option value=(v) { (v) } }
                    } }
                    label { "Requirement status " select #f-status {
                        option value="" { "all" }
                        @for s in Status::ALL { option value=(s.key()) { (s.name()) } }
                    } }
                    label { "Requirements " input #f-req type="search" placeholder="D1, C2*, D3?" size="18"; }
                    output #f-count {}
                }
                main {
                    (matrix(&report.requirements))
                    section #scenarios {
                        h2 { "Scenarios" }
                        (PreEscaped(ARTICLES))
                    }
                }
                footer {
                    "hwconform " (report.meta.harness_version) " (" (report.meta.git_commit) "), report format version " (report.version)
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    page.into_string()
}

fn summary(report: &RunReport) -> Markup {
    let s = &report.summary;
    let counts = [
        ("pass", s.passed),
        ("fail", s.failed),
        ("error", s.errored),
        ("inconclusive", s.inconclusive),
        ("warn", s.warned),
        ("skip", s.skipped),
        ("manual", s.manual),
    ];
    html! {
        p .summary {
            @for (word, n) in counts {
                span class={"badge v-" (word)} { (n) " " (word) }
                " "
            }
            span .wall { "wall time " (format!("{:.3}", s.wall_time.as_secs_f64())) "s" }
        }
    }
}

/// The matrix: the obligations of the families the run reached (a device run lists D1–D42),
/// each with its scenarios counted by outcome and listed on demand; the others folded below.
fn matrix(rows: &[Row]) -> Markup {
    let families = super::cover::families(rows);
    let (shown, others): (Vec<&Row>, Vec<&Row>) = rows
        .iter()
        .partition(|r| families.is_empty() || super::cover::in_scope(r, &families));
    html! {
        section #matrix {
            h2 { "Requirement matrix" }
            (legend())
            (matrix_table(&shown))
            @if !others.is_empty() {
                details .others {
                    summary { (others.len()) " obligations no scenario of this run judges (" (span_of(&others)) ")" }
                    (matrix_table(&others))
                }
            }
        }
    }
}

/// `C1–C24`: the first and last id of a run of rows.
fn span_of(rows: &[&Row]) -> String {
    match (rows.first(), rows.last()) {
        (Some(a), Some(b)) if a.id != b.id => format!("{}–{}", a.id, b.id),
        (Some(a), _) => a.id.clone(),
        _ => String::new(),
    }
}

/// What the source column's tags mean (the protocol reference's provenance legend).
fn legend() -> Markup {
    const TAGS: &[(&str, &str)] = &[
        ("D n", "the official documentation page developer.work.weixin.qq.com/document/path/n"),
        ("D every page", "every official page of the protocol"),
        ("F", "the WeCom FAQ (智慧硬件常见问题, document/path/90457)"),
        ("…/M", "also shown in the apifox mirror of the documentation (its field tables)"),
        ("[I]", "in the text: seen in an implementation only, not normative; never grounds for a fail"),
        ("[UNDOC]", "in the text: not documented; never grounds for a fail"),
        ("must / may", "the strength: a may (or an example) allows other conformant choices, and is at most a warning"),
    ];
    html! {
        details .legend {
            summary { "What the source tags mean" }
            dl { @for (tag, meaning) in TAGS { dt { code { (tag) } } dd { (meaning) } } }
        }
    }
}

fn matrix_table(rows: &[&Row]) -> Markup {
    html! {
        table {
            thead { tr { th { "id" } th { "status" } th { "source" } th { "obligation" } th { "scenarios" } } }
            tbody {
                @for r in rows {
                    tr id={"req-" (r.id)} .req data-id=(r.id) data-status=(r.status.key()) {
                        td .id { (r.id) }
                        td { span class={"badge s-" (r.status.key())} { (r.status.name()) } }
                        td .source { (r.source) @if !r.strength.is_empty() { br; small { (r.strength) } } }
                        td .text {
                            (super::markdown::inline(&r.text))
                            @if !r.detail.is_empty() && (r.status != Status::NotCovered || r.manual.is_some()) { p .detail { (r.detail) } }
                        }
                        td .given { (given(r)) }
                    }
                }
            }
        }
    }
}

/// A row's scenarios: counts by outcome, the list folded.
fn given(r: &Row) -> Markup {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for g in &r.scenarios {
        match counts.iter_mut().find(|(o, _)| *o == g.outcome) {
            Some((_, n)) => *n += 1,
            None => counts.push((&g.outcome, 1)),
        }
    }
    html! {
        @if !r.scenarios.is_empty() {
            details {
                summary {
                    @for (i, (outcome, n)) in counts.iter().enumerate() {
                        @if i > 0 { ", " }
                        span class={"v-" (outcome)} { (n) " " (outcome) }
                    }
                }
                @for g in &r.scenarios {
                    a href={"#sc-" (g.scenario)} class={"v-" (g.outcome)} { (g.scenario) } " (" (g.outcome) ")" br;
                }
            }
        }
    }
}

/// One scenario's article: verdict, evidence, findings, wire log.
pub(crate) fn article(r: &ScenarioResult) -> String {
    scenario(r).into_string()
}

fn scenario(r: &ScenarioResult) -> Markup {
    let outcome = Outcome::of(&r.verdict).name();
    let troubled = matches!(
        r.verdict,
        Verdict::Fail(_) | Verdict::Error(_) | Verdict::Inconclusive(_) | Verdict::Warn(_)
    );
    let shown = r.verdict.failure().and_then(|f| f.rule.as_deref());
    html! {
        article id={"sc-" (r.id)} class={"scenario v-" (outcome)} data-verdict=(outcome) data-reqs=(r.obligations.keys().cloned().collect::<Vec<_>>().join(" ")) {
            h3 { span class={"badge v-" (outcome)} { (outcome.to_uppercase()) } " " (r.id) }
            p .title { (r.title) }
            p .where {
                code { (r.file.display()) }
                @if !r.requirements.is_empty() {
                    " · "
                    @for req in &r.requirements { a href={"#req-" (req)} { (req) } " " }
                }
                " · " (format!("{:.3}", r.wall_time.as_secs_f64())) "s (scenario clock " (format!("{:.1}", r.scenario_time.as_secs_f64())) "s)"
            }
            @match &r.verdict {
                Verdict::Pass => {}
                Verdict::Fail(f) | Verdict::Error(f) | Verdict::Inconclusive(f) | Verdict::Warn(f) => {
                    (evidence(&Evidence::of(r, f)))
                }
                Verdict::Skip { reason } => { p .reason { "skipped: " (reason) } }
                Verdict::Manual { instructions } => { div .manual { h4 { "check by hand" } pre { (instructions) } } }
            }
            @let findings: Vec<_> = r.findings.iter().filter(|f| f.severity == crate::engine::Severity::Warning || Some(f.rule.as_str()) != shown).collect();
            @if !findings.is_empty() {
                ul .findings { @for f in findings { li { (finding_line(f)) } } }
            }
            @if !r.transcript.entries.is_empty() {
                @let anchor = format!("sc-{}-e", r.id);
                details .sequence open[troubled] {
                    summary { "sequence chart (click an arrow for its frame in the wire log; with scripts on, hover it)" }
                    (super::chart::chart(r, &anchor))
                }
                details .wire {
                    summary { "wire log (" (r.transcript.entries.len()) " entries, times on the scenario clock)" }
                    ol { @for (i, e) in r.transcript.entries.iter().enumerate() { (entry(e, &format!("{anchor}{i}"))) } }
                }
            }
        }
    }
}

/// A failure's [`Evidence`]: the message, where, the rule linked to its matrix row, what
/// was expected beside what came, the golden diff (the frames are in the wire log below).
pub(crate) fn evidence(e: &Evidence) -> Markup {
    html! {
        div .evidence {
            pre .message { (e.message) }
            p .loc { "--> " (e.location) }
            @if let Some(rule) = &e.rule { p { "rule: " a href={"#req-" (rule)} { (rule) } } }
            @if e.expected.is_some() || e.actual.is_some() {
                div .compare {
                    div { h4 { "expected" } pre .expected { (e.expected.as_deref().unwrap_or("")) } }
                    div { h4 { "actual" } pre .actual { (e.actual.as_deref().unwrap_or("")) } }
                }
            }
            @if let Some(diff) = &e.diff { h4 { "diff against the golden transcript" } pre .diff { (diff_lines(diff)) } }
        }
    }
}

/// Where a result's failure points (`file:line:col (step N, kind)`), as the page shows it;
/// empty when it did not fail.
pub fn location_of(r: &ScenarioResult) -> String {
    r.verdict
        .failure()
        .map(|f| location(r, f))
        .unwrap_or_default()
}

/// A unified diff, each line marked for colour like `git diff`.
fn diff_lines(diff: &str) -> Markup {
    html! {
        @for line in diff.lines() {
            @let class = match line.as_bytes().first() {
                _ if line.starts_with("---") || line.starts_with("+++") => "",
                Some(b'-') => "del",
                Some(b'+') => "ins",
                Some(b'@') => "hunk",
                _ => "",
            };
            span class=(class) { (line) } "\n"
        }
    }
}

/// One transcript entry: time, connection, what happened; frames pretty-printed.
fn entry(e: &TranscriptEntry, id: &str) -> Markup {
    let at = format!("{:.3}s", e.at.as_secs_f64());
    if let TranscriptEvent::Output {
        source,
        stream,
        line,
        cut,
    } = &e.event
    {
        return html! { li class="output" { span .at { (at) } " " (output_line(*source, *stream, line, *cut)) } };
    }
    let (class, conn, head, body): (&str, Option<&str>, String, Option<String>) = match &e.event {
        TranscriptEvent::Opened { conn, local, .. } => {
            ("link", Some(conn), format!("opened from {local}"), None)
        }
        TranscriptEvent::Closed {
            conn,
            by,
            code,
            reason,
        } => {
            let who = match by {
                Party::Harness => "harness",
                Party::Target => "target",
            };
            (
                "link",
                Some(conn),
                format!("closed by {who}{}", close_text(*code, reason)),
                None,
            )
        }
        TranscriptEvent::Abandoned { conn } => {
            ("link", Some(conn), "abandoned (no close)".into(), None)
        }
        TranscriptEvent::Sent { conn, frame } => (
            "sent",
            Some(conn),
            format!("→ harness sent {}", frame_head(frame)),
            frame_body(frame),
        ),
        TranscriptEvent::Received { conn, frame } => (
            "received",
            Some(conn),
            format!("← target sent {}", frame_head(frame)),
            frame_body(frame),
        ),
        TranscriptEvent::Step { index, kind, line } => (
            "step",
            None,
            format!("step {index} {kind} (line {line})"),
            None,
        ),
        TranscriptEvent::Note { text } => ("note", None, format!("note: {text}"), None),
        TranscriptEvent::Output { .. } => unreachable!("rendered by output_line above"),
    };
    html! {
        li class=(class) id=(id) {
            span .at { (at) } " "
            @if let Some(conn) = conn { span .conn { "[" (conn) "]" } " " }
            span .what { (head) }
            @if let Some(body) = body { pre .frame { (Content(&body)) } }
        }
    }
}

/// Text in an element's content, escaped as content needs: `&`, `<` and `>` (maud escapes
/// `"` too, as an attribute needs, which in a frame's JSON is most of what escaping adds: a
/// fifth of the wire log of the device library).
struct Content<'a>(&'a str);

impl maud::Render for Content<'_> {
    fn render_to(&self, buffer: &mut String) {
        for c in self.0.chars() {
            match c {
                '&' => buffer.push_str("&amp;"),
                '<' => buffer.push_str("&lt;"),
                '>' => buffer.push_str("&gt;"),
                c => buffer.push(c),
            }
        }
    }
}

/// A line a command wrote (the device's log), as it sits between the frames: who wrote it on
/// which stream, the line as text (never markup), and what an overlong line lost. Any view
/// of the transcript (the wire log, a sequence chart's notes) renders it through this.
pub(crate) fn output_line(
    source: OutputSource,
    stream: OutputStream,
    line: &str,
    cut: usize,
) -> Markup {
    html! {
        span class={ "out " (stream.label()) } {
            span .src { "[" (source.label()) " " (stream.label()) "]" } " "
            code { (line) }
            @if cut > 0 { " " span .cut { "… (" (cut) " more bytes)" } }
        }
    }
}

fn frame_head(frame: &Frame) -> String {
    match frame {
        Frame::Json { json } => match json.get("cmd").and_then(|c| c.as_str()) {
            Some(cmd) => format!("`{cmd}`"),
            None => "JSON".into(),
        },
        Frame::Text { len, .. } => format!("text ({len} bytes, not JSON)"),
        Frame::Large { len, .. } => format!("text ({len} bytes, too large to record whole)"),
        Frame::Binary { len, layout, .. } => match layout {
            Some(l) => format!("binary ({len} bytes, {l})"),
            None => format!("binary ({len} bytes)"),
        },
    }
}

fn frame_body(frame: &Frame) -> Option<String> {
    match frame {
        Frame::Json { json } => serde_json::to_string_pretty(json).ok(),
        Frame::Text { text, .. } => Some(text.clone()),
        Frame::Large { envelope, .. } => envelope
            .as_ref()
            .and_then(|v| serde_json::to_string_pretty(v).ok()),
        Frame::Binary { head, .. } => Some(format!("{head}…")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Failure, RunSummary, Transcript};

    fn report(verdict: Verdict, transcript: Transcript) -> RunReport {
        let r = ScenarioResult {
            id: "cloud.x<y>".into(),
            title: "a <b>bold</b> title & more".into(),
            file: "scenarios/x.yaml".into(),
            role: crate::scenario::Role::Device,
            requirements: vec!["C4".into()],
            tags: vec![],
            obligations: [("C4".to_string(), Outcome::of(&verdict))]
                .into_iter()
                .collect(),
            not_reached: Default::default(),
            verdict,
            findings: vec![],
            wall_time: std::time::Duration::from_millis(12),
            scenario_time: std::time::Duration::from_secs(3),
            transcript,
            judged: None,
        };
        RunReport::new(
            "mock",
            RunSummary {
                failed: 1,
                ..RunSummary::default()
            },
            vec![r],
        )
    }

    #[test]
    fn values_are_escaped_and_the_page_needs_no_network() {
        let mut f = Failure::new("expected </pre><script>alert(1)</script>");
        f.expected = Some("{\"errcode\": 0}".into());
        f.actual = Some("{\"errcode\": 600001}".into());
        f.line = Some(7);
        let mut t = Transcript::default();
        t.push(
            std::time::Duration::from_millis(1500),
            TranscriptEvent::Received {
                conn: "c1".into(),
                frame: Frame::Json {
                    json: serde_json::json!({"cmd": "register", "body": {"x": "<i>"}}).into(),
                },
            },
        );
        let page = render(&report(Verdict::Fail(f), t));
        assert!(!page.contains("<script>alert"), "unescaped message");
        assert!(page.contains("&lt;/pre&gt;&lt;script&gt;alert(1)"));
        assert!(page.contains("a &lt;b&gt;bold&lt;/b&gt; title &amp; more"));
        assert!(page.contains("--&gt; scenarios/x.yaml:7"));
        assert!(page.contains("1.500s"));
        assert_eq!(
            page.matches("\"x\": \"&lt;i&gt;\"").count(),
            1,
            "the frame pretty-printed, once (the chart's arrow links to it)"
        );
        assert!(
            page.contains("<details class=\"sequence\" open>"),
            "a failure's sequence chart is open"
        );
        assert!(
            page.contains("<svg ") && page.contains(">register</text>"),
            "the chart labels the frame"
        );
        // Self-contained: nothing loads from elsewhere.
        for fetch in ["src=", "href=\"http", "@import", "url("] {
            assert!(!page.contains(fetch), "page fetches something: {fetch}");
        }
        assert_eq!(
            page.matches("data-status=").count(),
            66,
            "every obligation has a row"
        );
    }

    #[test]
    fn a_passing_scenario_keeps_its_wire_log_closed() {
        let mut t = Transcript::default();
        t.push(
            std::time::Duration::ZERO,
            TranscriptEvent::Opened {
                waited: None,
                conn: "c1".into(),
                local: "127.0.0.1:1".into(),
            },
        );
        let page = render(&report(Verdict::Pass, t));
        assert!(page.contains("<details class=\"sequence\">"), "{page}");
    }
}
