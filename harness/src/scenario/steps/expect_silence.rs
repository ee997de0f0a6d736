//! The `expect_silence` step: the typed step, its name and role, its keys, its parser and its rendering.

use crate::scenario::render::{self, Args as Out};
use crate::scenario::span::*;
use crate::scenario::parse::*;
use crate::scenario::yaml::Node;
use std::time::Duration;

pub const NAME: &str = "expect_silence";
/// The keys of its arguments (written beside the kind key, they get a pointed diagnostic).
pub(in crate::scenario) const KEYS: &[&str] = EXPECT_SILENCE_KEYS;
/// The keys that may sit beside the kind key.
pub(in crate::scenario) const SIBLINGS: &[&str] = &[];

#[derive(Clone, Debug)]
pub struct ExpectSilence {
    pub conn: ConnName,
    pub duration: DurationExpr,
    /// Only frames of this cmd break the silence (others are allowed): a device's requests in
    /// the cloud role, a cloud's pushes in the device role (a refused act pushes nothing).
    pub cmd: Option<String>,
}

pub(in crate::scenario) const EXPECT_SILENCE_KEYS: &[&str] = &["conn", "for", "cmd"];

impl Loader<'_> {
    pub(in crate::scenario) fn expect_silence(&mut self, value: &Node) -> ExpectSilence {
        let args = self.step_args(value, "expect_silence", EXPECT_SILENCE_KEYS);
        let conn = args.as_ref().map(|a| self.conn(a)).unwrap_or_default();
        let duration =
            args.as_ref().and_then(|a| self.required(a, "for", "an `expect_silence` step")).and_then(|n| self.duration(n, "for"));
        let cmd = args.as_ref().and_then(|a| a.get("cmd").map(|n| (a, n)));
        let cmd = cmd.and_then(|(_, n)| self.string(n, "cmd"));
        ExpectSilence { conn, duration: duration.unwrap_or(DurationExpr::Fixed(Duration::ZERO)), cmd }
    }
}

pub(in crate::scenario) fn parse(l: &mut Loader<'_>, _key: &Node, value: &Node, _step: &Node) -> Option<ExpectSilence> {
    Some(l.expect_silence(value))
}

pub fn to_yaml(e: &ExpectSilence, indent: usize) -> Vec<String> {
    let args = Out::new().conn(&e.conn).opt("cmd", e.cmd.clone()).set("for", render::duration(&e.duration));
    render::item(indent, NAME, &args.value(), &[])
}
