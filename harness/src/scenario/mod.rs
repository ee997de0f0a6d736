//! Scenario files: the typed model with source spans, the YAML loader and its diagnostics,
//! matchers and `${...}` expressions.
//!
//! Imports inside this module run one way: `span` (leaf: positions, durations, roles) and
//! `render` (leaf: YAML flow text) ← `yaml`, `diagnostic`, `expr` ← `matcher` ← `parse` (the
//! loader's shared checks) ← `steps/*` (one file per step kind: its type, name, roles, keys,
//! parser and rendering; `steps/mod.rs` holds the one table of kinds) ← `model` (the
//! scenario, re-exporting the step types) ← `loader` (top-level keys, role checks, dispatch).

pub mod diagnostic;
pub mod expr;
pub mod loader;
pub mod matcher;
pub mod model;
pub mod parse;
pub mod render;
pub mod schema;
pub mod span;
pub mod steps;
pub mod yaml;

pub use diagnostic::Diagnostic;
pub use loader::{
    load_file, load_file_with, load_paths, load_paths_with, load_str, load_str_with, LoadError,
};
pub use model::*;
