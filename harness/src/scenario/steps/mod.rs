//! One module per step kind. Each file owns its kind on the scenario side: the typed step,
//! its name (the key a file writes), the role(s) it is allowed in, its accepted keys, its
//! parser and its rendering back to YAML. The table below is the one list of kinds: the
//! [`StepKind`] enum, [`StepKind::name`], [`STEP_KINDS`], the role lists, the loader's
//! dispatch and the renderer are all generated from it.
//!
//! Adding a step kind: a file here, its line in the table, its execution in `engine/session`
//! and its section in the format doc.

use super::parse::Loader;
use super::span::{ConnName, Role, Span};
use super::yaml::Node;

pub mod accept;
pub mod change_ip;
pub mod close;
pub mod connect;
pub mod control;
pub mod delay;
pub mod device_control;
pub mod disconnect;
pub mod expect;
pub mod expect_closed;
pub mod expect_reconnect;
pub mod expect_silence;
pub mod logged_in;
pub mod fault;
pub mod mark;
pub mod no_reply;
pub mod one_of;
pub mod purpose;
pub mod push;
pub mod receive;
pub mod repeat;
pub mod reply;
pub mod request;
pub mod send;
pub mod timing;
pub mod wait;

/// The typed steps of every kind (re-exported by `model`, so a new kind's types are listed
/// once, here).
pub mod types {
    pub use crate::scenario::steps::accept::Accept;
    pub use crate::scenario::steps::change_ip::ChangeIp;
    pub use crate::scenario::steps::close::Close;
    pub use crate::scenario::steps::connect::Connect;
    pub use crate::scenario::steps::control::Control;
    pub use crate::scenario::steps::device_control::DeviceControl;
    pub use crate::scenario::steps::expect::Expect;
    pub use crate::scenario::steps::expect_closed::ExpectClosed;
    pub use crate::scenario::steps::expect_reconnect::ExpectReconnect;
    pub use crate::scenario::steps::expect_silence::ExpectSilence;
    pub use crate::scenario::steps::logged_in::LoggedIn;
    pub use crate::scenario::steps::one_of::{Branch, OneOf};
    pub use crate::scenario::steps::purpose::Purpose;
    pub use crate::scenario::steps::fault::{Fault, FaultAction, FaultDirection, FaultMatch, FrameFaultKind, MAX_FAULT_COUNT};
    pub use crate::scenario::steps::push::Push;
    pub use crate::scenario::steps::receive::Receive;
    pub use crate::scenario::steps::repeat::{Repeat, MAX_REPEAT};
    pub use crate::scenario::steps::reply::{Reply, ReplySpec};
    pub use crate::scenario::steps::request::Request;
    pub use crate::scenario::steps::send::{Send, SendFrame, MAX_OVERSIZED};
    pub use crate::scenario::steps::timing::{DurationRange, Timing, MAX_COUNT};
    pub use crate::scenario::steps::wait::Wait;
}
pub use types::*;

/// Both roles: a kind every scenario may use.
pub(crate) const COMMON: &[Role] = &[Role::Device, Role::Cloud];
/// The harness plays a device; the target is a cloud.
pub(crate) const DEVICE: &[Role] = &[Role::Device];
/// The harness plays the cloud; the target is a device.
pub(crate) const CLOUD: &[Role] = &[Role::Cloud];

/// One step with its position.
#[derive(Clone, Debug)]
pub struct Step {
    pub kind: StepKind,
    pub span: Span,
}

impl Step {
    /// A step written by a program (no position in a file).
    pub fn new(kind: StepKind) -> Step {
        Step { kind, span: Span::default() }
    }

    /// The step as a list item at `indent` spaces, one line per step (siblings and nested
    /// steps on their own lines); loads back to an equal step.
    pub fn to_yaml(&self, indent: usize) -> Vec<String> {
        self.kind.to_yaml(indent)
    }
}

impl From<StepKind> for Step {
    fn from(kind: StepKind) -> Step {
        Step::new(kind)
    }
}

/// A step that names only its connection (`disconnect`, `no_reply`).
#[derive(Clone, Debug, PartialEq)]
pub struct ConnRef {
    pub conn: ConnName,
}

