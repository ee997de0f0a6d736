//! The WeCom smart-hardware protocol profile: wire envelopes, the error-code catalog,
//! signatures, default request bodies, binary layouts, the obligations and the always-on
//! monitors, what counts as secret or volatile — and [`WeComProfile`], which offers all of
//! it to the engine through [`Profile`].
//!
//! The profile knows nothing of scenarios; the engine knows nothing of WeCom but what it
//! asks of [`Profile`].

pub mod binary;
pub mod catalog;
pub mod defaults;
pub mod envelope;
pub mod features;
pub mod monitors;
pub mod obligations;
pub mod signature;
pub mod timing;
pub mod volatile;

pub use crate::profile::{DeviceIdentity, Secret};
pub use catalog::{Catalog, ErrorCode, Suggestion};
pub use envelope::{Envelope, EnvelopeError};
pub use monitors::rules;

use crate::profile::json::field;
use crate::profile::{
    BinaryReplyView, CloudTimings, DefaultContext, DefaultReply, Keepalive, Learned, Profile,
    ReplyParts, RoleMonitor, RunValue, SecondLinkRule, Violation,
};
use serde_json::{json, Value};
use std::time::Duration;

/// The WeCom smart-hardware long-connection protocol.
#[derive(Clone, Copy, Debug, Default)]
pub struct WeComProfile;

/// D22: how long an old link may outlive the opening of a new one (a close on its way).
pub const OVERLAP_GRACE: Duration = monitors::OVERLAP_GRACE;

/// The C implementation's ping period.
const PING_PERIOD: Duration = Duration::from_secs(30);

/// The timers a target stated; the FAQ's, for a target that stated none of WeCom's kind.
fn timings(settings: &crate::profile::CloudSettings) -> CloudTimings {
    settings
        .get::<CloudTimings>()
        .copied()
        .unwrap_or(CloudTimings::FAQ)
}

/// A ping period that leaves two more pings inside the cloud's shortest heartbeat expiry.
fn keepalive_interval(t: &CloudTimings) -> Duration {
    PING_PERIOD
        .min(t.expiry_min() / 3)
        .max(Duration::from_millis(100))
}

/// `{binary: {format_version, req_id, data_len, data}}`: a binary reply as matchers see it
/// (the first 256 bytes of data, lossily as text).
pub fn binary_reply_view(r: &binary::BinaryReply) -> Value {
    let data = String::from_utf8_lossy(&r.data[..r.data.len().min(256)]).to_string();
    json!({"binary": {"format_version": r.format_version, "req_id": r.req_id, "data_len": r.data.len(), "data": data}})
}

/// `{cmd: "upload_log", headers: {req_id}, binary: {data_len, data}}`: a binary `upload_log`
/// as matchers see it (§1.2; the first 4096 bytes of data, lossily as text).
pub fn upload_log_view(up: &binary::UploadLog) -> Value {
    let data = String::from_utf8_lossy(&up.data[..up.data.len().min(4096)]).to_string();
    json!({"cmd": "upload_log", "headers": {"req_id": up.req_id}, "binary": {"data_len": up.data.len(), "data": data}})
}

/// A JSON reply: success with `body`, or an error with `suggestion`/`interval` (given, the
/// catalog's default, or left out with `no_advice`).
pub fn build_reply(req_id: &str, r: &ReplyParts) -> Value {
    let mut frame = if r.errcode == 0 {
        envelope::reply_ok(req_id, r.body.clone())
    } else {
        let known = Catalog::get().error(r.errcode);
        let suggestion = r
            .suggestion
            .as_deref()
            .and_then(Suggestion::parse)
            .or(known.map(|k| k.suggestion))
            .unwrap_or(Suggestion::Retry);
        let interval = r.interval.or(known.map(|k| k.interval)).unwrap_or(3);
        let meaning = known
            .map(|k| k.meaning.clone())
            .unwrap_or_else(|| "error".into());
        let mut f = envelope::reply_error(Some(req_id), r.errcode, &meaning, suggestion, interval);
        if let Some(b) = r.body.clone() {
            f["body"] = b;
        }
        if r.no_advice {
            if let Some(o) = f.as_object_mut() {
                o.remove("suggestion");
                o.remove("interval");
            }
        }
        f
    };
    if let Some(m) = &r.errmsg {
        frame["errmsg"] = json!(m);
    }
    frame
}

