//! The protocol-profile seam: everything the engine needs to know of the protocol it speaks,
//! behind [`Profile`], plus the protocol-neutral types both sides share (device identities,
//! the fleet, secrets, frames as recorded, rule objects and their violations).
//!
//! The engine holds an `Arc<dyn Profile>` and asks it; it never reaches past it. The WeCom
//! smart-hardware protocol is [`wecom::WeComProfile`], in its own folder.

pub mod credentials;
pub mod feature;
pub mod fleet;
pub mod frame;
pub mod identity;
pub mod json;
pub mod obligation;
pub mod rule;
pub mod wecom;

pub use credentials::{Credentials, RunCredentials};
pub use feature::Feature;
pub use fleet::{Fleet, FleetDevice, FleetError};
pub use frame::Frame;
pub use identity::{DeviceIdentity, Secret};
pub use obligation::Statement;
pub use rule::{
    AddressChangeRule, Binding, RoleMonitor, SecondLinkRule, Severity, TimingConstant, Violation,
    WireEvent,
};
/// The cloud's timers and limits a run refers to (the mock's settings, what a real cloud is
/// assumed to do).
pub use wecom::timing::CloudTimings;

use serde_json::Value;
use std::sync::Arc;

/// What default request bodies draw on.
pub struct DefaultContext<'a> {
    pub identity: &'a DeviceIdentity,
    /// The seed SecretNo, where the fleet has one.
    pub seed_secret_no: Option<&'a str>,
    /// Unix seconds on the scenario clock.
    pub now: u64,
    pub nonce: u64,
    /// Values the session learned earlier ([`Learned::Value`]), by name.
    pub lookup: &'a dyn Fn(&str) -> Option<Value>,
}

/// What a reply taught the session about a device.
#[derive(Clone, Debug, PartialEq)]
pub enum Learned {
    /// A value later default bodies draw on through [`DefaultContext::lookup`].
    Value { name: &'static str, value: Value },
    /// The device signs with this from now on (a new SecretNo).
    SigningSecret(Secret),
}

/// A reply the cloud role sends unless the scenario says otherwise: success, with `body`
/// (which may hold `${now}`, `${sn}`, `${req_id}`).
#[derive(Clone, Debug, PartialEq)]
pub struct DefaultReply {
    pub cmd: &'static str,
    pub body: Option<Value>,
}

/// What a reply step asks for, protocol-neutral: the profile builds the frame.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplyParts {
    pub errcode: i64,
    pub body: Option<Value>,
    /// Overrides the profile's message.
    pub errmsg: Option<String>,
    /// Error advice given by the scenario; the profile's default otherwise.
    pub suggestion: Option<String>,
    pub interval: Option<i64>,
    /// Leave the error advice out entirely.
    pub no_advice: bool,
}

/// A run variable's value: a duration (the engine renders it as scenarios write durations)
/// or a JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum RunValue {
    Duration(std::time::Duration),
    Json(Value),
}

/// How a device keeps an idle link alive: the request it sends, and how often.
#[derive(Clone, Debug, PartialEq)]
pub struct Keepalive {
    pub cmd: &'static str,
    pub interval: std::time::Duration,
}

/// What a cloud target states of its timers and limits, in its profile's own type (for WeCom
/// a [`CloudTimings`]): data the engine carries from the target to the profile without
/// reading it.
#[derive(Clone)]
pub struct CloudSettings(Arc<dyn std::any::Any + Send + Sync>);

impl CloudSettings {
    pub fn new<T: std::any::Any + Send + Sync>(settings: T) -> CloudSettings {
        CloudSettings(Arc::new(settings))
    }

    /// The settings as the profile's type; `None` when the target stated another kind.
    pub fn get<T: std::any::Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl std::fmt::Debug for CloudSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CloudSettings(..)")
    }
}

/// What a cloud states of its limits, where a scenario needs them (`requires: [frame_limit]`,
/// `[visitor_list]`): `None` is "not stated".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CloudLimits {
    /// The largest frame it takes.
    pub max_frame_bytes: Option<usize>,
    /// Whether it serves the visitor list.
    pub visitor_list: Option<bool>,
}

