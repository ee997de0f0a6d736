//! Processes the harness starts (an `exec:` device, the `--device-reset` command, the upper
//! tester) and reaps whole, whatever they start in turn, on every path: a normal end, a time
//! bound, the scenario dropped by an interrupt, or a second signal that exits at once.
//!
//! Each runs in a process group of its own, with a mark in its environment
//! (`HWCONFORM_OWNER=<harness pid>.<n>`) that its descendants inherit. On Linux the harness
//! is also a child subreaper (`PR_SET_CHILD_SUBREAPER`): a descendant whose parent exits is
//! adopted by the harness rather than by init, so it stays findable and its exit is collected
//! here. What belongs to a child is found in `/proc`: its process group, every process
//! carrying its mark (one that called `setsid()` or left the group keeps it), and their
//! descendants (one that cleared its environment stays a descendant while its parents live,
//! and is adopted by the harness when they die).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The variable marking a process (and what it starts) as started by this harness.
pub const OWNER_VAR: &str = "HWCONFORM_OWNER";

/// How long a stop waits for a child to end on SIGTERM before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

/// How long killing keeps looking for what is left (a process forking as it is killed).
const KILL_ROUNDS: Duration = Duration::from_secs(2);

/// A process the harness started, with its process group and mark: stopped with everything
/// it started when [`Owned::stop`] or [`Owned::kill`] is called, or when dropped.
pub struct Owned {
    child: tokio::process::Child,
    pid: Option<i32>,
    mark: String,
    children: Arc<Children>,
}

/// The processes a run started: the handle every starter of a process is given (the run's
/// targets, its reset and upper-tester commands) and whoever must kill them all at once (a
/// second signal).
#[derive(Debug, Default)]
pub struct Children {
    /// Child pids started here and not yet reaped, with their marks: what
    /// [`Children::kill_all`] kills, and what is left for tokio to wait for (never collected
    /// here).
    started: Mutex<BTreeMap<i32, String>>,
    /// Processes killed here that may still have to be collected: once their parent is gone
    /// they are the harness's (a subreaper's) zombies.
    killed: Mutex<BTreeSet<i32>>,
}

