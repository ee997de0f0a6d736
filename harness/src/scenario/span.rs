//! Leaf types every scenario module shares: source positions and durations as written.
//! This module imports nothing from the crate, so model, matcher, expr, yaml and diagnostic
//! can all use it without forming a cycle.

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

/// A duration as written: either fixed, or an expression over run variables such as
/// `${heartbeat_timeout}+10s` that is resolved when the step runs.
#[derive(Clone, Debug, PartialEq)]
pub enum DurationExpr {
    Fixed(Duration),
    Expr(String),
}

/// Which side of the wire the harness plays.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The harness plays a device; the target is a cloud.
    Device,
    /// The harness plays the cloud; the target is a device.
    Cloud,
    /// The harness plays neither: it stands between a device and a cloud, relays what they
    /// say to each other, applies faults to the link and judges both (`hwconform observe`).
    Observer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Device => "device",
            Role::Cloud => "cloud",
            Role::Observer => "observer",
        }
    }
}

/// A connection name; defaults to `a` when a step leaves it out.
pub type ConnName = String;
