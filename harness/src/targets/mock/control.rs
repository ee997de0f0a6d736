//! Harness control of the mock: bind/unbind devices, inject faults, reset per-run state.
//!
//! In-process through [`MockCloud::control`], or over a WebSocket to
//! [`CONTROL_PATH`](super::CONTROL_PATH): each text frame is a [`ControlRequest`] as JSON,
//! each answer `{"ok":true, ...result}` or `{"ok":false,"error":"..."}`. Results never hold
//! a credential.

use super::config::MockRule;
use super::corp::{ChangeError, CorpPush, DirectoryChange, Firmware, User};
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
    /// Who are you: `{"mock":"hwconform","heartbeat_timeout_s":..,"subscribe_window_s":..,"subscribe_limit":..,"max_frame_bytes":..}`.
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
    /// The corp's directory, versions, admins, firmware and self-enrolment switches. Every
    /// corp operation takes `sn`: the corp of that device (default: the seed corp, where every
    /// device starts; `forget` gives an SN a fresh corp of its own).
    Corp {
        #[serde(default)]
        sn: Option<String>,
    },
    /// What the devices reported (check-ins, enrolments, remote opens, logs, temperatures,
    /// error reports, photos), of one SN or all.
    Recorded {
        #[serde(default)]
        sn: Option<String>,
    },
    /// The device gets a fresh copy of the built-in default corp (whatever `--corp` seeded),
    /// so a scenario can rest its checks on the default members.
    UseDefaultCorp { sn: String },
    /// A member joins: `perm_version` + 1 and `push_change_contact.create_user` (C16).
    AddUser {
        user: User,
        #[serde(default)]
        sn: Option<String>,
    },
    /// A member's data or templates change: `update_user`.
    UpdateUser {
        user: User,
        #[serde(default)]
        sn: Option<String>,
    },
    /// A member leaves: `delete_user`.
    RemoveUser {
        userid: String,
        #[serde(default)]
        sn: Option<String>,
    },
    /// A member's userid changes: `push_change_userid`.
    ChangeUserid {
        old_userid: String,
        new_userid: String,
        #[serde(default)]
        sn: Option<String>,
    },
    /// A visitor (`<id>/<agentid>`, C20) is added: `visitor_version` + 1 and
    /// `push_visitor_list_change.create_visitor`.
    AddVisitor {
        visitor: User,
        #[serde(default)]
        sn: Option<String>,
    },
    UpdateVisitor {
        visitor: User,
        #[serde(default)]
        sn: Option<String>,
    },
    RemoveVisitor {
        userid: String,
        #[serde(default)]
        sn: Option<String>,
    },
    /// A release is published: `get_firmware_info` answers it and bound devices get
    /// `push_update_firmware`.
    PublishFirmware {
        firmware: Firmware,
        #[serde(default)]
        sn: Option<String>,
    },
    /// The cloud opens the door of `sn` remotely: `push_remote_open_door`; the device's
    /// report within 3 s decides the result (C19). Returns the `oper_id`.
    RemoteOpenDoor { sn: String, userid: String },
    /// An administrator starts an enrolment on `sn`: `push_enter_page` (`page_type` fa or
    /// fp). Returns the `oper_id` the upload must echo.
    EnterPage {
        sn: String,
        userid: String,
        #[serde(default = "face")]
        page_type: String,
    },
    /// The enrolment page closes: `push_exit_page`.
    ExitPage {
        sn: String,
        oper_id: String,
        #[serde(default)]
        userid: String,
        #[serde(default = "face")]
        page_type: String,
    },
    /// The vendor asks `sn` for its logs: `push_fetch_log` with `hint` verbatim (C22).
    FetchLog { sn: String, hint: String },
    /// `push_restart_device`.
    RestartDevice { sn: String },
    /// Self-enrolment switches change: bound devices get `push_open_self_input`.
    SetSelfInput {
        fp: bool,
        fa: bool,
        #[serde(default)]
        sn: Option<String>,
    },
    /// The admins change: bound devices get `push_admin_list_change`.
    SetAdmins {
        admins: Vec<String>,
        #[serde(default)]
        sn: Option<String>,
    },
    /// The cloud sends `sn` a face to download: `push_user_face` with a media id.
    PushUserFace { sn: String, userid: String },
    /// A user scans the device's login QR: with a `state` the device's `gen_login_qrcode`
    /// asked for (static QR), or a dynamic QR made at `dynamic_timestamp` (refused when older
    /// than 1,800 s, C24), `sn` gets `push_user_scan` with that `state`.
    ScanLoginQr {
        sn: String,
        userid: String,
        state: String,
        #[serde(default)]
        dynamic_timestamp: Option<u64>,
        #[serde(default)]
        user_type: u32,
        #[serde(default = "scan_open")]
        op_type: String,
    },
}

