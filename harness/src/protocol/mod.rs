//! The WeCom smart-hardware protocol profile: wire envelopes, the error-code catalog,
//! signatures, default request bodies and what counts as secret or volatile.
//!
//! The profile knows nothing of scenarios; the engine knows nothing of WeCom but what it
//! asks of this module.

pub mod binary;
pub mod catalog;
pub mod defaults;
pub mod envelope;
pub mod fleet;
pub mod identity;
pub mod obligations;
pub mod rules;
pub mod signature;
pub mod timing;
pub mod volatile;

pub use catalog::{Catalog, ErrorCode, Suggestion};
pub use envelope::{Envelope, EnvelopeError};
pub use identity::{DeviceIdentity, Secret};
