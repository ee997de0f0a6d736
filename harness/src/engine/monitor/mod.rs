//! The protocol monitors: always-on checks of everything the target sends, whichever step is
//! running. They read the transcript, so they also judge frames no step consumed.

mod cloud;
mod device;

pub use cloud::CloudMonitor;
pub use device::{DeviceMonitor, OVERLAP_GRACE};

use super::transcript::Transcript;
use crate::protocol::rules::Violation;
use std::time::Duration;

/// The monitor for a session's target.
pub enum Monitor {
    Cloud(CloudMonitor),
    Device(DeviceMonitor),
}

impl Monitor {
    /// `strict_codes`: error codes outside the catalog break C12 (the mock defines every code
    /// it uses; a real cloud may use undocumented ones).
    pub fn for_cloud(strict_codes: bool) -> Monitor {
        Monitor::Cloud(CloudMonitor::new(strict_codes))
    }

    pub fn for_device() -> Monitor {
        Monitor::Device(DeviceMonitor::default())
    }

    /// Checks the entries added since the last sweep. `now` is the scenario time, `open` the
    /// connections the session still holds, `end` whether the scenario is over.
    pub fn sweep(&mut self, t: &Transcript, now: Duration, open: &[String], end: bool) -> Vec<Violation> {
        match self {
            Monitor::Cloud(m) => m.sweep(t),
            Monitor::Device(m) => m.sweep(t, now, open, end),
        }
    }
}
