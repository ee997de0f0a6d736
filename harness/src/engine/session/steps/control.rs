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
            Control::Mock { request, .. } => CloudControl::Request(self.expand(request, at)?),
        };
        self.note(format!("control: {}", redacted(&*self.profile, &serde_json::to_value(&req).unwrap_or_default())));
        let cloud = self.cloud(at)?;
        let answer = cloud.control(req).await.map_err(|e| at.error(format!("control refused: {e}")))?;
        let Control::Mock { expect, capture, .. } = c else { return Ok(()) };
        // The answer of the harness's own control plane: a refusal is the scenario's error,
        // a mismatch is the target's failure (what it recorded is not what the step expects).
        if answer.get("ok").and_then(Value::as_bool) == Some(false) {
            return Err(at.error(format!("control refused: {}", answer["error"].as_str().unwrap_or_default())));
        }
        if let Some(m) = expect {
            self.check(&m.value, &answer).map_err(|mm| at.mismatch("the control answer", mm, m.span))?;
        }
        self.capture(capture, &answer, at)
    }
}
