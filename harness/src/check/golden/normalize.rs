//! Normalization: a transcript as the text a golden file holds, one line per entry, with
//! every value that changes from run to run replaced by a stable placeholder.
//!
//! What is replaced, and why:
//! - values at the profile's volatile keys ([`Profile::volatile_keys`]: `req_id`, `timestamp`,
//!   `nonce`, signatures, `oper_id`) and at [`IDENTITY_KEYS`] (`sn`: a run lends each scenario
//!   devices by its position in the selection, or by worker slot against a remote cloud), at
//!   any depth, become `<key#N>`, numbered by first appearance per key within the transcript,
//!   so the same value always gets the same placeholder and "the reply echoes the request's
//!   req_id" stays visible. A placeholder for a string is quoted (`"<req_id#1>"`), for a
//!   number it is not (`<nonce#1>`), so a change of type still shows;
//! - unix times anywhere else — a number at another key, ten digits inside free text (an
//!   `errmsg`, a note, upload data), thirteen for milliseconds — become `<timestamp#N>`
//!   (`<timestamp_ms#N>`), in the same numbering as the `timestamp` key;
//! - a known volatile value inside free text (a note naming a req_id) gets its placeholder;
//! - ports in addresses become `<port>`, and the slot octet of a loopback address (the
//!   harness gives `127.S.x.y` to scenario slot `S` over sockets) becomes 0;
//! - binary frames show their length and what the profile's binary layout says
//!   ([`Profile::binary_head`]: version, `upload_log`, req_id as a placeholder, data length
//!   and its first bytes).
//!
//! `Step` entries are left out (their line numbers churn whenever a scenario file is edited).
//! Secrets never need replacing here: the recorder stores frames with them `<redacted>`.

use crate::engine::transcript::{close_text, Frame, Party, Transcript, TranscriptEvent};
use crate::profile::Profile;
use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::RangeInclusive;
use std::sync::LazyLock;

/// Keys whose values are the identity a run lent the scenario; placeholdered like volatile
/// values, so a golden does not depend on which device of the fleet a scenario got.
pub const IDENTITY_KEYS: &[&str] = &["sn"];

/// The placeholder name of unix times (seconds), wherever they appear.
const TIME_KEY: &str = "timestamp";
/// The placeholder name of unix times in milliseconds.
const TIME_MS_KEY: &str = "timestamp_ms";

/// What counts as a unix time: 2001-09-09 to 2038-01-19, in seconds (ten digits).
const UNIX_SECS: RangeInclusive<u64> = 1_000_000_000..=2_147_483_647;
/// The same span in milliseconds (thirteen digits).
const UNIX_MS: RangeInclusive<u64> = 1_000_000_000_000..=2_147_483_647_999;

/// Known values shorter than this are not looked for in free text (a nonce of `1` must not
/// turn every `1` into a placeholder).
const MIN_TOKEN: usize = 4;

/// How a transcript is normalized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormalizeOptions {
    /// Prefix each line with its time on the scenario clock. Off for targets on the wall
    /// clock, where times vary from run to run.
    pub times: bool,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        NormalizeOptions { times: true }
    }
}

/// The transcript as golden text, times included (see the [module docs](self)).
pub fn normalize(t: &Transcript) -> String {
    normalize_with(t, NormalizeOptions::default())
}

/// The transcript as golden text, read with the default profile.
pub fn normalize_with(t: &Transcript, opts: NormalizeOptions) -> String {
    normalize_by(&*crate::profile::default_profile(), t, opts)
}

/// The transcript as golden text, its volatile values and binary frames read with `profile`.
pub fn normalize_by(profile: &dyn Profile, t: &Transcript, opts: NormalizeOptions) -> String {
    let mut p = Placeholders::new(profile);
    // The first pass numbers every value in order of appearance; the second renders knowing
    // them all, so a note that names a req_id before its frame still gets the placeholder.
    render(t, opts, &mut p);
    render(t, opts, &mut p)
}

/// Golden text without the time prefixes (to compare a timed golden with an untimed run).
pub fn strip_times(text: &str) -> String {
    static TIME: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?m)^ *\d+\.\d{3}s ").expect("valid regex"));
    TIME.replace_all(text, "").into_owned()
}