/// A binary reply decoded for correlation and for matchers.
#[derive(Clone, Debug, PartialEq)]
pub struct BinaryReplyView {
    pub req_id: String,
    /// What matchers see (`{binary: {...}}` for WeCom).
    pub view: Value,
}

/// A documented field of a body, as the loader compares a scenario's own frames with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyField {
    pub name: String,
    /// The type as the profile writes it ([`Profile::type_admits`] reads it).
    pub ty: String,
    /// A top-level field the documented example carries: a frame must carry it too (the
    /// others, nested or seen only from implementations, are only named).
    pub required: bool,
}

/// The signature a `$signature` matcher expects: the value, and what it is computed over
/// (said when it does not match).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedSignature {
    pub value: String,
    pub over: String,
}

/// What the first bytes of a recorded binary frame say, read with the profile's layout: what
/// a golden shows of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryHead {
    /// The layout's version and kind as a golden shows them (`v1`, `v1 upload_log`).
    pub label: String,
    /// The correlation id; `Err(its length)` when the recorded head ends inside it.
    pub req_id: Result<String, usize>,
    pub data_len: Option<usize>,
    /// The first bytes of the data the head holds.
    pub data_head: Vec<u8>,
}

/// A protocol profile. Object-safe: the engine holds it as `Arc<dyn Profile>`; the loader,
/// matchers, goldens and reports take it as `&dyn Profile`. The CLI chooses it once (its
/// composition root) and passes it down; no layer but `profile/`, `targets/` and the CLI
/// names a particular profile.
pub trait Profile: Send + Sync {
    /// A short name for reports and logs.
    fn name(&self) -> &'static str;
    /// What distinguishes this edition of the profile (a hash of its catalog), recorded in
    /// run.json beside the name.
    fn version(&self) -> String {
        String::new()
    }

    // --- frames and correlation ---

