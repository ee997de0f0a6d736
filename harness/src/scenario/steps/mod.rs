//! One module per step kind. Each file owns its kind on the scenario side: the typed step,
//! its name (the key a file writes), the role(s) it is allowed in, its accepted keys, its
//! parser and its rendering back to YAML. The table below ([`with_step_kinds`]) is the one
//! list of kinds: the modules, the [`StepKind`] enum, [`StepKind::name`], [`STEP_KINDS`], the
//! role lists, the loader's dispatch, the renderer, and on the engine's side the session's
//! step modules and its dispatch are all generated from it.
//!
//! Adding a step kind: a file here, its execution in `engine/session/steps/` (a method named
//! as the module), its line in the table and its section in the format doc.

use super::parse::Loader;
use super::span::{ConnName, Role, Span};
use super::yaml::Node;

/// Both roles: a kind every scenario may use.
pub(crate) const COMMON: &[Role] = &[Role::Device, Role::Cloud];
/// The kinds an observer scenario may use: the harness plays neither party, so it takes
/// the kinds that watch and wait, and `fault` and `expect` read their observer form
/// (`fault: { drop: to_device, ... }`, `expect: { from: device, ... }`).
const OBSERVER_KINDS: &[&str] = &["expect", "fault", "wait", "purpose"];
const DEVICE_OBSERVER: &[Role] = &[Role::Device, Role::Observer];
const EVERY_ROLE: &[Role] = &[Role::Device, Role::Cloud, Role::Observer];

/// The roles of the kind named `name` (`None`: no such kind): the table's, and the observer
/// role for the kinds it shares.
pub fn roles_of(name: &str) -> Option<&'static [Role]> {
    let roles = table_roles_of(name)?;
    Some(match OBSERVER_KINDS.contains(&name) {
        true if roles == COMMON => EVERY_ROLE,
        true if roles == DEVICE => DEVICE_OBSERVER,
        _ => roles,
    })
}
/// The harness plays a device; the target is a cloud.
pub(crate) const DEVICE: &[Role] = &[Role::Device];
/// The harness plays the cloud; the target is a device.
pub(crate) const CLOUD: &[Role] = &[Role::Cloud];

/// One step with its position.
#[derive(Clone, Debug)]
pub struct Step {
    pub kind: StepKind,
    pub span: Span,
    /// The obligations a failure of this step is charged to (`judges: [D13]` beside the kind
    /// key), when its matchers do not say (`$judges`). Empty: the step judges every id the
    /// scenario cites, or, before `purpose`, none (the preamble).
    pub judges: Vec<super::span::Spanned<String>>,
    /// `judges: []`: the step sets the stage inside the test body and judges nothing: its
    /// failure proves nothing either way (`inconclusive`).
    pub judges_nothing: bool,
    /// What the step's `not_before` bound judges, when it is another rule than the rest of
    /// the step (`judges: { not_before: D14, rest: D33 }`): a request that came too early
    /// breaks a timing rule; one that never came, or came wrong, the behaviour under test.
    pub judges_not_before: Vec<super::span::Spanned<String>>,
    /// `deliberate: "why"`: the frame this step sends breaks the documented shape on purpose
    /// (a robustness scenario), so the loader's check of the harness's own frames lets it be.
    pub deliberate: Option<String>,
}

/// The key beside any step kind that marks its frame as deliberately off the documented shape.
pub const DELIBERATE: &str = "deliberate";

/// The key beside any step kind that names the obligations the step judges.
pub const JUDGES: &str = "judges";

impl Step {
    /// A step written by a program (no position in a file).
    pub fn new(kind: StepKind) -> Step {
        Step {
            kind,
            span: Span::default(),
            judges: Vec::new(),
            judges_nothing: false,
            judges_not_before: Vec::new(),
            deliberate: None,
        }
    }

