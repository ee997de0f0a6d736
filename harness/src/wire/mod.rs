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

/// What tungstenite reports in place of a close frame whose code is not allowed.
const LIBRARY_PROTOCOL_CLOSE: (u16, &str) = (1002, "Protocol violation");

/// ` (close code 4000: heartbeat timeout)`: how a close reads in messages, or nothing.
///
/// A close code RFC 6455 §7.4 does not allow (999, 1005, 1016..2999 ...) reaches the harness as
/// `1002` with the reason `Protocol violation`: the WebSocket library (tungstenite) replaces it
/// and keeps no trace of the original. That pair is said to be ambiguous rather than shown as
/// if the target had chosen 1002.
pub fn close_text(code: Option<u16>, reason: &str) -> String {
    if code == Some(LIBRARY_PROTOCOL_CLOSE.0) && reason == LIBRARY_PROTOCOL_CLOSE.1 {
        return " (close code 1002: Protocol violation, or a close code RFC 6455 does not allow, such as 999, which reads the same)".into();
    }
    match (code, reason.is_empty()) {
        (Some(c), true) => format!(" (close code {c})"),
        (Some(c), false) => format!(" (close code {c}: {reason})"),
        (None, false) => format!(" ({reason})"),
        (None, true) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    use tokio_tungstenite::tungstenite::protocol::Role;
    use tokio_tungstenite::tungstenite::Message;

    /// What a target's close frame with code 999 becomes once read, and how it is told.
    #[tokio::test]
    async fn a_close_code_not_allowed_is_not_shown_as_the_targets_1002() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut ws =
            tokio_tungstenite::WebSocketStream::from_raw_socket(ours, Role::Client, None).await;
        // An unmasked close frame (a server's) with the code 999 and no reason.
        theirs.write_all(&[0x88, 0x02, 0x03, 0xE7]).await.unwrap();
        let Some(Ok(Message::Close(Some(frame)))) = ws.next().await else {
            panic!("no close frame")
        };
        let (code, reason) = (u16::from(frame.code), frame.reason.to_string());
        assert_eq!((code, reason.as_str()), LIBRARY_PROTOCOL_CLOSE);
        let said = close_text(Some(code), &reason);
        assert!(said.contains("such as 999"), "{said}");
        // The variants: an allowed code reads as it came.
        assert_eq!(close_text(Some(1002), ""), " (close code 1002)");
        assert_eq!(
            close_text(Some(4000), "heartbeat timeout"),
            " (close code 4000: heartbeat timeout)"
        );
        assert_eq!(close_text(None, ""), "");
    }
}