/// The records of `recorded` that are about `sn` (each list filtered by its `sn` field).
fn only_of(mut recorded: Value, sn: &str) -> Value {
    if let Some(map) = recorded.as_object_mut() {
        for list in map.values_mut().filter_map(Value::as_array_mut) {
            list.retain(|r| r.get("sn").and_then(Value::as_str) == Some(sn));
        }
    }
    recorded
}

fn face() -> String {
    "fa".to_string()
}

fn scan_open() -> String {
    "scan_qrcode_open".to_string()
}

/// How old a dynamic login QR may be when scanned (C24).
pub const DYNAMIC_QR_VALID_SECS: u64 = 1800;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ControlError {
    #[error("unknown device {0:?}")]
    UnknownDevice(String),
    #[error("not an IP address: {0:?}")]
    InvalidIp(String),
    #[error("bad control request: {0}")]
    BadRequest(String),
    #[error(transparent)]
    Directory(#[from] ChangeError),
}

impl MockCloud {
    /// Runs one control operation (the same as over the control path).
    pub fn control(&self, req: ControlRequest) -> Result<Value, ControlError> {
        tracing::info!(op = ?req, "control");
        let known = |sn: &str| {
            if self.shared().registry.knows(sn) {
                Ok(())
            } else {
                Err(ControlError::UnknownDevice(sn.to_string()))
            }
        };
        match req {
            ControlRequest::Hello => Ok(json!({
                "mock": "hwconform",
                "heartbeat_timeout_s": self.config.timings.heartbeat_timeout.as_secs(),
                "subscribe_window_s": self.config.timings.subscribe_window.as_secs(),
                "subscribe_limit": self.config.timings.subscribe_limit,
                "max_frame_bytes": self.config.max_frame_bytes,
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
                    return Err(ControlError::BadRequest(format!(
                        "delay_replies ms must be at most the heartbeat timeout ({} ms)",
                        limit.as_millis()
                    )));
                }
                self.shared()
                    .faults
                    .set_delay(&sn, Duration::from_millis(ms));
                Ok(json!({"sn": sn, "ms": ms}))
            }
            ControlRequest::CloseLink { sn } => {
                known(&sn)?;
                let link = self.shared().registry.take_live(&sn);
                let closed = link.is_some_and(|l| {
                    l.tx.try_send(LinkCommand::Close {
                        code: CLOSE_BY_CONTROL.0,
                        reason: CLOSE_BY_CONTROL.1,
                    })
                    .is_ok()
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
                        continue;
                    }
                    shared.faults.clear(sn);
                    shared.corps.detach(sn);
                }
                for ip in &ips {
                    shared.rate.forget(*ip);
                }
                Ok(
                    json!({"forgotten_sns": sns.len() - unknown.len(), "forgotten_ips": ips.len(), "unknown_sns": unknown}),
                )
            }
            ControlRequest::UseDefaultCorp { sn } => {
                known(&sn)?;
                self.shared().corps.detach_default(&sn);
                Ok(json!({"sn": sn}))
            }
            ControlRequest::Corp { sn } => Ok(self.shared().corps.of(sn.as_deref()).snapshot()),
            ControlRequest::Recorded { sn } => {
                let mut shared = self.shared();
                Ok(match sn {
                    None => shared.corps.recorded(),
                    Some(sn) => only_of(
                        serde_json::to_value(&shared.corps.of(Some(&sn)).recorded)
                            .unwrap_or_default(),
                        &sn,
                    ),
                })
            }
            ControlRequest::AddUser { user, sn } => {
                self.change(sn, DirectoryChange::AddUser { user })
            }
            ControlRequest::UpdateUser { user, sn } => {
                self.change(sn, DirectoryChange::UpdateUser { user })
            }
            ControlRequest::RemoveUser { userid, sn } => {
                self.change(sn, DirectoryChange::RemoveUser { userid })
            }
            ControlRequest::ChangeUserid {
                old_userid,
                new_userid,
                sn,
            } => self.change(
                sn,
                DirectoryChange::ChangeUserid {
                    old_userid,
                    new_userid,
                },
            ),
            ControlRequest::AddVisitor { visitor, sn } => {
                self.change(sn, DirectoryChange::AddVisitor { visitor })
            }
            ControlRequest::UpdateVisitor { visitor, sn } => {
                self.change(sn, DirectoryChange::UpdateVisitor { visitor })
            }
            ControlRequest::RemoveVisitor { userid, sn } => {
                self.change(sn, DirectoryChange::RemoveVisitor { userid })
            }
            ControlRequest::PublishFirmware { firmware, sn } => {
                let version = firmware.firmware_version.clone();
                self.shared().corps.of(sn.as_deref()).firmware = Some(firmware);
                let pushed = self.to_corp(sn.as_deref(), "push_update_firmware", None);
                Ok(json!({"firmware_version": version, "pushed": pushed}))
            }
            ControlRequest::RemoteOpenDoor { sn, userid } => {
                known(&sn)?;
                let oper_id = self.oper_id();
                // Recorded before the push goes out: a quick report must find it.
                let at = self.now_ms();
                self.shared()
                    .corps
                    .of(Some(&sn))
                    .remote_open(&sn, &oper_id, &userid, at);
                let pushed = self.to_device(
                    &sn,
                    "push_remote_open_door",
                    json!({"userid": userid, "oper_id": oper_id}),
                );
                Ok(json!({"sn": sn, "oper_id": oper_id, "pushed": pushed}))
            }
            ControlRequest::EnterPage {
                sn,
                userid,
                page_type,
            } => {
                known(&sn)?;
                let oper_id = self.oper_id();
                let user_type = self
                    .shared()
                    .corps
                    .of(Some(&sn))
                    .user(&userid)
                    .map_or(0, |u| u.user_type);
                let body = json!({"page_type": page_type, "oper_id": oper_id, "userid": userid, "user_type": user_type});
                let pushed = self.to_device(&sn, "push_enter_page", body);
                Ok(json!({"sn": sn, "oper_id": oper_id, "pushed": pushed}))
            }
            ControlRequest::ExitPage {
                sn,
                oper_id,
                userid,
                page_type,
            } => {
                known(&sn)?;
                let pushed = self.to_device(&sn, "push_exit_page", json!({"page_type": page_type, "oper_id": oper_id, "userid": userid, "user_type": 0}));
                Ok(json!({"sn": sn, "pushed": pushed}))
            }
            ControlRequest::FetchLog { sn, hint } => {
                known(&sn)?;
                let hint = if self.config.enforces(MockRule::FetchLogHintChanged) {
                    hint
                } else {
                    format!("{hint}-all")
                };
                let pushed = self.to_device(&sn, "push_fetch_log", json!({"hint": hint}));
                Ok(json!({"sn": sn, "pushed": pushed}))
            }
            ControlRequest::RestartDevice { sn } => {
                known(&sn)?;
                let pushed = self.push_no_body(&sn, "push_restart_device");
                Ok(json!({"sn": sn, "pushed": pushed}))
            }
            ControlRequest::SetSelfInput { fp, fa, sn } => {
                self.shared().corps.of(sn.as_deref()).self_input =
                    super::corp::SelfInput { fp, fa };
                let pushed = self.to_corp(
                    sn.as_deref(),
                    "push_open_self_input",
                    Some(json!({"open_self_input_fp": fp, "open_self_input_fa": fa})),
                );
                Ok(json!({"pushed": pushed}))
            }
            ControlRequest::SetAdmins { admins, sn } => {
                self.shared().corps.of(sn.as_deref()).admins = admins;
                let pushed = self.to_corp(sn.as_deref(), "push_admin_list_change", None);
                Ok(json!({"pushed": pushed}))
            }
            ControlRequest::PushUserFace { sn, userid } => {
                known(&sn)?;
                let oper_id = self.oper_id();
                let media_id = format!("mock-media-{oper_id}");
                let pushed = self.to_device(&sn, "push_user_face", json!({"face_info": [{"media_id": media_id}], "userid": userid, "oper_id": oper_id}));
                Ok(json!({"sn": sn, "oper_id": oper_id, "media_id": media_id, "pushed": pushed}))
            }
            ControlRequest::ScanLoginQr {
                sn,
                userid,
                state,
                dynamic_timestamp,
                user_type,
                op_type,
            } => {
                known(&sn)?;
                let refused = match dynamic_timestamp {
                    Some(t)
                        if self.now_unix().saturating_sub(t) > DYNAMIC_QR_VALID_SECS
                            && self.config.enforces(MockRule::DynamicQrNoExpiry) =>
                    {
                        Some(format!(
                            "the dynamic QR is older than {DYNAMIC_QR_VALID_SECS} s"
                        ))
                    }
                    Some(_) => None,
                    None if !self.shared().corps.of(Some(&sn)).qr_issued(&sn, &state) => {
                        Some("no login QR with this state was issued to the device".to_string())
                    }
                    None => None,
                };
                if let Some(why) = refused {
                    return Ok(json!({"sn": sn, "pushed": false, "refused": why}));
                }
                let oper_id = self.oper_id();
                let body = json!({"userid": userid, "op_type": op_type, "oper_id": oper_id, "state": state, "user_type": user_type});
                let pushed = self.to_device(&sn, "push_user_scan", body);
                Ok(json!({"sn": sn, "oper_id": oper_id, "pushed": pushed}))
            }
        }
    }

    /// Applies a directory change to the corp of `sn` and pushes it to its live devices.
    fn change(&self, sn: Option<String>, change: DirectoryChange) -> Result<Value, ControlError> {
        let now = self.now_unix();
        let mut shared = self.shared();
        let index = shared.corps.index_of(sn.as_deref());
        let push = shared.corps.at(index).change(change, now)?;
        let (_, pushed) = self.push_to_corp(&shared, index, &push, None);
        Ok(json!({"cmd": push.cmd, "body": push.body, "pushed": pushed}))
    }

    /// A push to every live bound device; how many it was queued for.
    fn to_corp(&self, sn: Option<&str>, cmd: &'static str, body: Option<Value>) -> usize {
        let shared = self.shared();
        let index = shared.corps.index_of(sn);
        self.push_to_corp(&shared, index, &CorpPush { cmd, body }, None)
            .1
    }

    /// A push to one device's live link; whether it was queued.
    fn to_device(&self, sn: &str, cmd: &str, body: Value) -> bool {
        self.push_frame(sn, envelope::push(cmd, &self.push_req_id(), Some(body)))
    }

    fn push_no_body(&self, sn: &str, cmd: &str) -> bool {
        self.push_frame(sn, envelope::push(cmd, &self.push_req_id(), None))
    }

    fn push_frame(&self, sn: &str, frame: Value) -> bool {
        self.shared()
            .registry
            .live(sn)
            .is_some_and(|link| link.tx.try_send(LinkCommand::Push(Box::new(frame))).is_ok())
    }

    /// A cloud-made operation id (remote open, enrolment, scan).
    fn oper_id(&self) -> String {
        format!(
            "mock-op-{}",
            self.push_req_id().trim_start_matches("mock-push-")
        )
    }

    fn set_bound(&self, sn: &str, bound: bool) -> Result<Value, ControlError> {
        let mut shared = self.shared();
        shared
            .registry
            .set_bound(sn, bound)
            .ok_or_else(|| ControlError::UnknownDevice(sn.to_string()))?;
        shared.corps.of(Some(sn)).void_qrs(sn);
        let cmd = if bound {
            "push_bind_corp"
        } else {
            "push_unbind_corp"
        };
        let pushed = match shared.registry.live(sn) {
            Some(link) if self.config.enforces(MockRule::NoBindPush) => link
                .tx
                .try_send(LinkCommand::Push(Box::new(envelope::push(
                    cmd,
                    &self.push_req_id(),
                    None,
                ))))
                .is_ok(),
            _ => false,
        };
        Ok(json!({"sn": sn, "bound": bound, "pushed": pushed}))
    }

    /// Answers one control text frame with `{"ok":true,..}` or `{"ok":false,"error":..}`.
    pub(crate) fn control_text(&self, text: &str) -> Value {
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
            json!({"mock":"hwconform","heartbeat_timeout_s":90,"subscribe_window_s":60,"subscribe_limit":5,"max_frame_bytes":65536})
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
        assert_eq!(
            r,
            json!({"ok":true,"sn":"HWC-TEST-0001","bound":false,"pushed":false})
        );
        assert!(!c.shared().registry.is_bound("HWC-TEST-0001"));
        let r =
            c.control_text(r#"{"op":"forget","sns":["HWC-TEST-0001","ZZ"],"ips":["10.1.1.1:80"]}"#);
        assert_eq!(r["unknown_sns"], json!(["ZZ"]));
        assert!(
            c.shared().registry.is_bound("HWC-TEST-0001"),
            "back to the fleet's flag"
        );
    }
}
