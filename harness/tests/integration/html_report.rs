//! The HTML report in a real browser: the whole library runs against a mock with one rule
//! switched off (so there is a failure to show), the report is written as `hwconform run`
//! writes it, and headless Chromium loads it with JavaScript on; the test reads back the
//! DOM the browser built (`--dump-dom`).
//!
//! Needs Chromium (Debian: `apt-get install chromium`; `.ci/run` installs it). Another binary
//! can be named with `HWCONFORM_CHROMIUM`; `HWCONFORM_SKIP_BROWSER=1` skips the browser half
//! on a machine without one (it says so). `HWCONFORM_SCREENSHOT=docs/report.png` also saves
//! the screenshot the README shows.

use crate::common;

use crate::common::library;
use hwconform::engine::runner::{RunConfig, Runner};
use hwconform::engine::{ScenarioResult, Verdict};
use hwconform::report::{write_reports, Collector, ReportFormat, RunMeta, RunReport};
use hwconform::targets::mock::MockRule;
use hwconform::targets::mock_cloud::MockCloudTarget;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest a browser may take to render the page.
const BROWSER_BOUND: Duration = Duration::from_secs(90);

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HWCONFORM_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|p| p.is_file())
}

/// Runs the browser headless on `url` with `args`, bounded in wall time; its stdout.
fn browse(browser: &Path, profile: &Path, args: &[String], url: &str) -> String {
    // To a file, not a pipe: a helper process that outlives the browser cannot hold it open.
    let out_path = profile.with_extension(format!("out-{}", args.len() + url.len()));
    let out_file = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--allow-file-access-from-files",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(out_file)
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let started = Instant::now();
    loop {
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(
                    status.success(),
                    "{} {args:?} exited with {status}",
                    browser.display()
                );
                break;
            }
            None if started.elapsed() > BROWSER_BOUND => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} did not render the report within {BROWSER_BOUND:?}",
                    browser.display()
                );
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let out = std::fs::read_to_string(&out_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    out
}

/// What the browser serialises for a text node: `&`, `<` and `>` escaped.
fn as_dom_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Each scenario's `<article>` in the DOM, by id.
fn articles(dom: &str) -> Vec<(String, String)> {
    dom.split("<article ")
        .skip(1)
        .map(|rest| {
            let body = rest.split("</article>").next().unwrap_or("");
            let id = body
                .split("id=\"sc-")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or("")
                .to_string();
            (id, body.to_string())
        })
        .collect()
}

fn run_with_a_broken_mock() -> (Vec<ScenarioResult>, RunReport) {
    let mut scenarios = library("cloud");
    scenarios.extend(library("device"));
    let config = RunConfig {
        cloud: Some(std::sync::Arc::new(MockCloudTarget {
            disabled_rules: [MockRule::NoTimestampCheck].into(),
            ..MockCloudTarget::default()
        })),
        ..hwconform::targets::defaults()
    };
    let mut collector = Collector::new(RunMeta::of_this_harness());
    let mut report = None;
    Runner::new(config)
        .run(&scenarios, |e| {
            if let Some(r) = collector.on_event(&e) {
                report = Some(r);
            }
        })
        .expect("the run starts");
    let report = report.expect("the run finished");
    (report.scenarios.clone(), report)
}

#[test]
fn chromium_renders_the_matrix_the_evidence_and_the_wire_logs() {
    let (results, report) = run_with_a_broken_mock();
    let dir = std::env::temp_dir().join(format!("hwconform-html-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write_reports(&report, &dir, &[ReportFormat::Html]).unwrap();
    let page = dir.join("report.html");
    let failed = results
        .iter()
        .find(|r| {
            r.verdict
                .failure()
                .is_some_and(|f| f.expected.is_some() && f.actual.is_some())
                && matches!(r.verdict, Verdict::Fail(_))
        })
        .expect("the broken mock fails a scenario with expected/actual evidence");
    let failure = failed.verdict.failure().unwrap();

    let Some(browser) = chromium() else {
        if std::env::var_os("HWCONFORM_SKIP_BROWSER").is_some() {
            eprintln!("HWCONFORM_SKIP_BROWSER is set and no Chromium was found: the browser half of this test did not run");
            return;
        }
        panic!("no Chromium found: install it (Debian: `apt-get install chromium`), name it with HWCONFORM_CHROMIUM, or set HWCONFORM_SKIP_BROWSER=1");
    };
    let profile = dir.join("browser-profile");
    let url = format!("file://{}", page.display());
    let dom = browse(&browser, &profile, &["--dump-dom".into()], &url);

    assert!(
        dom.contains("<body data-js=\"on\">"),
        "the page's script ran:\n{}",
        &dom[..dom.len().min(2000)]
    );
    for id in (1..=42)
        .map(|n| format!("D{n}"))
        .chain((1..=24).map(|n| format!("C{n}")))
    {
        assert!(
            dom.contains(&format!("id=\"req-{id}\"")),
            "the matrix has no row for {id}"
        );
    }
    assert!(
        dom.contains("not covered"),
        "uncovered obligations are shown as such"
    );
    let all = articles(&dom);
    assert_eq!(all.len(), results.len(), "one article per scenario");
    let (_, article) = all
        .iter()
        .find(|(id, _)| *id == failed.id)
        .unwrap_or_else(|| panic!("{} has no article", failed.id));
    assert!(article.contains("data-verdict=\"fail\""));
    for text in [
        failure.expected.as_deref().unwrap(),
        failure.actual.as_deref().unwrap(),
    ] {
        assert!(
            article.contains(&as_dom_text(text)),
            "{} shows no `{text}`:\n{article}",
            failed.id
        );
    }
    assert!(
        article.contains(&as_dom_text(&hwconform::report::html::location_of(failed))),
        "the failure's file:line:col"
    );
    assert!(
        article.contains("<details class=\"wire\" open=\"\">"),
        "the failure's wire log is open:\n{article}"
    );
    assert!(
        article.contains("harness sent") && article.contains("target sent"),
        "the wire log shows both directions"
    );
    assert!(
        article.contains("\"headers\": {"),
        "frames are pretty-printed"
    );

    // A filtered view from the URL: only failures, only C obligations.
    let filtered = browse(
        &browser,
        &profile,
        &["--dump-dom".into()],
        &format!("{url}#verdict=fail&req=C*"),
    );
    for (id, body) in articles(&filtered) {
        let verdict = results
            .iter()
            .find(|r| r.id == id)
            .map(|r| matches!(r.verdict, Verdict::Fail(_)))
            .unwrap_or(false);
        let cites_c = results
            .iter()
            .find(|r| r.id == id)
            .is_some_and(|r| r.obligations.keys().any(|k| k.starts_with('C')));
        let hidden = body.split('>').next().unwrap_or("").contains(" hidden");
        assert_eq!(hidden, !(verdict && cites_c), "{id}: hidden={hidden}");
    }
    assert!(
        filtered.contains("id=\"req-D1\"")
            && filtered
                .split("id=\"req-D1\"")
                .nth(1)
                .unwrap()
                .split('>')
                .next()
                .unwrap()
                .contains("hidden"),
        "D rows are hidden by req=C*"
    );

    if let Some(shot) = std::env::var_os("HWCONFORM_SCREENSHOT") {
        let shot = common::repo().join(shot);
        browse(
            &browser,
            &profile,
            &[
                format!("--screenshot={}", shot.display()),
                "--window-size=1280,1500".into(),
                "--hide-scrollbars".into(),
            ],
            &format!("{url}#verdict=fail&status=fail"),
        );
        assert!(shot.is_file());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
