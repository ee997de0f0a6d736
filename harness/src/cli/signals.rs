//! SIGINT and SIGTERM during `run`: the first stops the run (the running scenarios end at
//! once, the reports are written, every started device is stopped), a second exits at once.

use super::exit::{EXIT_SIGINT, EXIT_SIGTERM};
use crate::engine::children::Children;
use crate::engine::interrupt::Interrupt;
use crate::report::status::Stderr;
use std::sync::Arc;

/// The exit code for a signal by the name [`Interrupt::why`] has.
fn code_of(name: &str) -> Option<i32> {
    match name {
        "SIGINT" => Some(EXIT_SIGINT),
        "SIGTERM" => Some(EXIT_SIGTERM),
        _ => None,
    }
}

/// Listens on its own thread for the life of the process; says what it does on `stderr`, and
/// kills the run's `children` on a second signal.
pub(super) fn watch(interrupt: Arc<Interrupt>, stderr: Stderr, children: Arc<Children>) {
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else { return };
            loop {
                let (name, code) = tokio::select! {
                    _ = int.recv() => ("SIGINT", EXIT_SIGINT),
                    _ = term.recv() => ("SIGTERM", EXIT_SIGTERM),
                };
                if interrupt.is_raised() {
                    // The status line goes for good: the process exits under it.
                    stderr.beside_status(|| eprintln!("{name} again: exiting now; reports are not written"));
                    children.kill_all();
                    std::process::exit(code);
                }
                stderr.beside_status(|| eprintln!("{name}: stopping the run and writing the reports (a second signal exits at once)"));
                interrupt.raise(name);
            }
        });
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch for signals: {e}");
    }
}

/// The exit code for a run a signal stopped, if one did.
pub(super) fn exit_code(interrupt: &Interrupt) -> Option<i32> {
    interrupt
        .is_raised()
        .then(|| code_of(&interrupt.why()))
        .flatten()
}
