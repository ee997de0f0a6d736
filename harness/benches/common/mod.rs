//! What the bench binaries read of their own process (Linux): memory from `/proc/self/status`
//! and CPU time from `getrusage`. Each bench is its own binary and uses some of these.
#![allow(dead_code)]

use std::time::Duration;

/// A `/proc/self/status` field in KiB (0 where it cannot be read).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Resident memory now, KiB.
pub fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// The process's peak resident memory, KiB.
pub fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

/// CPU time of the whole process so far (every thread, user and system).
pub fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}
