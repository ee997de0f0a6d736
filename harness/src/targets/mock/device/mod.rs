//! One inbound device frame in, the frames to answer with out: parsing, the facts the
//! lifecycle needs, the effects it asks for, and reply shaping (including the test knobs
//! that break replies). No I/O: the server sends what this returns.
//!
//! * [`conn`]: one connection as the cloud sees it, and the [`Response`] to one frame;
//! * [`inbound`]: text and binary frames parsed and dispatched;
//! * [`classify`]: the facts of one request;
//! * [`effects`]: the lifecycle's decision carried out, the reply built, faults applied;
//! * [`reply`]: reply frames and the knobs that break them.

mod business;
mod classify;
mod conn;
mod effects;
mod inbound;
mod reply;

#[cfg(test)]
mod tests;

pub(super) use conn::{Conn, Response};
pub(super) use reply::binary_reply;
