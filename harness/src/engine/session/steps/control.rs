//! The `control` step: its execution (its file format is `scenario/steps/control.rs`).

use super::prelude::*;

impl Session<'_> {
    pub(in crate::engine::session) async fn control(&mut self, c: &Control, at: &At) -> StepResult {
        let req = match c {
            Control::Bind { device } => CloudControl::Bind { sn: self.device_sn(device, at)? },
            Control::Unbind { device } => CloudControl::Unbind { sn: self.device_sn(device, at)? },
            Control::CloseLink { device } => CloudControl::CloseLink { sn: self.device_sn(device, at)? },
            Control::SwallowReply { cmd } => CloudControl::SwallowReply { sn: self.device_sn(&None, at)?, cmd: cmd.clone() },
            Control::DelayReplies(d) => {
                let ms = self.resolve(d, at)?.as_millis() as u64;
                CloudControl::DelayReplies { sn: self.device_sn(&None, at)?, ms }
            }
        };
        self.note(format!("control: {}", serde_json::to_string(&req).unwrap_or_default()));
        let cloud = self.cloud(at)?;
        cloud.control(req).await.map(|_| ()).map_err(|e| at.error(format!("control refused: {e}")))
    }
}
