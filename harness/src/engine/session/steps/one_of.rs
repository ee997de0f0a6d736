//! The `one_of` step: its execution (its file format is `scenario/steps/one_of.rs`).

use super::prelude::*;
use super::receive::as_request;

/// How often the triggers are looked at while none has happened.
const POLL: Duration = Duration::from_millis(50);

impl Session<'_> {
    /// Waits for the first branch whose opening move the target makes, then runs that
    /// branch, its first step measured from the start of `one_of` (a `not_before` there
    /// bounds the target's choice, not the harness's polling).
    pub(in crate::engine::session) async fn one_of(&mut self, o: &OneOf, at: &At) -> StepResult {
        let started = self.now();
        let begun = Instant::now();
        let mut windows = Vec::new();
        for b in &o.branches {
            windows.push(match &b.steps[0].kind {
                StepKind::Receive(r) => self.duration(&r.within, at)?,
                StepKind::Accept(a) => self.duration(&a.within, at)?,
                StepKind::ExpectReconnect(e) => self.duration(&e.within, at)?,
                _ => self.step_timeout,
            });
        }
        let last = windows.iter().copied().max().unwrap_or(self.step_timeout);
        loop {
            let waited = begun.elapsed();
            for (b, window) in o.branches.iter().zip(&windows) {
                if waited <= *window && self.triggered(&b.steps[0].kind, at)? {
                    self.note(format!("one_of: the target took `{}`", b.name));
                    self.window_start = Some(started);
                    let prefix = format!("{}.{}", at.index, b.name);
                    return self.run_steps(&b.steps, &prefix).await;
                }
            }
            if waited >= last {
                let names: Vec<String> = o.branches.iter().map(|b| format!("`{}` ({})", b.name, b.steps[0].kind.name())).collect();
                return Err(at.fail(format!("none of the allowed continuations came within {}: {}; {}", format_duration(last), names.join(", "), self.what_came())));
            }
            tokio::time::sleep(POLL.min(last - waited)).await;
        }
    }

    /// What the target did instead of every awaited move: the requests waiting on the open
    /// links, and links that ended.
    fn what_came(&mut self) -> String {
        let profile = self.profile.clone();
        let mut seen: Vec<String> = Vec::new();
        for (name, conn) in self.conns.iter_mut() {
            conn.ended();
            for inbound in conn.pending.iter() {
                if seen.len() >= 12 {
                    break;
                }
                if let Some(cmd) = as_request(&*profile, &inbound.item).and_then(|v| profile.command(&v).map(str::to_string)) {
                    seen.push(format!("[{name}] {cmd}"));
                } else if let Some(end) = inbound.end_text() {
                    seen.push(format!("[{name}] the link {end}"));
                }
            }
        }
        if seen.is_empty() { "the target sent nothing meanwhile".to_string() } else { format!("instead the target sent: {}", seen.join(", ")) }
    }

    /// Whether the target made the move that opens a branch (nothing is consumed).
    fn triggered(&mut self, kind: &StepKind, at: &At) -> Result<bool, crate::engine::session::Stop> {
        match kind {
            StepKind::Receive(r) => {
                let want = r.cmd.as_deref().map(|c| self.expand_text(c, at)).transpose()?;
                let profile = self.profile.clone();
                // As the branch's `receive` will: a request from before the last push is no
                // reaction, so it cannot pick the branch either.
                let since_push = self.pushed_at.get(&r.conn).copied();
                let Some(conn) = self.conns.get_mut(&r.conn) else { return Ok(false) };
                conn.ended();
                Ok(conn.pending.iter().filter(|inbound| since_push.is_none_or(|p| inbound.at >= p)).any(|inbound| {
                    as_request(&*profile, &inbound.item).is_some_and(|v| profile.command(&v).is_some_and(|c| want.as_deref().is_none_or(|w| w == c)))
                }))
            }
            StepKind::Accept(_) | StepKind::ExpectReconnect(_) => Ok(matches!(&self.target, Target::Device(d) if d.waiting() > 0)),
            _ => Ok(false),
        }
    }
}
