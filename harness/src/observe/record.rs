//! From an observed conversation to a device-certification scenario (`observe --record`):
//! the cloud's side replayed as it was seen (its replies and pushes, with their timing), the
//! device's requests as expectations. What the device must do is then a regression test
//! that runs against the device with `hwconform run --device …`.
//!
//! The replay sets the stage and judges nothing itself (`judges: []` on every step): a
//! device that takes another conformant path makes it `inconclusive`, never `fail`; the
//! always-on device rules judge the conversation as in any cloud-role scenario.

use crate::engine::transcript::{Party, TranscriptEvent};
use crate::engine::verdict::ScenarioResult;
use crate::profile::{Frame, Profile};
use crate::scenario::expr::format_duration as secs;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::fmt::Write;
use std::time::Duration;

/// A pause of the cloud at least this long before a reply or push is replayed as a `delay`.
const REPLAYED_PAUSE: Duration = Duration::from_millis(500);
/// The least time a `receive` waits for the device.
const MIN_WITHIN: Duration = Duration::from_secs(10);

/// How long a `receive` waits for a request that came `gap` after the previous event: twice
/// the gap (rounded up to the second), at least [`MIN_WITHIN`].
fn within(gap: Duration) -> Duration {
    MIN_WITHIN.max(Duration::from_secs(gap.as_secs() * 2 + 2))
}

