//! The `expect_silence` step: its execution (its file format is `scenario/steps/expect_silence.rs`).

use super::prelude::*;

impl Session<'_> {
    /// Nothing arrives for the duration (cloud role with `cmd`: no request of that cmd).
    pub(in crate::engine::session) async fn expect_silence(&mut self, e: &ExpectSilence, at: &At) -> StepResult {
        let duration = self.resolve(&e.duration, at)?;
        let silent_cmd = e.cmd.as_deref().map(|c| self.expand_text(c, at)).transpose()?;
        let started = self.now();
        let deadline = Instant::now() + duration;
        let shown = format_duration(duration);
        let profile = self.profile.clone();
        // A cloud may push what the protocol lists at any time (§1.5): silence from a cloud
        // means no reply and nothing undocumented.
        let from_cloud = matches!(self.target, Target::Cloud(_));
        let peer = if from_cloud { "cloud" } else { "device" };
        let conn = self.conn(&e.conn, at)?;
        let mut kept = Vec::new();
        let result = loop {
            let Some(inbound) = conn.next(deadline).await else {
                break if conn.closed && silent_cmd.is_none() { Err("expected silence, but the connection is closed".to_string()) } else { Ok(()) };
            };
            let (text, json) = match &inbound.item {
                Item::Text(t, json) => (t.clone(), json.clone()),
                Item::Binary(b) => {
                    let binary_cmd = profile.decode_binary_request(b).and_then(|v| profile.command(&v).map(str::to_string));
                    match silent_cmd.as_deref() {
                        Some(cmd) if binary_cmd.as_deref() == Some(cmd) => break Err(format!("expected no `{cmd}` for {shown}, but the {peer} sent one")),
                        Some(_) => {
                            kept.push(inbound);
                            continue;
                        }
                        None => break Err(format!("expected silence for {shown}, got a binary frame of {} bytes", b.len())),
                    }
                }
                _ => {
                    let why = inbound.end_text().unwrap_or_default();
                    kept.push(inbound);
                    break if silent_cmd.is_some() { Ok(()) } else { Err(format!("expected silence for {shown}, but the link {why}")) };
                }
            };
            match &silent_cmd {
                Some(cmd) => {
                    let is_cmd = json.as_ref().is_some_and(|v| profile.command(v) == Some(cmd));
                    if is_cmd {
                        break Err(format!("expected no `{cmd}` for {shown}, but the {peer} sent one after {}", format_duration(inbound.at.saturating_sub(started))));
                    }
                    kept.push(inbound);
                }
                None if from_cloud && json.as_ref().is_some_and(|v| profile.is_unsolicited_push(v)) => kept.push(inbound),
                None => break Err(format!("expected silence for {shown}, got {}", redacted_text(&*profile, &text))),
            }
        };
        for item in kept.into_iter().rev() {
            conn.pending.push_front(item);
        }
        result.map_err(|m| at.fail(format!("[{}] {}", e.conn, self.rec.redact(&m))))
    }
}
