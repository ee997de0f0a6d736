//! Always-on checks of every frame a cloud sends (C1, C2, C3, C12), and of the links it keeps
//! (C13: two links that registered one SN kick each other).

use super::rules;
use crate::profile::json::field;
use crate::profile::wecom::envelope::header_req_id;
use crate::profile::wecom::volatile::summarized_str;
use crate::profile::{Frame, RoleMonitor, Violation, WireEvent};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// One link's requests by req_id hash: (requests sent with it, replies that echoed it).
type SentOnLink = HashMap<u64, (u32, u32)>;

/// Reads the wire events and reports rule violations by the cloud.
#[derive(Default)]
pub struct CloudMonitor {
    strict_codes: bool,
    /// Per connection and req_id (by its hash): how many requests the harness sent with it,
    /// and how many replies echoed it (C1: a reply echoes *the* request, so one reply per
    /// request). Hashes, not the ids, and a list, not a tree, of the few links a watcher
    /// sees: a link's every request stays here until it closes, and a fleet holds
    /// thousands of links.
    sent: Vec<(String, SentOnLink)>,
    /// `register` requests on their way, per link: (link, req_id key, SN).
    registering: Vec<(String, u64, String)>,
    /// Links whose `register` succeeded: (link, SN, when).
    registered: Vec<(String, String, Duration)>,
    /// C13 is reported once per SN.
    kicked_reported: Vec<String>,
}

/// C13: how long two links that registered the same SN may both stay open (the FAQ gives no
/// time; the kick is immediate on a real cloud, and a few seconds cover a slow one).
pub const KICK_GRACE: Duration = Duration::from_secs(5);

impl CloudMonitor {
    pub fn new(strict_codes: bool) -> CloudMonitor {
        CloudMonitor {
            strict_codes,
            ..CloudMonitor::default()
        }
    }
}

