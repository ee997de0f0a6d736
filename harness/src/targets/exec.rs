//! A command the harness starts per scenario as a device target: `sh -c CMD` with the URL to
//! connect to and the identity substituted, in its own process group, stopped at the end.

use crate::engine::children;
use crate::engine::target::{
    DeviceCapabilities, DeviceLink, DeviceStart, DeviceTarget, TargetError,
};
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
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped());
            if let Some(seed) = &start.seed_secret_no {
                cmd.env("HWCONFORM_SEED_SECRET_NO", seed.expose());
            }
            let mut child = children::spawn(&mut cmd)
                .map_err(|e| TargetError::io("cannot start the device command", e))?;
            let stderr = Arc::new(Mutex::new(Vec::new()));
            let stderr_done = Arc::new(std::sync::atomic::AtomicBool::new(
                child.child().stderr.is_none(),
            ));
            if let Some(err) = child.child().stderr.take() {
                let lines = stderr.clone();
                let done = stderr_done.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncBufReadExt;
                    let mut reader = tokio::io::BufReader::new(err).lines();
                    while let Ok(Some(line)) = reader.next_line().await {
                        let mut l = lines.lock().unwrap_or_else(|p| p.into_inner());
                        if l.len() == 20 {
                            l.remove(0);
                        }
                        l.push(line);
                    }
                    done.store(true, std::sync::atomic::Ordering::Release);
                });
            }
            let process = Process {
                child,
                acceptor,
                stderr,
                stderr_done,
                exit_seen: None,
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
}

/// How long an exited command's stderr is waited for (a grandchild may hold the pipe open).
const STDERR_DRAIN: Duration = Duration::from_millis(500);

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
        Some(format!(" ({status}); its last output:\n{tail}"))
    }

    fn polled(&self) -> bool {
        true
    }

    /// Stops the command and everything it started (TERM, then KILL).
    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.acceptor.abort();
            self.child.stop().await;
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

    /// A command that exited before its stderr was read is reported only once the reader has
    /// the last words, or after the bounded drain.
    #[tokio::test]
    async fn an_exit_waits_for_the_last_words_boundedly() {
        let process = |done: bool| {
            let child =
                children::spawn(tokio::process::Command::new("sh").args(["-c", "exit 3"])).unwrap();
            Process {
                child,
                acceptor: tokio::spawn(async {}),
                stderr: Arc::new(Mutex::new(vec!["firmware: no radio".into()])),
                stderr_done: Arc::new(std::sync::atomic::AtomicBool::new(done)),
                exit_seen: None,
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
