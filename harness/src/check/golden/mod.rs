//! Golden transcripts: each scenario's conversation, normalized so that nothing volatile is
//! left ([`normalize`]), kept in `golden/<id>.snap` in insta's snapshot format
//! ([`snapfile`]), compared after every run ([`apply`], the [`GoldenJudge`]), changed only by review
//! (`hwconform golden`, in `crate::cli::golden`). Comparing two whole runs (`hwconform diff`)
//! reads run.json, so it sits with the reports (`crate::report::rundiff`).

pub mod apply;
pub mod linediff;
pub mod normalize;
pub mod snapfile;

pub use apply::{apply, apply_by, view, GoldenConfig, GoldenJudge, GoldenMode};
pub use normalize::{normalize, normalize_with, per_connection, strip_times, NormalizeOptions};
pub use snapfile::{SnapError, SnapFile};
