//! The HTML report in a real browser: the whole library runs against a mock with one rule
//! switched off (so there is a failure to show), the report is written as `hwconform run`
//! writes it, and headless Chromium loads it with JavaScript on; the test reads back the
//! DOM the browser built (`--dump-dom`). A second run is a lab's: `hwconform run` against an
//! `exec:` device that logs to stderr, with an ICS; its page must show what a lab signs and a
//! vendor debugs from (the SN, the ICS hash, the statement, a chart per scenario with the
//! breaking frame marked, the device's log in place) and is photographed.
//!
//! Needs Chromium (Debian: `apt-get install chromium`; `.ci/run` installs it). Another binary
//! can be named with `HWCONFORM_CHROMIUM`; `HWCONFORM_SKIP_BROWSER=1` skips the browser half
//! on a machine without one (it says so). `HWCONFORM_DOC_IMAGES=1` saves the screenshots into
//! `docs/src/images/` (`cover.png`, `sequence-chart.png`: the ones the README shows).

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
    assert!(
        dom.contains("<details class=\"legend\">"),
        "the source tags have a legend"
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
        article.contains("<details class=\"sequence\" open=\"\">"),
        "the failure's sequence chart is open:\n{article}"
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

/// Scenarios of the device library, run as a lab runs them: `hwconform run` against an
/// `exec:` device (the reference device with one fault, its signature unsorted: D4) that logs
/// to stderr, with an ICS, a lab and an operator. Real time, so a few quick scenarios: one the
/// fault fails, one that passes, one checked by hand.
const EXEC_SCENARIOS: &[&str] = &[
    "scenarios/device/lifecycle-register-first.yaml",
    "scenarios/device/recovery-suggestion-reconnect.yaml",
    "scenarios/device/log-content-manual.yaml",
];

/// Runs [`EXEC_SCENARIOS`] in `dir` as a lab would, from a directory with the scenarios, the
/// ICS and the firmware's start script `./fw`, into `dir/reports`; the run's stdout. (Paths
/// are relative and argv[0] is `hwconform`, so the screenshots show what a lab's run shows.)
fn signed_exec_run(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let bin = env!("CARGO_BIN_EXE_hwconform");
    for file in EXEC_SCENARIOS
        .iter()
        .chain(&["examples/ics/door-controller.toml"])
    {
        std::fs::create_dir_all(dir.join(file).parent().unwrap()).unwrap();
        std::fs::copy(common::repo().join(file), dir.join(file)).unwrap();
    }
    let fw = dir.join("fw");
    std::fs::write(
        &fw,
        format!(
            "#!/bin/sh\n# The firmware under test: it logs to stderr as it boots, then runs.\n\
             echo \"DC-100 fw 2.3.1 booting sn=$1\" >&2\n\
             exec {bin} device-sim --sn \"$1\" --url \"$2\" --fault unsorted-signature\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fw, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(bin)
        .arg0("hwconform")
        .current_dir(dir)
        .arg("run")
        .args(EXEC_SCENARIOS)
        .args(["--cloud", "none", "--device", "exec:./fw {sn} {url}"])
        .args(["--ics", "examples/ics/door-controller.toml"])
        .args(["--lab", "Acme Test Lab", "--operator", "Ann Lab"])
        .args(["--golden", "off", "--reports", "reports"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the fault fails the run:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The device library against the reference device with one fault (it reuses a req_id, D2),
/// with an ICS, as a lab signs it: the cover names the lab, the device and the ICS's hash and
/// states the result; every scenario has its chart, and the broken frame is marked.
fn signed_device_run() -> RunReport {
    use hwconform::report::json::HashedFile;
    use hwconform::targets::sim::SimFault;
    use hwconform::targets::DeviceChoice;
    let ics_path = common::repo().join("examples/ics/door-controller.toml");
    let profile = hwconform::profile::default_profile();
    let ics = hwconform::ics::load_file(&ics_path, profile.ics_features())
        .unwrap_or_else(|e| panic!("{}", e.render()));
    let config = RunConfig {
        device: Some(
            DeviceChoice::Sim {
                faults: [SimFault::parse("reuse-req-id").unwrap()].into(),
                variants: Default::default(),
            }
            .build(),
        ),
        ics: Some(std::sync::Arc::new(ics)),
        ..hwconform::targets::defaults()
    };
    let mut meta = RunMeta::of_this_harness();
    meta.lab = "Acme Test Lab".into();
    meta.operator = "Ann Lab".into();
    meta.ics_file = Some(HashedFile {
        path: "examples/ics/door-controller.toml".into(),
        ..HashedFile::read(&ics_path).unwrap()
    });
    let scenarios = library("device");
    let sources: std::collections::BTreeMap<String, String> = scenarios
        .iter()
        .map(|s| {
            let path = s
                .source
                .path
                .strip_prefix(common::repo())
                .unwrap_or(&s.source.path);
            (path.display().to_string(), s.source.text.clone())
        })
        .collect();
    meta.scenario_set = Some(hwconform::report::json::ScenarioSet::of(&sources));
    meta.targets = [
        ("cloud".to_string(), "mock".to_string()),
        ("device".to_string(), "sim:fault=reuse-req-id".to_string()),
    ]
    .into();
    let mut collector = Collector::new(meta);
    let mut report = None;
    Runner::new(config)
        .run(&scenarios, |e| {
            report = report.take().or(collector.on_event(&e))
        })
        .expect("the run starts");
    report.expect("the run finished")
}

/// Every scenario of the device library has its chart, without a browser: the library against
/// the reference device with one fault (virtual time, so all of it), the page as written.
#[test]
fn every_scenario_of_the_device_library_has_its_chart() {
    let report = signed_device_run();
    let statement = report.statement.clone().expect("a statement");
    assert_eq!(statement.failed, ["D2"], "{statement:?}");
    let page = hwconform::report::html::render(&report);
    let all = articles(&page);
    assert_eq!(all.len(), report.scenarios.len());
    for (id, body) in &all {
        let r = report.scenarios.iter().find(|r| &r.id == id).unwrap();
        assert_eq!(
            body.matches("<figure class=\"chart\">").count(),
            usize::from(!r.transcript.entries.is_empty()),
            "{id}: one chart"
        );
        // One copy of each frame's JSON: the wire log's, one per arrow.
        assert_eq!(
            body.matches("<pre class=\"frame\">").count(),
            body.matches("<g class=\"frame").count(),
            "{id}"
        );
    }
    let (_, failed) = all
        .iter()
        .find(|(id, _)| id == "device.envelope.well-formed-unique-requests")
        .expect("the fault fails the envelope scenario");
    let broken = failed
        .split("<g class=\"frame broken\">")
        .nth(1)
        .expect("a frame is marked broken");
    assert!(broken.contains(">active #lb_active</text>"), "{broken}");
    assert!(
        failed.contains("✗ D2: "),
        "the finding is written beside it"
    );
}

/// A page of its own for one scenario's article, styled as the report (a screenshot of it).
fn article_page(page: &str, id: &str) -> String {
    let style = &page[page.find("<style>").unwrap()..page.find("</style>").unwrap() + 8];
    let start = page
        .find(&format!("<article id=\"sc-{id}\""))
        .unwrap_or_else(|| panic!("no article {id}"));
    let end = start + page[start..].find("</article>").unwrap() + "</article>".len();
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">{style}</head><body>{}</body></html>",
        &page[start..end]
    )
}

#[test]
fn chromium_renders_a_signed_cover_and_a_chart_per_scenario() {
    let dir = std::env::temp_dir().join(format!("hwconform-cover-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let stdout = signed_exec_run(&dir);
    let reports = dir.join("reports");
    let report = RunReport::load(&reports.join("run.json")).unwrap();
    let statement = report
        .statement
        .clone()
        .expect("the report states its result");
    assert_eq!(statement.failed, ["D4"], "{statement:?}");
    // The statement the cover shows ends the terminal summary and is in the JUnit file.
    assert!(
        stdout.ends_with(&format!("statement: {}\n", statement.text()))
            || stdout.contains(&format!("\nstatement: {}\n", statement.text())),
        "{stdout}"
    );
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&junit).expect("valid XML");
    let property = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("property") && n.attribute("name") == Some(name))
            .and_then(|n| n.attribute("value"))
            .map(str::to_string)
    };
    assert_eq!(
        property("hwconform.statement"),
        Some(statement.text()),
        "{junit}"
    );
    assert_eq!(
        property("hwconform.result").as_deref(),
        Some("does_not_conform")
    );
    assert!(!report.meta.sns.is_empty(), "the SN the device gave");
    let sha = report.meta.ics_file.clone().unwrap().sha256;
    let page_path = reports.join("report.html");
    let Some(browser) = chromium() else {
        if std::env::var_os("HWCONFORM_SKIP_BROWSER").is_some() {
            eprintln!("HWCONFORM_SKIP_BROWSER is set and no Chromium was found: the browser half of this test did not run");
            return;
        }
        panic!("no Chromium found: install it (Debian: `apt-get install chromium`), name it with HWCONFORM_CHROMIUM, or set HWCONFORM_SKIP_BROWSER=1");
    };
    let profile = dir.join("browser-profile");
    let url = format!("file://{}", page_path.display());
    let dom = browse(&browser, &profile, &["--dump-dom".into()], &url);
    let cover = dom
        .split("<section id=\"cover\">")
        .nth(1)
        .and_then(|c| c.split("</section>").next())
        .expect("the page has a cover");
    for shown in [
        "Acme Test Lab",
        "Ann Lab",
        "Acme",
        "DC-100",
        "2.3.1",
        &report.meta.sns[0],
        &sha,
        "examples/ics/door-controller.toml",
        &as_dom_text(&statement.text()),
    ] {
        assert!(
            cover.contains(shown),
            "the cover shows no `{shown}`:\n{cover}"
        );
    }
    assert!(
        cover.contains("<p id=\"statement\">does not conform: D4"),
        "{cover}"
    );
    // A device run lists the device's obligations; the cloud's are folded away.
    let matrix = dom.split("<section id=\"matrix\">").nth(1).unwrap();
    let folded = matrix.split("<details class=\"others\">").nth(1).unwrap();
    assert!(folded.contains("id=\"req-C1\"") && !folded.contains("id=\"req-D1\""));
    assert!(!matrix.contains("`cmd`"), "obligation texts are rendered");
    let all = articles(&dom);
    assert_eq!(all.len(), EXEC_SCENARIOS.len());
    for (id, body) in &all {
        let r = report.scenarios.iter().find(|r| &r.id == id).unwrap();
        let charts = body.matches("<figure class=\"chart\">").count();
        assert_eq!(
            charts,
            usize::from(!r.transcript.entries.is_empty()),
            "{id}: one chart"
        );
        // Each frame's JSON is in the page once: in the wire log, which the arrows link to.
        let frames = body.matches("<pre class=\"frame\">").count();
        let arrows = body.matches("<g class=\"frame").count();
        assert_eq!(frames, arrows, "{id}: an arrow per frame");
        let chart = body
            .split("<figure class=\"chart\">")
            .nth(1)
            .and_then(|c| c.split("</figure>").next())
            .unwrap_or("");
        assert!(!chart.contains("\"headers\""), "{id}: no JSON in the chart");
    }
    let (failed_id, failed) = all
        .iter()
        .find(|(id, _)| id == "device.lifecycle.register-first")
        .expect("the fault fails the register scenario");
    assert!(failed.contains("data-verdict=\"fail\""));
    let broken = failed
        .split("<g class=\"frame broken\">")
        .nth(1)
        .unwrap_or_else(|| panic!("{failed_id}: no frame is marked broken"));
    let broken = broken.split("</g>").next().unwrap();
    assert!(broken.contains(">register #"), "{broken}");
    // The arrow refers to the one copy of its frame's JSON: following it opens the wire log
    // at that entry (the register frame's JSON is there).
    let href = failed
        .split("<g class=\"frame broken\">")
        .next()
        .and_then(|before| before.rsplit("<a href=\"#").next())
        .and_then(|a| a.split('"').next())
        .expect("the broken arrow links somewhere");
    let linked = browse(
        &browser,
        &profile,
        &["--dump-dom".into()],
        &format!("{url}#{href}"),
    );
    let (_, linked) = articles(&linked)
        .into_iter()
        .find(|(id, _)| id == failed_id)
        .unwrap();
    let wire = linked
        .split("<details class=\"wire\"")
        .nth(1)
        .expect("a wire log");
    assert!(
        wire.starts_with(" open=\"\""),
        "the wire log opened: {wire}"
    );
    assert!(
        dom.contains("<pre class=\"frame-tip\" hidden=\"\"></pre>"),
        "the hover's tooltip is ready (the script ran)"
    );
    let entry = wire
        .split(&format!("id=\"{href}\""))
        .nth(1)
        .and_then(|e| e.split("</li>").next())
        .expect("the entry the arrow links to");
    assert!(entry.contains("\"cmd\": \"register\""), "{entry}");
    assert!(
        failed.contains("✗ the request did not match: at `body.device_signature`"),
        "the finding is written beside it"
    );
    // The device's log, in place: a note in the chart and a line of the wire log, before the
    // frame it came before.
    let (chart, wire) = failed.split_once("</figure>").unwrap();
    let booting = format!("DC-100 fw 2.3.1 booting sn={}", report.meta.sns[0]);
    assert!(
        chart.contains(&format!("[device stderr] {booting}</text>")),
        "{chart}"
    );
    let logged = wire
        .find(&format!("<code>{booting}</code>"))
        .expect("the log line is in the wire log");
    let register = wire
        .find("target sent `register`")
        .expect("the register frame");
    assert!(logged < register, "the device booted before it registered");

    // Screenshots: the cover, and the chart of the failed scenario; PNGs a browser made.
    let images = match std::env::var_os("HWCONFORM_DOC_IMAGES") {
        Some(_) => common::repo().join("docs/src/images"),
        None => dir.join("images"),
    };
    std::fs::create_dir_all(&images).unwrap();
    let chart_page = dir.join("chart.html");
    std::fs::write(
        &chart_page,
        article_page(&std::fs::read_to_string(&page_path).unwrap(), failed_id),
    )
    .unwrap();
    for (name, url, size) in [
        ("cover.png", url.clone(), "1100,900"),
        (
            "sequence-chart.png",
            format!("file://{}", chart_page.display()),
            "1100,900",
        ),
    ] {
        let shot = images.join(name);
        browse(
            &browser,
            &profile,
            &[
                format!("--screenshot={}", shot.display()),
                format!("--window-size={size}"),
                "--hide-scrollbars".into(),
            ],
            &url,
        );
        let png = std::fs::read(&shot).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is a PNG");
        assert_eq!(
            &png[16..24],
            [0, 0, 4, 76, 0, 0, 3, 132],
            "{name} is 1100×900 (its IHDR)"
        );
        // A blank 1100×900 page compresses to a few KB; text, lanes and arrows do not.
        assert!(
            png.len() > 20 * 1024,
            "{name} looks blank: {} bytes",
            png.len()
        );
        assert!(png.len() < 300 * 1024, "{name} is {} bytes", png.len());
    }
    // Printed to PDF through the print stylesheet.
    let pdf = dir.join("report.pdf");
    browse(
        &browser,
        &profile,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
        &url,
    );
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF"), "a PDF");
    std::fs::remove_dir_all(&dir).unwrap();
}
