//! The transcript: every connection event and frame of a scenario, in order, with its time
//! on the scenario clock. Reports, goldens and failure messages are views of it.
//!
//! Frames are stored with secrets already redacted, so no view can leak one.

/// Frames are built through the profile, which says what is secret.
pub use crate::profile::Frame;
pub use crate::wire::{close_text, Party};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TranscriptEvent {
    /// A connection opened (`local` is the harness side's address as the target sees it).
    Opened {
        conn: String,
        local: String,
        /// How long the device's connection waited for the harness to take it, in seconds
        /// (absent when it was taken at once): the device opened it that much earlier, which
        /// is when it stood beside the links then open (a one-link rule judges from there).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        waited: Option<f64>,
    },
    /// A connection closed, by whom, with the close code if there was one.
    Closed {
        conn: String,
        by: Party,
        code: Option<u16>,
        reason: String,
    },
    /// The harness abandoned a connection without closing it (an IP change).
    Abandoned {
        conn: String,
    },
    Sent {
        conn: String,
        frame: Frame,
    },
    Received {
        conn: String,
        frame: Frame,
    },
    /// A step began (its kind and line in the scenario file).
    Step {
        index: String,
        kind: std::borrow::Cow<'static, str>,
        line: u32,
    },
    /// A note from the harness (a control operation, a rule violation).
    Note {
        text: String,
    },
    /// A line a command the harness started wrote (the device's own log, a reset's or the
    /// upper tester's words): evidence a vendor reads beside the frames. Scrubbed of
    /// secrets like frames; invalid UTF-8 is replaced, not dropped.
    Output {
        source: OutputSource,
        stream: OutputStream,
        line: String,
        /// Bytes of an overlong line left out after what `line` shows.
        #[serde(default, skip_serializing_if = "is_zero")]
        cut: usize,
    },
}

/// Which command wrote an [`TranscriptEvent::Output`] line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputSource {
    /// The `exec:` device under test.
    Device,
    /// The `--device-reset` command run before the scenario.
    DeviceReset,
    /// The `--upper-tester` command making the device act.
    UpperTester,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    Stdout,
    Stderr,
}

impl OutputSource {
    pub fn label(self) -> &'static str {
        match self {
            OutputSource::Device => "device",
            OutputSource::DeviceReset => "device-reset",
            OutputSource::UpperTester => "upper-tester",
        }
    }
}

impl OutputStream {
    pub fn label(self) -> &'static str {
        match self {
            OutputStream::Stdout => "stdout",
            OutputStream::Stderr => "stderr",
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How an output line reads in one line of text: `[device stderr] boot ok`, with what an
/// overlong line lost.
pub fn output_text(source: OutputSource, stream: OutputStream, line: &str, cut: usize) -> String {
    let more = if cut > 0 {
        format!(" … ({cut} more bytes)")
    } else {
        String::new()
    };
    format!("[{} {}] {line}{more}", source.label(), stream.label())
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TranscriptEntry {
    /// Time since the scenario started, on the scenario clock.
    #[serde(
        serialize_with = "super::verdict::ser_secs",
        deserialize_with = "super::verdict::de_secs"
    )]
    #[schemars(with = "f64")]
    pub at: Duration,
    #[serde(flatten)]
    pub event: TranscriptEvent,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Transcript {
    pub entries: Vec<TranscriptEntry>,
}

impl Transcript {
    pub fn push(&mut self, at: Duration, event: TranscriptEvent) {
        self.entries.push(TranscriptEntry { at, event });
    }

    /// The last `n` frames sent or received, for failure reports.
    pub fn last_frames(&self, n: usize) -> Vec<&TranscriptEntry> {
        let frames: Vec<&TranscriptEntry> = self
            .entries
            .iter()
            .filter(|e| {
                matches!(
                    e.event,
                    TranscriptEvent::Sent { .. } | TranscriptEvent::Received { .. }
                )
            })
            .collect();
        frames[frames.len().saturating_sub(n)..].to_vec()
    }
}

/// One line per entry, for terminal output and logs.
pub fn render_entry(e: &TranscriptEntry) -> String {
    let t = format!("{:>9.3}s", e.at.as_secs_f64());
    match &e.event {
        TranscriptEvent::Opened {
            conn,
            local,
            waited: None,
        } => format!("{t} [{conn}] opened from {local}"),
        TranscriptEvent::Opened {
            conn,
            local,
            waited: Some(w),
        } => format!("{t} [{conn}] opened from {local} (the device opened it {w:.3} s earlier)"),
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
            format!("{t} [{conn}] closed by {who}{}", close_text(*code, reason))
        }
        TranscriptEvent::Abandoned { conn } => format!("{t} [{conn}] abandoned (no close)"),
        TranscriptEvent::Sent { conn, frame } => format!("{t} [{conn}] → {}", frame.summary()),
        TranscriptEvent::Received { conn, frame } => format!("{t} [{conn}] ← {}", frame.summary()),
        TranscriptEvent::Step { index, kind, line } => {
            format!("{t} step {index} {kind} (line {line})")
        }
        TranscriptEvent::Note { text } => format!("{t} note: {text}"),
        TranscriptEvent::Output {
            source,
            stream,
            line,
            cut,
        } => format!("{t} {}", output_text(*source, *stream, line, *cut)),
    }
}
