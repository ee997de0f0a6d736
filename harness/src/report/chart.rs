//! A scenario's message sequence chart: the transcript drawn as inline SVG, one lane for the
//! harness and one per connection of the target, one arrow per frame. A person sees who said
//! what in which order, and where it broke, without reading JSON; the JSON is a click away
//! (the arrow links to the frame in the wire log) and, with the page's script, a hover (read
//! from that wire-log entry: each frame's JSON is in the page once).
//!
//! Time runs down. Short gaps are drawn to scale ([`PX_PER_SEC`]) so a judged rhythm (a poll
//! every 5 s, a late reply) shows; a gap longer than [`SCALE_LIMIT`] is cut with a visible
//! break labelled with its length, so a 90 s heartbeat expiry does not make the chart a
//! kilometre long.
//!
//! Every text comes from the target and is hostile: it goes through `maud`, which escapes
//! it, and the chart links to nothing outside the page.

use crate::engine::transcript::{output_text, Frame, TranscriptEntry, TranscriptEvent};
use crate::engine::{ScenarioResult, Severity, Verdict};
use crate::wire::{close_text, Party};
use maud::{html, Markup};
use std::time::Duration;

/// Vertical pixels per second of scenario time, up to [`SCALE_LIMIT`].
const PX_PER_SEC: f64 = 8.0;
/// Gaps longer than this are cut (drawn as a break of [`BREAK_PX`]).
const SCALE_LIMIT: Duration = Duration::from_secs(12);
const BREAK_PX: f64 = 34.0;
/// The least room between two rows (the label above an arrow needs it).
const ROW_PX: f64 = 24.0;
/// The most entries drawn; the wire log below the chart has them all.
pub const MAX_ROWS: usize = 400;
const AXIS_X: f64 = 8.0;
const HARNESS_X: f64 = 110.0;
const LANE_GAP: f64 = 280.0;
/// Room to the right of the last lane for notes and findings.
const NOTES_PX: f64 = 460.0;
const TOP: f64 = 44.0;
/// Labels longer than this are cut (the full text is the element's title).
const LABEL_CHARS: usize = 72;

/// What the chart marks red: the entry that broke a rule and what was found.
struct Broken {
    entry: Option<usize>,
    /// Where to draw the finding when no frame broke it (nothing came): after this entry.
    after: usize,
    text: String,
}

/// The chart of `r`'s transcript; `anchor` is the prefix of the wire log entries' ids
/// (`{anchor}{index}`), which the arrows link to.
pub fn chart(r: &ScenarioResult, anchor: &str) -> Markup {
    let entries = &r.transcript.entries[..r.transcript.entries.len().min(MAX_ROWS)];
    let lanes = lanes(entries);
    let broken = broken(r, entries);
    let width = HARNESS_X + LANE_GAP * lanes.len().max(1) as f64 + NOTES_PX;
    let notes_x = HARNESS_X + LANE_GAP * lanes.len().max(1) as f64 + 24.0;
    let lane_x = |conn: &str| {
        lanes
            .iter()
            .position(|c| c == conn)
            .map_or(HARNESS_X, |i| HARNESS_X + LANE_GAP * (i + 1) as f64)
    };
    // Each entry's y, and the breaks between them.
    let mut ys = Vec::with_capacity(entries.len());
    let mut breaks = Vec::new();
    let mut y = TOP;
    let mut last = Duration::ZERO;
    for (i, e) in entries.iter().enumerate() {
        let gap = e.at.saturating_sub(last);
        if i > 0 {
            if gap > SCALE_LIMIT {
                breaks.push((y + ROW_PX / 2.0 + BREAK_PX / 2.0, gap));
                y += ROW_PX + BREAK_PX;
            } else {
                y += ROW_PX + gap.as_secs_f64() * PX_PER_SEC;
            }
        }
        ys.push(y);
        last = e.at;
    }
    let height = y + ROW_PX * 2.0;
    let broken_y = broken.as_ref().map(|b| match b.entry {
        Some(i) => ys[i],
        None => ys.get(b.after).map_or(TOP, |y| y + ROW_PX / 2.0),
    });
    let more = r.transcript.entries.len() - entries.len();
    html! {
        figure .chart {
            svg xmlns="http://www.w3.org/2000/svg" role="img" width=(num(width)) height=(num(height)) viewBox={"0 0 " (num(width)) " " (num(height))} font-family="ui-monospace, Menlo, Consolas, monospace" font-size="11" {
                title { "message sequence chart of " (r.id) }
                // Lanes.
                (lane(HARNESS_X, "harness", height))
                @for conn in &lanes { (lane(lane_x(conn), &format!("target · {conn}"), height)) }
                @for (y, gap) in &breaks {
                    g .break {
                        path d=(format!("M0 {} l12 -5 l12 10 l12 -10 l12 10 L{} {}", num(*y), num(width), num(*y))) fill="none" stroke="#8c959f" stroke-dasharray="4 3" {}
                        text x=(num(HARNESS_X + 8.0)) y=(num(y - 4.0)) fill="#57606a" { "⋯ " (format!("{:.1}", gap.as_secs_f64())) " s, not to scale ⋯" }
                    }
                }
                @for (i, e) in entries.iter().enumerate() {
                    @let y = ys[i];
                    @let red = broken.as_ref().is_some_and(|b| b.entry == Some(i));
                    text .t x=(num(AXIS_X)) y=(num(y + 4.0)) fill="#57606a" { (format!("{:.3}s", e.at.as_secs_f64())) }
                    (draw(e, y, red, &lane_x, notes_x, &format!("{anchor}{i}")))
                }
                @if let (Some(b), Some(y)) = (&broken, broken_y) {
                    g .finding {
                        title { (b.text) }
                        text x=(num(notes_x)) y=(num(y + 4.0)) fill="#cf222e" font-weight="bold" { "✗ " (cut(&b.text)) }
                    }
                }
            }
            @if more > 0 { figcaption { (more) " more entries are in the wire log below." } }
        }
    }
}

