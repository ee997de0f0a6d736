//! The `device_control` step: its execution (its file format is `scenario/steps/device_control.rs`).

use super::prelude::*;

impl Session<'_> {
    pub(in crate::engine::session) async fn device_control(&mut self, c: &DeviceControl, at: &At) -> StepResult {
        let DeviceControl::Checkin { userid, pass_type, pass_method } = c;
        let userid = self.expand_text(userid, at)?;
        self.note(format!("device_control: checkin {userid}"));
        let args = serde_json::json!({ "userid": userid, "pass_type": pass_type, "pass_method": pass_method });
        let action = DeviceAction { name: "check_in".into(), args: args.as_object().cloned().unwrap_or_default() };
        let device = self.device_target(at)?;
        if device.capabilities().control {
            return device.control(action).map_err(|e| at.error(format!("device_control refused: {e}")));
        }
        // A real device acts through the lab's upper tester.
        let Some(command) = self.upper_tester.clone() else { return Err(at.error("device_control: the device cannot be made to act and there is no upper tester")) };
        let sn = self.sc.devices.first().and_then(|d| self.devices.get(d)).map(|d| d.identity.sn.clone()).unwrap_or_default();
        crate::engine::target::upper_tester(&self.children, &command, &action, &sn, &self.rec).await.map_err(|e| at.error(format!("device_control through the upper tester: {e}")))
    }
}