impl Profile for WeComProfile {
    fn name(&self) -> &'static str {
        "wecom"
    }

    fn version(&self) -> String {
        use sha1::Digest;
        format!(
            "sha1:{}",
            hex::encode(sha1::Sha1::digest(catalog::CATALOG_JSON.as_bytes()))
        )
    }

    fn request_frame(&self, cmd: &str, req_id: &str, body: Option<Value>) -> Value {
        envelope::request(cmd, req_id, body)
    }

    fn push_frame(&self, cmd: &str, req_id: &str, body: Option<Value>) -> Value {
        envelope::push(cmd, req_id, body)
    }

    fn reply_frame(&self, req_id: &str, reply: &ReplyParts) -> Value {
        build_reply(req_id, reply)
    }

    fn binary_reply(&self, req_id: &str, data: &[u8]) -> Vec<u8> {
        binary::encode_reply(req_id, data)
    }

    fn req_id<'v>(&self, frame: &'v Value) -> Option<&'v str> {
        envelope::header_req_id(frame).and_then(Value::as_str)
    }

    fn command<'v>(&self, frame: &'v Value) -> Option<&'v str> {
        field(frame, "cmd").and_then(Value::as_str)
    }

    /// Replies carry no `cmd` (§1.4) and echo `headers.req_id`.
    /// A frame echoing `req_id`: without a `cmd` (§1.4), or with an `errcode` and a `cmd` that is
    /// no push's (a reply that wrongly carries one breaks C2, which the cloud monitor reports;
    /// taken for a push, it would leave every rule behind it unjudged).
    fn is_reply_to(&self, frame: &Value, req_id: &str) -> bool {
        let reply_shaped = match field(frame, "cmd") {
            None => true,
            Some(cmd) => {
                !cmd.as_str().is_some_and(|c| c.starts_with("push_"))
                    && field(frame, "errcode").is_some()
            }
        };
        reply_shaped && self.req_id(frame) == Some(req_id)
    }

    fn decode_binary_reply(&self, bytes: &[u8]) -> Option<BinaryReplyView> {
        let r = binary::decode_reply(bytes).ok()?;
        Some(BinaryReplyView {
            view: binary_reply_view(&r),
            req_id: r.req_id,
        })
    }

    fn decode_binary_request(&self, bytes: &[u8]) -> Option<Value> {
        binary::decode_upload_log(bytes)
            .ok()
            .map(|up| upload_log_view(&up))
    }

    fn binary_head(&self, head: &[u8], total: usize) -> Option<crate::profile::BinaryHead> {
        binary::read_head(head, total)
    }

    fn binary_layout(&self, bytes: &[u8]) -> Option<&'static str> {
        if binary::decode_upload_log(bytes).is_ok() {
            Some("upload_log")
        } else if binary::decode_reply(bytes).is_ok() {
            Some("reply")
        } else {
            None
        }
    }

    fn check_reply(&self, reply: &Value, req_id: &str, strict_codes: bool) -> Vec<Violation> {
        rules::check_reply(reply, req_id, strict_codes)
    }

    fn default_body(
        &self,
        cmd: &str,
        given: Option<Value>,
        ctx: &DefaultContext<'_>,
    ) -> Option<Value> {
        defaults::fill_body(cmd, given, ctx)
    }

    /// Success replies only: `register` gives the `active_code` that `active` sends, `active`
    /// the `secret` that `subscribe_corp` sends, `get_secret_no` the SecretNo the device
    /// signs with from then on.
    fn learn(&self, cmd: &str, reply: &Value) -> Vec<Learned> {
        if field(reply, "errcode").and_then(Value::as_i64) != Some(0) {
            return Vec::new();
        }
        let field = |k: &str| reply.pointer(&format!("/body/{k}")).cloned();
        match cmd {
            "register" => field("active_code")
                .map(|value| Learned::Value {
                    name: "active_code",
                    value,
                })
                .into_iter()
                .collect(),
            "active" => field("secret")
                .map(|value| Learned::Value {
                    name: "secret",
                    value,
                })
                .into_iter()
                .collect(),
            "get_secret_no" => match field("secret_no") {
                Some(Value::String(s)) => vec![Learned::SigningSecret(Secret::new(s))],
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// `register` signs with the device's SecretNo, `secret_no` with the fleet's seed.
    fn signing_secret(
        &self,
        kind: &str,
        identity: &DeviceIdentity,
        seed: Option<&Secret>,
    ) -> Option<String> {
        match kind {
            "register" => Some(identity.secret_no.expose().to_string()),
            "secret_no" => seed.map(|s| s.expose().to_string()),
            _ => None,
        }
    }

    /// A `ping` every 30 s (the reference's C implementation), more often against a cloud
    /// whose heartbeat timeout is shorter than three of those (a standalone mock at 10 s).
    fn keepalive(&self, settings: &crate::profile::CloudSettings) -> Option<Keepalive> {
        Some(Keepalive {
            cmd: "ping",
            interval: keepalive_interval(&timings(settings)),
        })
    }

    fn default_auto_replies(&self) -> Vec<DefaultReply> {
        vec![
            DefaultReply {
                cmd: "ping",
                body: None,
            },
            DefaultReply {
                cmd: "get_timestamp",
                body: Some(json!({"timestamp": "${now}"})),
            },
        ]
    }

    fn run_variable(
        &self,
        name: &str,
        settings: &crate::profile::CloudSettings,
    ) -> Option<RunValue> {
        let t = &timings(settings);
        match name {
            "heartbeat" => Some(RunValue::Duration(keepalive_interval(t))),
            "heartbeat_timeout" => Some(RunValue::Duration(t.heartbeat_timeout)),
            "heartbeat_timeout_s" => Some(RunValue::Json(json!(t.heartbeat_timeout.as_secs()))),
            "heartbeat_expiry_earliest" => Some(RunValue::Duration(t.expiry_earliest())),
            "heartbeat_expiry_latest" => Some(RunValue::Duration(t.expiry_latest())),
            "subscribe_window" => Some(RunValue::Duration(t.subscribe_window)),
            "subscribe_window_s" => Some(RunValue::Json(json!(t.subscribe_window.as_secs()))),
            "subscribe_limit" => Some(RunValue::Json(json!(t.subscribe_limit))),
            _ => None,
        }
    }

    fn run_variable_names(&self) -> &'static [&'static str] {
        &[
            "heartbeat",
            "heartbeat_timeout",
            "heartbeat_timeout_s",
            "heartbeat_expiry_earliest",
            "heartbeat_expiry_latest",
            "subscribe_window",
            "subscribe_window_s",
            "subscribe_limit",
        ]
    }

    fn run_window_composition(
        &self,
        name: &str,
        settings: &crate::profile::CloudSettings,
    ) -> Option<String> {
        matches!(
            name,
            "heartbeat_expiry_earliest" | "heartbeat_expiry_latest"
        )
        .then(|| timings(settings).expiry_composition())
    }

    fn cloud_limits(
        &self,
        settings: &crate::profile::CloudSettings,
    ) -> crate::profile::CloudLimits {
        let t = timings(settings);
        crate::profile::CloudLimits {
            max_frame_bytes: t.max_frame_bytes,
            visitor_list: t.visitor_list,
        }
    }

    /// C10: 600002 while the old link's heartbeat has not expired (1–2 min: the earliest).
    fn address_change_rule(&self) -> Option<crate::profile::AddressChangeRule> {
        Some(crate::profile::AddressChangeRule {
            rule: "C10",
            command: "register",
            code: catalog::codes::REGISTERED,
            live_for: timing::WAIT_600002.0,
            code_of: |reply| reply.get("errcode").and_then(Value::as_i64),
        })
    }

    fn cross_link_rules(&self) -> &'static [&'static str] {
        &["D22", "C13"]
    }

    fn second_link_rule(&self) -> Option<SecondLinkRule> {
        Some(SecondLinkRule {
            rule: "D22",
            grace: OVERLAP_GRACE,
        })
    }

    /// Anything but the handshake (§2.0): a heartbeat or any business call.
    fn proves_login(&self, cmd: &str) -> bool {
        !matches!(
            cmd,
            "register" | "active" | "subscribe_corp" | "get_secret_no" | "get_timestamp"
        )
    }

    /// D12: heartbeats every 20–40 s after login, so the first comes within one period (with
    /// the monitor's tolerance), whatever else the device does or does not do.
    fn login_proof_within(&self) -> Duration {
        monitors::MAX_PING_GAP
    }

    fn is_secret_key(&self, key: &str) -> bool {
        volatile::is_secret_key(key)
    }

    fn redact(&self, value: &Value) -> Value {
        volatile::redact_secrets(value)
    }

    fn redact_in_place(&self, value: &mut Value) {
        volatile::redact_secrets_in_place(value)
    }

    fn needs_redaction(&self, value: &Value) -> bool {
        volatile::holds_secrets(value)
    }

    fn volatile_keys(&self) -> &'static [&'static str] {
        volatile::VOLATILE_KEYS
    }

    fn large_frame_envelope(&self, value: &Value) -> Value {
        volatile::large_frame_envelope(value)
    }

    fn is_obligation(&self, id: &str) -> bool {
        obligations::is_known(id)
    }

    fn statements(&self) -> &[crate::profile::Statement] {
        obligations::statements()
    }

    fn obligation_ids_hint(&self) -> String {
        "D1..D42 or C1..C24".to_string()
    }

    fn feature_owners(&self, cmd: &str) -> Vec<&'static str> {
        features::owners(cmd)
    }

    fn documented_fields(&self, cmd: &str, reply: bool) -> Vec<crate::profile::BodyField> {
        let Some(c) = Catalog::get()
            .command(cmd)
            .filter(|c| c.confidence == "doc")
        else {
            return Vec::new();
        };
        let fields = if reply {
            &c.reply_body_fields
        } else {
            &c.request_body_fields
        };
        fields
            .iter()
            .map(|f| crate::profile::BodyField {
                name: f.name.clone(),
                ty: f.ty.clone(),
                required: !f.name.contains('.') && !f.name.contains('[') && f.documented(),
            })
            .collect()
    }

    fn type_admits(&self, ty: &str, value: &Value) -> bool {
        catalog::type_admits(ty, value)
    }

    fn push_commands(&self) -> Vec<String> {
        Catalog::get()
            .commands
            .iter()
            .map(|c| c.name.clone())
            .filter(|n| n.starts_with("push_"))
            .collect()
    }

    fn push_prefix(&self) -> Option<&'static str> {
        Some("push_")
    }

    fn device_commands(&self) -> Vec<String> {
        Catalog::get()
            .commands
            .iter()
            .filter(|c| c.direction == "device->cloud")
            .map(|c| c.name.clone())
            .collect()
    }

    fn expected_signature(
        &self,
        kind: &str,
        object: Option<&serde_json::Map<String, Value>>,
        secret_of: &dyn Fn(&str) -> Option<String>,
    ) -> Result<crate::profile::ExpectedSignature, String> {
        let text = |k: &str| {
            object
                .and_then(|p| p.get(k))
                .and_then(signature::value_text)
        };
        let (Some(sn), Some(ts), Some(nonce)) = (text("sn"), text("timestamp"), text("nonce"))
        else {
            return Err("the object lacks sn, timestamp or nonce".to_string());
        };
        let Some(secret) = secret_of(&sn) else {
            return Err(format!("no secret known for sn {sn:?}"));
        };
        let value = match kind {
            "register" => signature::register(&sn, &secret, &ts, &nonce),
            "secret_no" => signature::get_secret_no(&sn, &secret, &ts, &nonce),
            other => return Err(format!("no signature of kind {other:?}")),
        };
        Ok(crate::profile::ExpectedSignature {
            value,
            over: format!("sorted(sn, secret, timestamp, nonce, {kind:?})"),
        })
    }

    fn is_unsolicited_push(&self, frame: &Value) -> bool {
        self.command(frame)
            .is_some_and(|c| Catalog::get().is_push(c))
    }

    fn timing_constants(&self) -> &'static [crate::profile::TimingConstant] {
        timing::CONSTANTS
    }

    fn binding(&self, id: &str) -> crate::profile::Binding {
        match obligations::statements()
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.strength.as_str())
        {
            Some("may") => crate::profile::Binding::May,
            Some("should") => crate::profile::Binding::Should,
            _ => crate::profile::Binding::Must,
        }
    }

    fn ics_features(&self) -> &'static [crate::profile::Feature] {
        features::FEATURES
    }

    fn cloud_monitors(&self, strict_codes: bool) -> Vec<Box<dyn RoleMonitor>> {
        vec![
            Box::new(monitors::CloudMonitor::new(strict_codes)),
            Box::new(monitors::ResendMonitor::default()),
        ]
    }

    fn device_monitors(&self, seeded: Option<bool>) -> Vec<Box<dyn RoleMonitor>> {
        vec![Box::new(monitors::DeviceMonitor::new(seeded))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Frame;

    fn p() -> std::sync::Arc<dyn Profile> {
        crate::profile::default_profile()
    }

    #[test]
    fn replies_teach_the_session_what_later_requests_need() {
        let p = p();
        let ok = |body: Value| json!({"headers": {"req_id": "r"}, "errcode": 0, "errmsg": "ok", "body": body});
        assert_eq!(
            p.learn("register", &ok(json!({"active_code": "AC1"}))),
            [Learned::Value {
                name: "active_code",
                value: json!("AC1")
            }]
        );
        assert_eq!(
            p.learn("active", &ok(json!({"secret": "S1"}))),
            [Learned::Value {
                name: "secret",
                value: json!("S1")
            }]
        );
        assert_eq!(
            p.learn("get_secret_no", &ok(json!({"secret_no": "N2"}))),
            [Learned::SigningSecret(Secret::new("N2"))]
        );
        // Nothing from errors, from replies without the field, from a non-string SecretNo or other commands.
        assert!(p
            .learn(
                "register",
                &json!({"errcode": 600002, "body": {"active_code": "AC1"}})
            )
            .is_empty());
        assert!(p.learn("register", &ok(json!({}))).is_empty());
        assert!(p
            .learn("get_secret_no", &ok(json!({"secret_no": 7})))
            .is_empty());
        assert!(p.learn("ping", &ok(json!({"secret": "S1"}))).is_empty());
    }

    #[test]
    fn default_bodies_draw_on_what_was_learned() {
        let p = p();
        let id = DeviceIdentity::new("SN0001", "S3cretNo");
        let lookup = |k: &str| (k == "active_code").then(|| json!("AC1"));
        let ctx = DefaultContext {
            identity: &id,
            seed_secret_no: None,
            now: 1700000000,
            nonce: 123456,
            lookup: &lookup,
        };
        assert_eq!(
            p.default_body("active", None, &ctx),
            Some(json!({"active_code": "AC1"}))
        );
        assert_eq!(
            p.default_body("register", None, &ctx).unwrap()["device_signature"],
            "3adf75b3fe09630b3b7c6268a35a68c105c320a7"
        );
        assert_eq!(p.default_body("ping", None, &ctx), None);
    }

    #[test]
    fn signing_secrets_by_kind() {
        let p = p();
        let id = DeviceIdentity::new("SN", "own");
        let seed = Secret::new("seed");
        assert_eq!(
            p.signing_secret("register", &id, Some(&seed)).as_deref(),
            Some("own")
        );
        assert_eq!(
            p.signing_secret("secret_no", &id, Some(&seed)).as_deref(),
            Some("seed")
        );
        assert_eq!(p.signing_secret("secret_no", &id, None), None);
        assert_eq!(p.signing_secret("dynamic_login", &id, Some(&seed)), None);
    }

    #[test]
    fn the_cloud_role_answers_ping_and_get_timestamp_by_default() {
        let replies = p().default_auto_replies();
        let cmds: Vec<&str> = replies.iter().map(|r| r.cmd).collect();
        assert_eq!(cmds, ["ping", "get_timestamp"]);
        assert_eq!(replies[0].body, None);
        assert_eq!(replies[1].body, Some(json!({"timestamp": "${now}"})));
    }

    #[test]
    fn run_variables_come_from_the_cloud_timings() {
        let p = p();
        let timings = CloudTimings::MOCK;
        let t = crate::profile::CloudSettings::new(timings);
        assert_eq!(
            p.run_variable("heartbeat_timeout", &t),
            Some(RunValue::Duration(Duration::from_secs(90)))
        );
        assert_eq!(
            p.run_variable("heartbeat_timeout_s", &t),
            Some(RunValue::Json(json!(90)))
        );
        assert_eq!(
            p.run_variable("heartbeat", &t),
            Some(RunValue::Duration(Duration::from_secs(30)))
        );
        let short = CloudTimings {
            heartbeat_timeout: Duration::from_secs(10),
            ..timings
        };
        assert_eq!(
            p.keepalive(&crate::profile::CloudSettings::new(short))
                .map(|k| (k.cmd, k.interval)),
            Some(("ping", Duration::from_secs(10) / 3))
        );
        assert_eq!(
            p.run_variable("subscribe_window", &t),
            Some(RunValue::Duration(Duration::from_secs(60)))
        );
        assert_eq!(
            p.run_variable("subscribe_window_s", &t),
            Some(RunValue::Json(json!(60)))
        );
        assert_eq!(
            p.run_variable("subscribe_limit", &t),
            Some(RunValue::Json(json!(5)))
        );
        assert_eq!(p.run_variable("sn", &t), None);
        // A target that states no WeCom timers is held to the FAQ's.
        assert_eq!(
            p.run_variable("heartbeat_timeout", &crate::profile::CloudSettings::new(())),
            Some(RunValue::Duration(CloudTimings::FAQ.heartbeat_timeout))
        );
        for name in p.run_variable_names() {
            assert!(
                p.run_variable(name, &t).is_some(),
                "{name} is listed and answered"
            );
        }
    }

    #[test]
    fn correlation_and_binary_layouts() {
        let p = p();
        let reply = envelope::reply_ok("r1", None);
        assert!(p.is_reply_to(&reply, "r1"));
        assert!(!p.is_reply_to(&reply, "r2"));
        assert!(
            !p.is_reply_to(&envelope::push("push_x", "r1", None), "r1"),
            "a push is not a reply"
        );
        // A reply that wrongly carries its request's cmd is still the reply (C2 is the cloud
        // monitor's to report); a frame with a cmd and no errcode is not.
        let mut with_cmd = reply.clone();
        with_cmd["cmd"] = serde_json::json!("register");
        assert!(p.is_reply_to(&with_cmd, "r1"));
        let mut push_shaped = with_cmd.clone();
        push_shaped["cmd"] = serde_json::json!("push_x");
        assert!(!p.is_reply_to(&push_shaped, "r1"));
        let request = p.request_frame("register", "r1", None);
        assert!(
            !p.is_reply_to(&request, "r1"),
            "no errcode: a request echoed back"
        );
        assert_eq!(p.req_id(&reply), Some("r1"));
        assert_eq!(p.command(&p.request_frame("ping", "r", None)), Some("ping"));
        let bin = p.binary_reply("r9", b"data");
        assert_eq!(p.binary_layout(&bin), Some("reply"));
        let view = p.decode_binary_reply(&bin).unwrap();
        assert_eq!(view.req_id, "r9");
        assert_eq!(
            view.view,
            json!({"binary": {"format_version": 1, "req_id": "r9", "data_len": 4, "data": "data"}})
        );
        let up = binary::encode_upload_log("u1", b"log");
        assert_eq!(p.binary_layout(&up), Some("upload_log"));
        let req = p.decode_binary_request(&up).unwrap();
        assert_eq!(p.command(&req), Some("upload_log"));
        assert_eq!(
            req,
            json!({"cmd": "upload_log", "headers": {"req_id": "u1"}, "binary": {"data_len": 3, "data": "log"}})
        );
        assert_eq!(p.binary_layout(&[1, 2, 3]), None);
        assert!(p.decode_binary_request(&bin).is_none());
    }

    #[test]
    fn error_replies_get_the_catalogs_advice() {
        let p = p();
        let f = p.reply_frame(
            "r",
            &ReplyParts {
                errcode: catalog::codes::NOT_LOGIN,
                ..ReplyParts::default()
            },
        );
        assert_eq!(
            (f["suggestion"].as_str(), f["interval"].as_i64()),
            (Some("retry"), Some(1))
        );
        let f = p.reply_frame(
            "r",
            &ReplyParts {
                errcode: 600020,
                no_advice: true,
                errmsg: Some("x".into()),
                ..ReplyParts::default()
            },
        );
        assert!(f.get("suggestion").is_none() && f["errmsg"] == "x");
        assert!(p
            .check_reply(&p.reply_frame("r", &ReplyParts::default()), "r", true)
            .is_empty());
    }

    #[test]
    fn the_one_link_rule_and_the_monitors_name_their_obligations() {
        let p = p();
        let rule = p.second_link_rule().unwrap();
        assert_eq!((rule.rule, rule.grace), ("D22", Duration::from_secs(1)));
        assert_eq!(
            rule.reopened("dev").message,
            "the device opened a new link while its old `dev` link stayed open"
        );
        assert!(rule
            .waiting(Duration::from_millis(1500))
            .message
            .ends_with("(1.5 s side by side)"));
        for m in p
            .cloud_monitors(true)
            .iter()
            .chain(p.device_monitors(None).iter())
        {
            assert!(
                m.rules().iter().all(|r| p.is_obligation(r)),
                "{:?}",
                m.rules()
            );
        }
        assert!(p.device_monitors(None)[0].rules().contains(&"D22"));
    }

    #[test]
    fn frames_are_recorded_redacted_and_large_ones_summarised() {
        let p = p();
        let f = Frame::text(
            r#"{"cmd":"active","headers":{"req_id":"a"},"body":{"secret":"s3cret"}}"#,
            &*p,
        );
        assert_eq!(
            f,
            Frame::Json {
                json:
                    json!({"cmd":"active","headers":{"req_id":"a"},"body":{"secret":"<redacted>"}})
                        .into()
            }
        );
        let big = json!({"cmd": "x", "headers": {"req_id": "b"}, "body": {"pad": "y".repeat(20_000), "secret_no": "n"}}).to_string();
        let Frame::Large {
            envelope: Some(e), ..
        } = Frame::text(&big, &*p)
        else {
            panic!("not large")
        };
        assert_eq!(
            (e["cmd"].as_str(), e["headers"]["req_id"].as_str()),
            (Some("x"), Some("b"))
        );
        assert!(e["body_digest"].is_string());
        assert_eq!(e["body"]["secret_no"], "<redacted>");
        let pad = e["body"]["pad"].as_str().unwrap();
        assert!(
            pad.len() < 200 && pad.contains("20000 bytes, sha1"),
            "{pad}"
        );
        assert!(p.is_secret_key("secret_no") && !p.is_secret_key("sn"));
        assert!(p.volatile_keys().contains(&"req_id"));
    }
}