fn lane(x: f64, name: &str, height: f64) -> Markup {
    html! {
        g .lane {
            text x=(num(x)) y="16" text-anchor="middle" font-weight="bold" fill="#1f2328" { (name) }
            line x1=(num(x)) y1="24" x2=(num(x)) y2=(num(height - 8.0)) stroke="#d0d7de" stroke-width="2" {}
        }
    }
}

/// One entry: an arrow for a frame, a mark for a link opening or closing, a note beside.
fn draw(
    e: &TranscriptEntry,
    y: f64,
    red: bool,
    lane_x: &dyn Fn(&str) -> f64,
    notes_x: f64,
    id: &str,
) -> Markup {
    match &e.event {
        TranscriptEvent::Sent { conn, frame } => {
            arrow(HARNESS_X, lane_x(conn), y, frame, red, "#0969da", id)
        }
        TranscriptEvent::Received { conn, frame } => {
            arrow(lane_x(conn), HARNESS_X, y, frame, red, "#1a7f37", id)
        }
        TranscriptEvent::Opened { conn, local, .. } => {
            let x = lane_x(conn);
            html! {
                g .open { title { "opened from " (local) }
                    circle cx=(num(x)) cy=(num(y)) r="5" fill="#fff" stroke="#1f2328" stroke-width="1.5" {}
                    text x=(num(x + 10.0)) y=(num(y + 4.0)) fill="#57606a" { "connected" }
                }
            }
        }
        TranscriptEvent::Closed {
            conn,
            by,
            code,
            reason,
        } => {
            let x = lane_x(conn);
            let who = match by {
                Party::Harness => "harness",
                Party::Target => "target",
            };
            let text = format!("closed by {who}{}", close_text(*code, reason));
            html! {
                g .close { title { (text) }
                    path d=(format!("M{} {} l10 10 m0 -10 l-10 10", num(x - 5.0), num(y - 5.0))) stroke="#1f2328" stroke-width="2" {}
                    text x=(num(x + 10.0)) y=(num(y + 4.0)) fill="#1f2328" { (cut(&text)) }
                }
            }
        }
        TranscriptEvent::Abandoned { conn } => {
            let x = lane_x(conn);
            html! {
                g .close { title { "abandoned by the harness (no close)" }
                    path d=(format!("M{} {} l10 10 m0 -10 l-10 10", num(x - 5.0), num(y - 5.0))) stroke="#9a6700" stroke-width="2" {}
                    text x=(num(x + 10.0)) y=(num(y + 4.0)) fill="#9a6700" { "abandoned (no close)" }
                }
            }
        }
        TranscriptEvent::Step { index, kind, line } => {
            let text = format!("step {index} {kind} (line {line})");
            html! {
                g .step {
                    text x=(num(HARNESS_X - 6.0)) y=(num(y + 4.0)) text-anchor="end" fill="#8c959f" font-size="9" { "step " (index) }
                    text x=(num(notes_x)) y=(num(y + 4.0)) fill="#8c959f" { (text) }
                }
            }
        }
        TranscriptEvent::Note { text } => {
            // A link fault names its connection (`[c2] …`): drawn on that lane.
            let on = text
                .strip_prefix('[')
                .and_then(|t| t.split_once(']'))
                .map(|(conn, _)| lane_x(conn))
                .unwrap_or(HARNESS_X);
            html! {
                g .note { title { (text) }
                    rect x=(num(on - 4.0)) y=(num(y - 4.0)) width="8" height="8" fill="#9a6700" {}
                    text x=(num(notes_x)) y=(num(y + 4.0)) fill="#9a6700" { "note: " (cut(text)) }
                }
            }
        }
        TranscriptEvent::Output {
            source,
            stream,
            line,
            cut: dropped,
        } => {
            // What the device (or a lab command) wrote, in place among the frames.
            let text = output_text(*source, *stream, line, *dropped);
            html! {
                g .output { title { (text) }
                    text x=(num(notes_x)) y=(num(y + 4.0)) fill="#57606a" font-family="monospace" font-size="10" { (cut(&text)) }
                }
            }
        }
    }
}

