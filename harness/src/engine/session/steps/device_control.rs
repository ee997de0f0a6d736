//! The `device_control` step: its execution (its file format is `scenario/steps/device_control.rs`).

use super::prelude::*;

impl Session<'_> {
    pub(in crate::engine::session) async fn device_control(&mut self, c: &DeviceControl, at: &At) -> StepResult {
        let DeviceControl::Checkin { userid, pass_type, pass_method } = c;
        let userid = self.expand_text(userid, at)?;
        self.note(format!("device_control: checkin {userid}"));
        let device = self.device_target(at)?;
        device
            .control(DeviceAction::Checkin { userid, pass_type: *pass_type, pass_method: *pass_method })
            .map_err(|e| at.error(format!("device_control refused: {e}")))
    }
}