impl Children {
    fn started(&self) -> MutexGuard<'_, BTreeMap<i32, String>> {
        self.started.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn killed(&self) -> MutexGuard<'_, BTreeSet<i32>> {
        self.killed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Starts `command` in a process group of its own, marked as this harness's, registered with
/// `children`, killed if the handle is dropped.
pub fn spawn(children: &Arc<Children>, command: &mut tokio::process::Command) -> io::Result<Owned> {
    // Marks are unique in the process, whichever run's children they are.
    static NEXT: AtomicU64 = AtomicU64::new(1);
    become_subreaper();
    let mark = format!(
        "{}.{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    command
        .env(OWNER_VAR, &mark)
        .process_group(0)
        .kill_on_drop(true);
    // Registered under the lock it was spawned under, so a sweep never sees it unregistered.
    let mut registry = children.started();
    let child = command.spawn()?;
    let pid = child.id().and_then(|p| i32::try_from(p).ok());
    if let Some(pid) = pid {
        registry.insert(pid, mark.clone());
    }
    drop(registry);
    children.collect_killed();
    Ok(Owned {
        child,
        pid,
        mark,
        children: children.clone(),
    })
}

impl Owned {
    /// The process itself (its pipes, its exit status).
    pub fn child(&mut self) -> &mut tokio::process::Child {
        &mut self.child
    }

    /// SIGTERM to everything it started, [`GRACE`] for the child to end, then SIGKILL to what
    /// is left; returns once nothing of it runs.
    pub async fn stop(&mut self) {
        if let Some(pid) = self.pid {
            for p in self.children.members(pid, &self.mark) {
                signal(p, libc::SIGTERM);
            }
            signal(-pid, libc::SIGTERM);
            let _ = tokio::time::timeout(GRACE, self.child.wait()).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.kill().await;
    }

    /// SIGKILL to the child and everything it started, and waits for the child and for
    /// those the harness adopted.
    pub async fn kill(&mut self) {
        self.kill_now();
        let _ = self.child.kill().await;
        // Once the child is collected, what it started is adopted: collected here.
        let since = Instant::now();
        while self.children.collect_killed() > 0 && since.elapsed() < KILL_ROUNDS {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// SIGKILL to the child and everything it started, at once (a destructor cannot wait).
    fn kill_now(&mut self) {
        let Some(pid) = self.pid.take() else { return };
        self.children.kill_members(pid, &self.mark);
        let _ = self.child.start_kill();
        self.children.started().remove(&pid);
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.kill_now();
    }
}

impl Children {
    /// Kills everything started here and still running, and whatever this harness process
    /// marked: for a process that must exit at once (a second Ctrl-C), so nothing it started
    /// outlives it.
    pub fn kill_all(&self) {
        let all: Vec<(i32, String)> = std::mem::take(&mut *self.started()).into_iter().collect();
        for (pid, _) in &all {
            signal(-pid, libc::SIGKILL);
            signal(*pid, libc::SIGKILL);
        }
        let ours = format!("{}.", std::process::id());
        for p in scan().iter().filter(|p| !p.zombie) {
            if p.ppid == own_pid() || p.marked(|m| m.starts_with(&ours)) {
                signal(p.pid, libc::SIGKILL);
                if !all.iter().any(|(child, _)| *child == p.pid) {
                    self.killed().insert(p.pid);
                }
            }
        }
    }

    /// SIGKILL to the group, the marked and their descendants, round after round until none is
    /// left (bounded), collecting those the harness adopted.
    fn kill_members(&self, pid: i32, mark: &str) {
        let started_at = Instant::now();
        signal(-pid, libc::SIGKILL);
        loop {
            let left = self.members(pid, mark);
            if left.is_empty() || started_at.elapsed() > KILL_ROUNDS {
                break;
            }
            for p in left {
                signal(p, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // The killed die at once but are collectable only once dead: a short, bounded wait.
        let since = Instant::now();
        while self.collect_killed() > 0 && since.elapsed() < Duration::from_millis(200) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Collects the exit of each killed process the harness adopted; forgets those gone or
    /// collected by someone else. Never touches the children tokio waits for (the registered
    /// ones). Returns how many killed ones are still there.
    fn collect_killed(&self) -> usize {
        let registered: BTreeSet<i32> = self.started().keys().copied().collect();
        let mut killed = self.killed();
        killed.retain(|pid| {
            let Some(p) = stat(*pid) else { return false };
            if p.zombie && p.ppid == own_pid() && !registered.contains(pid) {
                let mut status = 0;
                // SAFETY: waitpid(2) on one adopted, dead process, without blocking.
                let rc = unsafe { libc::waitpid(*pid, &mut status, libc::WNOHANG) };
                return rc == 0;
            }
            true
        });
        killed.len()
    }

    /// The living processes of the child `pid`: its process group, those carrying its mark, and
    /// the descendants of either; never the harness. All but the child (tokio's to collect) are
    /// remembered as to be collected once dead.
    fn members(&self, pid: i32, mark: &str) -> Vec<i32> {
        let found = members_of(pid, mark);
        self.killed()
            .extend(found.dead_or_alive.iter().copied().filter(|p| *p != pid));
        found.living
    }
}

fn signal(pid: i32, sig: i32) {
    if pid == 0 || pid == -1 || pid == own_pid() {
        return;
    }
    // SAFETY: kill(2) on a process (or, negative, a process group) this module started or
    // found to descend from one it started; never 0, -1 or the harness itself.
    unsafe { libc::kill(pid, sig) };
}

fn own_pid() -> i32 {
    i32::try_from(std::process::id()).unwrap_or(i32::MAX)
}

/// The harness adopts orphaned descendants, so that what a child leaves behind (a daemon it
/// started, a `setsid` grandchild) can still be found and reaped here.
fn become_subreaper() {
    #[cfg(target_os = "linux")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: prctl(2) with PR_SET_CHILD_SUBREAPER only sets a flag on this process.
            let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
            if rc != 0 {
                tracing::warn!(
                    "cannot become a child subreaper: {}",
                    io::Error::last_os_error()
                );
            }
        });
    }
}

/// One process as `/proc` shows it.
struct Proc {
    pid: i32,
    ppid: i32,
    pgid: i32,
    zombie: bool,
}

impl Proc {
    /// Whether its environment holds a mark `is` accepts (unreadable: no).
    fn marked(&self, is: impl Fn(&str) -> bool) -> bool {
        let Ok(env) = std::fs::read(format!("/proc/{}/environ", self.pid)) else {
            return false;
        };
        let prefix = format!("{OWNER_VAR}=");
        env.split(|b| *b == 0)
            .filter_map(|kv| std::str::from_utf8(kv).ok())
            .filter_map(|kv| kv.strip_prefix(&prefix))
            .any(is)
    }
}

/// Every process visible in `/proc` (none where there is no `/proc`).
fn scan() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(stat)
        .collect()
}

/// One process from `/proc/PID/stat`: `pid (comm) state ppid pgrp ...`, where comm may hold
/// spaces and parentheses.
fn stat(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgid = fields.next()?.parse().ok()?;
    Some(Proc {
        pid,
        ppid,
        pgid,
        zombie: state == "Z" || state == "X",
    })
}

/// The processes of the child `pid` as `/proc` shows them now.
struct Members {
    /// The child and every member, the dead among them too.
    dead_or_alive: BTreeSet<i32>,
    living: Vec<i32>,
}

/// The processes of the child `pid`: its process group, those carrying its mark, and the
/// descendants of either; never the harness.
fn members_of(pid: i32, mark: &str) -> Members {
    let all = scan();
    let mut found: BTreeSet<i32> = all
        .iter()
        .filter(|p| p.pid != own_pid())
        .filter(|p| p.pid == pid || p.pgid == pid || p.marked(|m| m == mark))
        .map(|p| p.pid)
        .collect();
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for p in &all {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut stack: Vec<i32> = found.iter().copied().collect();
    while let Some(p) = stack.pop() {
        for c in children.get(&p).into_iter().flatten() {
            if *c != own_pid() && found.insert(*c) {
                stack.push(*c);
            }
        }
    }
    found.insert(pid);
    let alive: BTreeSet<i32> = all.iter().filter(|p| !p.zombie).map(|p| p.pid).collect();
    Members {
        living: found
            .iter()
            .copied()
            .filter(|p| alive.contains(p))
            .collect(),
        dead_or_alive: found,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// A command that starts a grandchild in a session of its own (`setsid`), which writes
    /// its pid to `pidfile` and sleeps, then does `then`.
    pub(crate) fn with_setsid_grandchild(pidfile: &Path, then: &str) -> String {
        format!(
            "setsid sh -c 'echo $$ > {}; exec sleep 300' & {then}",
            pidfile.display()
        )
    }

    pub(crate) fn pidfile(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hwconform-children-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(name);
        let _ = std::fs::remove_file(&file);
        file
    }

    /// The pid written to `pidfile`, once written (bounded).
    pub(crate) async fn written_pid(pidfile: &Path) -> i32 {
        let since = Instant::now();
        loop {
            if let Some(pid) = std::fs::read_to_string(pidfile)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                return pid;
            }
            assert!(
                since.elapsed() < Duration::from_secs(10),
                "no pid in {pidfile:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether `kill -0` still finds the process (a zombie not collected counts).
    pub(crate) fn exists(pid: i32) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(pid, 0) == 0 }
    }

    /// Gone within a short bound: killing and collecting take a few milliseconds.
    pub(crate) async fn assert_gone(pid: i32) {
        let since = Instant::now();
        while exists(pid) && since.elapsed() < Duration::from_secs(3) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(!exists(pid), "process {pid} is left: {state}");
    }

    fn sh(line: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c").arg(line);
        cmd
    }

    /// Stopped while it runs (an `exec:` device at the scenario's end): the grandchild in its
    /// own session goes too.
    #[tokio::test]
    async fn a_stop_ends_a_grandchild_that_called_setsid() {
        let file = pidfile("stop");
        let mut owned = spawn(
            &Arc::default(),
            &mut sh(&with_setsid_grandchild(&file, "sleep 300")),
        )
        .unwrap();
        let grandchild = written_pid(&file).await;
        let child = owned.child().id().unwrap() as i32;
        owned.stop().await;
        assert_gone(grandchild).await;
        assert_gone(child).await;
    }

    /// The child exited first, leaving the grandchild to the harness: found by its mark.
    #[tokio::test]
    async fn an_orphan_left_behind_is_found_by_its_mark() {
        let file = pidfile("orphan");
        let mut owned = spawn(
            &Arc::default(),
            &mut sh(&with_setsid_grandchild(&file, "exit 0")),
        )
        .unwrap();
        let grandchild = written_pid(&file).await;
        let _ = owned.child().wait().await;
        assert!(
            exists(grandchild),
            "the grandchild outlives its parent until stopped"
        );
        owned.kill().await;
        assert_gone(grandchild).await;
    }

    /// Dropped mid-step (an interrupted run drops the scenario): killed at once, whole.
    #[tokio::test]
    async fn a_dropped_child_takes_its_grandchild_along() {
        let file = pidfile("drop");
        let owned = spawn(
            &Arc::default(),
            &mut sh(&with_setsid_grandchild(&file, "sleep 300")),
        )
        .unwrap();
        let grandchild = written_pid(&file).await;
        drop(owned);
        assert_gone(grandchild).await;
    }

    /// What a second signal kills: everything still running that this harness started. It
    /// kills every child of the process, so it runs in a test process of its own: beside the
    /// other tests (threads of one process) it would kill their children too.
    #[test]
    fn kill_all_ends_every_started_one() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "engine::children::tests::kill_all_alone",
                "--ignored",
                "--test-threads=1",
            ])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{said}");
        assert!(said.contains("1 passed"), "{said}");
    }

    #[tokio::test]
    #[ignore = "run alone by kill_all_ends_every_started_one"]
    async fn kill_all_alone() {
        let file = pidfile("all");
        let children = Arc::<Children>::default();
        let owned = spawn(
            &children,
            &mut sh(&with_setsid_grandchild(&file, "sleep 300")),
        )
        .unwrap();
        let grandchild = written_pid(&file).await;
        children.kill_all();
        let since = Instant::now();
        // Killed; collected when the handle goes (kill_all is for a process about to exit).
        while stat(grandchild).is_some_and(|p| !p.zombie)
            && since.elapsed() < Duration::from_secs(3)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            stat(grandchild).is_none_or(|p| p.zombie),
            "{grandchild} still runs"
        );
        drop(owned);
        assert_gone(grandchild).await;
    }
}
