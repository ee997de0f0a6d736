//! The engine: runs scenarios against a target and emits typed events.
//!
//! The engine never prints; reporters consume its [`RunEvent`]s.

pub mod children;
pub mod clock;
pub mod event;
pub mod interrupt;
pub mod judge;
pub mod live;
pub mod monitor;
pub mod output;
pub mod recorder;
pub mod rejudge;
pub mod runner;
pub mod session;
pub mod target;
pub mod transcript;
pub mod verdict;

pub use event::RunEvent;
pub use judge::{Judge, JudgeContext};
pub use runner::{RunConfig, Runner};
pub use transcript::{Frame, Transcript, TranscriptEntry, TranscriptEvent};
pub use verdict::{
    Failure, Finding, Judged, Outcome, RunSummary, ScenarioResult, Severity, Verdict,
};
