//! Always-on checks of a device (the harness plays the cloud): D1, D2, D3, D6, D7, D12, D13,
//! D21, D22, and a warning on D5 for a nonce used twice.
//! Each rule is reported once per link, at the first frame that breaks it.

use crate::profile::wecom::envelope::header_req_id;
use crate::profile::wecom::volatile::{resend_body, summarized_str};
use crate::profile::{Frame, RoleMonitor, Severity, Violation, WireEvent};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

/// D12: the longest allowed gap between pings after login, with tolerance (the same window
/// scenarios write as `${ping_gap_latest}`).
pub const MAX_PING_GAP: Duration = crate::profile::wecom::timing::PING_GAP_LATEST;
/// D13: a request re-sent sooner than this after the unanswered previous one
/// (`${resend_earliest}`).
pub const MIN_RESEND: Duration = crate::profile::wecom::timing::RESEND_EARLIEST;
/// D21: at most this many `subscribe_corp` in any window.
pub const SUBSCRIBE_LIMIT: usize = 5;
pub const SUBSCRIBE_WINDOW: Duration = Duration::from_secs(60);
/// D22: how long an old link may outlive the opening of a new one (a close on its way).
pub const OVERLAP_GRACE: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Link {
    closed: Option<Duration>,
    req_ids: HashSet<String>,
    pushes: HashSet<String>,
    /// Requests not answered yet: req_id → (cmd, body without volatile fields, arrival).
    outstanding: BTreeMap<String, (String, Value, Duration)>,
    logged_in: Option<Duration>,
    last_ping: Option<Duration>,
    /// The device sent `register` on this link (D7: before anything but the seed exchange
    /// and the time query).
    registered: bool,
}

#[derive(Default)]
pub struct DeviceMonitor {
    links: BTreeMap<String, Link>,
    subscribes: Vec<Duration>,
    /// (new link, old link, when the new one opened): overlaps to judge.
    overlaps: Vec<(String, String, Duration)>,
    reported: BTreeSet<(String, &'static str, Severity)>,
    /// The cloud answered a `register` with success (D6: no `get_secret_no` after that).
    registered: bool,
    /// Every `register` nonce seen, across links: a nonce used again defeats the replay
    /// protection it exists for (not a rule by the letter of D5: a warning).
    nonces: HashSet<String>,
    /// Whether the device started seed-provisioned, when known: one that did not never sends
    /// `get_secret_no` (D6).
    seeded: Option<bool>,
}

/// What identifies a request's content for D13: its body without what a re-send changes
/// (a large frame carries only a digest of that).
fn content(frame: &Value) -> Value {
    match frame.get("body_digest") {
        Some(d) => d.clone(),
        None => resend_body(frame),
    }
}

impl RoleMonitor for DeviceMonitor {
    fn rules(&self) -> &'static [&'static str] {
        &[
            "D1", "D2", "D3", "D5", "D6", "D7", "D12", "D13", "D21", "D22",
        ]
    }

    fn observe(&mut self, at: Duration, event: &WireEvent<'_>) -> Vec<Violation> {
        match *event {
            WireEvent::Opened { conn, waited } => {
                // A connection that waited for the harness was opened `waited` earlier:
                // links still open then stood beside it, even if closed since.
                let opened = at.saturating_sub(waited);
                for (name, link) in &self.links {
                    if link.closed.is_none_or(|c| c > opened + OVERLAP_GRACE) {
                        self.overlaps.push((conn.to_string(), name.clone(), opened));
                    }
                }
                self.links.insert(conn.to_string(), Link::default());
            }
            WireEvent::Abandoned { conn } => {
                if let Some(link) = self.links.remove(conn) {
                    let old = format!("{conn}~old");
                    for o in &mut self.overlaps {
                        if o.1 == conn {
                            o.1 = old.clone();
                        }
                    }
                    self.links.insert(old, link);
                }
            }
            WireEvent::Closed { conn } => {
                if let Some(link) = self.links.get_mut(conn) {
                    link.closed.get_or_insert(at);
                }
            }
            WireEvent::Sent { conn, frame } => {
                if let Some(json) = frame.envelope() {
                    self.cloud_sent(conn, json, at);
                } else if let Frame::Binary {
                    head,
                    layout: Some(l),
                    ..
                } = frame
                {
                    // A binary reply answers the request whose req_id it carries.
                    if l == "reply" {
                        if let Some(id) = binary_reply_req_id(head) {
                            self.cloud_sent(
                                conn,
                                &serde_json::json!({"headers": {"req_id": id}, "errcode": 0}),
                                at,
                            );
                        }
                    }
                }
            }
            WireEvent::Received { conn, frame } => return self.device_sent(conn, frame, at),
        }
        Vec::new()
    }

