//! The `control` step: its execution (its file format is `scenario/steps/control.rs`).

use super::prelude::*;

impl Session<'_> {
    pub(in crate::engine::session) async fn control(&mut self, c: &Control, at: &At) -> StepResult {
        if let Some((action, sn)) = self.cloud_action(c, at)? {
            return self.act(&action, &sn, at).await;
        }
        let req = match c {
            Control::Bind { .. } | Control::Unbind { .. } | Control::RemoteOpenDoor { .. } | Control::FetchLog { .. } | Control::ScanQr { .. } | Control::RemoteOpenFailed { .. } => {
                return Err(at.error("control: an action the mock and the upper tester perform"))
            }
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

impl Session<'_> {
    /// The profile-neutral action of a `control` step, and the SN it is about; `None` for an
    /// operation only the mock's control plane knows.
    fn cloud_action(&self, c: &Control, at: &At) -> Result<Option<(CloudAction, String)>, Stop> {
        let first = &None;
        let (action, device) = match c {
            Control::Bind { device } => (CloudAction::act("bind", Value::Null), device),
            Control::Unbind { device } => (CloudAction::act("unbind", Value::Null), device),
            Control::RemoteOpenDoor { userid } => (CloudAction::act("remote_open_door", json!({ "userid": self.expand_text(userid, at)? })), first),
            Control::FetchLog { hint } => (CloudAction::act("fetch_log", json!({ "hint": self.expand_text(hint, at)? })), first),
            Control::ScanQr { userid, state, dynamic_timestamp } => {
                let dynamic_timestamp = match dynamic_timestamp {
                    None => None,
                    Some(t) => {
                        let t = self.expand_text(t, at)?;
                        Some(t.trim().parse::<u64>().map_err(|_| at.error(format!("scan_qr: dynamic_timestamp {t:?} is not unix seconds")))?)
                    }
                };
                let mut args = json!({ "userid": self.expand_text(userid, at)?, "state": self.expand_text(state, at)? });
                if let Some(t) = dynamic_timestamp {
                    args["dynamic_timestamp"] = json!(t);
                }
                (CloudAction::act("scan_qr", args), first)
            }
            Control::RemoteOpenFailed { oper_id } => (CloudAction::asking("remote_open_failed", json!({ "oper_id": self.expand_text(oper_id, at)? })), first),
            _ => return Ok(None),
        };
        Ok(Some((action, self.device_sn(device, at)?)))
    }

    /// Makes the cloud act: through its link when it takes control (what it does with the
    /// action is the target's: [`CloudLink::act`](crate::engine::target::CloudLink::act)),
    /// else through the lab's cloud upper tester. A "no" to a question is the target's failure.
    async fn act(&mut self, action: &CloudAction, sn: &str, at: &At) -> StepResult {
        // The lab's command comes first when it can reach the cloud (an in-process mock is
        // out of any command's reach): the lab said how its cloud is made to act.
        let caps = self.cloud(at)?.capabilities();
        let lab = self.cloud_upper_tester.clone().filter(|_| !caps.in_process);
        let answer = if let Some(command) = lab {
            let json = action.to_json(sn);
            self.note(format!("cloud upper tester: {}", redacted(&*self.profile, &json)));
            crate::engine::target::cloud_upper_tester(&self.children, &command, action, sn, &self.rec)
                .await
                .map_err(|e| at.error(format!("control through the cloud upper tester: {e}")))?
        } else if caps.control {
            let (rec, profile) = (self.rec.clone(), self.profile.clone());
            let note = &mut |req: &Value| rec.record(crate::engine::TranscriptEvent::Note { text: format!("control: {}", redacted(&*profile, req)) });
            let acted = self.cloud(at)?.act(action, sn, note);
            acted.await.map_err(|e| at.error(format!("control refused: {e}")))?
        } else {
            return Err(at.error("control: the cloud cannot be made to act and there is no cloud upper tester"));
        };
        match answer {
            Answer::Yes => Ok(()),
            Answer::No(said) => Err(at.fail(format!("the cloud does not show what the scenario asks ({}): {said}", action.name))),
        }
    }
}
