//! The `receive` step: its execution (its file format is `scenario/steps/receive.rs`).

use super::prelude::*;

impl Session<'_> {
    pub(in crate::engine::session) async fn receive(&mut self, r: &Receive, at: &At) -> StepResult {
        let within = self.duration(&r.within, at)?;
        let not_before = self.resolve_opt(&r.not_before, at)?;
        let started = self.step_start();
        let deadline = Instant::now() + within;
        // `cmd` may name an earlier request's cmd: `${last_cmd}`.
        let want = r.cmd.as_deref().map(|c| self.expand_text(c, at)).transpose()?;
        let what = want.as_deref().map(|c| format!("`{c}`")).unwrap_or_else(|| "a request".into());
        let none = want.as_deref().map(|c| format!("no `{c}`")).unwrap_or_else(|| "no request".into());
        let profile = self.profile.clone();
        let since_push = self.pushed_at.get(&r.conn).copied();
        let conn = self.conn(&r.conn, at)?;
        let mut others: Vec<Inbound> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        let outcome = loop {
            if others.len() + conn.pending.len() > MAX_PENDING || pending_bytes(others.iter().chain(conn.pending.iter())) > MAX_PENDING_BYTES {
                break Err(format!("the device flooded the link with {} frames while the harness waited for {what}", others.len()));
            }
            let Some(inbound) = conn.next(deadline).await else {
                let also = if seen.is_empty() { String::new() } else { format!(" (it sent: {})", seen.join(", ")) };
                break Err(format!("{none} from the device within {}{also}", format_duration(within)));
            };
            let before_push = since_push.is_some_and(|p| inbound.at < p);
            if let Some(v) = as_request(&*profile, &inbound.item).filter(|_| !before_push) {
                if let Some(cmd) = profile.command(&v) {
                    if want.as_deref().is_none_or(|c| c == cmd) {
                        break Ok((inbound.at, v));
                    }
                    if seen.len() < 12 {
                        seen.push(cmd.to_string());
                    }
                }
            }
            if inbound.is_end() {
                let why = inbound.end_text().unwrap_or_default();
                others.push(inbound);
                break Err(format!("the link {why} while the harness waited for {what}"));
            }
            others.push(inbound);
        };
        for item in others.into_iter().rev() {
            conn.pending.push_front(item);
        }
        let (arrived, frame) = outcome.map_err(|m| at.fail(format!("[{}] {m}", r.conn)))?;
        at.not_before(&format!("[{}] {what}", r.conn), arrived.saturating_sub(started), not_before)?;
        let req_id = self.profile.req_id(&frame).unwrap_or_default().to_string();
        let cmd = self.profile.command(&frame).unwrap_or_default().to_string();
        self.set_var("req_id", json!(req_id));
        self.set_var("last_req_id", json!(req_id));
        self.set_var("last_cmd", json!(cmd));
        self.received_cmds.insert(req_id.clone(), cmd.clone());
        self.last_received.insert(r.conn.clone(), (req_id, cmd));
        if let Some(m) = &r.check {
            self.check(&m.value, &frame).map_err(|mm| at.mismatch("the request", mm, m.span))?;
        }
        self.capture(&r.capture, &frame, at)
    }
}

/// A received frame as a request: JSON text, or a binary request as the profile shows it to
/// matchers.
pub(super) fn as_request(profile: &dyn Profile, item: &Item) -> Option<Value> {
    match item {
        Item::Text(_, json) => json.as_deref().cloned(),
        Item::Binary(b) => profile.decode_binary_request(b),
        _ => None,
    }
}