    fn tick(&mut self, now: Duration, _open: &[String], _end: bool) -> Vec<Violation> {
        let mut out = self.heartbeats(now);
        out.extend(self.two_links(now));
        out
    }
}

impl DeviceMonitor {
    pub fn new(seeded: Option<bool>) -> DeviceMonitor {
        DeviceMonitor {
            seeded,
            ..DeviceMonitor::default()
        }
    }

    /// A frame the harness (as the cloud) sent: replies answer requests and may log in;
    /// pushes may be acknowledged.
    fn cloud_sent(&mut self, conn: &str, json: &Value, at: Duration) {
        let Some(link) = self.links.get_mut(conn) else {
            return;
        };
        let Some(req_id) = header_req_id(json).and_then(Value::as_str) else {
            return;
        };
        // As a large frame's summary keeps it: a long id matches whichever size carried it.
        let req_id = summarized_str(req_id);
        if json.get("cmd").is_some() {
            link.pushes.insert(req_id.into_owned());
            return;
        }
        let Some((cmd, _, _)) = link.outstanding.remove(&*req_id) else {
            return;
        };
        let cmd = cmd.as_str();
        let code = json.get("errcode").and_then(Value::as_i64);
        self.registered |= (cmd, code) == ("register", Some(0));
        let logged_in = matches!(
            (cmd, code),
            ("subscribe_corp", Some(0)) | ("subscribe_corp" | "register", Some(600054))
        );
        if logged_in && link.logged_in.is_none() {
            link.logged_in = Some(at);
        }
    }

    /// A broken rule, reported once per connection.
    fn once(&mut self, conn: &str, rule: &'static str, message: String) -> Option<Violation> {
        self.reported
            .insert((conn.to_string(), rule, Severity::Fail))
            .then(|| Violation::fail(rule, format!("[{conn}] {message}")))
    }

    /// A deviation from an example, reported once per connection.
    fn once_warning(
        &mut self,
        conn: &str,
        rule: &'static str,
        message: String,
    ) -> Option<Violation> {
        self.reported
            .insert((conn.to_string(), rule, Severity::Warning))
            .then(|| Violation::warning(rule, format!("[{conn}] {message}")))
    }

