//! The `expect` step: its execution (its file format is `scenario/steps/expect.rs`).

use super::prelude::*;
use crate::scenario::matcher::Matcher;

/// The command a frame matcher names with a literal `cmd`, if it does.
fn awaited_cmd(m: &Matcher) -> Option<&str> {
    match m {
        Matcher::Object(fields) => fields.iter().find(|(k, _)| k == "cmd").and_then(|(_, m)| match m {
            Matcher::Literal(Value::String(cmd)) => Some(cmd.as_str()),
            _ => None,
        }),
        Matcher::Judged(_, inner) => awaited_cmd(inner),
        _ => None,
    }
}

impl Session<'_> {
    pub(in crate::engine::session) async fn expect(&mut self, e: &Expect, at: &At) -> StepResult {
        let within = self.duration(&e.within, at)?;
        let not_before = self.resolve_opt(&e.not_before, at)?;
        let started = self.now();
        let deadline = Instant::now() + within;
        let profile = self.profile.clone();
        // A cloud may push what the protocol lists at any time (§1.5): a documented push of
        // another command that comes before the awaited frame is set aside for later steps,
        // not taken for it. A push of the awaited command is judged.
        let from_cloud = matches!(self.target, Target::Cloud(_));
        let awaited = awaited_cmd(&e.matcher.value).map(str::to_string);
        let mut kept = Vec::new();
        let outcome = loop {
            let conn = self.conn(&e.conn, at)?;
            let inbound = conn.next(deadline).await;
            let frame = match inbound.as_ref().map(|i| &i.item) {
                Some(Item::Text(_, json)) => match json {
                    Some(v) => v.clone(),
                    None => break Err(at.fail(format!("[{}] expected a JSON frame, got text that is not JSON", e.conn))),
                },
                Some(Item::Binary(b)) => break Err(at.fail(format!("[{}] expected a JSON frame, got a binary frame of {} bytes", e.conn, b.len()))),
                Some(_) => {
                    let why = inbound.as_ref().and_then(Inbound::end_text).unwrap_or_default();
                    break Err(at.fail(format!("[{}] expected a frame, but the link {why}", e.conn)));
                }
                None => break Err(at.fail(format!("[{}] no frame within {}", e.conn, format_duration(within)))),
            };
            let inbound = inbound.expect("a frame arrived");
            let tolerated = from_cloud
                && profile.is_unsolicited_push(&frame)
                && profile.command(&frame) != awaited.as_deref()
                && self.check(&e.matcher.value, &frame).is_err();
            if tolerated {
                if kept.len() >= MAX_PENDING {
                    break Err(at.fail(format!("[{}] the cloud flooded the link with {} pushes while a frame was awaited", e.conn, kept.len())));
                }
                kept.push(inbound);
                continue;
            }
            break Ok((inbound.at, frame));
        };
        let conn = self.conn(&e.conn, at)?;
        for item in kept.into_iter().rev() {
            conn.pending.push_front(item);
        }
        let (arrived, frame) = outcome?;
        at.not_before("the frame", arrived.saturating_sub(started), not_before)?;
        self.check(&e.matcher.value, &frame).map_err(|mm| at.mismatch("the frame", mm, e.matcher.span))?;
        self.capture(&e.capture, &frame, at)
    }
}
