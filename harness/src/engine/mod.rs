//! The engine: runs scenarios against a target and emits typed events.
//!
//! The engine never prints; reporters consume its [`RunEvent`]s.

pub mod event;
pub mod transcript;
pub mod verdict;

pub use event::RunEvent;
pub use transcript::{Frame, Transcript, TranscriptEntry, TranscriptEvent};
pub use verdict::{Failure, RunSummary, ScenarioResult, Verdict};
