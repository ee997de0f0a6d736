//! The exit codes of every subcommand.

/// Everything passed (or nothing was found).
pub const EXIT_OK: i32 = 0;
/// A scenario failed or errored, a golden differs, an exploration found a failure.
pub const EXIT_FAILED: i32 = 1;
/// Bad usage: arguments, scenario files, targets.
pub const EXIT_USAGE: i32 = 2;
/// The run was stopped by SIGINT (Ctrl-C), after writing its reports: 128 + 2, as shells do.
pub const EXIT_SIGINT: i32 = 130;
/// The run was stopped by SIGTERM, after writing its reports: 128 + 15.
pub const EXIT_SIGTERM: i32 = 143;
