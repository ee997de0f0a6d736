//! The typed scenario model. Every node that a failure can point at keeps its [`Span`].

use super::matcher::Matcher;
pub use super::span::{DurationExpr, Span, Spanned};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The file a scenario came from, kept whole so diagnostics can show the line.
#[derive(Debug, PartialEq)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// Which side of the wire the harness plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The harness plays a device; the target is a cloud.
    Device,
    /// The harness plays the cloud; the target is a device.
    Cloud,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Device => "device",
            Role::Cloud => "cloud",
        }
    }
}

/// What a scenario needs of its target beyond the protocol itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// The target accepts harness control (bind/unbind a device, inject faults): the mock.
    Control,
    /// The device target can be made to act (a user checks in): the reference device.
    DeviceControl,
    /// The fleet has a seed SecretNo (`get_secret_no` can be exercised).
    Seed,
}

/// One scenario file.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub id: Spanned<String>,
    pub title: String,
    pub description: Option<String>,
    /// Obligation ids (D1..D42, C1..C24) from the protocol reference.
    pub requirements: Vec<Spanned<String>>,
    pub tags: Vec<String>,
    pub role: Role,
    pub requires: Vec<Capability>,
    /// Device identities the scenario uses, by local name; the runner gives each its own
    /// identity from the fleet. Defaults to `[dev]`.
    pub devices: Vec<String>,
    /// Scenario variables, available as `${name}`.
    pub vars: BTreeMap<String, Value>,
    /// Bound on the whole scenario on the scenario clock (default 10 min).
    pub deadline: Option<Duration>,
    /// Default per-step timeout (default 10 s).
    pub step_timeout: Option<Duration>,
    /// Set for an obligation that cannot be observed on the wire: instructions for the lab.
    /// Such a scenario is not run; its verdict is `manual`.
    pub manual: Option<String>,
    /// Cloud role: requests the harness answers by itself, whichever step runs (cmd → reply).
    /// `None` means the defaults (`ping` and `get_timestamp` answered with success).
    pub auto_reply: Option<BTreeMap<String, AutoReply>>,
    pub steps: Vec<Step>,
    pub source: Arc<Source>,
}

/// One step with its position.
#[derive(Clone, Debug)]
pub struct Step {
    pub kind: StepKind,
    pub span: Span,
}

/// The step kinds (a tagged enum: one key names the kind).
#[derive(Clone, Debug)]
pub enum StepKind {
    /// Open a connection to the cloud.
    Connect(Connect),
    /// Send a request and wait for the reply with the same `req_id`.
    Request(Request),
    /// Send a frame as given (no correlation): malformed JSON, binary, anything.
    Send(Send),
    /// Take the next frame received on a connection and match it.
    Expect(Expect),
    /// Let scenario time pass.
    Wait(DurationExpr),
    /// Close a connection cleanly (close handshake).
    Disconnect(ConnRef),
    /// The device's IP changes: the old link is abandoned without a close (the cloud still
    /// thinks it is live) and the connection is re-opened from `to`.
    ChangeIp(ChangeIp),
    /// The target closes the connection within the bound.
    ExpectClosed(ExpectClosed),
    /// Nothing arrives on the connection for the duration.
    ExpectSilence(ExpectSilence),
    /// Run the nested steps `times` times; `${iteration}` is 1-based inside.
    Repeat(Repeat),
    /// Harness control of the target (mock only): bind/unbind devices, inject faults.
    Control(Control),
    // ---- cloud role: the harness plays the cloud, the target is a device ----
    /// Wait for the device's next connection.
    Accept(Accept),
    /// Take the earliest request (of `cmd`, when given) the device sent on the connection.
    Receive(Receive),
    /// Answer a received request (by default the last one received on the connection).
    Reply(Reply),
    /// Swallow the last received request: it gets no reply (the FAQ's lost reply).
    NoReply(ConnRef),
    /// Send a cloud-initiated push with its own req_id.
    Push(Push),
    /// The cloud closes the connection, with a close code.
    Close(Close),
    /// Let scenario time pass before the next step (typically before a reply).
    Delay(DurationExpr),
    /// The device's link ends (closed by either side) and the device opens a new one.
    ExpectReconnect(ExpectReconnect),
    /// Remember this moment under a name, for `timing: { since: NAME }`.
    Mark(String),
    /// Judge the times at which the device sent requests of one cmd, from the transcript.
    Timing(Timing),
    /// Make the reference device act (needs `requires: [device_control]`).
    DeviceControl(DeviceControl),
}

