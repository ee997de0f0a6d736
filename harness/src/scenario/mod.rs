//! Scenario files: the typed model with source spans, the YAML loader and its diagnostics,
//! matchers and `${...}` expressions.

pub mod expr;
pub mod matcher;
pub mod model;

pub use model::*;
