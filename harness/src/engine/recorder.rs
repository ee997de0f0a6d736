//! The recorder: the one way anything enters a scenario's transcript. It timestamps events
//! on the scenario clock, learns every credential it sees on the wire so free text can be
//! scrubbed of it, and caps the transcript so a flooding target cannot exhaust memory.

use super::clock::ScenarioClock;
use super::transcript::{Frame, OutputSource, OutputStream, Transcript, TranscriptEvent};
use crate::profile::frame::MAX_RECORDED_TEXT;
use crate::profile::{Credentials, Profile, RunCredentials};
use crate::wire::connection::{LinkEvent, WireLog};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Entries kept per scenario; beyond it frames are counted, not stored.
pub const MAX_ENTRIES: usize = 20_000;

/// Bytes of one output line kept; the rest is counted ([`TranscriptEvent::Output::cut`]).
pub const MAX_OUTPUT_LINE: usize = 1024;
/// Output lines kept per scenario, and their bytes in all: a chatty device's log cannot
/// crowd out the frames. Past either, lines are counted and the count said at the end.
pub const MAX_OUTPUT_LINES: usize = 2_000;
pub const MAX_OUTPUT_BYTES: usize = 256 * 1024;

#[derive(Default)]
struct Inner {
    transcript: Transcript,
    dropped: usize,
    output_lines: usize,
    output_bytes: usize,
    output_dropped: usize,
}

