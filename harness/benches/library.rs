//! What a large library costs (`cargo bench --bench library`): peak resident memory and wall
//! time of `hwconform run` over a 10,000-scenario library with every report it writes by
//! default (terminal, run.json, junit.xml, report.html, requirements.csv), as a ratio
//! against floors measured in the same run: the process with the library loaded and nothing
//! run, and the same run with the terminal report alone (no file reports).
//!
//! Goal (issue 12): under 150 MB peak RSS for 10,000 scenarios, with reports.
//!
//! The library is the cloud scenarios copied with fresh ids into a temporary directory until
//! there are `HWCONFORM_BENCH_SCENARIOS` of them (default 10,000). Each case runs in a fresh
//! child process (glibc keeps freed memory, so cases run one after another in one process
//! would hide each other's peak), which runs the real CLI path in-process and reports its
//! own VmHWM.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const CASE_VAR: &str = "HWCONFORM_BENCH_LIBRARY_CASE";
const LIB_VAR: &str = "HWCONFORM_BENCH_LIBRARY_DIR";
const CASES: [&str; 3] = ["loaded", "terminal-only", "all-reports"];

mod common;
use common::peak_rss_kib;

fn scenarios_wanted() -> usize {
    std::env::var("HWCONFORM_BENCH_SCENARIOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Copies the cloud library into `dir` until it holds `n` scenarios, each id made unique by
/// a `-NNN` suffix (copy NNN), in one subdirectory per copy.
fn build_library(dir: &Path, n: usize) {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/cloud");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&src)
        .expect("the cloud library")
        .map(|e| e.expect("a library entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(p).expect("a scenario file"),
            )
        })
        .collect();
    let mut written = 0;
    for copy in 0.. {
        let sub = dir.join(format!("c{copy:03}"));
        std::fs::create_dir_all(&sub).expect("a library directory");
        for (name, text) in &texts {
            if written == n {
                return;
            }
            let mut renamed = false;
            let body: String = text
                .lines()
                .map(|l| match l.strip_prefix("id: ") {
                    Some(id) if !renamed => {
                        renamed = true;
                        format!("id: {id}-{copy:03}\n")
                    }
                    _ => format!("{l}\n"),
                })
                .collect();
            std::fs::write(sub.join(name), body).expect("write a scenario");
            written += 1;
        }
    }
}

/// One case, in this (child) process: prints `figures <case> <peak KiB> <wall ms>` on stderr
/// (stdout has the terminal report).
fn run_case(case: &str, lib: &Path) {
    let started = Instant::now();
    match case {
        "loaded" => {
            let scenarios =
                hwconform::scenario::load_paths(&[lib.to_path_buf()]).expect("the library loads");
            assert_eq!(scenarios.len(), scenarios_wanted());
        }
        // The CLI reads its arguments from the process: the parent gave this child the
        // `run` command line.
        "terminal-only" | "all-reports" => {
            let code = hwconform::cli::main();
            assert_eq!(code, 0, "the library passes");
        }
        other => panic!("unknown case {other}"),
    }
    eprintln!(
        "figures {case} {} {}",
        peak_rss_kib(),
        started.elapsed().as_millis()
    );
}

fn main() {
    if let (Ok(case), Ok(lib)) = (std::env::var(CASE_VAR), std::env::var(LIB_VAR)) {
        run_case(&case, Path::new(&lib));
        return;
    }
    let n = scenarios_wanted();
    let work = std::env::temp_dir().join(format!("hwconform-bench-library-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let lib = work.join("library");
    build_library(&lib, n);
    let exe = std::env::current_exe().expect("own path");
    let mut figures = Vec::new();
    for case in CASES {
        let reports = work.join(format!("reports-{case}"));
        let args: Vec<String> = match case {
            "loaded" => vec![],
            "terminal-only" => vec![
                "run".into(),
                lib.display().to_string(),
                "--report".into(),
                "terminal".into(),
            ],
            _ => vec![
                "run".into(),
                lib.display().to_string(),
                "--reports".into(),
                reports.display().to_string(),
            ],
        };
        // In the work directory: no golden transcripts there, as none exist for these ids.
        let out = Command::new(&exe)
            .args(&args)
            .env(CASE_VAR, case)
            .env(LIB_VAR, &lib)
            .current_dir(&work)
            .stdout(Stdio::null())
            .output()
            .expect("run a case");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "case {case} failed: {stderr}");
        let line = stderr
            .lines()
            .find(|l| l.starts_with("figures "))
            .unwrap_or_else(|| panic!("case {case} printed no figures: {stderr}"));
        let f: Vec<f64> = line
            .split_whitespace()
            .skip(2)
            .filter_map(|v| v.parse().ok())
            .collect();
        assert_eq!(f.len(), 2, "case {case} printed {line:?}");
        let written: u64 = std::fs::read_dir(&reports)
            .map(|d| {
                d.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        figures.push((
            case,
            f[0] / 1024.0,
            f[1] / 1e3,
            written as f64 / (1 << 20) as f64,
        ));
    }
    let _ = std::fs::remove_dir_all(&work);
    let (loaded, floor) = (figures[0].1.max(0.01), figures[1].1.max(0.01));
    let per_k = |mib: f64| mib / (n as f64 / 1000.0);
    println!("{n}-scenario library (cloud scenarios with fresh ids), `hwconform run` in-process, one child per case:");
    for (case, peak, wall, written) in &figures {
        println!(
            "  {case:<14} peak RSS {peak:>7.1} MiB ({:>4.2}x loaded, {:>4.2}x terminal-only; {:>5.1} MiB per 1,000 scenarios, {:>5.1} above loaded), wall {wall:>6.2} s, reports {written:.0} MiB",
            peak / loaded,
            peak / floor,
            per_k(*peak),
            per_k(peak - loaded),
        );
    }
}
