//! The live status line: while a scenario runs for longer than a moment (a real device or
//! cloud is slow to answer), one line on stderr says what runs, at which step, for how long,
//! and what is left. Only for a terminal: redirected output gets the plain per-scenario lines
//! alone. The terminal report clears the line before it prints, so the two never mix. It
//! draws the live board, which the run's event stream feeds.

use crate::engine::live::{LiveBoard, Snapshot};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A scenario shorter than this never shows the line (in-process runs finish in milliseconds).
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// How often the line is redrawn.
const TICK: Duration = Duration::from_millis(500);

/// `m:ss` (or `h:mm:ss`).
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The status text for a snapshot, cut to `width` characters; `None` when nothing has run
/// long enough to be worth a line.
pub fn render(s: &Snapshot, width: usize) -> Option<String> {
    let first = s.running.first().filter(|r| r.elapsed >= SHOW_AFTER)?;
    let mut line = format!(
        "[{}/{} done] {} {}",
        s.finished,
        s.total,
        first.id,
        clock(first.elapsed)
    );
    if let Some(step) = &first.step {
        line.push_str(&format!(" at {step}"));
    }
    if s.running.len() > 1 {
        line.push_str(&format!(" (+{} running)", s.running.len() - 1));
    }
    match s.eta_pace {
        Some(pace) => line.push_str(&format!(
            " · ETA ~{} (at most {})",
            clock(pace.min(s.eta_bound)),
            clock(s.eta_bound)
        )),
        None => line.push_str(&format!(" · ETA at most {}", clock(s.eta_bound))),
    }
    Some(line.chars().take(width.max(20)).collect())
}

/// stderr as every writer of the process shares it while a status line may be on it: the
/// CLI makes one and hands it to whatever writes there (log lines, the signal watcher, the
/// status line itself), so each takes the line off before it writes.
#[derive(Clone, Default)]
pub struct Stderr {
    active: Arc<Mutex<Option<Arc<StatusLine>>>>,
}

impl Stderr {
    fn active(&self) -> std::sync::MutexGuard<'_, Option<Arc<StatusLine>>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` (which writes to stderr) with the status line, if one is drawn, off the
    /// screen.
    pub fn beside_status<R>(&self, f: impl FnOnce() -> R) -> R {
        let active = self.active().clone();
        match active {
            Some(line) => {
                let _off = line.pause();
                f()
            }
            None => f(),
        }
    }

    /// A writer for log lines: each write takes the status line off first.
    pub fn writer(&self) -> StderrBesideStatus {
        StderrBesideStatus(self.clone())
    }
}

/// The line on stderr, redrawn by a thread of its own until [`StatusLine::finish`].
pub struct StatusLine {
    /// Whether the line is on the screen; held while anything writes to the terminal.
    shown: Mutex<bool>,
    stop: AtomicBool,
    stderr: Stderr,
}

impl StatusLine {
    /// Starts redrawing `board` on `stderr`; `None` when stderr is not a terminal.
    pub fn start(board: Arc<LiveBoard>, stderr: &Stderr) -> Option<Arc<StatusLine>> {
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return None;
        }
        let line = Arc::new(StatusLine {
            shown: Mutex::new(false),
            stop: AtomicBool::new(false),
            stderr: stderr.clone(),
        });
        *stderr.active() = Some(line.clone());
        let me = line.clone();
        std::thread::spawn(move || loop {
            let text = render(&board.snapshot(), terminal_width().saturating_sub(1));
            {
                let mut shown = me.shown.lock().unwrap_or_else(|p| p.into_inner());
                // Checked under the lock `finish` sets it under: nothing is drawn after it.
                if me.stop.load(Ordering::Acquire) {
                    return;
                }
                if let Some(text) = text {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r\x1b[2K{text}");
                    let _ = err.flush();
                    *shown = true;
                }
            }
            std::thread::sleep(TICK);
        });
        Some(line)
    }

    /// Takes the line off the screen and keeps it off while the returned guard lives, so
    /// output written meanwhile is never drawn over.
    pub fn pause(&self) -> std::sync::MutexGuard<'_, bool> {
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        if *shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            *shown = false;
        }
        shown
    }

    /// Stops redrawing and clears the line for good.
    pub fn finish(&self) {
        let _off = self.pause();
        self.stop.store(true, Ordering::Release);
        let mut active = self.stderr.active();
        if active.as_ref().is_some_and(|a| std::ptr::eq(&**a, self)) {
            *active = None;
        }
    }
}

/// stderr for log lines: each write takes the status line off first (tracing's writer).
pub struct StderrBesideStatus(Stderr);

impl Write for StderrBesideStatus {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.beside_status(|| std::io::stderr().write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The terminal's width in columns (stderr's), 100 when it cannot be told.
fn terminal_width() -> usize {
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we own; on failure it is left zeroed.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 {
        ws.ws_col as usize
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::live::RunningScenario;

    fn snapshot(elapsed: u64, pace: Option<u64>) -> Snapshot {
        Snapshot {
            total: 77,
            finished: 12,
            jobs: 1,
            running: vec![RunningScenario {
                index: 3,
                id: "device.heartbeat.x".into(),
                elapsed: Duration::from_secs(elapsed),
                step: Some("step 3 accept (line 14)".into()),
            }],
            eta_bound: Duration::from_secs(3900),
            eta_pace: pace.map(Duration::from_secs),
        }
    }

    #[test]
    fn the_line_says_what_waits_where_for_how_long_and_what_is_left() {
        assert_eq!(
            render(&snapshot(0, None), 200),
            None,
            "a scenario of a moment shows nothing"
        );
        assert_eq!(
            render(&snapshot(42, None), 200).unwrap(),
            "[12/77 done] device.heartbeat.x 0:42 at step 3 accept (line 14) · ETA at most 1:05:00"
        );
        assert_eq!(render(&snapshot(42, Some(190)), 200).unwrap(), "[12/77 done] device.heartbeat.x 0:42 at step 3 accept (line 14) · ETA ~3:10 (at most 1:05:00)");
        assert_eq!(
            render(&snapshot(42, None), 30).unwrap().chars().count(),
            30,
            "cut to the terminal"
        );
    }
}
