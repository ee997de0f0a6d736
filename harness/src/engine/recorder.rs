//! The recorder: the one way anything enters a scenario's transcript. It timestamps events
//! on the scenario clock, learns every credential it sees on the wire so free text can be
//! scrubbed of it, and caps the transcript so a flooding target cannot exhaust memory.

use super::clock::ScenarioClock;
use super::transcript::{Frame, Transcript, TranscriptEvent};
use crate::protocol::volatile::{is_secret_key, redact_text};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Entries kept per scenario; beyond it frames are counted, not stored.
pub const MAX_ENTRIES: usize = 20_000;

#[derive(Default)]
struct Inner {
    transcript: Transcript,
    secrets: Vec<String>,
    dropped: usize,
}

/// Shared by a session and its connections' reader tasks.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
    pub clock: ScenarioClock,
}

impl Recorder {
    pub fn new(clock: ScenarioClock, secrets: Vec<String>) -> Recorder {
        let inner = Inner { secrets: secrets.into_iter().filter(|s| !s.is_empty()).collect(), ..Inner::default() };
        Recorder { inner: Arc::new(Mutex::new(inner)), clock }
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
        let mut inner = self.lock();
        if inner.transcript.entries.len() >= MAX_ENTRIES {
            inner.dropped += 1;
            return;
        }
        let event = match event {
            TranscriptEvent::Note { text } => TranscriptEvent::Note { text: scrub(&inner.secrets, &text) },
            TranscriptEvent::Closed { conn, by, code, reason } => {
                TranscriptEvent::Closed { conn, by, code, reason: scrub(&inner.secrets, &reason) }
            }
            other => other,
        };
        inner.transcript.push(at, event);
    }

    /// Records a text frame, learning any credential in it first.
    pub fn text_frame(&self, conn: &str, text: &str, sent: bool) {
        if let Ok(v) = serde_json::from_str::<Value>(text) {
            self.learn(&v);
        }
        let frame = match Frame::text(text) {
            Frame::Text { text, len } => Frame::Text { text: scrub(&self.lock().secrets, &text), len },
            other => other,
        };
        let conn = conn.to_string();
        self.record(if sent { TranscriptEvent::Sent { conn, frame } } else { TranscriptEvent::Received { conn, frame } });
    }

    pub fn binary_frame(&self, conn: &str, bytes: &[u8], sent: bool) {
        let (conn, frame) = (conn.to_string(), Frame::binary(bytes));
        self.record(if sent { TranscriptEvent::Sent { conn, frame } } else { TranscriptEvent::Received { conn, frame } });
    }

    /// Remembers every string under a credential key, at any depth.
    pub fn learn(&self, v: &Value) {
        let mut found = Vec::new();
        collect_secrets(v, &mut found);
        if !found.is_empty() {
            let mut inner = self.lock();
            for s in found {
                if !inner.secrets.contains(&s) {
                    inner.secrets.push(s);
                }
            }
        }
    }

    /// A copy of `text` with every known credential replaced.
    pub fn redact(&self, text: &str) -> String {
        scrub(&self.lock().secrets, text)
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
        let mut t = std::mem::take(&mut inner.transcript);
        if dropped > 0 {
            t.push(at, TranscriptEvent::Note { text: format!("{dropped} further events were not recorded (transcript cap {MAX_ENTRIES})") });
        }
        t
    }
}

fn scrub(secrets: &[String], text: &str) -> String {
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    redact_text(text, &refs)
}

fn collect_secrets(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if is_secret_key(k) => out.push(s.clone()),
                    other => collect_secrets(other, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_secrets(i, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test(start_paused = true)]
    async fn learned_secrets_are_scrubbed_from_free_text() {
        let r = Recorder::new(ScenarioClock::start(0), vec!["identity-secret-no".into()]);
        r.text_frame("a", &json!({"body": {"secret": "issued-secret-42"}}).to_string(), false);
        let text = r.redact("saw issued-secret-42 and identity-secret-no");
        assert!(!text.contains("issued-secret-42") && !text.contains("identity-secret-no"), "{text}");
        r.text_frame("a", "not json issued-secret-42", false);
        let t = r.take();
        let shown = serde_json::to_string(&t).unwrap();
        assert!(!shown.contains("issued-secret-42"), "{shown}");
    }
}