    fn device_sent(&mut self, conn: &str, frame: &Frame, at: Duration) -> Vec<Violation> {
        let mut out = Vec::new();
        let json = match frame {
            Frame::Json { json } => json,
            Frame::Large {
                envelope: Some(e), ..
            } => e,
            Frame::Large {
                envelope: None,
                len,
            } => {
                return self
                    .once(
                        conn,
                        "D1",
                        format!("the device sent {len} bytes of text that is not JSON"),
                    )
                    .into_iter()
                    .collect()
            }
            Frame::Text { text, .. } => {
                return self
                    .once(
                        conn,
                        "D1",
                        format!(
                            "the device sent text that is not JSON: {:?}",
                            &text[..text.floor_char_boundary(60)]
                        ),
                    )
                    .into_iter()
                    .collect()
            }
            Frame::Binary { len, layout, .. } => {
                if layout.as_deref() != Some("upload_log") {
                    out.extend(self.once(conn, "D3", format!("binary frame of {len} bytes is not a well-formed upload_log (format_version 1, cmd_len 10, cmd \"upload_log\", LE lengths matching the fields)")));
                }
                return out;
            }
        };
        let Some(obj) = json.as_object() else {
            return self
                .once(
                    conn,
                    "D1",
                    format!("the device sent JSON that is not an object: {json}"),
                )
                .into_iter()
                .collect();
        };
        let req_id = header_req_id(json)
            .and_then(Value::as_str)
            .map(summarized_str);
        let Some(cmd) = obj.get("cmd") else {
            let is_ack = req_id
                .as_deref()
                .is_some_and(|id| self.links.get(conn).is_some_and(|l| l.pushes.contains(id)));
            if !is_ack {
                out.extend(self.once(
                    conn,
                    "D1",
                    format!("a frame without `cmd` that acknowledges no push: {json}"),
                ));
            }
            return out;
        };
        let (Some(cmd), Some(req_id)) = (cmd.as_str(), req_id.as_deref()) else {
            return self
                .once(
                    conn,
                    "D1",
                    format!("a request needs a string `cmd` and `headers.req_id`: {json}"),
                )
                .into_iter()
                .collect();
        };
        // D1: parameters sit in `body`; the envelope has nothing else at the top level.
        let outside: Vec<&str> = obj
            .keys()
            .map(String::as_str)
            .filter(|k| !matches!(*k, "cmd" | "headers" | "body" | "body_digest"))
            .collect();
        if !outside.is_empty() {
            out.extend(self.once(
                conn,
                "D1",
                format!(
                        "`{cmd}` carries {} outside `body`: parameters sit in `body`",
                        outside
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
            ));
        }
        if cmd == "get_secret_no" && self.seeded == Some(false) {
            out.extend(self.once(conn, "D6", "`get_secret_no` from a device that is not seed-provisioned: only seed devices exchange a SecretNo".to_string()));
        } else if cmd == "get_secret_no" && self.registered {
            out.extend(self.once(conn, "D6", "`get_secret_no` after a successful `register`: the seed exchange comes only before the first one".to_string()));
        }
        if cmd == "register" {
            let nonce = obj
                .get("body")
                .and_then(|b| b.get("nonce"))
                .filter(|n| !n.is_null())
                .map(|n| n.to_string());
            if let Some(nonce) = nonce {
                if !self.nonces.insert(nonce.clone()) && self.nonces.len() < 4096 {
                    out.extend(self.once_warning("device", "D5", format!("`register` sent the nonce {nonce} again: a nonce that repeats defeats the replay protection it is for")));
                }
            }
        }
        match obj.get("body") {
            // The documented examples leave a parameterless body out; `null` is what many
            // JSON encoders write for "none", and D1 asks only that parameters sit in `body`.
            Some(Value::Null) => out.extend(self.once_warning(conn, "D1", format!("`{cmd}` carries `\"body\": null`; the documented examples leave a parameterless body out"))),
            Some(b) if !b.is_object() => out.extend(self.once(conn, "D1", format!("`{cmd}` has a body that is not an object"))),
            _ => {}
        }
        let body = content(json);
        let Some(link) = self.links.get_mut(conn) else {
            return out;
        };
        let reused = !link.req_ids.insert(req_id.to_string());
        let resent = link
            .outstanding
            .values()
            .find(|(c, b, when)| c == cmd && *b == body && at.saturating_sub(*when) < MIN_RESEND)
            .map(|(_, _, when)| at.saturating_sub(*when));
        link.outstanding
            .insert(req_id.to_string(), (cmd.to_string(), body, at));
        let before_register =
            !link.registered && !matches!(cmd, "register" | "get_secret_no" | "get_timestamp");
        link.registered |= cmd == "register";
        // D12 speaks of pings after login: pings before it are neither required nor judged.
        let ping_gap = match (cmd, link.logged_in) {
            ("ping", Some(login)) => {
                let gap = at.saturating_sub(link.last_ping.unwrap_or(login));
                link.last_ping = Some(at);
                Some(gap)
            }
            _ => None,
        };
        if before_register {
            out.extend(self.once(conn, "D7", format!("`{cmd}` before `register` on this link: register comes first on every new connection")));
        }
        if reused {
            out.extend(self.once(
                conn,
                "D2",
                format!("req_id {req_id:?} was used again (by `{cmd}`) on this connection"),
            ));
        }
        if let Some(after) = resent {
            out.extend(self.once(conn, "D13", format!("`{cmd}` was re-sent {:.2} s after the unanswered previous one; expected at least 5 s", after.as_secs_f64())));
        }
        if let Some(gap) = ping_gap.filter(|g| *g > MAX_PING_GAP) {
            out.extend(self.once(
                conn,
                "D12",
                format!(
                    "{:.1} s between pings after login; expected 20–40 s",
                    gap.as_secs_f64()
                ),
            ));
        }
        if cmd == "subscribe_corp" {
            self.subscribes.push(at);
            let recent = self
                .subscribes
                .iter()
                .filter(|t| at.saturating_sub(**t) < SUBSCRIBE_WINDOW)
                .count();
            if recent > SUBSCRIBE_LIMIT {
                out.extend(self.once(
                    "device",
                    "D21",
                    format!(
                        "{recent} subscribe_corp within {} s; at most {SUBSCRIBE_LIMIT} a minute",
                        SUBSCRIBE_WINDOW.as_secs()
                    ),
                ));
            }
        }
        out
    }

    /// D12 between frames: a logged-in link that has gone too long without a ping.
    fn heartbeats(&mut self, now: Duration) -> Vec<Violation> {
        let late: Vec<(String, Duration)> = self
            .links
            .iter()
            .filter_map(|(name, l)| {
                let login = l.logged_in?;
                let since = l.last_ping.filter(|p| *p >= login).unwrap_or(login);
                let end = l.closed.unwrap_or(now);
                let gap = end.saturating_sub(since);
                (gap > MAX_PING_GAP).then(|| (name.clone(), gap))
            })
            .collect();
        late.into_iter()
            .filter_map(|(name, gap)| self.once(&name, "D12", format!("no ping for {:.1} s after login or the last ping; expected one every 20–40 s", gap.as_secs_f64())))
            .collect()
    }

    /// D22: an old link still open a grace period after a new one opened.
    fn two_links(&mut self, now: Duration) -> Vec<Violation> {
        let mut out = Vec::new();
        let overlaps = std::mem::take(&mut self.overlaps);
        let mut keep = Vec::new();
        for (new, old, opened) in overlaps {
            let old_closed = self.links.get(&old).and_then(|l| l.closed);
            let overlap = old_closed.unwrap_or(now).saturating_sub(opened);
            if overlap > OVERLAP_GRACE {
                out.extend(self.once(&new, "D22", format!("the device opened `{new}` while `{old}` stayed open ({:.1} s side by side)", overlap.as_secs_f64())));
            } else if old_closed.is_none() {
                keep.push((new, old, opened));
            }
        }
        self.overlaps = keep;
        out
    }
}

/// The req_id inside a binary reply's hex head (`format_version | req_id_len | req_id | ...`).
fn binary_reply_req_id(head: &str) -> Option<String> {
    let bytes = hex::decode(head).ok()?;
    let len = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?) as usize;
    String::from_utf8(bytes.get(8..8 + len)?.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    /// Frames on one link `a`, opened at 0 s: (time, sent by the device?, frame).
    struct Script(Vec<(Duration, bool, Frame)>);

    impl Script {
        fn new() -> Script {
            Script(Vec::new())
        }
        fn device(mut self, at: f64, frame: serde_json::Value) -> Script {
            self.0
                .push((s(at), true, Frame::Json { json: frame.into() }));
            self
        }
        fn cloud(mut self, at: f64, frame: serde_json::Value) -> Script {
            self.0
                .push((s(at), false, Frame::Json { json: frame.into() }));
            self
        }
        /// Feeds the whole script to a fresh monitor, as one sweep ending at `now`: the
        /// rules broken (warnings left out).
        fn rules(&self, now: f64) -> Vec<&'static str> {
            self.violations(now)
                .into_iter()
                .filter(|v| v.severity == Severity::Fail)
                .map(|v| v.rule)
                .collect()
        }
        fn violations(&self, now: f64) -> Vec<Violation> {
            self.violations_of(DeviceMonitor::default(), now)
        }
        fn violations_of(&self, mut m: DeviceMonitor, now: f64) -> Vec<Violation> {
            let mut out = m.observe(
                Duration::ZERO,
                &WireEvent::Opened {
                    conn: "a",
                    waited: Duration::ZERO,
                },
            );
            for (at, by_device, frame) in &self.0 {
                let e = if *by_device {
                    WireEvent::Received { conn: "a", frame }
                } else {
                    WireEvent::Sent { conn: "a", frame }
                };
                out.extend(m.observe(*at, &e));
            }
            out.extend(m.tick(s(now), &[], true));
            out
        }
    }

