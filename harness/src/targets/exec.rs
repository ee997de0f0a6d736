//! A command the harness starts per scenario as a device target: `sh -c CMD` with the URL to
//! connect to and the identity substituted, in its own process group, stopped at the end.
//! What it writes on stdout and stderr is the device's log: recorded into the transcript.

use crate::engine::children;
use crate::engine::output::record_lines;
use crate::engine::target::{
    DeviceCapabilities, DeviceLink, DeviceStart, DeviceTarget, TargetError,
};
use crate::engine::transcript::{OutputSource, OutputStream};
use crate::targets::device_link::{forward, Link, Running};
use futures_util::future::BoxFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Starts `command` (through `sh -c`) for each scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecTarget {
    pub command: String,
}

impl DeviceTarget for ExecTarget {
    fn describe(&self) -> String {
        format!("the device started by `{}`", self.command)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        DeviceCapabilities {
            control: false,
            in_process: false,
            single: false,
            ours: false,
        }
    }

    fn reference(&self) -> bool {
        false
    }

    /// Starts the command with `{url}`, `{sn}`, `{secret_no}` and `{seed_secret_no}` replaced
    /// (and the same values in `HWCONFORM_URL`, `HWCONFORM_SN`, `HWCONFORM_SECRET_NO`,
    /// `HWCONFORM_SEED_SECRET_NO`), in its own process group ([`children`]). The seed is there only when the
    /// device is to start seed-provisioned (the ICS says `provisioning = "seed"` and the
    /// scenario exercises the exchange); otherwise `{seed_secret_no}` is an empty word and
    /// the variable is unset. The substituted line is never printed: it holds credentials.
    fn start(&self, start: DeviceStart) -> BoxFuture<'_, Result<Box<dyn DeviceLink>, TargetError>> {
        Box::pin(async move {
            let identity = &start.identity;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| TargetError::io("cannot listen for the device", e))?;
            let url = format!(
                "ws://{}",
                listener
                    .local_addr()
                    .map_err(|e| TargetError::Failed(e.to_string()))?
            );
            let (tx, incoming) = mpsc::channel(16);
            let acceptor = forward(listener, tx);
            let line = self
                .command
                .replace("{url}", &shell_quote(&url))
                .replace("{sn}", &shell_quote(&identity.sn))
                .replace(
                    "{seed_secret_no}",
                    &shell_quote(start.seed_secret_no.as_ref().map_or("", |s| s.expose())),
                )
                .replace("{secret_no}", &shell_quote(identity.secret_no.expose()));
            let mut cmd = tokio::process::Command::new("sh");
            cmd.arg("-c")
                .arg(&line)
                .env("HWCONFORM_URL", &url)
                .env("HWCONFORM_SN", &identity.sn)
                .env("HWCONFORM_SECRET_NO", identity.secret_no.expose())
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            if let Some(seed) = &start.seed_secret_no {
                cmd.env("HWCONFORM_SEED_SECRET_NO", seed.expose());
            }
            let mut child = children::spawn(&start.children, &mut cmd)
                .map_err(|e| TargetError::io("cannot start the device command", e))?;
            // What it writes is recorded line by line into the scenario's transcript; the
            // last lines of stderr are also kept for the message of an early exit.
            let stderr = Arc::new(Mutex::new(Vec::new()));
            let stderr_done = Arc::new(std::sync::atomic::AtomicBool::new(
                child.child().stderr.is_none(),
            ));
            let mut readers = Vec::new();
            if let Some(out) = child.child().stdout.take() {
                let log = start.log.clone();
                readers.push(tokio::spawn(async move {
                    record_lines(
                        out,
                        &log,
                        OutputSource::Device,
                        OutputStream::Stdout,
                        |_| {},
                    )
                    .await
                }));
            }
            if let Some(err) = child.child().stderr.take() {
                let (log, lines, done) = (start.log.clone(), stderr.clone(), stderr_done.clone());
                readers.push(tokio::spawn(async move {
                    record_lines(
                        err,
                        &log,
                        OutputSource::Device,
                        OutputStream::Stderr,
                        |line| {
                            let mut l = lines.lock().unwrap_or_else(|p| p.into_inner());
                            if l.len() == 20 {
                                l.remove(0);
                            }
                            l.push(line.to_string());
                        },
                    )
                    .await;
                    done.store(true, std::sync::atomic::Ordering::Release);
                }));
            }
            let process = Process {
                child,
                acceptor,
                stderr,
                stderr_done,
                exit_seen: None,
                readers,
            };
            Ok(Box::new(Link::new(
                self.capabilities(),
                incoming,
                None,
                Box::new(process),
            )) as Box<dyn DeviceLink>)
        })
    }
}

/// The running command: stopped at the end with everything it started, whatever the shell
/// did in between; dropped (an interrupted run drops the scenario mid-step), killed.
struct Process {
    child: children::Owned,
    acceptor: tokio::task::JoinHandle<()>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// The stderr reader reached the end of the pipe.
    stderr_done: Arc<std::sync::atomic::AtomicBool>,
    /// When the exit was first seen: the last words may still be in the pipe.
    exit_seen: Option<std::time::Instant>,
    /// The readers of its stdout and stderr, waited for (boundedly) once it is stopped, so
    /// its last lines are in the transcript before the scenario hands it over.
    readers: Vec<tokio::task::JoinHandle<()>>,
}

