//! A frame as recorded: what the transcript stores and the monitors read. Built through a
//! [`Profile`], which says what is secret, what a large frame keeps and which binary layout
//! a frame has.

use super::Profile;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// Frames longer than this are recorded by length only, so a flood cannot bloat transcripts
/// and reports.
pub const MAX_RECORDED_TEXT: usize = 16 * 1024;

/// A frame as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame {
    /// A text frame that parsed as JSON (secrets redacted).
    // Shared: a received frame with nothing to redact is the very JSON the session reads,
    // not a copy of it (a doc comment here would land in the published run schema).
    Json { json: Arc<Value> },
    /// A text frame that is not JSON (cut to 512 bytes).
    Text { text: String, len: usize },
    /// A text frame too large to record whole: its length and, when it is JSON, a bounded
    /// summary the monitors judge as they judge a small frame (the profile's
    /// [`Profile::large_frame_envelope`]) — never the body itself. No summary: not JSON.
    Large {
        len: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        envelope: Option<serde_json::Value>,
    },
    /// A binary frame: its length, the first bytes in hex, and which of the profile's binary
    /// layouts it has, if any.
    Binary {
        len: usize,
        head: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        layout: Option<String>,
    },
}

impl Frame {
    pub fn text(text: &str, profile: &dyn Profile) -> Frame {
        Frame::parsed(
            text,
            serde_json::from_str::<Value>(text).ok().map(Arc::new),
            profile,
        )
    }

    /// [`Frame::text`] for a text its caller already parsed (`parsed`: its JSON, if it is
    /// JSON), so a recorded frame costs one parse. JSON with nothing to redact is kept as it
    /// is (shared with whoever else holds it); else it is redacted in place when nobody else
    /// holds it, and into a copy when somebody does.
    pub fn parsed(text: &str, parsed: Option<Arc<Value>>, profile: &dyn Profile) -> Frame {
        if text.len() > MAX_RECORDED_TEXT {
            // Redacted before it is summarised: the summary keeps the starts of long strings
            // and digests, which must not be taken from a credential.
            let envelope = parsed.map(|v| {
                if profile.needs_redaction(&v) {
                    profile.large_frame_envelope(&profile.redact(&v))
                } else {
                    profile.large_frame_envelope(&v)
                }
            });
            return Frame::Large {
                len: text.len(),
                envelope,
            };
        }
        match parsed {
            Some(mut v) => {
                if profile.needs_redaction(&v) {
                    profile.redact_in_place(Arc::make_mut(&mut v));
                }
                Frame::Json { json: v }
            }
            None => {
                let cut = &text[..text.floor_char_boundary(512)];
                Frame::Text {
                    text: cut.to_string(),
                    len: text.len(),
                }
            }
        }
    }

    pub fn binary(bytes: &[u8], profile: &dyn Profile) -> Frame {
        let layout = profile.binary_layout(bytes).map(str::to_string);
        Frame::Binary {
            len: bytes.len(),
            head: hex::encode(&bytes[..bytes.len().min(32)]),
            layout,
        }
    }

    /// One line for terminal output.
    pub fn summary(&self) -> String {
        match self {
            Frame::Json { json } => {
                let s = json.to_string();
                if s.len() > 300 {
                    format!("{}…", &s[..s.floor_char_boundary(300)])
                } else {
                    s
                }
            }
            Frame::Text { text, len } => format!(
                "text({len} bytes) {:?}",
                &text[..text.floor_char_boundary(80)]
            ),
            Frame::Large { len, .. } => format!("text({len} bytes, too large to record)"),
            Frame::Binary { len, head, .. } => format!("binary({len} bytes) {head}"),
        }
    }

    /// The frame as the monitors read JSON: the JSON, or the summary of a large frame.
    pub fn envelope(&self) -> Option<&serde_json::Value> {
        match self {
            Frame::Json { json } => Some(&**json),
            Frame::Large { envelope, .. } => envelope.as_ref(),
            _ => None,
        }
    }
}