impl StepKind {
    /// The key that names the kind in a file.
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Connect(_) => "connect",
            StepKind::Request(_) => "request",
            StepKind::Send(_) => "send",
            StepKind::Expect(_) => "expect",
            StepKind::Wait(_) => "wait",
            StepKind::Disconnect(_) => "disconnect",
            StepKind::ChangeIp(_) => "change_ip",
            StepKind::ExpectClosed(_) => "expect_closed",
            StepKind::ExpectSilence(_) => "expect_silence",
            StepKind::Repeat(_) => "repeat",
            StepKind::Control(_) => "control",
            StepKind::Accept(_) => "accept",
            StepKind::Receive(_) => "receive",
            StepKind::Reply(_) => "reply",
            StepKind::NoReply(_) => "no_reply",
            StepKind::Push(_) => "push",
            StepKind::Close(_) => "close",
            StepKind::Delay(_) => "delay",
            StepKind::ExpectReconnect(_) => "expect_reconnect",
            StepKind::Mark(_) => "mark",
            StepKind::Timing(_) => "timing",
            StepKind::DeviceControl(_) => "device_control",
        }
    }
}

/// Every step kind a file may name, for "did you mean" suggestions.
pub const STEP_KINDS: &[&str] = &[
    "connect", "request", "send", "expect", "wait", "disconnect", "change_ip", "expect_closed", "expect_silence",
    "repeat", "control", "accept", "receive", "reply", "no_reply", "push", "close", "delay", "expect_reconnect",
    "mark", "timing", "device_control",
];

/// A connection name; defaults to `a` when a step leaves it out.
pub type ConnName = String;

#[derive(Clone, Debug)]
pub struct ConnRef {
    pub conn: ConnName,
}

#[derive(Clone, Debug)]
pub struct Connect {
    pub conn: ConnName,
    /// Source address (127.0.0.0/8 over real sockets); default 127.0.0.1.
    pub from: Option<String>,
    /// Which of the scenario's `devices` this connection speaks for; default the first.
    pub device: Option<String>,
    pub within: Option<DurationExpr>,
}

#[derive(Clone, Debug)]
pub struct Request {
    pub conn: ConnName,
    pub cmd: String,
    /// Explicit req_id (a template); default a fresh unique one.
    pub req_id: Option<String>,
    /// Body template; the profile fills defaults (see `protocol::defaults`).
    pub body: Option<Value>,
    /// When true, send `body` exactly as given, without defaults or signature.
    pub raw_body: bool,
    /// Matcher on the whole reply frame.
    pub expect: Option<Spanned<Matcher>>,
    /// name → dotted path into the reply (`body.active_code`).
    pub capture: BTreeMap<String, String>,
    /// The reply must arrive within this bound (default: the step timeout).
    pub within: Option<DurationExpr>,
    /// The reply must not arrive before this.
    pub not_before: Option<DurationExpr>,
    /// Expect no reply at all within `within` (e.g. the mock swallowed it).
    pub no_reply: bool,
}

/// What `send` puts on the wire.
#[derive(Clone, Debug)]
pub enum SendFrame {
    /// A JSON value, serialized (after `${}` expansion).
    Json(Value),
    /// A text frame as-is (malformed JSON allowed).
    Text(String),
    /// A binary frame from hex.
    Binary(Vec<u8>),
    /// A text frame of `size` bytes of filler (oversized-frame tests).
    Oversized(usize),
}

#[derive(Clone, Debug)]
pub struct Send {
    pub conn: ConnName,
    pub frame: SendFrame,
}

#[derive(Clone, Debug)]
pub struct Expect {
    pub conn: ConnName,
    pub matcher: Spanned<Matcher>,
    pub capture: BTreeMap<String, String>,
    pub within: Option<DurationExpr>,
    pub not_before: Option<DurationExpr>,
}

#[derive(Clone, Debug)]
pub struct ChangeIp {
    pub conn: ConnName,
    pub to: String,
}

#[derive(Clone, Debug)]
pub struct ExpectClosed {
    pub conn: ConnName,
    pub within: Option<DurationExpr>,
    /// The close must not come before this (e.g. not before heartbeat expiry).
    pub not_before: Option<DurationExpr>,
}

