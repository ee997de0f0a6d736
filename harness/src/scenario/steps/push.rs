//! The `push` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::diagnostic::did_you_mean;
use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use serde_json::Value;
use crate::scenario::parse::*;
use crate::scenario::yaml::{to_json, Node};

pub const NAME: &str = "push";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = PUSH_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

#[derive(Clone, Debug)]
pub struct Push {
    pub conn: ConnName,
    pub cmd: String,
    pub body: Option<Value>,
    /// Default a fresh cloud-generated one; available afterwards as `${last_push_req_id}`.
    pub req_id: Option<String>,
}

pub(in crate::scenario) const PUSH_KEYS: &[&str] = &["conn", "cmd", "body", "req_id"];

impl Loader<'_> {
    pub(in crate::scenario) fn push_step(&mut self, value: &Node) -> Push {
        let args = self.step_args(value, "push", PUSH_KEYS);
        let a = args.as_ref();
        let get = |key| a.and_then(|a| a.get(key));
        let cmd = a.and_then(|a| self.required_string(a, "cmd", "a `push` step"));
        if let (Some(cmd), Some(node)) = (cmd.as_deref(), get("cmd")) {
            self.check_push_cmd(cmd, node);
        }
        Push {
            conn: a.map(|a| self.conn(a)).unwrap_or_default(),
            cmd: cmd.unwrap_or_default(),
            body: get("body").map(to_json),
            req_id: get("req_id").and_then(|n| self.text(n, "req_id", "a string")),
        }
    }

    /// Pushes are told from requests by their cmd, where the profile names them so
    /// (`push_*`, C2 for WeCom).
    pub(in crate::scenario) fn check_push_cmd(&mut self, cmd: &str, node: &Node) {
        let Some(prefix) = self.profile.push_prefix() else {
            return;
        };
        if cmd.starts_with(prefix) {
            return;
        }
        let names = self.profile.push_commands();
        let pushes: Vec<&str> = names.iter().map(String::as_str).collect();
        let prefixed = format!("{prefix}{cmd}");
        let help = if pushes.contains(&prefixed.as_str()) {
            Some(format!("did you mean `{prefixed}`?"))
        } else {
            did_you_mean(cmd, &pushes)
        };
        let d = self
            .diag(node.span, format!("the `cmd` of a push must start with `{prefix}`, found `{cmd}`"))
            .expected("a push cmd like push_bind_corp")
            .maybe_help(help);
        self.push(d);
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<Push> {
    Some(l.push_step(value))
}

pub fn to_yaml(p: &Push, indent: usize) -> Vec<String> {
    let args = Out::new().conn(&p.conn).set("cmd", p.cmd.as_str()).opt("req_id", p.req_id.clone()).opt("body", p.body.clone());
    render::item(indent, NAME, &args.value(), &[])
}
