//! Scenario files: the typed model with source spans, the YAML loader and its diagnostics,
//! matchers and `${...}` expressions.

pub mod diagnostic;
pub mod expr;
pub mod loader;
pub mod matcher;
pub mod model;
pub mod span;
pub mod yaml;

pub use diagnostic::Diagnostic;
pub use loader::{load_file, load_paths, load_str, LoadError};
pub use model::*;