fn arrow(from: f64, to: f64, y: f64, frame: &Frame, red: bool, colour: &str, id: &str) -> Markup {
    let colour = if red { "#cf222e" } else { colour };
    let dir = if to > from { 1.0 } else { -1.0 };
    let tip = to - dir * 2.0;
    let head = format!(
        "{},{} {},{} {},{}",
        num(tip),
        num(y),
        num(tip - dir * 9.0),
        num(y - 4.5),
        num(tip - dir * 9.0),
        num(y + 4.5)
    );
    let label = frame_label(frame);
    html! {
        a href={"#" (id)} {
            g class={"frame" @if red { " broken" }} {
                title { (label) " (its JSON is in the wire log)" }
                line x1=(num(from)) y1=(num(y)) x2=(num(tip - dir * 8.0)) y2=(num(y)) stroke=(colour) stroke-width=(if red { "2.5" } else { "1.5" }) {}
                polygon points=(head) fill=(colour) {}
                text x=(num((from + to) / 2.0)) y=(num(y - 5.0)) text-anchor="middle" fill=(colour) font-weight=[red.then_some("bold")] { (cut(&label)) }
            }
        }
    }
}

/// `cmd #req_id errcode=N`: what identifies a frame in the conversation.
pub fn frame_label(frame: &Frame) -> String {
    let json = match frame {
        Frame::Json { json } => Some(&**json),
        Frame::Large { envelope, .. } => envelope.as_ref(),
        _ => None,
    };
    let mut label = match frame {
        Frame::Text { len, .. } => format!("text, {len} bytes, not JSON"),
        Frame::Binary { len, layout, .. } => match layout {
            Some(l) => format!("binary {l}, {len} bytes"),
            None => format!("binary, {len} bytes"),
        },
        Frame::Json { .. } | Frame::Large { .. } => String::new(),
    };
    if let Some(json) = json {
        let s = |v: Option<&serde_json::Value>| {
            v.map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        label = s(json.get("cmd")).unwrap_or_else(|| "reply".into());
        if let Some(id) = s(json.pointer("/headers/req_id")) {
            label.push_str(" #");
            label.push_str(&id);
        }
        if let Some(code) = s(json
            .get("errcode")
            .or_else(|| json.pointer("/body/errcode")))
        {
            label.push_str(" errcode=");
            label.push_str(&code);
        }
        if let Frame::Large { len, .. } = frame {
            label.push_str(&format!(" ({len} bytes)"));
        }
    }
    label
}

/// The entry that broke the first rule, found from the step the failure (or else the first
/// failing finding) names: the last frame the target sent within that step. A step that
/// failed because nothing came has no such frame; its finding is drawn after the step's
/// last entry.
fn broken(r: &ScenarioResult, entries: &[TranscriptEntry]) -> Option<Broken> {
    let (step, text) = match &r.verdict {
        Verdict::Fail(f) => (f.step.clone(), ruled(f.rule.as_deref(), &f.message)),
        _ => {
            let f = r.findings.iter().find(|f| f.severity == Severity::Fail)?;
            (f.step.clone(), ruled(Some(&f.rule), &f.message))
        }
    };
    let text = text.lines().next().unwrap_or_default().to_string();
    let step = step?;
    let start = entries
        .iter()
        .position(|e| matches!(&e.event, TranscriptEvent::Step { index, .. } if *index == step))?;
    // A step's own nested steps (`5.2`, a repeat's `8[1].1`) are within it.
    let (nested, repeated) = (format!("{step}."), format!("{step}["));
    let end = entries[start + 1..]
        .iter()
        .position(|e| {
            matches!(&e.event, TranscriptEvent::Step { index, .. }
                if !index.starts_with(&nested) && !index.starts_with(&repeated))
        })
        .map_or(entries.len(), |n| start + 1 + n);
    let entry = (start..end)
        .rev()
        .find(|&i| matches!(entries[i].event, TranscriptEvent::Received { .. }));
    Some(Broken {
        entry,
        after: end - 1,
        text,
    })
}

/// `D2: message`, unless the message names its rule already.
fn ruled(rule: Option<&str>, message: &str) -> String {
    match rule {
        Some(rule) if !message.starts_with(&format!("{rule}:")) => format!("{rule}: {message}"),
        _ => message.to_string(),
    }
}

fn cut(s: &str) -> String {
    if s.chars().count() <= LABEL_CHARS {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(LABEL_CHARS - 1).collect();
        out.push('…');
        out
    }
}

/// The connections in the order they first appear.
fn lanes(entries: &[TranscriptEntry]) -> Vec<String> {
    let mut lanes: Vec<String> = Vec::new();
    for e in entries {
        let conn = match &e.event {
            TranscriptEvent::Opened { conn, .. }
            | TranscriptEvent::Closed { conn, .. }
            | TranscriptEvent::Abandoned { conn }
            | TranscriptEvent::Sent { conn, .. }
            | TranscriptEvent::Received { conn, .. } => conn,
            _ => continue,
        };
        if !lanes.contains(conn) {
            lanes.push(conn.clone());
        }
    }
    lanes
}

/// A coordinate as SVG writes it: no more than one decimal, none when whole.
fn num(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Failure, Finding, Transcript};

    pub(crate) fn small_transcript() -> Transcript {
        let json = |v: serde_json::Value| Frame::Json { json: v.into() };
        let ms = Duration::from_millis;
        let mut t = Transcript::default();
        let mut at = |d, e| t.push(d, e);
        at(
            ms(0),
            TranscriptEvent::Step {
                index: "1".into(),
                kind: "expect_connect".into(),
                line: 5,
            },
        );
        at(
            ms(10),
            TranscriptEvent::Opened {
                waited: None,
                conn: "c1".into(),
                local: "127.0.0.1:4000".into(),
            },
        );
        at(
            ms(20),
            TranscriptEvent::Step {
                index: "2".into(),
                kind: "expect".into(),
                line: 7,
            },
        );
        at(
            ms(30),
            TranscriptEvent::Received {
                conn: "c1".into(),
                frame: json(
                    serde_json::json!({"cmd": "register", "headers": {"req_id": "r1"}, "body": {"sn": "SN<1>"}}),
                ),
            },
        );
        at(
            ms(40),
            TranscriptEvent::Sent {
                conn: "c1".into(),
                frame: json(
                    serde_json::json!({"headers": {"req_id": "r1"}, "errcode": 0, "errmsg": "ok"}),
                ),
            },
        );
        at(
            ms(5040),
            TranscriptEvent::Received {
                conn: "c1".into(),
                frame: json(serde_json::json!({"cmd": "ping", "headers": {"req_id": "r1"}})),
            },
        );
        at(
            ms(5050),
            TranscriptEvent::Step {
                index: "3".into(),
                kind: "expect".into(),
                line: 9,
            },
        );
        at(
            ms(95050),
            TranscriptEvent::Received {
                conn: "c1".into(),
                frame: json(
                    serde_json::json!({"cmd": "active</text><script>x()</script>", "headers": {"req_id": "r1"}}),
                ),
            },
        );
        at(
            ms(95060),
            TranscriptEvent::Note {
                text: "[c1] link fault: dropped".into(),
            },
        );
        at(
            ms(95070),
            TranscriptEvent::Closed {
                conn: "c1".into(),
                by: Party::Harness,
                code: Some(1000),
                reason: String::new(),
            },
        );
        t
    }

    fn result(verdict: Verdict, findings: Vec<Finding>) -> ScenarioResult {
        ScenarioResult {
            id: "device.chart".into(),
            title: String::new(),
            file: "scenarios/device/chart.yaml".into(),
            role: crate::scenario::Role::Cloud,
            requirements: vec!["D2".into()],
            tags: vec![],
            obligations: Default::default(),
            not_reached: Default::default(),
            verdict,
            findings,
            wall_time: Duration::ZERO,
            scenario_time: Duration::from_secs(95),
            transcript: small_transcript(),
            judged: None,
        }
    }

    fn failed_at(step: &str) -> Verdict {
        let mut f = Failure::new("req_id r1 reused");
        f.rule = Some("D2".into());
        f.step = Some(step.into());
        Verdict::Fail(f)
    }

    #[test]
    fn the_chart_of_a_small_transcript() {
        let svg = chart(&result(failed_at("3"), vec![]), "sc-device.chart-e").into_string();
        insta::assert_snapshot!(svg.replace("><", ">\n<"));
    }

    #[test]
    fn the_frame_that_broke_the_rule_is_red_and_no_other() {
        for (verdict, findings, red) in [
            (failed_at("3"), vec![], Some("active")),
            (failed_at("2"), vec![], Some("ping")),
            (
                Verdict::Pass,
                vec![Finding {
                    rule: "D2".into(),
                    severity: Severity::Fail,
                    message: "reused".into(),
                    step: Some("2".into()),
                    line: None,
                    monitor: true,
                }],
                Some("ping"),
            ),
            (Verdict::Pass, vec![], None),
        ] {
            let svg = chart(&result(verdict, findings), "e").into_string();
            let broken: Vec<&str> = svg.split("<g class=\"frame broken\">").skip(1).collect();
            match red {
                None => {
                    assert!(broken.is_empty());
                    assert!(!svg.contains("✗"));
                }
                Some(cmd) => {
                    assert_eq!(broken.len(), 1, "{svg}");
                    let label = broken[0].split("</text>").next().unwrap();
                    assert!(label.contains(cmd), "{label}");
                    assert!(svg.contains("✗ D2: "), "the finding is written");
                }
            }
        }
    }

    #[test]
    fn a_repeat_is_within_the_step_that_failed() {
        let mut r = result(failed_at("8"), vec![]);
        let frame = |cmd: &str| TranscriptEvent::Received {
            conn: "c1".into(),
            frame: Frame::Json {
                json: serde_json::json!({ "cmd": cmd }).into(),
            },
        };
        let step = |index: &str| TranscriptEvent::Step {
            index: index.into(),
            kind: "receive".into(),
            line: 1,
        };
        r.transcript = Transcript::default();
        for e in [
            step("8"),
            step("8[1].1"),
            frame("in_repeat"),
            step("9"),
            frame("after"),
        ] {
            r.transcript.push(Duration::ZERO, e);
        }
        let svg = chart(&r, "e").into_string();
        let broken = svg.split("<g class=\"frame broken\">").nth(1).unwrap();
        assert!(
            broken
                .split("</g>")
                .next()
                .unwrap()
                .contains(">in_repeat</text>"),
            "{svg}"
        );
    }

    #[test]
    fn hostile_frames_are_escaped_and_long_gaps_are_cut() {
        let svg = chart(&result(Verdict::Pass, vec![]), "e").into_string();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("active&lt;/text&gt;&lt;script&gt;"));
        // The JSON is once in the page, in the wire log the arrow links to; not in the chart.
        assert!(!svg.contains("SN&lt;1&gt;"), "{svg}");
        assert!(svg.contains("<a href=\"#e"), "{svg}");
        assert!(svg.contains("90.0 s, not to scale"), "{svg}");
        // The 5 s between the reply and the ping is drawn to scale.
        let y_of = |needle: &str| -> f64 {
            let at = svg.find(needle).unwrap();
            let text = &svg[..at];
            let y = text.rsplit(" y1=\"").next().unwrap();
            y.split('"').next().unwrap().parse().unwrap()
        };
        let gap = y_of(">ping #r1</text>") - y_of(">reply #r1 errcode=0</text>");
        assert!((gap - (ROW_PX + 5.0 * PX_PER_SEC)).abs() < 0.2, "{gap}");
        assert!(!svg.contains("url("), "nothing to fetch");
    }

    #[test]
    fn a_frame_is_labelled_by_cmd_req_id_and_errcode() {
        let f = |v: serde_json::Value| frame_label(&Frame::Json { json: v.into() });
        assert_eq!(
            f(serde_json::json!({"cmd": "ping", "headers": {"req_id": "7"}})),
            "ping #7"
        );
        assert_eq!(
            f(serde_json::json!({"headers": {"req_id": 7}, "errcode": 600001})),
            "reply #7 errcode=600001"
        );
        assert_eq!(
            frame_label(&Frame::Binary {
                len: 9,
                head: "01".into(),
                layout: None
            }),
            "binary, 9 bytes"
        );
    }
}
