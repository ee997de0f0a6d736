//! Reply shaping: success and error frames (with the catalog's advice), binary replies, and
//! the test knobs that break every reply.

use super::super::config::{MockRule, MockVariant};
use super::super::MockCloud;
use crate::profile::wecom::catalog::{Catalog, MALFORMED_REQUEST, NOT_IMPLEMENTED};
use crate::profile::wecom::{binary, envelope};
use serde_json::{json, Value};

/// Marks a reply the server sends as a binary frame (§1.2, C3): `{BINARY_REPLY: {req_id, data}}`.
pub(super) const BINARY_REPLY: &str = "$binary_reply";

/// The bytes of a binary reply, when `frame` is one.
pub(crate) fn binary_reply(frame: &Value) -> Option<Vec<u8>> {
    let b = frame.get(BINARY_REPLY)?;
    let req_id = b.get("req_id").and_then(Value::as_str).unwrap_or_default();
    let data = b.get("data").and_then(Value::as_str).unwrap_or_default();
    if b.get("big_endian").and_then(Value::as_bool) == Some(true) {
        // The C3 knob: the same layout with big-endian numbers.
        let mut out = 1u32.to_be_bytes().to_vec();
        for field in [req_id.as_bytes(), data.as_bytes()] {
            out.extend((field.len() as u32).to_be_bytes());
            out.extend(field);
        }
        return Some(out);
    }
    Some(binary::encode_reply(req_id, data.as_bytes()))
}

impl MockCloud {
    /// A success reply, bent by the reply knobs.
    pub(super) fn ok_frame(&self, req_id: &str, cmd: &str, body: Option<Value>) -> Option<Value> {
        let body = match body {
            Some(Value::Object(mut fields)) if self.config.varies(MockVariant::OmitEmptyLists) => {
                fields.retain(|_, v| v.as_array().is_none_or(|a| !a.is_empty()));
                (!fields.is_empty()).then_some(Value::Object(fields))
            }
            other => other,
        };
        Some(self.shape(envelope::reply_ok(req_id, body), Some(cmd)))
    }

    /// An error reply with the catalog's advice (C12), or `None` when a knob silences it.
    pub(super) fn error_frame(
        &self,
        req_id: Option<&str>,
        cmd: Option<&str>,
        code: i64,
        interval: Option<i64>,
        hint: &str,
    ) -> Option<Value> {
        if code == MALFORMED_REQUEST && !self.config.enforces(MockRule::SilentOnMalformed) {
            return None;
        }
        if code == NOT_IMPLEMENTED && !self.config.enforces(MockRule::NotImplementedSilent) {
            return None;
        }
        let (meaning, suggestion, default_interval) = match Catalog::get().error(code) {
            Some(e) => (e.meaning.as_str(), e.suggestion, e.interval),
            None => ("error", crate::profile::wecom::Suggestion::Retry, -1),
        };
        let errmsg = format!("{meaning}, hint: {hint}");
        let mut frame = envelope::reply_error(
            req_id,
            code,
            &errmsg,
            suggestion,
            interval.unwrap_or(default_interval),
        );
        if !self.config.enforces(MockRule::NoErrorAdvice) {
            if let Some(obj) = frame.as_object_mut() {
                obj.remove("suggestion");
                obj.remove("interval");
            }
        }
        Some(self.shape(frame, cmd))
    }

    /// Applies the knobs that break every reply: wrong req_id (C1), `cmd` in replies (C2).
    pub(super) fn shape(&self, mut frame: Value, cmd: Option<&str>) -> Value {
        if !self.config.enforces(MockRule::NoReqIdEcho) {
            if let Some(id) = frame.pointer_mut("/headers/req_id") {
                *id = json!(format!("{}-not-echoed", id.as_str().unwrap_or_default()));
            }
        }
        if let (false, Some(cmd)) = (self.config.enforces(MockRule::CmdInReply), cmd) {
            frame["cmd"] = json!(cmd);
        }
        frame
    }
}
