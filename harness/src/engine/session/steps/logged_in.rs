//! The `logged_in` step: its execution (its file format is `scenario/steps/logged_in.rs`).

use super::prelude::*;
use crate::engine::transcript::TranscriptEvent;

/// How often the transcript is looked at while waiting: auto-answered heartbeats never
/// reach a step, so the wait reads what the connection recorded.
const POLL: Duration = Duration::from_millis(50);

impl Session<'_> {
    /// Waits for the first request, since the previous step began, that the profile says
    /// only a logged-in device sends. It consumes nothing: a business request stays queued
    /// for a later `receive`.
    pub(in crate::engine::session) async fn logged_in(&mut self, s: &LoggedIn, at: &At) -> StepResult {
        let within = match &s.within {
            Some(d) => self.resolve(d, at)?,
            None => self.profile.login_proof_within(),
        };
        let deadline = Instant::now() + within;
        let profile = self.profile.clone();
        let from = self.rec.with_transcript(|t| {
            let steps: Vec<usize> = t.entries.iter().enumerate().filter(|(_, e)| matches!(e.event, TranscriptEvent::Step { .. })).map(|(i, _)| i).collect();
            steps.len().checked_sub(2).map_or(0, |i| steps[i])
        });
        loop {
            let (proof, sent) = self.rec.with_transcript(|t| {
                let mut sent = Vec::new();
                for e in &t.entries[from.min(t.entries.len())..] {
                    let TranscriptEvent::Received { conn, frame } = &e.event else { continue };
                    let Some(cmd) = (conn == &s.conn).then(|| frame.envelope().and_then(|j| profile.command(j))).flatten() else { continue };
                    if profile.proves_login(cmd) {
                        return (Some(cmd.to_string()), sent);
                    }
                    sent.push(cmd.to_string());
                }
                (None, sent)
            });
            if let Some(cmd) = proof {
                self.note(format!("[{}] logged in: the device sent `{cmd}`", s.conn));
                return Ok(());
            }
            let also = if sent.is_empty() { String::new() } else { format!(" (it sent: {})", sent.join(", ")) };
            let conn = self.conn(&s.conn, at)?;
            if let Some(why) = conn.ended() {
                return Err(at.fail(format!("[{}] the link {why} before the device showed it is logged in{also}", s.conn)));
            }
            if Instant::now() >= deadline {
                return Err(at.fail(format!(
                    "[{}] the device sent no request that only a logged-in device sends (a heartbeat or a business call) within {}{also}",
                    s.conn,
                    format_duration(within)
                )));
            }
            tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }
}