    /// The step as a list item at `indent` spaces, one line per step (siblings and nested
    /// steps on their own lines); loads back to an equal step.
    pub fn to_yaml(&self, indent: usize) -> Vec<String> {
        let mut lines = self.kind.to_yaml(indent);
        let list = |ids: &[super::span::Spanned<String>]| {
            format!(
                "[{}]",
                ids.iter()
                    .map(|j| j.value.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let judges = match (self.judges.is_empty(), self.judges_not_before.is_empty()) {
            (true, true) if self.judges_nothing => Some("[]".to_string()),
            (true, true) => None,
            (false, true) => Some(list(&self.judges)),
            (rest, _) => Some(format!(
                "{{ not_before: {}{} }}",
                list(&self.judges_not_before),
                if rest {
                    String::new()
                } else {
                    format!(", rest: {}", list(&self.judges))
                }
            )),
        };
        if let Some(judges) = judges {
            // A sibling of the kind key, after its nested steps (`repeat`, `one_of`) if any.
            lines.push(format!("{}  {JUDGES}: {judges}", " ".repeat(indent)));
        }
        if let Some(why) = &self.deliberate {
            lines.push(format!(
                "{}  {DELIBERATE}: {}",
                " ".repeat(indent),
                crate::scenario::render::quoted(why)
            ));
        }
        lines
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
    // The table's sections, flattened with each kind's role, and each role's kinds listed.
    (
        device { $( $(#[doc = $ddoc:literal])* $dv:ident($dty:ty) = $dm:ident [$($dexp:ident),*], )* }
        cloud { $( $(#[doc = $kdoc:literal])* $kv:ident($kty:ty) = $km:ident [$($kexp:ident),*], )* }
        common { $( $(#[doc = $cdoc:literal])* $cv:ident($cty:ty) = $cm:ident [$($cexp:ident),*], )* }
    ) => {
        step_kinds! {
            @all
            $( $(#[doc = $ddoc])* $dv($dty) = $dm [$($dexp),*] in DEVICE, )*
            $( $(#[doc = $kdoc])* $kv($kty) = $km [$($kexp),*] in CLOUD, )*
            $( $(#[doc = $cdoc])* $cv($cty) = $cm [$($cexp),*] in COMMON, )*
        }

        /// A step both roles may take, borrowed from its [`StepKind`].
        #[derive(Clone, Copy, Debug)]
        pub enum CommonStep<'a> { $( $cv(&'a $cty), )* }
        /// A step of the device role (the harness plays a device; the target is a cloud).
        #[derive(Clone, Copy, Debug)]
        pub enum DeviceStep<'a> { $( $dv(&'a $dty), )* }
        /// A step of the cloud role (the harness plays the cloud; the target is a device).
        #[derive(Clone, Copy, Debug)]
        pub enum CloudStep<'a> { $( $kv(&'a $kty), )* }

        /// A step typed by the role it belongs to: what a session dispatches on.
        #[derive(Clone, Copy, Debug)]
        pub enum RoleStep<'a> {
            Common(CommonStep<'a>),
            Device(DeviceStep<'a>),
            Cloud(CloudStep<'a>),
        }

        impl StepKind {
            /// The step typed by its role.
            pub fn by_role(&self) -> RoleStep<'_> {
                match self {
                    $( StepKind::$cv(x) => RoleStep::Common(CommonStep::$cv(x)), )*
                    $( StepKind::$dv(x) => RoleStep::Device(DeviceStep::$dv(x)), )*
                    $( StepKind::$kv(x) => RoleStep::Cloud(CloudStep::$kv(x)), )*
                }
            }
        }
    };
    (@all $( $(#[doc = $doc:literal])* $variant:ident($ty:ty) = $module:ident [$($export:ident),*] in $role:ident, )*) => {
        $( pub mod $module; )*

        /// The typed steps of every kind (re-exported by `model`).
        pub mod types {
            $( $( pub use super::$module::$export; )* )*
        }
        pub use types::*;

        /// The step kinds (a tagged enum: one key names the kind).
        #[derive(Clone, Debug)]
        pub enum StepKind {
            $( $(#[doc = $doc])* $variant($ty), )*
        }

        /// Every kind as (name, its doc comment, argument keys, sibling keys, roles): what
        /// the scenario JSON Schema is generated from.
        pub(in crate::scenario) const KIND_TABLE: &[(&str, &str, &[&str], &[&str], &[Role])] = &[
            $( ($module::NAME, concat!($($doc, "\n",)*), $module::KEYS, $module::SIBLINGS, $role), )*
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
                    $( StepKind::$variant(_) => $role, )*
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

        /// The roles the table gives the kind named `name` (`None`: no such kind).
        fn table_roles_of(name: &str) -> Option<&'static [Role]> {
            $( if name == $module::NAME { return Some($role); } )*
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

/// The one list of step kinds, by role (`device`: the harness plays a device; `cloud`: the
/// harness plays the cloud; `common`: both; where kinds are listed, a role's own come first).
/// Each line is the kind's enum variant, its typed step, its module (a file here and, for its
/// execution, one in `engine/session/steps/`) and what the module exports. Handed to a macro by
/// each side (`with_step_kinds!(macro_name)`): here it makes the modules, the enum, its lookups
/// and the per-role step types; the session makes its modules and its per-role dispatch.
macro_rules! with_step_kinds {
    ($callback:ident) => { $callback! {
        device {
            /// Open a connection to the cloud.
            Connect(Connect) = connect [Connect],
            /// Send a request and wait for the reply with the same `req_id`.
            Request(Request) = request [Request],
            /// Send a frame as given (no correlation): malformed JSON, binary, anything.
            Send(Send) = send [Send, SendFrame, MAX_OVERSIZED],
            /// Take the next frame received on a connection and match it.
            Expect(Expect) = expect [Expect, Observed, ObservedParty],
            /// The device's IP changes: the old link is abandoned without a close (the cloud still
            /// thinks it is live) and the connection is re-opened from `to`.
            ChangeIp(ChangeIp) = change_ip [ChangeIp],
            /// Harness control of the target (mock only): bind/unbind devices, inject faults.
            Control(Control) = control [Control],
        }
        cloud {
            /// Wait for the device's next connection.
            Accept(Accept) = accept [Accept],
            /// Take the earliest request (of `cmd`, when given) the device sent on the connection.
            Receive(Receive) = receive [Receive],
            /// Answer a received request (by default the last one received on the connection).
            Reply(Reply) = reply [Reply, ReplySpec],
            /// Swallow the last received request: it gets no reply (the FAQ's lost reply).
            NoReply(ConnRef) = no_reply [],
            /// Send a cloud-initiated push with its own req_id.
            Push(Push) = push [Push],
            /// The cloud closes the connection, with a close code.
            Close(Close) = close [Close],
            /// Let scenario time pass before the next step (typically before a reply).
            Delay(crate::scenario::span::DurationExpr) = delay [],
            /// The device's link ends (closed by either side) and the device opens a new one.
            ExpectReconnect(ExpectReconnect) = expect_reconnect [ExpectReconnect],
            /// Remember this moment under a name, for `timing: { since: NAME }`.
            Mark(String) = mark [],
            /// Judge the times at which the device sent requests of one cmd, from the transcript.
            Timing(Timing) = timing [DurationRange, Timing, MAX_COUNT],
            /// Make the reference device act (needs `requires: [device_control]`).
            DeviceControl(DeviceControl) = device_control [DeviceControl],
            /// Several conformant continuations: the target's first move picks the branch.
            OneOf(OneOf) = one_of [Branch, OneOf],
            /// The device acts as logged in: its first request only a logged-in device sends.
            LoggedIn(LoggedIn) = logged_in [LoggedIn],
        }
        common {
            /// Let scenario time pass.
            Wait(Wait) = wait [Wait],
            /// Close a connection cleanly (close handshake).
            Disconnect(ConnRef) = disconnect [],
            /// The target closes the connection within the bound.
            ExpectClosed(ExpectClosed) = expect_closed [ExpectClosed],
            /// Nothing arrives on the connection for the duration.
            ExpectSilence(ExpectSilence) = expect_silence [ExpectSilence],
            /// Run the nested steps `times` times; `${iteration}` is 1-based inside.
            Repeat(Repeat) = repeat [Repeat, MAX_REPEAT],
            /// The test body starts here: a failure before it is `inconclusive`.
            Purpose(Purpose) = purpose [Purpose],
            /// A fault the harness applies to its own traffic on a connection (any target).
            Fault(Fault) = fault [Fault, FaultAction, LinkDirection, LinkFaultKind, FaultDirection, FaultMatch, FrameFaultKind, MAX_FAULT_COUNT],
        }
    }};
}
pub(crate) use with_step_kinds;

with_step_kinds!(step_kinds);

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
