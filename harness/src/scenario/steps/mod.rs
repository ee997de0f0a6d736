//! One module per step kind: its accepted keys and its parser (an `impl Loader` block).
//! Adding a step kind: a file here, its variant in `model.rs`, its arm in the loader's
//! dispatch, and its execution in `engine/session`.

pub mod accept;
pub mod change_ip;
pub mod close;
pub mod connect;
pub mod control;
pub mod device_control;
pub mod expect;
pub mod expect_closed;
pub mod expect_reconnect;
pub mod expect_silence;
pub mod mark;
pub mod no_reply;
pub mod push;
pub mod receive;
pub mod repeat;
pub mod reply;
pub mod request;
pub mod send;
pub mod timing;
