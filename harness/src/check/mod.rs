//! Checks beside step matchers: golden transcripts (did the conversation change at all?)
//! and property-based exploration (sequences nobody wrote down).

pub mod explore;
pub mod golden;
