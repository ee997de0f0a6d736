//! hwconform: a conformance harness for the WeCom smart-hardware long-connection protocol.
//!
//! Data flows one way: scenario files → [`scenario::Scenario`] → an [`engine`] session per
//! scenario → transcript and verdicts → [`report`]s.

pub mod check;
pub mod cli;
pub mod engine;
pub mod fleet;
pub mod ics;
pub mod observe;
pub mod profile;
pub mod report;
pub mod scenario;
pub mod targets;
pub mod wire;