/// The text of a scenario replaying the cloud's side of `device` (the result judging the
/// device, role `cloud`), or `None` when the device said nothing to replay.
pub fn scenario_yaml(device: &ScenarioResult, profile: &dyn Profile) -> Option<String> {
    let auto: BTreeSet<&str> = profile
        .default_auto_replies()
        .iter()
        .map(|r| r.cmd)
        .collect();
    let entries = &device.transcript.entries;
    // Requests answered automatically (`ping`, `get_timestamp`): neither they nor their
    // replies are steps.
    let mut auto_ids: BTreeSet<String> = BTreeSet::new();
    // The req_ids of received requests, in order; replies name one of them.
    let mut received: Vec<String> = Vec::new();
    let mut steps: Vec<String> = Vec::new();
    let mut captures: Vec<(usize, String)> = Vec::new();
    let mut last = Duration::ZERO;
    let mut accepted = false;
    // What the device must implement for the replay to apply to it (`requires:`).
    let mut requires: Vec<&'static str> = Vec::new();
    let mut need = |cmd: &str| {
        if let Some(f) = profile
            .ics_features()
            .iter()
            .find(|f| f.commands.contains(&cmd))
        {
            if !requires.contains(&f.name) {
                requires.push(f.name);
            }
        }
    };
    for e in entries {
        let gap = e.at.saturating_sub(last);
        match &e.event {
            TranscriptEvent::Opened { .. } if !accepted => {
                accepted = true;
                steps.push("accept: { within: 30s }".into());
                last = e.at;
            }
            TranscriptEvent::Received { frame, .. } => {
                let Some(v) = frame.envelope() else {
                    steps.push(format!(
                        "# the device sent a frame that is not JSON ({}) here: not replayed",
                        kind(frame)
                    ));
                    continue;
                };
                let (Some(cmd), Some(id)) = (profile.command(v), profile.req_id(v)) else {
                    // An acknowledgement of a push: nothing to expect of it here.
                    continue;
                };
                if auto.contains(cmd) {
                    auto_ids.insert(id.to_string());
                    continue;
                }
                received.push(id.to_string());
                need(cmd);
                steps.push(format!(
                    "receive: {{ cmd: {}, within: {} }}\n    judges: []",
                    json!(cmd),
                    secs(within(gap))
                ));
                last = e.at;
            }
            TranscriptEvent::Sent { frame, .. } => {
                let Some(v) = frame.envelope() else {
                    steps.push(format!(
                        "# the cloud sent a frame that is not JSON ({}) here: not replayed",
                        kind(frame)
                    ));
                    continue;
                };
                let step = if let Some(cmd) = profile.command(v) {
                    need(cmd);
                    let mut push = Map::new();
                    push.insert("cmd".into(), json!(cmd));
                    if let Some(body) = v.get("body").filter(|b| !b.is_null()) {
                        push.insert("body".into(), body.clone());
                    }
                    format!("push: {}", Value::Object(push))
                } else {
                    let Some(id) = profile.req_id(v) else {
                        continue;
                    };
                    if auto_ids.contains(id) {
                        continue;
                    }
                    let Some(at) = received.iter().rposition(|r| r == id) else {
                        continue;
                    };
                    let mut reply = Map::new();
                    if at + 1 != received.len() {
                        let name = format!("r{at}");
                        captures.push((at, name.clone()));
                        reply.insert("to".into(), json!(format!("${{{name}}}")));
                    }
                    let errcode = v.get("errcode").and_then(Value::as_i64).unwrap_or(0);
                    reply.insert("errcode".into(), json!(errcode));
                    for key in ["errmsg", "suggestion", "interval", "body"] {
                        if let Some(x) = v.get(key).filter(|x| !x.is_null()) {
                            reply.insert(key.into(), x.clone());
                        }
                    }
                    if errcode != 0 && v.get("suggestion").is_none() {
                        reply.insert("no_advice".into(), json!(true));
                    }
                    format!("reply: {}", Value::Object(reply))
                };
                if gap >= REPLAYED_PAUSE {
                    steps.push(format!("delay: {}", secs(gap)));
                }
                if let Frame::Large { len, .. } = frame {
                    steps.push(format!("# the cloud sent {len} bytes here, too many to record: write the rest of its body in"));
                }
                steps.push(step);
                last = e.at;
            }
            TranscriptEvent::Closed {
                by: Party::Target, ..
            } => {
                steps.push(format!(
                    "expect_closed: {{ within: {} }}",
                    secs(within(gap))
                ));
                break;
            }
            TranscriptEvent::Closed {
                by: Party::Harness,
                code: Some(code),
                reason,
                ..
            } if (1000..=4999).contains(code) && ![1001, 1004, 1005, 1006, 1015].contains(code) => {
                steps.push(format!(
                    "close: {{ code: {code}, reason: {} }}",
                    json!(reason.chars().take(100).collect::<String>())
                ));
                break;
            }
            TranscriptEvent::Closed { .. } | TranscriptEvent::Abandoned { .. } => break,
            TranscriptEvent::Note { text } if text.starts_with("observe fault") => {
                steps.push(format!("# {text}"));
            }
            _ => {}
        }
    }
    if received.is_empty() {
        return None;
    }
    // The receives whose request a later reply names out of order capture its req_id.
    let mut receive_no = 0;
    let mut out_steps = String::new();
    for step in &steps {
        if let Some(rest) = step.strip_prefix('#') {
            let _ = writeln!(out_steps, "  #{rest}");
            continue;
        }
        let _ = writeln!(out_steps, "  - {step}");
        if step.starts_with("receive:") {
            for (_, name) in captures.iter().filter(|(at, _)| *at == receive_no) {
                let _ = writeln!(out_steps, "    capture: {{ {name}: headers.req_id }}");
            }
            receive_no += 1;
        }
    }
    let sn = device
        .title
        .strip_prefix("the device ")
        .and_then(|t| t.split(' ').next())
        .unwrap_or("unknown");
    let requirements: Vec<&str> = profile
        .device_monitors(None)
        .iter()
        .flat_map(|m| m.rules().iter().copied())
        .collect();
    let id = device
        .id
        .strip_suffix(".device")
        .unwrap_or(&device.id)
        .replacen("observe.", "recorded.", 1);
    let mut y = String::new();
    let _ = writeln!(y, "id: {id}");
    let _ = writeln!(
        y,
        "title: {}",
        json!(format!(
            "Replay of the cloud's side of {sn}'s observed connection"
        ))
    );
    let _ = writeln!(y, "description: |");
    let _ = writeln!(
        y,
        "  Recorded by `hwconform observe --record` ({}): the cloud's replies and pushes as they\n  were seen, the device's requests as expectations. Credentials are redacted\n  (`<redacted>`): put the lab's test values in before committing.",
        device.file.display()
    );
    let _ = writeln!(y, "requirements: [{}]", requirements.join(", "));
    let _ = writeln!(y, "tags: [recorded]");
    if !requires.is_empty() {
        let _ = writeln!(y, "requires: [{}]", requires.join(", "));
    }
    let _ = writeln!(y, "role: cloud");
    let _ = writeln!(y, "steps:");
    y.push_str(&out_steps);
    Some(y)
}

