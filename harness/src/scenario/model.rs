//! The typed scenario model. Every node that a failure can point at keeps its [`Span`].

use super::render;
pub use super::span::{ConnName, DurationExpr, Role, Span, Spanned};
pub use super::steps::{
    render_steps, types::*, visit_steps, CloudStep, CommonStep, ConnRef, DeviceStep, RoleStep,
    Step, StepKind, STEP_KINDS,
};
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

/// What a scenario needs of its target beyond the protocol itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// The target accepts harness control (bind/unbind a device, inject faults): the mock.
    Control,
    /// The device target can be made to act (a user checks in): the reference device.
    DeviceControl,
    /// The cloud can be made to act as a corp, a person or a vendor would (a corp binds the
    /// device, a person opens the door remotely): through the mock's control plane, or
    /// through the lab's cloud upper tester (`--cloud-upper-tester`).
    #[serde(rename = "cloud_control")]
    CloudControl,
    /// The fleet has a seed SecretNo (`get_secret_no` can be exercised).
    Seed,
    /// The scenario's first device starts unbound (no corp has bound it): against a shared
    /// cloud one of the fleet's `"bound": false` devices, in-process a device the scenario's
    /// mock is told is unbound.
    Unbound,
    /// The cloud states a frame limit below the largest frame the scenario sends.
    #[serde(rename = "frame_limit")]
    FrameLimit,
    /// The cloud does not say it lacks the full visitor pull `get_visitor_list` ([UNDOC]).
    #[serde(rename = "visitor_list")]
    VisitorList,
}

impl Capability {
    /// The word a file writes in `requires`.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Control => "control",
            Capability::DeviceControl => "device_control",
            Capability::CloudControl => "cloud_control",
            Capability::Seed => "seed",
            Capability::Unbound => "unbound",
            Capability::FrameLimit => "frame_limit",
            Capability::VisitorList => "visitor_list",
        }
    }
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
    /// Features of the device under test the scenario checks (`requires: [door]`): it
    /// applies only to a device whose implementation conformance statement says `true`.
    pub features: Vec<String>,
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
    /// Set when the check rests on an undocumented reading ([UNDOC], or the mock's own
    /// choice) rather than on a documented rule: against a target that is not the harness's
    /// own, a failure of the test body is then a `warn`, listed apart (Autobahn's
    /// "non-strict"). The text says what is assumed.
    pub assumption: Option<String>,
    /// Cloud role: requests the harness answers by itself, whichever step runs (cmd → reply).
    /// `None` means the defaults (`ping` and `get_timestamp` answered with success).
    pub auto_reply: Option<BTreeMap<String, AutoReply>>,
    pub steps: Vec<Step>,
    pub source: Arc<Source>,
}

/// An entry of `auto_reply`: a reply, or `off` to remove a default.
#[derive(Clone, Debug, PartialEq)]
pub enum AutoReply {
    Reply(ReplySpec),
    Off,
}

impl AutoReply {
    /// The entry as a file writes it: a reply mapping, or `off`.
    pub fn to_value(&self) -> Value {
        match self {
            AutoReply::Reply(spec) => spec.to_value(),
            AutoReply::Off => Value::from("off"),
        }
    }
}

impl Scenario {
    /// The scenario as a file: top-level keys one per line (flow style), then one step per
    /// line. Loads back to an equal scenario.
    pub fn to_yaml(&self) -> String {
        self.to_yaml_with_lines().0
    }

    /// [`Scenario::to_yaml`], and the first and last line (1-based) of each top-level step.
    pub fn to_yaml_with_lines(&self) -> (String, Vec<(u32, u32)>) {
        let mut out = self.header_lines();
        let mut lines = Vec::new();
        if self.manual.is_none() || !self.steps.is_empty() {
            out.push("steps:".into());
        }
        for step in &self.steps {
            let first = out.len() as u32 + 1;
            out.extend(step.to_yaml(2));
            lines.push((first, out.len() as u32));
        }
        let mut text = out.join("\n");
        text.push('\n');
        (text, lines)
    }

    fn header_lines(&self) -> Vec<String> {
        let list = |items: Vec<String>| {
            format!(
                "[{}]",
                items
                    .iter()
                    .map(|s| render::scalar(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let mut out = vec![
            format!("id: {}", render::scalar(&self.id.value)),
            format!("title: {}", render::quoted(&self.title)),
        ];
        if let Some(description) = &self.description {
            let (body, chomp) = match description.strip_suffix('\n') {
                Some(body) if !body.ends_with('\n') => (body, ""),
                _ => (description.as_str(), "-"),
            };
            if body.lines().all(|l| !l.starts_with(' ')) && !body.is_empty() {
                out.push(format!("description: |{chomp}"));
                out.extend(body.split('\n').map(|l| {
                    if l.is_empty() {
                        String::new()
                    } else {
                        format!("  {l}")
                    }
                }));
            } else {
                out.push(format!("description: {}", render::quoted(description)));
            }
        }
        out.push(format!(
            "requirements: {}",
            list(self.requirements.iter().map(|r| r.value.clone()).collect())
        ));
        if !self.tags.is_empty() {
            out.push(format!("tags: {}", list(self.tags.clone())));
        }
        out.push(format!("role: {}", self.role.as_str()));
        if !self.requires.is_empty() || !self.features.is_empty() {
            let words = self
                .requires
                .iter()
                .map(|c| c.as_str().to_string())
                .chain(self.features.iter().cloned())
                .collect();
            out.push(format!("requires: {}", list(words)));
        }
        if self.devices != ["dev"] {
            out.push(format!("devices: {}", list(self.devices.clone())));
        }
        if !self.vars.is_empty() {
            out.push(format!(
                "vars: {}",
                render::flow(&Value::Object(self.vars.clone().into_iter().collect()))
            ));
        }
        if let Some(auto) = &self.auto_reply {
            let map = auto
                .iter()
                .map(|(cmd, reply)| (cmd.clone(), reply.to_value()))
                .collect();
            out.push(format!("auto_reply: {}", render::flow(&Value::Object(map))));
        }
        if let Some(d) = self.deadline {
            out.push(format!(
                "deadline: {}",
                render::flow(&render::duration(&DurationExpr::Fixed(d)))
            ));
        }
        if let Some(d) = self.step_timeout {
            out.push(format!(
                "step_timeout: {}",
                render::flow(&render::duration(&DurationExpr::Fixed(d)))
            ));
        }
        if let Some(manual) = &self.manual {
            out.push(format!("manual: {}", render::quoted(manual)));
        }
        if let Some(assumption) = &self.assumption {
            out.push(format!("assumption: {}", render::quoted(assumption)));
        }
        out
    }
}