/// Shared by a session, its connections' reader tasks and the readers of what the commands
/// it started write.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
    /// This scenario's credentials; what the wire teaches is added as it arrives.
    credentials: Credentials,
    /// The run's: the whole fleet's (scrubbed here too: a target may echo another device's),
    /// and where what the wire teaches goes for every writer of the run's outputs.
    run: RunCredentials,
    pub clock: ScenarioClock,
    /// What is secret, and how frames are recorded.
    profile: Arc<dyn Profile>,
    /// Entries kept ([`MAX_ENTRIES`] but in tests).
    cap: usize,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl Recorder {
    pub fn new(clock: ScenarioClock, secrets: Vec<String>, profile: Arc<dyn Profile>) -> Recorder {
        Recorder::for_run(clock, secrets, RunCredentials::default(), profile)
    }

    /// [`Recorder::new`] in a run: it scrubs the run's credentials too, and reports what it
    /// learns to the run.
    pub fn for_run(
        clock: ScenarioClock,
        secrets: Vec<String>,
        run: RunCredentials,
        profile: Arc<dyn Profile>,
    ) -> Recorder {
        Recorder {
            inner: Arc::new(Mutex::new(Inner::default())),
            credentials: Credentials::new(secrets),
            run,
            clock,
            profile,
            cap: MAX_ENTRIES,
        }
    }

    /// This recorder keeping `cap` entries instead of [`MAX_ENTRIES`] (tests reach the cap
    /// with a few frames).
    pub fn with_cap(mut self, cap: usize) -> Recorder {
        self.cap = cap;
        self
    }

    /// Entries it keeps.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Events the cap left out so far: past zero the transcript is no longer the whole
    /// conversation, and what judges it must say so.
    pub fn dropped(&self) -> usize {
        self.lock().dropped
    }

    /// Whether `v` holds a credential of the scenario or of the fleet.
    fn holds_any(&self, v: &Value) -> bool {
        self.credentials.holds_any(v) || self.run.fleet.holds_any(v)
    }

    /// `v` scrubbed of every credential of the scenario and of the fleet.
    fn redact_value(&self, v: &mut Value) {
        self.credentials.redact_value(v);
        self.run.fleet.redact_value(v);
    }

    /// The profile the frames are recorded by.
    pub fn profile(&self) -> &Arc<dyn Profile> {
        &self.profile
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn now(&self) -> Duration {
        self.clock.elapsed()
    }

    /// Records an event now. Notes and close reasons are scrubbed of known secrets.
    pub fn record(&self, event: TranscriptEvent) {
        let at = self.now();
        let event = match event {
            TranscriptEvent::Note { text } => TranscriptEvent::Note {
                text: self.redact(&text),
            },
            TranscriptEvent::Closed {
                conn,
                by,
                code,
                reason,
            } => TranscriptEvent::Closed {
                conn,
                by,
                code,
                reason: self.redact(&reason),
            },
            other => other,
        };
        let mut inner = self.lock();
        if inner.transcript.entries.len() >= self.cap {
            inner.dropped += 1;
            return;
        }
        inner.transcript.push(at, event);
    }

    /// Records a text frame, learning any credential in it first.
    pub fn text_frame(&self, conn: &str, text: &str, sent: bool) {
        self.parsed_text_frame(
            conn,
            text,
            serde_json::from_str::<Value>(text).ok().map(Arc::new),
            sent,
        );
    }

    /// [`Recorder::text_frame`] for a text already parsed (`parsed`: its JSON, if it is JSON;
    /// shared with the session, and copied only if something in it must be redacted).
    pub fn parsed_text_frame(
        &self,
        conn: &str,
        text: &str,
        parsed: Option<Arc<Value>>,
        sent: bool,
    ) {
        if let Some(v) = &parsed {
            self.learn(v);
        }
        // A large frame is summarised (starts of long strings, digests): scrubbed first, so no
        // part of a credential is cut into the summary. Large frames are rare; the copy is not.
        let parsed = match parsed {
            Some(mut v) if text.len() > MAX_RECORDED_TEXT && self.holds_any(&v) => {
                self.redact_value(Arc::make_mut(&mut v));
                Some(v)
            }
            other => other,
        };
        let frame = match Frame::parsed(text, parsed, &*self.profile) {
            // Scrubbed whole, then cut: cut first, a secret straddling the cut would keep
            // its first characters.
            Frame::Text { len, .. } => {
                let scrubbed = self.redact(text);
                Frame::Text {
                    text: scrubbed[..scrubbed.floor_char_boundary(MAX_TEXT_SHOWN)].to_string(),
                    len,
                }
            }
            // Redaction by key misses a credential under any other key (a `note`, `data`,
            // a debug field): every value is scrubbed of every credential the run knows.
            Frame::Json { mut json } => {
                if self.holds_any(&json) {
                    self.redact_value(Arc::make_mut(&mut json));
                }
                Frame::Json { json }
            }
            Frame::Large {
                len,
                envelope: Some(mut e),
            } => {
                self.redact_value(&mut e);
                Frame::Large {
                    len,
                    envelope: Some(e),
                }
            }
            other => other,
        };
        let conn = conn.to_string();
        self.record(if sent {
            TranscriptEvent::Sent { conn, frame }
        } else {
            TranscriptEvent::Received { conn, frame }
        });
    }

    /// Records a binary frame: its length and first bytes, with any known credential that
    /// reaches into them masked (binary data is not JSON, so redaction by key cannot see it).
    pub fn binary_frame(&self, conn: &str, bytes: &[u8], sent: bool) {
        let frame = match Frame::binary(bytes, &*self.profile) {
            Frame::Binary { len, head, layout } => {
                let shown = head.len() / 2;
                let masked = self.run.fleet.mask(
                    &self
                        .credentials
                        .mask(&bytes[..(shown + MAX_SECRET).min(bytes.len())]),
                );
                Frame::Binary {
                    len,
                    head: hex::encode(&masked[..shown]),
                    layout,
                }
            }
            other => other,
        };
        let conn = conn.to_string();
        self.record(if sent {
            TranscriptEvent::Sent { conn, frame }
        } else {
            TranscriptEvent::Received { conn, frame }
        });
    }

    /// Records a line a command wrote (without its line break; at most
    /// [`MAX_OUTPUT_LINE`] bytes of it, `cut` more left out), scrubbed of every credential
    /// the run knows and of what a JSON part says under a secret key, as frames are.
    /// Returns the line scrubbed and cut (what may be shown elsewhere), recorded or not.
    pub fn output(
        &self,
        source: OutputSource,
        stream: OutputStream,
        bytes: &[u8],
        cut: usize,
    ) -> String {
        let text = String::from_utf8_lossy(bytes);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        // Escape sequences and other control characters are shown, not obeyed, by the
        // terminal a report is read in.
        let text: std::borrow::Cow<'_, str> =
            if text.contains(|c: char| c.is_control() && c != '\t') {
                text.chars()
                    .map(|c| match c {
                        '\t' => c.to_string(),
                        c if c.is_control() => c.escape_default().to_string(),
                        c => c.to_string(),
                    })
                    .collect::<String>()
                    .into()
            } else {
                text.into()
            };
        let mut line = self.credentials.redact_text(&self.redact_json_part(&text));
        // Scrubbed whole, then cut (as text frames are).
        let cut = cut + line.len().saturating_sub(MAX_OUTPUT_LINE);
        line.truncate(line.floor_char_boundary(MAX_OUTPUT_LINE));
        {
            let mut inner = self.lock();
            if inner.output_lines >= MAX_OUTPUT_LINES
                || inner.output_bytes + line.len() > MAX_OUTPUT_BYTES
            {
                inner.output_dropped += 1;
                return line;
            }
            inner.output_lines += 1;
            inner.output_bytes += line.len();
        }
        self.record(TranscriptEvent::Output {
            source,
            stream,
            line: line.clone(),
            cut,
        });
        line
    }

    /// A log line that carries JSON (`sending {...} ok`, a whole frame) with what sits under
    /// the profile's secret keys replaced (and learnt, for the lines after); other lines as
    /// they are.
    fn redact_json_part(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            let mut values =
                serde_json::Deserializer::from_str(&rest[start..]).into_iter::<Value>();
            match values.next() {
                Some(Ok(v)) => {
                    let end = start + values.byte_offset();
                    self.learn(&v);
                    out.push_str(&rest[..start]);
                    out.push_str(&self.profile.redact(&v).to_string());
                    rest = &rest[end..];
                }
                _ => {
                    out.push_str(&rest[..=start]);
                    rest = &rest[start + 1..];
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// Remembers every string under a credential key, at any depth.
    pub fn learn(&self, v: &Value) {
        let mut found = Vec::new();
        collect_secrets(&*self.profile, v, &mut found);
        for s in found {
            self.run.wire.add(s.clone());
            self.credentials.add(s);
        }
    }

    /// A copy of `text` with every known credential replaced.
    pub fn redact(&self, text: &str) -> String {
        self.run
            .fleet
            .redact_text(&self.credentials.redact_text(text))
    }

    /// A snapshot of the transcript, for the monitors.
    pub fn with_transcript<R>(&self, f: impl FnOnce(&Transcript) -> R) -> R {
        f(&self.lock().transcript)
    }

    /// Hands the transcript over at the end of the scenario, noting what the cap dropped.
    pub fn take(&self) -> Transcript {
        let at = self.now();
        let mut inner = self.lock();
        let dropped = inner.dropped;
        let output_dropped = std::mem::take(&mut inner.output_dropped);
        let mut t = std::mem::take(&mut inner.transcript);
        if output_dropped > 0 {
            t.push(
                at,
                TranscriptEvent::Note {
                    text: format!(
                        "{output_dropped} further lines of command output were not recorded (output cap {MAX_OUTPUT_LINES} lines, {} KiB)",
                        MAX_OUTPUT_BYTES / 1024
                    ),
                },
            );
        }
        if dropped > 0 {
            t.push(
                at,
                TranscriptEvent::Note {
                    text: format!(
                        "{dropped} further events were not recorded (transcript cap {})",
                        self.cap
                    ),
                },
            );
        }
        t
    }
}

/// How much of a non-JSON text frame is kept (as [`Frame::text`] does).
const MAX_TEXT_SHOWN: usize = 512;
/// Credentials longer than this are not looked for past the end of a binary head.
const MAX_SECRET: usize = 256;

fn collect_secrets(profile: &dyn Profile, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if profile.is_secret_key(k) => out.push(s.clone()),
                    other => collect_secrets(profile, other, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_secrets(profile, i, out)),
        _ => {}
    }
}

/// The wire reports each connection's events here, in the transcript's own terms.
impl WireLog for Recorder {
    fn log(&self, event: LinkEvent<'_>) {
        match event {
            LinkEvent::Opened {
                conn,
                local,
                waited,
            } => self.record(TranscriptEvent::Opened {
                conn: conn.into(),
                local: local.into(),
                waited: waited.map(|w| (w.as_secs_f64() * 1000.0).round() / 1000.0),
            }),
            LinkEvent::Text {
                conn,
                text,
                json: Some(json),
                sent,
            } => self.parsed_text_frame(conn, text, Some(json), sent),
            LinkEvent::Text {
                conn,
                text,
                json: None,
                sent,
            } => self.text_frame(conn, text, sent),
            LinkEvent::Binary { conn, bytes, sent } => self.binary_frame(conn, bytes, sent),
            LinkEvent::Closed {
                conn,
                by,
                code,
                reason,
            } => self.record(TranscriptEvent::Closed {
                conn: conn.into(),
                by,
                code,
                reason: reason.into(),
            }),
            LinkEvent::Abandoned { conn } => {
                self.record(TranscriptEvent::Abandoned { conn: conn.into() })
            }
            LinkEvent::Fault { conn, text } => self.record(TranscriptEvent::Note {
                text: format!("[{conn}] {text}"),
            }),
        }
    }

    fn now(&self) -> Duration {
        Recorder::now(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test(start_paused = true)]
    async fn learned_secrets_are_scrubbed_from_free_text() {
        let r = Recorder::new(
            ScenarioClock::start(0),
            vec!["identity-secret-no".into()],
            crate::profile::default_profile(),
        );
        r.text_frame(
            "a",
            &json!({"body": {"secret": "issued-secret-42"}}).to_string(),
            false,
        );
        let text = r.redact("saw issued-secret-42 and identity-secret-no");
        assert!(
            !text.contains("issued-secret-42") && !text.contains("identity-secret-no"),
            "{text}"
        );
        r.text_frame("a", "not json issued-secret-42", false);
        let t = r.take();
        let shown = serde_json::to_string(&t).unwrap();
        assert!(!shown.contains("issued-secret-42"), "{shown}");
    }

    /// Any JSON the target sends, with credentials planted anywhere (any key, any depth,
    /// inside longer strings, as a key, as a number's digits): none of them reaches the
    /// transcript, which every report, golden and log is made from.
    #[test]
    fn no_planted_credential_reaches_the_transcript() {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(json!("identity-secret-no")),
            Just(json!("issued-secret-42")),
            Just(json!(987654321)),
            "[a-z ]{0,8}".prop_map(|s| json!(format!("{s}identity-secret-no{s}"))),
            "[a-z]{0,6}".prop_map(|s| json!(s)),
            any::<i32>().prop_map(|n| json!(n)),
        ];
        let tree = crate::profile::json::arb_tree(
            leaf,
            prop_oneof!["[a-z_]{1,6}", Just("x-identity-secret-no".to_string())],
        );
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&tree, |frame| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .start_paused(true)
                    .build()
                    .unwrap();
                let _guard = rt.enter();
                let known = vec!["identity-secret-no".into(), "987654321".into()];
                let r = Recorder::new(
                    ScenarioClock::start(0),
                    known,
                    crate::profile::default_profile(),
                );
                // An earlier frame issued a secret under its own key: the run knows it too.
                r.text_frame(
                    "a",
                    &json!({"body": {"secret": "issued-secret-42"}}).to_string(),
                    false,
                );
                let text = frame.to_string();
                r.text_frame("a", &text, false);
                r.text_frame(
                    "a",
                    &json!({"cmd": "x", "body": {"data": frame}}).to_string(),
                    true,
                );
                let shown = serde_json::to_string(&r.take()).unwrap();
                for secret in ["identity-secret-no", "issued-secret-42", "987654321"] {
                    prop_assert!(!shown.contains(secret), "{secret} in {shown}");
                }
                Ok(())
            })
            .unwrap();
    }

    /// A flooding target cannot grow the transcript without bound: past the cap frames are
    /// counted, and the count is said at the end.
    #[tokio::test(start_paused = true)]
    async fn the_transcript_is_capped_and_says_how_much_it_left_out() {
        let r = Recorder::new(
            ScenarioClock::start(0),
            vec![],
            crate::profile::default_profile(),
        );
        for i in 0..MAX_ENTRIES + 500 {
            r.text_frame(
                "a",
                &json!({"cmd": "x", "headers": {"req_id": i.to_string()}}).to_string(),
                false,
            );
        }
        let t = r.take();
        assert_eq!(t.entries.len(), MAX_ENTRIES + 1);
        assert!(
            matches!(&t.entries.last().unwrap().event, TranscriptEvent::Note { text } if text.starts_with("500 further events were not recorded"))
        );
    }

    /// What judges a transcript learns that it is partial: nothing dropped up to the cap,
    /// every event past it counted, and the note names this recorder's own cap.
    #[tokio::test(start_paused = true)]
    async fn a_smaller_cap_counts_what_it_drops() {
        let r = Recorder::new(
            ScenarioClock::start(0),
            vec![],
            crate::profile::default_profile(),
        )
        .with_cap(3);
        for i in 0..3 {
            r.text_frame("a", &format!("frame {i}"), false);
        }
        assert_eq!(r.dropped(), 0);
        r.text_frame("a", "one too many", true);
        r.text_frame("a", "and another", true);
        assert_eq!((r.dropped(), r.cap()), (2, 3));
        let t = r.take();
        assert_eq!(t.entries.len(), 4);
        assert!(
            matches!(&t.entries[3].event, TranscriptEvent::Note { text } if text == "2 further events were not recorded (transcript cap 3)")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_secret_at_the_cut_or_in_a_binary_head_is_not_recorded() {
        let r = Recorder::new(
            ScenarioClock::start(0),
            vec!["identity-secret-no".into()],
            crate::profile::default_profile(),
        );
        // Straddles the 512-byte cut of a text frame.
        let text = format!("{}identity-secret-no and more", "x".repeat(505));
        r.text_frame("a", &text, true);
        // Inside the head of a binary frame, and running past its end.
        let mut bin = b"\x01\0\0\0ab identity-secret-no".to_vec();
        bin.extend_from_slice(&[b'.'; 3]);
        bin.extend_from_slice(b"identity-secret-no");
        r.binary_frame("a", &bin, false);
        let shown = serde_json::to_string(&r.take()).unwrap();
        assert!(!shown.contains("identit"), "{shown}");
        assert!(!shown.contains(&hex::encode("iden")), "{shown}");
        assert!(shown.contains(&hex::encode("ab ***")), "{shown}");
    }
}
