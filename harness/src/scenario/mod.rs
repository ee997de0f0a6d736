//! Scenario files: the typed model with source spans, the YAML loader and its diagnostics,
//! matchers and `${...}` expressions.
//!
//! Imports inside this module run one way: `span` (leaf) ← `yaml`, `diagnostic`, `expr` ←
//! `matcher` ← `model` ← `parse` (the loader's shared checks) ← `steps/*` (one file per step
//! kind: its keys and parser) ← `loader` (top-level keys, role checks, dispatch).

pub mod diagnostic;
pub mod expr;
pub mod loader;
pub mod matcher;
pub mod model;
pub mod parse;
pub mod span;
pub mod steps;
pub mod yaml;

pub use diagnostic::Diagnostic;
pub use loader::{load_file, load_paths, load_str, LoadError};
pub use model::*;
