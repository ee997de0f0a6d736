//! The always-on rules of the WeCom protocol, in one place: what a cloud target must keep to
//! (C1, C2, C3, C12, C13: [`CloudMonitor`], with the reply and push checks of [`rules`] that
//! the request step also applies; C9 for re-sent registers: [`ResendMonitor`]) and what a
//! device target must (D1, D2, D3, D12, D13, D21, D22: [`DeviceMonitor`]). The engine's
//! monitor host feeds them every wire event.

mod cloud;
mod device;
mod resend;
pub mod rules;

pub use cloud::CloudMonitor;
pub use device::{
    DeviceMonitor, MAX_PING_GAP, MIN_RESEND, OVERLAP_GRACE, SUBSCRIBE_LIMIT, SUBSCRIBE_WINDOW,
};
pub use resend::ResendMonitor;