    /// A connection the harness took late (it waited while the device's other link was
    /// open) stood beside that link from when the device opened it: D22, even though the
    /// other link had closed by the time it was taken. Taken at once, or opened after the
    /// other link closed, it is an ordinary reconnect.
    #[rstest::rstest]
    #[case::waited_beside_the_open_link(27.0, true)]
    #[case::opened_as_the_old_link_closed(0.5, false)]
    #[case::taken_at_once(0.0, false)]
    fn a_connection_that_waited_is_judged_from_when_it_opened(
        #[case] waited: f64,
        #[case] broken: bool,
    ) {
        let mut m = DeviceMonitor::default();
        let opened = |conn, waited| WireEvent::Opened {
            conn,
            waited: s(waited),
        };
        let mut out = m.observe(Duration::ZERO, &opened("a", 0.0));
        out.extend(m.observe(s(30.0), &WireEvent::Closed { conn: "a" }));
        out.extend(m.tick(s(30.0), &[], false));
        out.extend(m.observe(s(30.5), &opened("b", waited)));
        out.extend(m.tick(s(31.0), &[], true));
        let d22 = out.iter().any(|v| v.rule == "D22");
        assert_eq!(d22, broken, "{out:?}");
    }

    fn req(cmd: &str, id: &str, body: serde_json::Value) -> serde_json::Value {
        json!({"cmd": cmd, "headers": {"req_id": id}, "body": body})
    }