fn kind(frame: &Frame) -> String {
    match frame {
        Frame::Binary { len, .. } => format!("binary, {len} bytes"),
        Frame::Text { len, .. } => format!("text, {len} bytes"),
        Frame::Large { len, .. } => format!("{len} bytes"),
        Frame::Json { .. } => "JSON".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::transcript::{Transcript, TranscriptEvent};
    use crate::engine::verdict::Verdict;
    use crate::scenario::Role;

    fn device_result(events: Vec<(u64, TranscriptEvent)>) -> ScenarioResult {
        let mut transcript = Transcript::default();
        for (ms, e) in events {
            transcript.push(Duration::from_millis(ms), e);
        }
        ScenarioResult {
            id: "observe.001.SN-1.device".into(),
            title: "the device SN-1 on link 1".into(),
            file: "observe/link1".into(),
            role: Role::Cloud,
            requirements: vec![],
            tags: vec![],
            verdict: Verdict::Pass,
            findings: vec![],
            obligations: Default::default(),
            not_reached: Default::default(),
            wall_time: Duration::ZERO,
            scenario_time: Duration::ZERO,
            transcript,
            judged: None,
        }
    }

    fn frame(v: Value) -> Frame {
        Frame::Json { json: v.into() }
    }

    fn got(v: Value) -> TranscriptEvent {
        TranscriptEvent::Received {
            conn: "link1".into(),
            frame: frame(v),
        }
    }

    fn sent(v: Value) -> TranscriptEvent {
        TranscriptEvent::Sent {
            conn: "link1".into(),
            frame: frame(v),
        }
    }

    /// Requests become receives, replies answer the request they answered (captured when
    /// out of order), pushes and pauses are replayed, pings are left to the auto replies,
    /// and the file loads.
    #[test]
    fn a_conversation_becomes_a_scenario_that_loads() {
        let r = device_result(vec![
            (
                0,
                TranscriptEvent::Opened {
                    waited: None,
                    conn: "link1".into(),
                    local: "x".into(),
                },
            ),
            (
                10,
                got(json!({"cmd": "register", "headers": {"req_id": "1"}, "body": {"sn": "SN-1"}})),
            ),
            (
                20,
                got(json!({"cmd": "get_timestamp", "headers": {"req_id": "t"}})),
            ),
            (
                25,
                sent(
                    json!({"headers": {"req_id": "t"}, "errcode": 0, "errmsg": "ok", "body": {"timestamp": 1}}),
                ),
            ),
            (
                30,
                got(json!({"cmd": "active", "headers": {"req_id": "2"}, "body": {}})),
            ),
            (
                40,
                sent(
                    json!({"headers": {"req_id": "1"}, "errcode": 0, "errmsg": "ok", "body": {"active_code": "<redacted>"}}),
                ),
            ),
            (
                1_540,
                sent(
                    json!({"headers": {"req_id": "2"}, "errcode": 600004, "errmsg": "no device auth"}),
                ),
            ),
            (
                1_600,
                sent(json!({"cmd": "push_bind_corp", "headers": {"req_id": "p"}, "body": {}})),
            ),
            (
                1_700,
                TranscriptEvent::Closed {
                    conn: "link1".into(),
                    by: Party::Target,
                    code: Some(1000),
                    reason: String::new(),
                },
            ),
        ]);
        let yaml = scenario_yaml(&r, &crate::profile::wecom::WeComProfile).unwrap();
        assert!(yaml.starts_with("id: recorded.001.SN-1\n"), "{yaml}");
        assert!(!yaml.contains("get_timestamp"), "auto-answered: {yaml}");
        assert!(yaml.contains("capture: { r0: headers.req_id }"), "{yaml}");
        assert!(yaml.contains(r#""to":"${r0}""#), "{yaml}");
        assert!(yaml.contains("- delay: 1.50s"), "{yaml}");
        assert!(yaml.contains(r#""no_advice":true"#), "{yaml}");
        assert!(
            yaml.contains(r#"- push: {"cmd":"push_bind_corp","body":{}}"#),
            "{yaml}"
        );
        assert!(yaml.contains("- expect_closed:"), "{yaml}");
        let loaded = crate::scenario::load_str(std::path::Path::new("r.yaml"), &yaml);
        assert!(loaded.is_ok(), "{yaml}\n{:?}", loaded.err());
    }

    #[test]
    fn a_device_that_said_nothing_gives_no_scenario() {
        let r = device_result(vec![(
            0,
            TranscriptEvent::Opened {
                waited: None,
                conn: "link1".into(),
                local: "x".into(),
            },
        )]);
        assert!(scenario_yaml(&r, &crate::profile::wecom::WeComProfile).is_none());
    }
}