/// How long an exited command's stderr is waited for (a grandchild may hold the pipe open).
const STDERR_DRAIN: Duration = Duration::from_millis(500);

/// How long a device whose link ended is given to be seen dead (its shell reaps it first).
const DEATH_WAIT: Duration = Duration::from_millis(500);

/// The signal that ended the command: its own, or its shell's report of its child's
/// (`sh -c` exits with 128+N when the program it ran died by signal N, as bash and dash do).
fn killed_by(status: std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal().or_else(|| {
        status
            .code()
            .filter(|c| (129..=128 + 64).contains(c))
            .map(|c| c - 128)
    })
}

/// `SIGSEGV` for 11: the names a crash report uses (Linux numbering).
fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("signal {signal}"),
    };
    name.to_string()
}

impl Running for Process {
    fn exited(&mut self) -> Option<String> {
        let status = self.child.child().try_wait().ok().flatten()?;
        // A command that dies at once exits before its stderr is read: wait for the reader
        // (boundedly) so the message carries what it said.
        let seen = *self.exit_seen.get_or_insert_with(std::time::Instant::now);
        if !self.stderr_done.load(std::sync::atomic::Ordering::Acquire)
            && seen.elapsed() < STDERR_DRAIN
        {
            return None;
        }
        let tail = self
            .stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n");
        let how = match killed_by(status) {
            Some(n) => format!("{status}: killed by signal {n} ({})", signal_name(n)),
            None => status.to_string(),
        };
        Some(format!(" ({how}); its last output:\n{tail}"))
    }

    fn polled(&self) -> bool {
        true
    }

    /// A process killed by a signal ends its socket before its parent reaps it (and `sh -c`
    /// reports its child's death as 128+N a moment later): the exit is waited for up to
    /// [`DEATH_WAIT`], and told with the command's last output.
    fn killed(&mut self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            let status = match self.child.child().try_wait() {
                Ok(Some(status)) => status,
                Ok(None) => tokio::time::timeout(DEATH_WAIT, self.child.child().wait())
                    .await
                    .ok()?
                    .ok()?,
                Err(_) => return None,
            };
            let signal = killed_by(status)?;
            let drained = std::time::Instant::now();
            while !self.stderr_done.load(std::sync::atomic::Ordering::Acquire)
                && drained.elapsed() < STDERR_DRAIN
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let tail = self
                .stderr
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .join("\n");
            let last = if tail.is_empty() {
                String::new()
            } else {
                format!("; its last output:\n{tail}")
            };
            Some(format!(
                "the device was killed by signal {signal} ({}){last}",
                signal_name(signal)
            ))
        })
    }

    /// Stops the command and everything it started (TERM, then KILL); its last lines are
    /// waited for (boundedly) so they are in the transcript.
    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.acceptor.abort();
            self.child.stop().await;
            let readers = futures_util::future::join_all(std::mem::take(&mut self.readers));
            let _ = tokio::time::timeout(STDERR_DRAIN, readers).await;
        })
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

/// A value as one `sh` word, whatever characters it holds.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signal is told whether the program died of it itself or through `sh -c` (128+N); an
    /// ordinary exit status, however high, is not a signal.
    #[rstest::rstest]
    #[case::segv_itself(11, Some(11))]
    #[case::segv_through_sh(139 << 8, Some(11))]
    #[case::abort_through_sh(134 << 8, Some(6))]
    #[case::plain_exit(3 << 8, None)]
    #[case::exit_128(128 << 8, None)]
    #[case::success(0, None)]
    fn a_death_by_signal_is_told_from_an_exit(#[case] raw: i32, #[case] signal: Option<i32>) {
        use std::os::unix::process::ExitStatusExt;
        let status = std::process::ExitStatus::from_raw(raw);
        assert_eq!(killed_by(status), signal, "{status}");
        if let Some(n) = signal {
            assert!(signal_name(n).starts_with("SIG"), "{}", signal_name(n));
        }
    }

    /// A command that exited before its stderr was read is reported only once the reader has
    /// the last words, or after the bounded drain.
    #[tokio::test]
    async fn an_exit_waits_for_the_last_words_boundedly() {
        let process = |done: bool| {
            let child = children::spawn(
                &Default::default(),
                tokio::process::Command::new("sh").args(["-c", "exit 3"]),
            )
            .unwrap();
            Process {
                child,
                acceptor: tokio::spawn(async {}),
                stderr: Arc::new(Mutex::new(vec!["firmware: no radio".into()])),
                stderr_done: Arc::new(std::sync::atomic::AtomicBool::new(done)),
                exit_seen: None,
                readers: Vec::new(),
            }
        };
        let mut reading = process(false);
        let _ = reading.child.child().wait().await;
        assert_eq!(
            reading.exited(),
            None,
            "the reader has not reached the end of the pipe"
        );
        reading
            .stderr_done
            .store(true, std::sync::atomic::Ordering::Release);
        let why = reading.exited().expect("reported once the reader is done");
        assert!(
            why.contains("exit status: 3") && why.contains("firmware: no radio"),
            "{why}"
        );
        // A pipe held open by someone else: reported after the drain bound all the same.
        let mut held = process(false);
        let _ = held.child.child().wait().await;
        assert_eq!(held.exited(), None);
        std::thread::sleep(STDERR_DRAIN);
        assert!(held.exited().is_some());
    }

    #[test]
    fn substituted_values_stay_one_shell_word() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's $(rm -rf) x"), r"'it'\''s $(rm -rf) x'");
    }
}