    fn ok(id: &str) -> serde_json::Value {
        json!({"headers": {"req_id": id}, "errcode": 0, "errmsg": "ok"})
    }

    fn logged_in() -> Script {
        Script::new()
            .device(
                0.0,
                req(
                    "register",
                    "r0",
                    json!({"sn": "S", "timestamp": 0, "nonce": 0}),
                ),
            )
            .cloud(0.0, ok("r0"))
            .device(
                0.0,
                req(
                    "subscribe_corp",
                    "s1",
                    json!({"secret": "x", "firmware_version": "1"}),
                ),
            )
            .cloud(0.0, ok("s1"))
    }

    /// A device's frames on a fresh link, at any size: (frames, rules broken).
    fn device_case(case: usize, size: usize) -> (Vec<Frame>, Vec<&'static str>) {
        use crate::profile::wecom::monitors::cloud::tests::padded;
        let register = r#"{"cmd":"register","headers":{"req_id":"r0"},"body":{"sn":"S","timestamp":1,"nonce":"n","pad":"PAD"}}"#;
        let p = |f: &str| padded(f, size);
        match case {
            0 => (vec![p(register)], vec![]),
            1 => (vec![p("not json PAD")], vec!["D1"]),
            2 => (
                vec![p(
                    r#"{"cmd":"register","headers":{"req_id":"r0"},"body":{"sn":"S"},"pad":"PAD"}"#,
                )],
                vec!["D1"],
            ),
            // The same request again at once, under its own req_id: a re-send too soon as well.
            3 => (
                vec![p(register), p(&register.replace(r#""n""#, r#""m""#))],
                vec!["D2", "D13"],
            ),
            4 => (
                vec![p(
                    r#"{"cmd":"ping","headers":{"req_id":"p0"},"body":{"pad":"PAD"}}"#,
                )],
                vec!["D7"],
            ),
            _ => (
                vec![p(
                    r#"{"cmd":"register","headers":{"req_id":"r0"},"body":"PAD"}"#,
                )],
                vec!["D1"],
            ),
        }
    }

    proptest::proptest! {
        /// The device's always-on checks judge a frame of any size as they judge a small one.
        #[test]
        fn a_device_frame_is_judged_whatever_its_size(case in 0..6usize, size in crate::profile::wecom::monitors::cloud::tests::sizes()) {
            let (frames, broken) = device_case(case, size);
            let script = Script(frames.into_iter().map(|f| (s(0.0), true, f)).collect());
            proptest::prop_assert_eq!(script.rules(0.0), broken);
        }
    }

    #[test]
    fn a_conformant_device_doing_unusual_things_is_not_flagged() {
        let script = logged_in()
            // A ping before any login, then pings every 30 s after it.
            .device(10.0, req("ping", "p1", json!({})))
            .cloud(10.0, ok("p1"))
            .device(40.0, req("ping", "p2", json!({})))
            // Two different check-ins a second apart, the first unanswered: not a re-send.
            .device(
                41.0,
                req(
                    "checkin",
                    "c1",
                    json!({"checkin_data": [{"userid": "a", "timestamp": 1}]}),
                ),
            )
            .device(
                42.0,
                req(
                    "checkin",
                    "c2",
                    json!({"checkin_data": [{"userid": "b", "timestamp": 2}]}),
                ),
            )
            // The same request re-signed after 6 s without a reply: a re-send, and a patient one.
            .device(
                43.0,
                req(
                    "register",
                    "r1",
                    json!({"sn": "S", "timestamp": 1, "nonce": 1}),
                ),
            )
            .device(
                49.0,
                req(
                    "register",
                    "r2",
                    json!({"sn": "S", "timestamp": 7, "nonce": 2}),
                ),
            )
            // An acknowledgement of a push.
            .cloud(
                50.0,
                json!({"cmd": "push_bind_corp", "headers": {"req_id": "push-1"}}),
            )
            .device(50.5, json!({"headers": {"req_id": "push-1"}, "errcode": 0}))
            .device(70.0, req("ping", "p3", json!({})));
        assert_eq!(script.rules(75.0), Vec::<&str>::new());
    }

    #[test]
    fn each_rule_catches_its_breach() {
        let reuse = logged_in().device(1.0, req("ping", "s1", json!({})));
        assert_eq!(reuse.rules(2.0), ["D2"]);
        let resend = Script::new()
            .device(
                0.0,
                req("register", "r1", json!({"sn": "S", "timestamp": 1})),
            )
            .device(
                1.0,
                req("register", "r2", json!({"sn": "S", "timestamp": 2})),
            );
        assert_eq!(resend.rules(2.0), ["D13"]);
        let silent = logged_in();
        assert_eq!(silent.rules(43.0), ["D12"]);
        assert!(silent.rules(41.0).is_empty(), "40 s + tolerance is allowed");
        let no_cmd = Script::new().device(0.0, json!({"headers": {"req_id": "x"}}));
        assert_eq!(no_cmd.rules(1.0), ["D1"]);
        let early = Script::new()
            .device(0.0, req("get_timestamp", "t1", json!({})))
            .device(0.5, req("ping", "p1", json!({})));
        assert_eq!(
            early.rules(1.0),
            ["D7"],
            "the time query may come first, a ping may not"
        );
        let mut storm = Script::new().device(0.0, req("register", "r0", json!({"sn": "S"})));
        for i in 0..6 {
            storm = storm.device(
                i as f64 * 5.0,
                req("subscribe_corp", &format!("s{i}"), json!({"n": i})),
            );
        }
        assert_eq!(storm.rules(31.0), ["D21"]);
    }

    /// D1 asks that parameters sit in `body`; the examples leave a parameterless body out.
    /// `null` for "none" deviates from the examples only: a warning, once per link. A body
    /// that is some other non-object breaks the rule.
    #[test]
    fn a_null_body_is_a_warning_and_any_other_non_object_body_a_failure() {
        let null = logged_in()
            .device(10.0, req("ping", "p1", json!(null)))
            .device(20.0, req("get_perm_version", "g1", json!(null)));
        let seen = null.violations(30.0);
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!((seen[0].rule, seen[0].severity), ("D1", Severity::Warning));
        assert!(null.rules(30.0).is_empty());
        for body in [json!("x"), json!([1]), json!(3)] {
            assert_eq!(
                logged_in()
                    .device(10.0, req("ping", "p1", body.clone()))
                    .rules(30.0),
                ["D1"],
                "{body}"
            );
        }
    }

    /// D1: parameters sit in `body`; a request that carries one beside it breaks the rule,
    /// whatever the key.
    #[test]
    fn parameters_outside_body_break_d1() {
        for extra in ["offset", "limit", "errcode"] {
            let mut frame = req("get_visitor_list", "v1", json!({}));
            frame[extra] = json!(0);
            let seen = logged_in().device(1.0, frame).violations(2.0);
            assert_eq!(
                seen.iter().map(|v| v.rule).collect::<Vec<_>>(),
                ["D1"],
                "{extra}: {seen:?}"
            );
            assert!(
                seen[0]
                    .message
                    .contains(&format!("`{extra}` outside `body`")),
                "{}",
                seen[0].message
            );
        }
    }

    /// D6: only a seed-provisioned device exchanges its SecretNo, and only before its first
    /// successful register; where provisioning is not known, only the second half is judged.
    #[test]
    fn get_secret_no_after_register_or_from_a_per_device_device_breaks_d6() {
        let exchange = |s: Script| {
            s.device(0.0, req("get_secret_no", "g1", json!({"sn": "S"})))
                .cloud(0.0, ok("g1"))
        };
        let first = exchange(Script::new());
        assert!(
            first
                .violations_of(DeviceMonitor::new(Some(true)), 1.0)
                .is_empty(),
            "a seed device exchanges before registering"
        );
        let per_device = first.violations_of(DeviceMonitor::new(Some(false)), 1.0);
        assert_eq!(
            per_device.iter().map(|v| v.rule).collect::<Vec<_>>(),
            ["D6"]
        );
        assert!(
            first
                .violations_of(DeviceMonitor::new(None), 1.0)
                .is_empty(),
            "provisioning unknown"
        );
        let after = exchange(logged_in());
        for seeded in [Some(true), None] {
            let seen = after.violations_of(DeviceMonitor::new(seeded), 1.0);
            assert_eq!(
                seen.iter().map(|v| v.rule).collect::<Vec<_>>(),
                ["D6"],
                "{seeded:?}"
            );
        }
        // A register that was refused does not count.
        let refused = Script::new()
            .device(0.0, req("register", "r0", json!({"sn": "S", "nonce": 1})))
            .cloud(
                0.0,
                json!({"headers": {"req_id": "r0"}, "errcode": 600002, "errmsg": "x"}),
            );
        assert!(exchange(refused)
            .violations_of(DeviceMonitor::new(Some(true)), 1.0)
            .is_empty());
    }

    /// A nonce sent twice in `register` defeats replay protection: a warning on D5 (the
    /// letter asks only for a numeric nonce), never a failure.
    #[test]
    fn a_repeated_register_nonce_is_a_warning() {
        let twice = Script::new()
            .device(
                0.0,
                req(
                    "register",
                    "r1",
                    json!({"sn": "S", "timestamp": 1, "nonce": 7}),
                ),
            )
            .device(
                6.0,
                req(
                    "register",
                    "r2",
                    json!({"sn": "S", "timestamp": 7, "nonce": 7}),
                ),
            );
        let seen = twice.violations(7.0);
        assert_eq!(
            seen.iter()
                .map(|v| (v.rule, v.severity))
                .collect::<Vec<_>>(),
            [("D5", Severity::Warning)]
        );
        let fresh = Script::new()
            .device(
                0.0,
                req(
                    "register",
                    "r1",
                    json!({"sn": "S", "timestamp": 1, "nonce": 7}),
                ),
            )
            .device(
                6.0,
                req(
                    "register",
                    "r2",
                    json!({"sn": "S", "timestamp": 7, "nonce": 8}),
                ),
            );
        assert!(fresh.violations(7.0).is_empty());
    }
}
