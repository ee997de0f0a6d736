//! The wire: transports (TCP, TLS, in-memory pipes) carrying WebSocket frames, and one
//! connection's reader and writer. It knows no protocol and no scenario, so the engine, the
//! targets and the explorers can all stand on it.

pub mod connection;
pub mod fault;
pub mod transport;

use serde::{Deserialize, Serialize};

/// Who did something on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// The harness.
    Harness,
    /// The system under test.
    Target,
}

/// ` (close code 4000: heartbeat timeout)`: how a close reads in messages, or nothing.
pub fn close_text(code: Option<u16>, reason: &str) -> String {
    match (code, reason.is_empty()) {
        (Some(c), true) => format!(" (close code {c})"),
        (Some(c), false) => format!(" (close code {c}: {reason})"),
        (None, false) => format!(" ({reason})"),
        (None, true) => String::new(),
    }
}