    /// A request frame from the device role; `body` left out when `None`.
    fn request_frame(&self, cmd: &str, req_id: &str, body: Option<Value>) -> Value;
    /// A push frame from the cloud role.
    fn push_frame(&self, cmd: &str, req_id: &str, body: Option<Value>) -> Value;
    /// A reply frame from the cloud role to `req_id`, with the profile's default advice.
    fn reply_frame(&self, req_id: &str, reply: &ReplyParts) -> Value;
    /// A binary reply from the cloud role carrying `data`.
    fn binary_reply(&self, req_id: &str, data: &[u8]) -> Vec<u8>;
    /// Where a frame carries its correlation id.
    fn req_id<'v>(&self, frame: &'v Value) -> Option<&'v str>;
    /// The command a request or push names.
    fn command<'v>(&self, frame: &'v Value) -> Option<&'v str>;
    /// Whether a JSON frame is the reply to the request with `req_id`.
    fn is_reply_to(&self, frame: &Value, req_id: &str) -> bool;
    /// A binary frame as a reply, if it is one.
    fn decode_binary_reply(&self, bytes: &[u8]) -> Option<BinaryReplyView>;
    /// A binary frame as a request, shown to matchers as JSON (it names its command where
    /// [`Profile::command`] finds it), if it is one.
    fn decode_binary_request(&self, bytes: &[u8]) -> Option<Value>;
    /// The recorded first bytes `head` of a binary frame of `total` bytes, read with the
    /// protocol's layout; `None` when they do not follow it.
    fn binary_head(&self, _head: &[u8], _total: usize) -> Option<BinaryHead> {
        None
    }
    /// The name of a binary frame's layout, recorded in the transcript.
    fn binary_layout(&self, bytes: &[u8]) -> Option<&'static str>;
    /// The always-on checks of a reply to a request the harness sent (`strict_codes`:
    /// codes the profile does not define break a rule).
    fn check_reply(&self, reply: &Value, req_id: &str, strict_codes: bool) -> Vec<Violation>;

    // --- what requests get by default and what replies teach ---

    /// A request body with the profile's defaults filled in (ids, nonces, signatures):
    /// fields given win. `None` for a command that needs no body and got none.
    fn default_body(
        &self,
        cmd: &str,
        given: Option<Value>,
        ctx: &DefaultContext<'_>,
    ) -> Option<Value>;
    /// What a reply to `cmd` teaches the session about the device (the device role learns
    /// from replies it receives, the cloud role from replies it sends).
    fn learn(&self, cmd: &str, reply: &Value) -> Vec<Learned>;
    /// The secret `$signature(kind, ...)` signs with, for a device.
    fn signing_secret(
        &self,
        kind: &str,
        identity: &DeviceIdentity,
        seed: Option<&Secret>,
    ) -> Option<String>;
    /// How a device keeps a link alive against a cloud with these timers (`wait` with
    /// `keepalive: true`); `None`: the protocol has no keepalive.
    fn keepalive(&self, settings: &CloudSettings) -> Option<Keepalive>;

    // --- the cloud role ---

    /// The replies the cloud role sends without a step (`auto_reply` in scenarios overrides them).
    fn default_auto_replies(&self) -> Vec<DefaultReply>;
    /// A run variable (`${name}`) the profile defines from the cloud's timers.
    fn run_variable(&self, name: &str, settings: &CloudSettings) -> Option<RunValue>;
    /// Every name [`Profile::run_variable`] answers, so `validate` can refuse the others.
    fn run_variable_names(&self) -> &'static [&'static str];
    /// How a run variable that is a protocol window was composed from the cloud's settings
    /// and the protocol's ranges, for a step that missed it; `None` for the others.
    fn run_window_composition(&self, _name: &str, _settings: &CloudSettings) -> Option<String> {
        None
    }
    /// The limits a cloud with these settings states.
    fn cloud_limits(&self, _settings: &CloudSettings) -> CloudLimits {
        CloudLimits::default()
    }
    /// The one-link rule for devices, if the protocol has one.
    fn second_link_rule(&self) -> Option<SecondLinkRule>;
    /// What the cloud must answer a live device whose source address changed, if the
    /// protocol says (judged by `observe`'s `new-address` fault).
    fn address_change_rule(&self) -> Option<AddressChangeRule> {
        None
    }
    /// The always-on rules that only a view across one device's links can judge (a device
    /// keeps one link; a cloud makes two links of one device kick each other): what an
    /// observer, which sees each link apart, judges again over all links of an SN.
    fn cross_link_rules(&self) -> &'static [&'static str] {
        &[]
    }
    /// Whether a request of `cmd` is one only a logged-in device sends: what the
    /// `logged_in` step waits for, whichever of them the device implements or sends first.
    fn proves_login(&self, cmd: &str) -> bool;
    /// How long a device may take after login to send its first such request.
    fn login_proof_within(&self) -> std::time::Duration;

    // --- secrets and volatile values ---

    /// Whether values under this key are credentials.
    fn is_secret_key(&self, key: &str) -> bool;
    /// A copy with every credential replaced, at any depth.
    fn redact(&self, value: &Value) -> Value;
    /// [`Profile::redact`] in place, for a frame whose unredacted copy nobody needs any more
    /// (one the harness just sent): no copy.
    fn redact_in_place(&self, value: &mut Value) {
        *value = self.redact(value);
    }
    /// Whether [`Profile::redact`] would change `value` (most frames hold no credential: the
    /// recorder then keeps the frame itself instead of a redacted copy).
    fn needs_redaction(&self, value: &Value) -> bool {
        self.redact(value) != *value
    }
    /// Keys whose values differ between runs (golden snapshots show placeholders).
    fn volatile_keys(&self) -> &'static [&'static str];
    /// What a text frame too large to record keeps of its JSON (already redacted): a bounded
    /// summary from which the monitors judge it exactly as they judge a small frame.
    fn large_frame_envelope(&self, value: &Value) -> Value;

    // --- obligations and always-on monitors ---

    /// Whether `id` names an obligation of the protocol.
    fn is_obligation(&self, id: &str) -> bool;
    /// Every obligation, in the order the matrix lists them.
    fn statements(&self) -> &[Statement];
    /// How the obligation ids look, for an error about an unknown one (`D1..D42 or C1..C24`).
    fn obligation_ids_hint(&self) -> String {
        let ids = self.statements();
        match (ids.first(), ids.last()) {
            (Some(a), Some(b)) => format!("{}..{}", a.id, b.id),
            _ => "an obligation id".to_string(),
        }
    }
    /// The features a command belongs to; none for a command every device may send or
    /// receive.
    fn feature_owners(&self, cmd: &str) -> Vec<&'static str> {
        self.ics_features()
            .iter()
            .filter(|f| f.commands.contains(&cmd))
            .map(|f| f.name)
            .collect()
    }
    /// The documented fields of `cmd`'s request body (`reply`: of its success reply), where
    /// the protocol documents them: a frame the harness sends as that party carries each
    /// [`BodyField::required`] one. Empty: nothing to compare with.
    fn documented_fields(&self, _cmd: &str, _reply: bool) -> Vec<BodyField> {
        Vec::new()
    }
    /// Whether `value` is of the documented type `ty` (a [`BodyField::ty`]).
    fn type_admits(&self, _ty: &str, _value: &Value) -> bool {
        true
    }
    /// The commands a cloud pushes (for "did you mean"), and the prefix that tells a push from
    /// a request by its name, if the protocol has one.
    fn push_commands(&self) -> Vec<String> {
        Vec::new()
    }
    fn push_prefix(&self) -> Option<&'static str> {
        None
    }
    /// The requests a device sends (what a fleet can time, by name).
    fn device_commands(&self) -> Vec<String> {
        Vec::new()
    }
    /// The signature of kind `kind` that `object` (the map a `$signature` matcher sits in)
    /// must carry; `secret_of(sn)` gives the device's secret of that kind. `Err`: why it
    /// cannot be computed (the fields it is over are missing, no secret is known).
    fn expected_signature(
        &self,
        _kind: &str,
        _object: Option<&serde_json::Map<String, Value>>,
        _secret_of: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ExpectedSignature, String> {
        Err("the profile defines no signatures".to_string())
    }
    /// Whether `frame` is a push the protocol lists, which a cloud may send at any time (a
    /// contact change, a bind): a wait for silence from a cloud lets it pass.
    fn is_unsolicited_push(&self, _frame: &Value) -> bool {
        false
    }
    /// The protocol's timing windows, by the name scenarios write them (`${resend_latest}`).
    fn timing_constants(&self) -> &'static [TimingConstant] {
        &[]
    }
    /// How binding the obligation `id` is (a MUST unless its statement says otherwise).
    fn binding(&self, _id: &str) -> Binding {
        Binding::Must
    }
    /// The optional areas a device may leave out: the keys of an implementation conformance
    /// statement's `[features]` and the feature names scenarios may require.
    fn ics_features(&self) -> &'static [Feature];
    /// The monitors of a cloud target (the harness plays a device).
    fn cloud_monitors(&self, strict_codes: bool) -> Vec<Box<dyn RoleMonitor>>;
    /// The monitors of a device target (the harness plays the cloud).
    /// The always-on monitors of a device; `seeded`: whether the device under test started
    /// seed-provisioned (`None`: not known, as in a run.json of an older harness).
    fn device_monitors(&self, seeded: Option<bool>) -> Vec<Box<dyn RoleMonitor>>;
}

/// The profile the harness runs with when none is chosen: WeCom.
pub fn default_profile() -> Arc<dyn Profile> {
    Arc::new(wecom::WeComProfile)
}

/// Marks what [`redact_text`] and redaction by key put in place of a credential.
pub const REDACTED: &str = "<redacted>";

/// Replaces every occurrence of each known secret string in free text (error messages,
/// raw frames that are not JSON) with [`REDACTED`].
pub fn redact_text(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s, REDACTED);
    }
    out
}
