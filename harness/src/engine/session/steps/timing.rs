//! The `timing` step: its execution (its file format is `scenario/steps/timing.rs`).

use super::prelude::*;

impl Session<'_> {
    pub(in crate::engine::session) async fn timing(&mut self, t: &Timing, at: &At) -> StepResult {
        let since = match &t.since {
            Some(m) => *self.marks.get(m).ok_or_else(|| at.error(format!("no mark `{m}` was set before this step")))?,
            None => 0,
        };
        let times = self.rec.with_transcript(|tr| request_times(&*self.profile, tr, &t.cmd, t.conn.as_deref(), since));
        let start = self.rec.with_transcript(|tr| tr.entries.get(since).map(|e| e.at)).unwrap_or_else(|| self.now());
        let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let shown = || if gaps.is_empty() { "no gaps".to_string() } else { gaps.iter().map(|g| format!("{:.2} s", g.as_secs_f64())).collect::<Vec<_>>().join(", ") };
        let cmd = &t.cmd;
        if t.none && !times.is_empty() {
            return Err(at.fail(format!("expected no `{cmd}`, but the device sent {} (first after {:.2} s)", times.len(), times[0].saturating_sub(start).as_secs_f64())));
        }
        if let Some(min) = t.min_count {
            if (times.len() as u32) < min {
                return Err(at.fail(format!("expected at least {min} `{cmd}`, saw {}", times.len())));
            }
        }
        if let Some(range) = &t.gaps {
            let min = self.resolve_opt(&range.min, at)?;
            let max = self.resolve_opt(&range.max, at)?;
            let bad = gaps.iter().any(|g| min.is_some_and(|m| *g < m) || max.is_some_and(|m| *g > m));
            if bad {
                let range = format!("{}–{}", min.map(format_duration).unwrap_or_else(|| "0s".into()), max.map(format_duration).unwrap_or_else(|| "∞".into()));
                return Err(at.fail(format!("`{cmd}` after {}: expected every gap within {range}", shown())));
            }
        }
        if t.jitter {
            if gaps.len() < 3 {
                return Err(at.fail(format!("jitter needs at least 3 gaps between `{cmd}`, saw {} ({})", gaps.len(), shown())));
            }
            let (lo, hi) = (gaps.iter().min().copied().unwrap_or_default(), gaps.iter().max().copied().unwrap_or_default());
            if hi - lo < Duration::from_millis(100) {
                return Err(at.fail(format!("retries after {}: no jitter, expected a random 1–3 s", shown())));
            }
        }
        if let Some((count, per)) = &t.max_per {
            let per = self.resolve(per, at)?;
            for (i, start) in times.iter().enumerate() {
                let n = times[i..].iter().take_while(|x| **x - *start < per).count();
                if n as u32 > *count {
                    return Err(at.fail(format!(
                        "{n} `{cmd}` within {} starting at {:.2} s, expected at most {count}",
                        format_duration(per),
                        start.as_secs_f64()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Arrival times of the device's requests of `cmd` (on `conn`, or any connection) recorded
/// after transcript position `since`.
fn request_times(profile: &dyn Profile, t: &crate::engine::Transcript, cmd: &str, conn: Option<&str>, since: usize) -> Vec<Duration> {
    use crate::engine::transcript::{Frame, TranscriptEvent};
    t.entries
        .iter()
        .skip(since)
        .filter_map(|e| match &e.event {
            TranscriptEvent::Received { conn: c, frame: Frame::Json { json } }
                if conn.is_none_or(|want| c.trim_end_matches("~old") == want)
                    && profile.command(json) == Some(cmd) =>
            {
                Some(e.at)
            }
            _ => None,
        })
        .collect()
}
