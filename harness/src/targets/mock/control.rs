//! Harness control of the mock: bind/unbind devices, inject faults, reset per-run state.
//!
//! In-process through [`MockCloud::control`], or over a WebSocket to
//! [`CONTROL_PATH`](super::CONTROL_PATH): each text frame is a [`ControlRequest`] as JSON,
//! each answer `{"ok":true, ...result}` or `{"ok":false,"error":"..."}`. Results never hold
//! a credential.

use super::config::MockRule;
use super::registry::LinkCommand;
use super::{MockCloud, CLOSE_BY_CONTROL};
use crate::profile::wecom::envelope;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// One control operation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ControlRequest {
    /// Who are you: `{"mock":"hwconform","heartbeat_timeout_s":..,"subscribe_window_s":..,"subscribe_limit":..}`.
    Hello,
    /// The device becomes bound; a live link gets `push_bind_corp` (C7).
    Bind { sn: String },
    /// The device becomes unbound, its secret is revoked; a live link gets `push_unbind_corp` (C7).
    Unbind { sn: String },
    /// The next request of `cmd` about this SN takes effect but gets no reply.
    SwallowReply { sn: String, cmd: String },
    /// Every reply about this SN is delayed by `ms` (0 stops).
    DelayReplies { sn: String, ms: u64 },
    /// The cloud closes the SN's live link and frees the SN.
    CloseLink { sn: String },
    /// Resets per-run state of these SNs (bound flag, issued credentials, faults) and IPs
    /// (rate-limit windows).
    Forget {
        #[serde(default)]
        sns: Vec<String>,
        #[serde(default)]
        ips: Vec<String>,
    },
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ControlError {
    #[error("unknown device {0:?}")]
    UnknownDevice(String),
    #[error("not an IP address: {0:?}")]
    InvalidIp(String),
    #[error("bad control request: {0}")]
    BadRequest(String),
}