#[derive(Clone, Debug)]
pub struct ExpectSilence {
    pub conn: ConnName,
    pub duration: DurationExpr,
    /// Cloud role: only requests of this cmd break the silence (others are allowed).
    pub cmd: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Repeat {
    pub times: u32,
    pub steps: Vec<Step>,
}

/// Control operations on a target that accepts them (the mock).
#[derive(Clone, Debug, PartialEq)]
pub enum Control {
    /// Bind the device to a corp (the mock pushes `push_bind_corp` on a live link).
    Bind { device: Option<String> },
    /// Unbind it (`push_unbind_corp`).
    Unbind { device: Option<String> },
    /// Swallow the reply to the next request of `cmd` (it still takes effect).
    SwallowReply { cmd: String },
    /// Delay every reply by this much until changed (0 to stop).
    DelayReplies(DurationExpr),
    /// Close the device's live link from the cloud side.
    CloseLink { device: Option<String> },
}

/// How the harness-as-cloud answers a request.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplySpec {
    /// Default 0.
    pub errcode: i64,
    /// Default "ok" for 0, the catalog's meaning otherwise.
    pub errmsg: Option<String>,
    /// Body template (`${...}` expanded).
    pub body: Option<Value>,
    /// `retry` or `reconnect`; error replies get the catalog's default when left out.
    pub suggestion: Option<String>,
    /// Seconds; -1 = never. Error replies get the catalog's default when left out.
    pub interval: Option<i64>,
    /// When set, the reply is a binary frame (§1.2) carrying these bytes (UTF-8 of the text).
    pub binary: Option<String>,
    /// Leave `suggestion` and `interval` out of an error reply entirely (a cloud that gives
    /// no advice: the device must then wait a random 1–3 s).
    pub no_advice: bool,
}

/// An entry of `auto_reply`: a reply, or `off` to remove a default.
#[derive(Clone, Debug, PartialEq)]
pub enum AutoReply {
    Reply(ReplySpec),
    Off,
}

#[derive(Clone, Debug)]
pub struct Accept {
    pub conn: ConnName,
    pub within: Option<DurationExpr>,
}

#[derive(Clone, Debug)]
pub struct Receive {
    pub conn: ConnName,
    /// `None`: the next request whatever its cmd.
    pub cmd: Option<String>,
    /// Bound measured from the start of the step (default: the step timeout).
    pub within: Option<DurationExpr>,
    /// The request must not have arrived earlier than this after the start of the step.
    pub not_before: Option<DurationExpr>,
    /// Matcher on the whole request frame (`$signature` available).
    pub check: Option<Spanned<Matcher>>,
    pub capture: BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
pub struct Reply {
    pub conn: ConnName,
    /// The req_id to answer (a template, e.g. `${first_req}`); default the last received.
    pub to: Option<String>,
    pub spec: ReplySpec,
}

#[derive(Clone, Debug)]
pub struct Push {
    pub conn: ConnName,
    pub cmd: String,
    pub body: Option<Value>,
    /// Default a fresh cloud-generated one; available afterwards as `${last_push_req_id}`.
    pub req_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Close {
    pub conn: ConnName,
    /// Default 1000.
    pub code: Option<u16>,
    pub reason: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ExpectReconnect {
    pub conn: ConnName,
    /// Bound on the new connection's arrival, from the start of the step.
    pub within: Option<DurationExpr>,
    /// The new connection must not arrive earlier than this after the start of the step.
    pub not_before: Option<DurationExpr>,
}

/// Bounds on a duration; either may be open.
#[derive(Clone, Debug, Default)]
pub struct DurationRange {
    pub min: Option<DurationExpr>,
    pub max: Option<DurationExpr>,
}

#[derive(Clone, Debug)]
pub struct Timing {
    /// `None`: requests on every connection of the scenario.
    pub conn: Option<ConnName>,
    pub cmd: String,
    /// Only requests after this mark count (default: the whole scenario).
    pub since: Option<String>,
    /// Every gap between consecutive requests lies in this range.
    pub gaps: Option<DurationRange>,
    /// The gaps must vary (a fixed retry delay fails); needs at least 3 gaps.
    pub jitter: bool,
    /// At least this many requests were seen.
    pub min_count: Option<u32>,
    /// At most `count` requests in any window of `per`.
    pub max_per: Option<(u32, DurationExpr)>,
    /// No request at all of `cmd` (after `since`).
    pub none: bool,
}

/// Stimuli for the reference device: things a person would do at a real one.
#[derive(Clone, Debug, PartialEq)]
pub enum DeviceControl {
    /// A user checks in (or passes the door): the device records and uploads it.
    Checkin { userid: String, pass_type: Option<u32>, pass_method: Option<u32> },
}

/// Calls `f` on every step kind, nested ones (inside `repeat`) included, in file order.
pub fn visit_steps(steps: &[Step], f: &mut dyn FnMut(&StepKind)) {
    for s in steps {
        f(&s.kind);
        if let StepKind::Repeat(r) = &s.kind {
            visit_steps(&r.steps, f);
        }
    }
}
