//! Targets: the built-in mock cloud and connections to real endpoints.

pub mod knobs;
pub mod mock;
pub mod sim;