impl MockCloud {
    /// Runs one control operation (the same as over the control path).
    pub fn control(&self, req: ControlRequest) -> Result<Value, ControlError> {
        tracing::info!(op = ?req, "control");
        let known = |sn: &str| {
            if self.shared().registry.knows(sn) { Ok(()) } else { Err(ControlError::UnknownDevice(sn.to_string())) }
        };
        match req {
            ControlRequest::Hello => Ok(json!({
                "mock": "hwconform",
                "heartbeat_timeout_s": self.config.timings.heartbeat_timeout.as_secs(),
                "subscribe_window_s": self.config.timings.subscribe_window.as_secs(),
                "subscribe_limit": self.config.timings.subscribe_limit,
            })),
            ControlRequest::Bind { sn } => self.set_bound(&sn, true),
            ControlRequest::Unbind { sn } => self.set_bound(&sn, false),
            ControlRequest::SwallowReply { sn, cmd } => {
                known(&sn)?;
                self.shared().faults.swallow_next(&sn, &cmd);
                Ok(json!({"sn": sn, "cmd": cmd}))
            }
            ControlRequest::DelayReplies { sn, ms } => {
                known(&sn)?;
                // Longer than the heartbeat timeout, the link is gone before any reply: and
                // the queue of held replies must stay bounded in time.
                let limit = self.config.timings.heartbeat_timeout;
                if Duration::from_millis(ms) > limit {
                    return Err(ControlError::BadRequest(format!("delay_replies ms must be at most the heartbeat timeout ({} ms)", limit.as_millis())));
                }
                self.shared().faults.set_delay(&sn, Duration::from_millis(ms));
                Ok(json!({"sn": sn, "ms": ms}))
            }
            ControlRequest::CloseLink { sn } => {
                known(&sn)?;
                let link = self.shared().registry.take_live(&sn);
                let closed = link.is_some_and(|l| {
                    l.tx.try_send(LinkCommand::Close { code: CLOSE_BY_CONTROL.0, reason: CLOSE_BY_CONTROL.1 }).is_ok()
                });
                Ok(json!({"sn": sn, "closed": closed}))
            }
            ControlRequest::Forget { sns, ips } => {
                let ips = ips
                    .iter()
                    .map(|s| {
                        s.parse::<IpAddr>()
                            .or_else(|_| s.parse::<SocketAddr>().map(|a| a.ip()))
                            .map_err(|_| ControlError::InvalidIp(s.clone()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let mut shared = self.shared();
                let mut unknown = Vec::new();
                for sn in &sns {
                    if !shared.registry.forget(sn) {
                        unknown.push(sn.clone());
                    }
                    shared.faults.clear(sn);
                }
                for ip in &ips {
                    shared.rate.forget(*ip);
                }
                Ok(json!({"forgotten_sns": sns.len() - unknown.len(), "forgotten_ips": ips.len(), "unknown_sns": unknown}))
            }
        }
    }

    fn set_bound(&self, sn: &str, bound: bool) -> Result<Value, ControlError> {
        let mut shared = self.shared();
        shared.registry.set_bound(sn, bound).ok_or_else(|| ControlError::UnknownDevice(sn.to_string()))?;
        let cmd = if bound { "push_bind_corp" } else { "push_unbind_corp" };
        let pushed = match shared.registry.live(sn) {
            Some(link) if self.config.enforces(MockRule::NoBindPush) => {
                link.tx.try_send(LinkCommand::Push(envelope::push(cmd, &self.push_req_id(), None))).is_ok()
            }
            _ => false,
        };
        Ok(json!({"sn": sn, "bound": bound, "pushed": pushed}))
    }

    /// Answers one control text frame with `{"ok":true,..}` or `{"ok":false,"error":..}`.
    pub(super) fn control_text(&self, text: &str) -> Value {
        let result = serde_json::from_str::<ControlRequest>(text)
            .map_err(|e| ControlError::BadRequest(e.to_string()))
            .and_then(|req| self.control(req));
        match result {
            Ok(Value::Object(map)) => {
                // `ok` first, for people reading transcripts.
                let mut out = serde_json::Map::new();
                out.insert("ok".into(), json!(true));
                out.extend(map.into_iter().filter(|(k, _)| k != "ok"));
                Value::Object(out)
            }
            Ok(other) => json!({"ok": true, "result": other}),
            Err(e) => json!({"ok": false, "error": e.to_string()}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::mock::MockConfig;
    use rstest::rstest;

    #[test]
    fn hello_reports_the_limits() {
        let c = MockCloud::new(MockConfig::default());
        assert_eq!(
            c.control(ControlRequest::Hello).unwrap(),
            json!({"mock":"hwconform","heartbeat_timeout_s":90,"subscribe_window_s":60,"subscribe_limit":5})
        );
    }

    #[rstest]
    #[case(r#"{"op":"hello"}"#)]
    #[case(r#"{"op":"bind","sn":"A"}"#)]
    #[case(r#"{"op":"unbind","sn":"A"}"#)]
    #[case(r#"{"op":"swallow_reply","sn":"A","cmd":"register"}"#)]
    #[case(r#"{"op":"delay_replies","sn":"A","ms":10}"#)]
    #[case(r#"{"op":"close_link","sn":"A"}"#)]
    #[case(r#"{"op":"forget","sns":["A"],"ips":["127.0.0.1"]}"#)]
    fn wire_format_round_trips(#[case] text: &str) {
        let req: ControlRequest = serde_json::from_str(text).unwrap();
        let back: Value = serde_json::to_value(&req).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
    }

    #[rstest]
    #[case(r#"{"op":"bind","sn":"NOPE"}"#, "unknown device")]
    #[case(r#"{"op":"delay_replies","sn":"NOPE","ms":1}"#, "unknown device")]
    #[case(r#"{"op":"explode"}"#, "bad control request")]
    #[case(r#"not json"#, "bad control request")]
    #[case(r#"{"op":"forget","ips":["not-an-ip"]}"#, "not an IP")]
    fn control_errors(#[case] text: &str, #[case] expect: &str) {
        let c = MockCloud::new(MockConfig::default());
        let r = c.control_text(text);
        assert_eq!(r["ok"], false);
        assert!(r["error"].as_str().unwrap().contains(expect), "{r}");
    }

    #[test]
    fn bind_without_live_link_pushes_nothing() {
        let c = MockCloud::new(MockConfig::default());
        let r = c.control_text(r#"{"op":"unbind","sn":"HWC-TEST-0001"}"#);
        assert_eq!(r, json!({"ok":true,"sn":"HWC-TEST-0001","bound":false,"pushed":false}));
        assert!(!c.shared().registry.is_bound("HWC-TEST-0001"));
        let r = c.control_text(r#"{"op":"forget","sns":["HWC-TEST-0001","ZZ"],"ips":["10.1.1.1:80"]}"#);
        assert_eq!(r["unknown_sns"], json!(["ZZ"]));
        assert!(c.shared().registry.is_bound("HWC-TEST-0001"), "back to the fleet's flag");
    }
}
