//! Targets: the built-in mock cloud and connections to real endpoints.

pub(crate) mod knobs;
pub mod mock;
pub mod sim;