macro_rules! step_kinds {
    ($( $(#[doc = $doc:literal])* $variant:ident($ty:ty) = $module:ident, )*) => {
        /// The step kinds (a tagged enum: one key names the kind).
        #[derive(Clone, Debug)]
        pub enum StepKind {
            $( $(#[doc = $doc])* $variant($ty), )*
        }

        /// Every kind as (name, its doc comment, argument keys, sibling keys, roles): what
        /// the scenario JSON Schema is generated from.
        pub(in crate::scenario) const KIND_TABLE: &[(&str, &str, &[&str], &[&str], &[Role])] = &[
            $( ($module::NAME, concat!($($doc, "\n",)*), $module::KEYS, $module::SIBLINGS, $module::ROLES), )*
        ];

        impl StepKind {
            /// The key that names the kind in a file.
            pub fn name(&self) -> &'static str {
                match self {
                    $( StepKind::$variant(_) => $module::NAME, )*
                }
            }

            /// The roles whose scenarios may use the kind.
            pub fn roles(&self) -> &'static [Role] {
                match self {
                    $( StepKind::$variant(_) => $module::ROLES, )*
                }
            }

            /// The step as a list item at `indent` spaces.
            pub fn to_yaml(&self, indent: usize) -> Vec<String> {
                match self {
                    $( StepKind::$variant(x) => $module::to_yaml(x, indent), )*
                }
            }
        }

        /// Every step kind a file may name, for "did you mean" suggestions.
        pub const STEP_KINDS: &[&str] = &[$( $module::NAME, )*];

        /// The roles of the kind named `name` (`None`: no such kind).
        pub fn roles_of(name: &str) -> Option<&'static [Role]> {
            $( if name == $module::NAME { return Some($module::ROLES); } )*
            None
        }

        /// The argument keys of the kind named `name` (none for an unknown name).
        pub(in crate::scenario) fn keys_of(name: &str) -> &'static [&'static str] {
            $( if name == $module::NAME { return $module::KEYS; } )*
            &[]
        }

        /// The keys that may sit beside the kind key of the kind named `name`.
        pub(in crate::scenario) fn siblings_of(name: &str) -> &'static [&'static str] {
            $( if name == $module::NAME { return $module::SIBLINGS; } )*
            &[]
        }

        /// Parses the step whose kind key is `key` (`None`: reported, or no such kind).
        pub(in crate::scenario) fn parse_kind(loader: &mut Loader<'_>, key: &Node, value: &Node, step: &Node) -> Option<StepKind> {
            let name = key.key_text();
            $( if name == $module::NAME { return $module::parse(loader, key, value, step).map(StepKind::$variant); } )*
            None
        }
    };
}

step_kinds! {
    /// Open a connection to the cloud.
    Connect(Connect) = connect,
    /// Send a request and wait for the reply with the same `req_id`.
    Request(Request) = request,
    /// Send a frame as given (no correlation): malformed JSON, binary, anything.
    Send(Send) = send,
    /// Take the next frame received on a connection and match it.
    Expect(Expect) = expect,
    /// Let scenario time pass.
    Wait(Wait) = wait,
    /// Close a connection cleanly (close handshake).
    Disconnect(ConnRef) = disconnect,
    /// The device's IP changes: the old link is abandoned without a close (the cloud still
    /// thinks it is live) and the connection is re-opened from `to`.
    ChangeIp(ChangeIp) = change_ip,
    /// The target closes the connection within the bound.
    ExpectClosed(ExpectClosed) = expect_closed,
    /// Nothing arrives on the connection for the duration.
    ExpectSilence(ExpectSilence) = expect_silence,
    /// Run the nested steps `times` times; `${iteration}` is 1-based inside.
    Repeat(Repeat) = repeat,
    /// Harness control of the target (mock only): bind/unbind devices, inject faults.
    Control(Control) = control,
    /// Wait for the device's next connection.
    Accept(Accept) = accept,
    /// Take the earliest request (of `cmd`, when given) the device sent on the connection.
    Receive(Receive) = receive,
    /// Answer a received request (by default the last one received on the connection).
    Reply(Reply) = reply,
    /// Swallow the last received request: it gets no reply (the FAQ's lost reply).
    NoReply(ConnRef) = no_reply,
    /// Send a cloud-initiated push with its own req_id.
    Push(Push) = push,
    /// The cloud closes the connection, with a close code.
    Close(Close) = close,
    /// Let scenario time pass before the next step (typically before a reply).
    Delay(super::span::DurationExpr) = delay,
    /// The device's link ends (closed by either side) and the device opens a new one.
    ExpectReconnect(ExpectReconnect) = expect_reconnect,
    /// Remember this moment under a name, for `timing: { since: NAME }`.
    Mark(String) = mark,
    /// Judge the times at which the device sent requests of one cmd, from the transcript.
    Timing(Timing) = timing,
    /// Make the reference device act (needs `requires: [device_control]`).
    DeviceControl(DeviceControl) = device_control,
    /// The test body starts here: a failure before it is `inconclusive`.
    Purpose(Purpose) = purpose,
    /// Several conformant continuations: the target's first move picks the branch.
    OneOf(OneOf) = one_of,
    /// The device acts as logged in: its first request only a logged-in device sends.
    LoggedIn(LoggedIn) = logged_in,
    /// A fault the harness applies to its own traffic on a connection (any target).
    Fault(Fault) = fault,
}


/// Renders steps as list items at `indent` spaces.
pub fn render_steps(steps: &[Step], indent: usize) -> Vec<String> {
    steps.iter().flat_map(|s| s.to_yaml(indent)).collect()
}

/// Calls `f` on every step kind, nested ones (inside `repeat` and `one_of`) included, in file
/// order.
pub fn visit_steps(steps: &[Step], f: &mut dyn FnMut(&StepKind)) {
    for s in steps {
        f(&s.kind);
        match &s.kind {
            StepKind::Repeat(r) => visit_steps(&r.steps, f),
            StepKind::OneOf(o) => o.branches.iter().for_each(|b| visit_steps(&b.steps, f)),
            _ => {}
        }
    }
}