impl RoleMonitor for CloudMonitor {
    fn rules(&self) -> &'static [&'static str] {
        &["C1", "C2", "C3", "C12", "C13"]
    }

    fn observe(&mut self, at: Duration, event: &WireEvent<'_>) -> Vec<Violation> {
        match *event {
            WireEvent::Sent { conn, frame } => {
                let Some(json) = frame.envelope() else {
                    return Vec::new();
                };
                if let Some(id) = header_req_id(json).and_then(Value::as_str) {
                    if field(json, "cmd").and_then(Value::as_str) == Some("register") {
                        if let Some(sn) = field(json, "body")
                            .and_then(|b| field(b, "sn"))
                            .and_then(Value::as_str)
                        {
                            self.registering.retain(|(c, _, _)| c != conn);
                            self.registering
                                .push((conn.to_string(), req_key(id), sn.to_string()));
                        }
                    }
                    let requests = match self.sent.iter().position(|(c, _)| c == conn) {
                        Some(i) => &mut self.sent[i].1,
                        None => {
                            self.sent.push((conn.to_string(), HashMap::new()));
                            &mut self.sent.last_mut().expect("just pushed").1
                        }
                    };
                    requests.entry(req_key(id)).or_default().0 += 1;
                }
                Vec::new()
            }
            WireEvent::Received { conn, frame } => {
                self.note_registered(conn, frame, at);
                self.check(conn, frame)
            }
            // Nothing more arrives on a closed link: its requests are forgotten, so a
            // long-lived watcher (a fleet) holds only its open links' requests.
            WireEvent::Closed { conn } | WireEvent::Abandoned { conn } => {
                self.sent.retain(|(c, _)| c != conn);
                self.registering.retain(|(c, _, _)| c != conn);
                self.registered.retain(|(c, _, _)| c != conn);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// C13: two open links that both registered one SN, a grace period after the second did.
    fn tick(&mut self, now: Duration, open: &[String], _end: bool) -> Vec<Violation> {
        let mut out = Vec::new();
        let is_open = |c: &str| open.iter().any(|o| o == c);
        for (i, (a, sn, _)) in self.registered.iter().enumerate() {
            let Some((b, _, later)) = self.registered[i + 1..]
                .iter()
                .find(|(b, other, _)| other == sn && b != a)
            else {
                continue;
            };
            let side_by_side = now.saturating_sub(*later);
            if is_open(a)
                && is_open(b)
                && side_by_side >= KICK_GRACE
                && !self.kicked_reported.contains(sn)
            {
                self.kicked_reported.push(sn.clone());
                out.push(Violation::fail(
                    "C13",
                    format!("links `{a}` and `{b}` both registered SN {sn}, and both are still open {:.1} s after the second did: the FAQ says the links kick each other", side_by_side.as_secs_f64()),
                ));
            }
        }
        out
    }
}

impl CloudMonitor {
    /// A successful reply to a `register` the harness sent: the link holds that SN now.
    fn note_registered(&mut self, conn: &str, frame: &Frame, at: Duration) {
        let Some(json) = frame.envelope() else {
            return;
        };
        if field(json, "cmd").is_some() || field(json, "errcode").and_then(Value::as_i64) != Some(0)
        {
            return;
        }
        let Some(key) = header_req_id(json).and_then(Value::as_str).map(req_key) else {
            return;
        };
        let Some(pos) = self
            .registering
            .iter()
            .position(|(c, k, _)| c == conn && *k == key)
        else {
            return;
        };
        let (conn, _, sn) = self.registering.remove(pos);
        self.registered.retain(|(c, _, _)| *c != conn);
        self.registered.push((conn, sn, at));
    }
}

/// A req_id's key in [`CloudMonitor::sent`]: a fixed-key hash (the same in every run), so a
/// collision, one in 2^64 per pair, could only hide a C1 break, never invent one. Of the id
/// as a large frame's summary keeps it, so a long one matches whichever size carried it.
fn req_key(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    summarized_str(id).hash(&mut h);
    h.finish()
}

impl CloudMonitor {
    fn check(&mut self, conn: &str, frame: &Frame) -> Vec<Violation> {
        let json = match frame {
            Frame::Json { json } => &**json,
            Frame::Text { text, .. } => {
                return vec![Violation::fail(
                    "C1",
                    format!(
                        "[{conn}] the cloud sent a text frame that is not JSON: {:?}",
                        &text[..text.floor_char_boundary(60)]
                    ),
                )]
            }
            // Judged from its summary, as a small frame is from itself.
            Frame::Large {
                envelope: Some(json),
                ..
            } => json,
            Frame::Large {
                envelope: None,
                len,
            } => {
                return vec![Violation::fail(
                    "C1",
                    format!("[{conn}] the cloud sent {len} bytes of text that is not JSON"),
                )]
            }
            // The step that asked for a binary reply judges its req_id; the header is checked here.
            Frame::Binary { len, head, .. } => {
                let version = hex::decode(head)
                    .ok()
                    .filter(|b| b.len() >= 4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                return match version {
                    Some(1) if *len >= 12 => Vec::new(),
                    _ => vec![Violation::fail("C3", format!("[{conn}] binary frame of {len} bytes does not start with format_version 1 (LE) and its length fields"))],
                };
            }
        };
        if !json.is_object() {
            return vec![Violation::fail(
                "C1",
                format!("[{conn}] the cloud sent JSON that is not an object: {json}"),
            )];
        }
        if field(json, "cmd").is_some() {
            return rules::check_push(json);
        }
        let mut out = Vec::new();
        match field(json, "errcode").and_then(Value::as_i64) {
            None => out.push(Violation::fail(
                "C1",
                format!("[{conn}] reply without an integer errcode: {json}"),
            )),
            Some(0) => {}
            Some(code) => out.extend(rules::check_error_advice(json, code, self.strict_codes)),
        }
        if let Some(id) = header_req_id(json).and_then(Value::as_str) {
            match self.sent.iter_mut().find(|(c, _)| c == conn).and_then(|(_, s)| s.get_mut(&req_key(id))) {
                None => out.push(Violation::fail("C1", format!("[{conn}] reply echoes req_id {id:?}, which the harness never sent on this connection"))),
                Some((sent, replies)) => {
                    *replies += 1;
                    if *replies > *sent {
                        out.push(Violation::fail("C1", format!("[{conn}] a second reply to the request with req_id {id:?}: one request, one reply")));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;
    use serde_json::json;

    fn request(id: &str) -> Frame {
        Frame::Json {
            json: json!({"cmd": "ping", "headers": {"req_id": id}}).into(),
        }
    }

    fn reply(id: &str) -> Frame {
        Frame::Json {
            json: json!({"headers": {"req_id": id}, "errcode": 0, "errmsg": "ok"}).into(),
        }
    }

    /// Feeds (harness sent?, frame) on link `a`; the rules broken, in order.
    fn rules(script: &[(bool, Frame)]) -> Vec<&'static str> {
        let mut m = CloudMonitor::new(true);
        let mut out = Vec::new();
        for (sent, frame) in script {
            let e = if *sent {
                WireEvent::Sent { conn: "a", frame }
            } else {
                WireEvent::Received { conn: "a", frame }
            };
            out.extend(m.observe(Duration::ZERO, &e));
        }
        out.into_iter().map(|v| v.rule).collect()
    }

    #[rstest]
    #[case::one_reply(vec![(true, request("1")), (false, reply("1"))], vec![])]
    #[case::two_requests_two_replies(vec![(true, request("1")), (true, request("1")), (false, reply("1")), (false, reply("1"))], vec![])]
    #[case::duplicate_reply(vec![(true, request("1")), (false, reply("1")), (false, reply("1"))], vec!["C1"])]
    #[case::unknown_req_id(vec![(true, request("1")), (false, reply("2"))], vec!["C1"])]
    #[case::not_json(vec![(false, Frame::Text { text: "oops".into(), len: 4 })], vec!["C1"])]
    fn one_reply_per_request(#[case] script: Vec<(bool, Frame)>, #[case] broken: Vec<&str>) {
        assert_eq!(rules(&script), broken);
    }

    /// `frame` with `"PAD"` replaced by enough `y`s to make it `size` bytes (at least its
    /// own length), recorded as the recorder records any text frame of that size.
    pub(crate) fn padded(frame: &str, size: usize) -> Frame {
        let pad = size.saturating_sub(frame.len() - 3);
        Frame::text(
            &frame.replace("PAD", &"y".repeat(pad)),
            &crate::profile::wecom::WeComProfile,
        )
    }

    /// Frame sizes on both sides of the old 16 KiB line, and far from it.
    pub(crate) fn sizes() -> impl Strategy<Value = usize> {
        let edge = crate::profile::frame::MAX_RECORDED_TEXT;
        prop_oneof![edge - 64..edge + 64, 400..64 * 1024usize]
    }

    /// A cloud's frame after the harness sent request `1`, at any size: (frame, rules broken).
    fn cloud_case(case: usize, size: usize) -> (Vec<Frame>, Vec<&'static str>) {
        let reply = r#"{"headers":{"req_id":"1"},"errcode":0,"errmsg":"ok","body":{"pad":"PAD"}}"#;
        // As deep as the size allows, up to the 9,000 of the report: past the parser's depth.
        let depth = ((size - 100) / 2).min(9_000);
        let deep = format!(
            r#"{{"headers":{{"req_id":"1"}},"errcode":0,"errmsg":"ok","body":{{"pad":"PAD","x":{}{}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let p = |f: &str| padded(f, size);
        match case {
            0 => (vec![p(reply)], vec![]),
            1 => (
                vec![p(
                    r#"{"headers":{"req_id":"1"},"errcode":600014,"errmsg":"PAD","suggestion":"retry","interval":1}"#,
                )],
                vec![],
            ),
            2 => (
                vec![p(
                    r#"{"cmd":"push_x","headers":{"req_id":"p1"},"body":{"pad":"PAD"}}"#,
                )],
                vec![],
            ),
            3 => (vec![p("not json PAD")], vec!["C1"]),
            4 => (vec![p(&reply.replace(r#""1""#, r#""2""#))], vec!["C1"]),
            5 => (vec![p(reply), p(reply)], vec!["C1"]),
            6 => (vec![p(&deep)], vec!["C1"]),
            7 => (
                vec![p(
                    r#"{"cmd":"register","headers":{"req_id":"1"},"errcode":0,"errmsg":"ok","body":{"pad":"PAD"}}"#,
                )],
                vec!["C2"],
            ),
            8 => (
                vec![p(
                    r#"[{"headers":{"req_id":"1"},"errcode":0,"errmsg":"ok","pad":"PAD"}]"#,
                )],
                vec!["C1"],
            ),
            _ => (
                vec![p(
                    r#"{"headers":{"req_id":"1"},"errcode":600014,"errmsg":"ok","suggestion":"PAD","interval":1}"#,
                )],
                vec!["C12"],
            ),
        }
    }

    proptest! {
        /// Every always-on check judges a frame of any size (up to the frame limit) as it
        /// judges a small one: a conformant frame passes and a broken one fails its rule, on
        /// both sides of the size past which frames are recorded by a summary only.
        #[test]
        fn a_frame_is_judged_whatever_its_size(case in 0..10usize, size in sizes()) {
            let (frames, broken) = cloud_case(case, size);
            let mut script = vec![(true, request("1"))];
            script.extend(frames.into_iter().map(|f| (false, f)));
            prop_assert_eq!(rules(&script), broken);
        }
    }

    #[test]
    fn a_large_summary_is_bounded_whatever_the_frame() {
        let wide: serde_json::Map<String, Value> = (0..20_000)
            .map(|i| {
                (
                    format!("k{i}"),
                    json!({"a": "y".repeat(900), "b": [1, 2, 3]}),
                )
            })
            .collect();
        let frames = [
            json!({"headers": {"req_id": "1"}, "errcode": 0, "errmsg": "ok", "body": wide.clone()}),
            Value::Object(wide),
            json!({"cmd": "y".repeat(3 << 20)}),
        ];
        for f in frames {
            let text = f.to_string();
            let Frame::Large {
                envelope: Some(e), ..
            } = Frame::text(&text, &crate::profile::wecom::WeComProfile)
            else {
                panic!("not summarised")
            };
            let kept = e.to_string().len();
            assert!(kept < 32 * 1024, "{kept} bytes kept of {}", text.len());
        }
    }

    /// C13: links `a` and `b` both register SN `S` and the cloud answers both with success;
    /// then `a` is closed at 1 s or not; the rules broken at each tick (seconds).
    fn kick(ticks: &[u64], a_closed: bool) -> Vec<Vec<&'static str>> {
        let mut m = CloudMonitor::new(true);
        let register = |id: &str| Frame::Json {
            json: json!({"cmd": "register", "headers": {"req_id": id}, "body": {"sn": "S"}}).into(),
        };
        for (conn, id) in [("a", "r1"), ("b", "r2")] {
            let (req, ok) = (register(id), reply(id));
            assert!(m
                .observe(Duration::ZERO, &WireEvent::Sent { conn, frame: &req })
                .is_empty());
            assert!(m
                .observe(Duration::ZERO, &WireEvent::Received { conn, frame: &ok })
                .is_empty());
        }
        if a_closed {
            m.observe(Duration::from_secs(1), &WireEvent::Closed { conn: "a" });
        }
        let open: Vec<String> = if a_closed {
            vec!["b".into()]
        } else {
            vec!["a".into(), "b".into()]
        };
        ticks
            .iter()
            .map(|t| {
                m.tick(Duration::from_secs(*t), &open, false)
                    .into_iter()
                    .map(|v| v.rule)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn two_links_of_one_sn_must_kick_each_other() {
        let none: Vec<&str> = Vec::new();
        assert_eq!(
            kick(&[4, 5, 30], false),
            [none.clone(), vec!["C13"], none.clone()],
            "after the grace, once"
        );
        assert_eq!(
            kick(&[4, 5, 30], true),
            [none.clone(), none.clone(), none],
            "the old link was closed: kicked"
        );
    }
}