/// Golden text grouped by connection: each connection's lines in their order, connections
/// in order of first appearance, notes last. What a wall-clock target can be held to: the
/// order within a connection is fixed, the interleaving of connections is a race.
pub fn per_connection(text: &str) -> String {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut notes = Vec::new();
    for line in text.lines() {
        let body = line.trim_start();
        let body = match body.split_once("s ") {
            Some((t, rest))
                if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.') =>
            {
                rest
            }
            _ => body,
        };
        match body.strip_prefix('[').and_then(|b| b.split_once(']')) {
            Some((conn, _)) => match groups.iter_mut().find(|(c, _)| *c == conn) {
                Some((_, lines)) => lines.push(line),
                None => groups.push((conn, vec![line])),
            },
            None => notes.push(line),
        }
    }
    let mut out = String::with_capacity(text.len());
    for line in groups.into_iter().flat_map(|(_, lines)| lines).chain(notes) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn render(t: &Transcript, opts: NormalizeOptions, p: &mut Placeholders<'_>) -> String {
    let mut out = String::new();
    for e in &t.entries {
        let body = match &e.event {
            // A device's own log changes with its build, not with what it does on the wire.
            TranscriptEvent::Step { .. } | TranscriptEvent::Output { .. } => continue,
            TranscriptEvent::Opened { conn, local, .. } => {
                format!("[{conn}] opened from {}", p.local(local))
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
                format!(
                    "[{conn}] closed by {who}{}",
                    close_text(*code, &p.scrub(reason))
                )
            }
            TranscriptEvent::Abandoned { conn } => format!("[{conn}] abandoned (no close)"),
            TranscriptEvent::Sent { conn, frame } => format!("[{conn}] → {}", p.frame(frame)),
            TranscriptEvent::Received { conn, frame } => format!("[{conn}] ← {}", p.frame(frame)),
            TranscriptEvent::Note { text } => format!("note: {}", p.scrub(text)),
        };
        let body = one_line(&body);
        if opts.times {
            let _ = writeln!(out, "{:>9.3}s {body}", e.at.as_secs_f64());
        } else {
            let _ = writeln!(out, "{body}");
        }
    }
    out
}

/// Line breaks inside an entry would split it in two lines of the golden.
fn one_line(s: &str) -> String {
    if s.contains(['\n', '\r']) {
        s.replace('\r', "\\r").replace('\n', "\\n")
    } else {
        s.to_string()
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// The placeholders of one transcript.
struct Placeholders<'p> {
    /// Which keys are volatile, how binary frames are laid out.
    profile: &'p dyn Profile,
    /// key → value (as text) → its number.
    numbers: HashMap<String, HashMap<String, usize>>,
    /// Values worth finding in free text → their placeholder.
    tokens: HashMap<String, String>,
}

impl<'p> Placeholders<'p> {
    fn new(profile: &'p dyn Profile) -> Self {
        Placeholders {
            profile,
            numbers: HashMap::new(),
            tokens: HashMap::new(),
        }
    }

    /// `<key#N>` for a value, numbering it if it is new.
    fn name(&mut self, key: &str, value: &str) -> String {
        let map = self.numbers.entry(key.to_string()).or_default();
        let next = map.len() + 1;
        let n = *map.entry(value.to_string()).or_insert(next);
        let placeholder = format!("<{key}#{n}>");
        if value.len() >= MIN_TOKEN && value.chars().all(is_token_char) {
            self.tokens
                .entry(value.to_string())
                .or_insert_with(|| placeholder.clone());
        }
        placeholder
    }

    /// Free text with addresses, known volatile values and unix times replaced.
    fn scrub(&mut self, text: &str) -> String {
        let text = scrub_addresses(text);
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while !rest.is_empty() {
            let start = rest.find(is_token_char).unwrap_or(rest.len());
            out.push_str(&rest[..start]);
            rest = &rest[start..];
            let end = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
            let token = &rest[..end];
            match self.tokens.get(token) {
                Some(placeholder) => out.push_str(placeholder),
                None => out.push_str(&self.scrub_times(token)),
            }
            rest = &rest[end..];
        }
        out
    }

    /// The harness side of a connection as `ip:<port>`: in-process targets record a port,
    /// sockets only the address they bound; either way the target saw some port.
    fn local(&mut self, local: &str) -> String {
        match (
            local.parse::<std::net::SocketAddr>(),
            local.parse::<std::net::IpAddr>(),
        ) {
            (Ok(sa), _) => self.scrub(&format!("{}:<port>", sa.ip())),
            (_, Ok(ip)) => self.scrub(&format!("{ip}:<port>")),
            _ => self.scrub(local),
        }
    }

    /// A token with every run of digits that reads as a unix time replaced.
    fn scrub_times(&mut self, token: &str) -> String {
        let mut out = String::with_capacity(token.len());
        let mut rest = token;
        while !rest.is_empty() {
            let start = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            out.push_str(&rest[..start]);
            rest = &rest[start..];
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let digits = &rest[..end];
            match self.time(digits) {
                Some(placeholder) => out.push_str(&placeholder),
                None => out.push_str(digits),
            }
            rest = &rest[end..];
        }
        out
    }

    /// The placeholder of a run of digits that reads as a unix time.
    fn time(&mut self, digits: &str) -> Option<String> {
        let n: u64 = digits.parse().ok()?;
        match digits.len() {
            10 if UNIX_SECS.contains(&n) => Some(self.name(TIME_KEY, digits)),
            13 if UNIX_MS.contains(&n) => Some(self.name(TIME_MS_KEY, digits)),
            _ => None,
        }
    }

    fn frame(&mut self, frame: &Frame) -> String {
        match frame {
            Frame::Json { json } => {
                let mut out = String::new();
                self.json(json, &mut out);
                out
            }
            Frame::Text { text, len } => format!("text({len} bytes) {:?}", self.scrub(text)),
            Frame::Large { len, .. } => format!("text({len} bytes, too large to record)"),
            Frame::Binary { len, head, .. } => self.binary(*len, head),
        }
    }

    /// Compact JSON, keys in the order they came on the wire.
    fn json(&mut self, v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                out.push('{');
                for (i, (k, x)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&quote(k));
                    out.push(':');
                    if self.placeholdered_key(k) && !x.is_null() && x.as_str() != Some("") {
                        self.volatile(k, x, out);
                    } else {
                        self.json(x, out);
                    }
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.json(x, out);
                }
                out.push(']');
            }
            Value::String(s) => out.push_str(&quote(&self.scrub(s))),
            Value::Number(n) => match n.as_u64().and_then(|u| self.time(&u.to_string())) {
                Some(placeholder) => out.push_str(&placeholder),
                None => out.push_str(&n.to_string()),
            },
            Value::Bool(_) | Value::Null => out.push_str(&v.to_string()),
        }
    }

    fn volatile(&mut self, key: &str, v: &Value, out: &mut String) {
        match v {
            Value::String(s) => {
                let placeholder = self.name(key, s);
                out.push_str(&quote(&placeholder));
            }
            other => {
                let placeholder = self.name(key, &other.to_string());
                out.push_str(&placeholder);
            }
        }
    }

    /// `binary(112 bytes) v1 req_id="<req_id#4>" data(95 bytes) "https://…"`, or the length
    /// and raw head when the bytes do not follow the protocol's layout.
    fn binary(&mut self, len: usize, head: &str) -> String {
        let raw = || format!("binary({len} bytes) {head}");
        let Ok(bytes) = hex::decode(head) else {
            return raw();
        };
        let Some(layout) = self.profile.binary_head(&bytes, len) else {
            return raw();
        };
        let mut s = format!("binary({len} bytes) {}", layout.label);
        match &layout.req_id {
            Ok(id) => {
                let placeholder = if id.is_empty() {
                    String::new()
                } else {
                    self.name("req_id", id)
                };
                let _ = write!(s, " req_id={}", quote(&placeholder));
            }
            Err(req_id_len) => {
                let _ = write!(s, " req_id({req_id_len} bytes, cut)");
            }
        }
        if let Some(data_len) = layout.data_len {
            let _ = write!(s, " data({data_len} bytes)");
            let shown = layout.data_head.as_slice();
            if !shown.is_empty() {
                let more = if shown.len() < data_len { "…" } else { "" };
                if shown.iter().all(|b| (0x20..=0x7e).contains(b)) {
                    let text = String::from_utf8_lossy(shown);
                    let _ = write!(s, " {:?}{more}", self.scrub(&text));
                } else {
                    let _ = write!(s, " {}{more}", hex::encode(shown));
                }
            }
        }
        s
    }

    fn placeholdered_key(&self, k: &str) -> bool {
        self.profile.volatile_keys().contains(&k) || IDENTITY_KEYS.contains(&k)
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// Ports become `<port>`; a loopback address's slot octet becomes 0.
fn scrub_addresses(text: &str) -> String {
    static LOOPBACK: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\b127\.\d{1,3}\.(\d{1,3}\.\d{1,3})\b").expect("valid regex"));
    static PORT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|\]|\blocalhost):\d{1,5}\b")
            .expect("valid regex")
    });
    if !text.contains('.') && !text.contains(':') {
        return text.to_string();
    }
    let text = LOOPBACK.replace_all(text, "127.0.$1");
    PORT.replace_all(&text, "$1:<port>").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::transcript::TranscriptEvent as E;
    use proptest::prelude::*;
    use serde_json::json;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn sent(t: &mut Transcript, at: u64, v: serde_json::Value) {
        t.push(
            ms(at),
            E::Sent {
                conn: "a".into(),
                frame: Frame::text(&v.to_string(), &crate::profile::wecom::WeComProfile),
            },
        );
    }

    fn received(t: &mut Transcript, at: u64, v: serde_json::Value) {
        t.push(
            ms(at),
            E::Received {
                conn: "a".into(),
                frame: Frame::text(&v.to_string(), &crate::profile::wecom::WeComProfile),
            },
        );
    }

    #[test]
    fn placeholders_are_numbered_by_first_appearance_and_reused_for_the_same_value() {
        let mut t = Transcript::default();
        sent(
            &mut t,
            0,
            json!({"cmd": "register", "headers": {"req_id": "r-77"}, "body": {"timestamp": 1795627976u64, "nonce": 99}}),
        );
        received(
            &mut t,
            1,
            json!({"headers": {"req_id": "r-77"}, "errcode": 0}),
        );
        sent(
            &mut t,
            2,
            json!({"cmd": "ping", "headers": {"req_id": "r-12"}}),
        );
        received(
            &mut t,
            3,
            json!({"headers": {"req_id": "r-12"}, "errcode": 0}),
        );
        sent(
            &mut t,
            4,
            json!({"cmd": "ping", "headers": {"req_id": "r-77"}}),
        );
        let text = normalize(&t);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#"    0.000s [a] → {"cmd":"register","headers":{"req_id":"<req_id#1>"},"body":{"timestamp":<timestamp#1>,"nonce":<nonce#1>}}"#,
                r#"    0.001s [a] ← {"headers":{"req_id":"<req_id#1>"},"errcode":0}"#,
                r#"    0.002s [a] → {"cmd":"ping","headers":{"req_id":"<req_id#2>"}}"#,
                r#"    0.003s [a] ← {"headers":{"req_id":"<req_id#2>"},"errcode":0}"#,
                r#"    0.004s [a] → {"cmd":"ping","headers":{"req_id":"<req_id#1>"}}"#,
            ]
        );
    }

    #[test]
    fn steps_are_dropped_and_ports_replaced() {
        let mut t = Transcript::default();
        t.push(
            ms(0),
            E::Step {
                index: "1".into(),
                kind: "connect".into(),
                line: 7,
            },
        );
        t.push(
            ms(0),
            E::Opened {
                waited: None,
                conn: "a".into(),
                local: "127.0.0.2:40001".into(),
            },
        );
        t.push(
            ms(12_500),
            E::Opened {
                waited: None,
                conn: "b".into(),
                local: "127.7.0.3".into(),
            },
        );
        t.push(
            ms(12_500),
            E::Note {
                text: "[b] link from [::1]:5000 and 10.1.2.3:80".into(),
            },
        );
        t.push(
            ms(90_000),
            E::Closed {
                conn: "a".into(),
                by: Party::Target,
                code: Some(4000),
                reason: "heartbeat timeout".into(),
            },
        );
        t.push(ms(90_000), E::Abandoned { conn: "b".into() });
        assert_eq!(
            normalize(&t),
            "    0.000s [a] opened from 127.0.0.2:<port>\n\
            \x20  12.500s [b] opened from 127.0.0.3:<port>\n\
            \x20  12.500s note: [b] link from [::1]:<port> and 10.1.2.3:<port>\n\
            \x20  90.000s [a] closed by target (close code 4000: heartbeat timeout)\n\
            \x20  90.000s [b] abandoned (no close)\n"
        );
        assert_eq!(
            normalize_with(&t, NormalizeOptions { times: false }),
            strip_times(&normalize(&t)),
            "an untimed normalization is the timed one without its prefixes"
        );
    }

    #[test]
    fn per_connection_groups_lines_and_keeps_their_order() {
        let text = "[a] opened\nnote: x\n[b] opened\n[a] → 1\n[a~old] closed\n[b] ← 2\n[a] ← 3\n";
        assert_eq!(
            per_connection(text),
            "[a] opened\n[a] → 1\n[a] ← 3\n[b] opened\n[b] ← 2\n[a~old] closed\nnote: x\n"
        );
        let timed = "    0.000s [a] opened\n    1.000s [b] opened\n    1.000s [a] → 1\n";
        assert_eq!(
            per_connection(timed),
            "    0.000s [a] opened\n    1.000s [a] → 1\n    1.000s [b] opened\n"
        );
    }

    #[test]
    fn free_text_gets_the_placeholders_of_known_values_and_unix_times() {
        let mut t = Transcript::default();
        t.push(
            ms(0),
            E::Note {
                text: "[a] `register` (req_id HWC-TEST-0001-4) gets no reply".into(),
            },
        );
        sent(
            &mut t,
            0,
            json!({"cmd": "register", "headers": {"req_id": "HWC-TEST-0001-4"}, "body": {"sn": "HWC-TEST-0001"}}),
        );
        received(
            &mut t,
            1,
            json!({"errmsg": "stale: 1795627576 vs 1795627976 (at 1795627976000)", "body": {"effect_time": 1795627976u64, "version": 1234567}}),
        );
        t.push(
            ms(2),
            E::Note {
                text: "control: {\"op\":\"unbind\",\"sn\":\"HWC-TEST-0001\"}".into(),
            },
        );
        let text = normalize(&t);
        assert!(!text.contains("HWC-TEST"), "{text}");
        assert!(!text.contains("179562"), "{text}");
        assert!(
            text.contains("note: [a] `register` (req_id <req_id#1>) gets no reply"),
            "{text}"
        );
        assert!(
            text.contains(
                r#""errmsg":"stale: <timestamp#1> vs <timestamp#2> (at <timestamp_ms#1>)""#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#""effect_time":<timestamp#2>,"version":1234567"#),
            "{text}"
        );
        assert!(
            text.contains(r#"note: control: {"op":"unbind","sn":"<sn#1>"}"#),
            "{text}"
        );
    }

    #[test]
    fn short_values_are_not_hunted_in_free_text() {
        let mut t = Transcript::default();
        sent(&mut t, 0, json!({"cmd": "register", "body": {"nonce": 1}}));
        t.push(
            ms(0),
            E::Note {
                text: "step 1 of 1".into(),
            },
        );
        let text = normalize(&t);
        assert!(text.contains("note: step 1 of 1"), "{text}");
        assert!(text.contains(r#""nonce":<nonce#1>"#), "{text}");
    }

    #[test]
    fn binary_frames_show_their_layout_with_the_req_id_placeholdered() {
        let mut t = Transcript::default();
        sent(
            &mut t,
            0,
            json!({"cmd": "gen_login_qrcode", "headers": {"req_id": "hwc-4"}}),
        );
        let reply = crate::profile::wecom::binary::encode_reply(
            "hwc-4",
            b"https://open.work.weixin.qq.com/x",
        );
        t.push(
            ms(1),
            E::Received {
                conn: "a".into(),
                frame: Frame::binary(&reply, &crate::profile::wecom::WeComProfile),
            },
        );
        let log = crate::profile::wecom::binary::encode_upload_log("HWC-TEST-0001-9", &[7u8; 200]);
        t.push(
            ms(2),
            E::Sent {
                conn: "a".into(),
                frame: Frame::binary(&log, &crate::profile::wecom::WeComProfile),
            },
        );
        t.push(
            ms(3),
            E::Sent {
                conn: "a".into(),
                frame: Frame::binary(
                    &[0xde, 0xad, 0xbe, 0xef],
                    &crate::profile::wecom::WeComProfile,
                ),
            },
        );
        let text = normalize(&t);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            r#"    0.001s [a] ← binary(50 bytes) v1 req_id="<req_id#1>" data(33 bytes) "https://open.wo"…"#
        );
        assert_eq!(
            lines[2],
            "    0.002s [a] → binary(241 bytes) v1 upload_log req_id(15 bytes, cut)"
        );
        assert_eq!(lines[3], "    0.003s [a] → binary(4 bytes) deadbeef");
    }

    #[test]
    fn text_frames_and_multi_line_notes_stay_on_one_line() {
        let mut t = Transcript::default();
        t.push(
            ms(0),
            E::Sent {
                conn: "a".into(),
                frame: Frame::text("{not json 1795627976", &crate::profile::wecom::WeComProfile),
            },
        );
        t.push(
            ms(0),
            E::Note {
                text: "two\nlines".into(),
            },
        );
        assert_eq!(normalize(&t), "    0.000s [a] → text(20 bytes) \"{not json <timestamp#1>\"\n    0.000s note: two\\nlines\n");
    }

    /// A transcript of a few requests and replies whose volatile values come from `vals`.
    fn conversation(vals: &[(String, u64, String)], payload: &str) -> Transcript {
        let mut t = Transcript::default();
        t.push(
            ms(0),
            E::Opened {
                waited: None,
                conn: "a".into(),
                local: "127.0.0.2:40000".into(),
            },
        );
        for (i, (req_id, ts, sig)) in vals.iter().enumerate() {
            let at = 1000 * i as u64;
            sent(
                &mut t,
                at,
                json!({"cmd": "register", "headers": {"req_id": req_id}, "body": {"sn": "SN-1", "timestamp": ts, "device_signature": sig, "data": payload}}),
            );
            received(
                &mut t,
                at + 1,
                json!({"headers": {"req_id": req_id}, "errcode": 0, "errmsg": format!("ok at {ts}")}),
            );
            t.push(
                ms(at + 2),
                E::Note {
                    text: format!("reply to {req_id}"),
                },
            );
        }
        t
    }

    fn values() -> impl Strategy<Value = Vec<(String, u64, String)>> {
        proptest::collection::vec(
            (
                "[a-z]{2}-[0-9]{1,4}",
                1_700_000_000u64..1_800_000_000,
                "[0-9a-f]{40}",
            ),
            1..6,
        )
    }

    proptest! {
        /// Renaming every volatile value consistently (a bijection) changes nothing.
        #[test]
        fn stable_under_consistent_renaming(vals in values(), salt in 1u64..1000, payload in "[a-z ]{0,12}") {
            let renamed: Vec<(String, u64, String)> = vals
                .iter()
                .map(|(r, ts, sig)| (format!("zz{r}"), ts + salt * 100_000, format!("{sig}00")))
                .collect();
            prop_assert_eq!(normalize(&conversation(&vals, &payload)), normalize(&conversation(&renamed, &payload)));
        }

        /// A changed value at a key that is not volatile shows.
        #[test]
        fn a_changed_non_volatile_value_shows(vals in values(), payload in "[a-z ]{0,12}") {
            let changed = format!("{payload}!");
            prop_assert_ne!(normalize(&conversation(&vals, &payload)), normalize(&conversation(&vals, &changed)));
        }
    }
}
