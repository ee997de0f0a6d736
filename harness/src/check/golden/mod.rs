//! Golden transcripts: each scenario's conversation, normalized so that nothing volatile is
//! left ([`normalize`]), kept in `golden/<id>.snap` in insta's snapshot format
//! ([`snapfile`]), compared after every run ([`apply`]), changed only by review
//! ([`review`]); and `hwconform diff`, which compares two whole runs ([`rundiff`]).

pub mod apply;
pub mod linediff;
pub mod normalize;
pub mod review;
pub mod rundiff;
pub mod snapfile;

pub use apply::{apply, view, GoldenConfig, GoldenMode};
pub use normalize::{normalize, normalize_with, per_connection, strip_times, NormalizeOptions};
pub use review::{cli_golden, GoldenAction, GoldenArgs};
pub use rundiff::{cli_diff, DiffArgs};
pub use snapfile::SnapFile;
