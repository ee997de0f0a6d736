//! One file per step kind: its execution, mirroring `scenario/steps/` (Hurl's runner mirrors
//! its parser the same way). What several kinds share stays in the session: `mod.rs` (time
//! bounds, variables, connections, the monitor), `device.rs` (opening links to the cloud),
//! `cloud.rs` (accepting the device's links, auto replies, reply frames).

/// What every step file uses.
mod prelude {
    pub(super) use crate::engine::session::device::*;
    
    pub(super) use crate::engine::session::{redacted, redacted_text, At, Session, Stop, StepResult, Target};
    pub(super) use crate::wire::connection::{pending_bytes, Connection, Inbound, Item, MAX_PENDING, MAX_PENDING_BYTES};
    pub(super) use crate::profile::{DefaultContext, Profile, Secret};
    pub(super) use crate::scenario::expr::format_duration;
    pub(super) use crate::scenario::model::*;
    pub(super) use crate::engine::target::{CloudControl, DeviceAction};
    pub(super) use serde_json::{json, Value};
    pub(super) use std::collections::VecDeque;
    pub(super) use std::time::Duration;
    pub(super) use tokio::time::Instant;
    pub(super) use tokio_tungstenite::tungstenite::Message;
}

mod accept;
mod change_ip;
mod close;
mod connect;
mod control;
mod delay;
mod device_control;
mod disconnect;
mod expect;
mod expect_closed;
mod expect_reconnect;
mod expect_silence;
mod logged_in;
mod fault;
mod mark;
mod no_reply;
mod one_of;
mod purpose;
mod push;
mod receive;
mod repeat;
mod reply;
mod request;
mod send;
mod timing;
mod wait;
