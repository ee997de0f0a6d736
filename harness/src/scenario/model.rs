//! The typed scenario model. Every node that a failure can point at keeps its [`Span`].

use super::matcher::Matcher;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A position in a scenario file, 1-based.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Span {
    pub line: u32,
    pub col: u32,
}

/// A value with the place it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

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
}

/// A duration as written: either fixed, or an expression over run variables such as
/// `${heartbeat_timeout}+10s` that is resolved when the step runs.
#[derive(Clone, Debug, PartialEq)]
pub enum DurationExpr {
    Fixed(Duration),
    Expr(String),
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
        }
    }
}

/// Every step kind a file may name, for "did you mean" suggestions.
pub const STEP_KINDS: &[&str] = &[
    "connect", "request", "send", "expect", "wait", "disconnect", "change_ip", "expect_closed", "expect_silence",
    "repeat", "control",
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
