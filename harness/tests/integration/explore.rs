//! Property-based exploration finds real bugs: against the mock with each rule switched off
//! and the reference device with each fault, `explore` finds a failure within its default
//! budget, and the regression it writes fails again against the same faulty target and
//! passes against the conformant one. Against the conformant mock and device it finds
//! nothing, nor against any conformant variant of the device (another choice the protocol
//! allows). The measured cases and times per fault are printed (`--nocapture`), as the
//! README's table shows them.

use crate::common;

use hwconform::check::explore::{
    explore, ExploreOptions, ExploreOutcome, ExploreTarget, Explorer, Finding,
};
use hwconform::engine::runner::RunConfig;
use hwconform::engine::Verdict;
use hwconform::scenario::load_file;
use hwconform::targets::mock::MockRule;
use hwconform::targets::mock_cloud::MockCloudTarget;
use hwconform::targets::sim::{SimFault, SimVariant};
use hwconform::targets::CloudChoice;
use hwconform::targets::DeviceChoice;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hwconform-explore-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The default budget (cases, time, seed), writing regressions to `out`.
fn options(out: PathBuf) -> ExploreOptions {
    ExploreOptions {
        out,
        ..ExploreOptions::for_profile(hwconform::profile::default_profile())
    }
}

fn mock(rules: &[MockRule]) -> CloudChoice {
    CloudChoice::Mock(MockCloudTarget {
        disabled_rules: rules.iter().copied().collect(),
        ..MockCloudTarget::default()
    })
}

fn sim(faults: &[SimFault]) -> DeviceChoice {
    DeviceChoice::Sim {
        faults: faults.iter().copied().collect::<BTreeSet<_>>(),
        variants: BTreeSet::new(),
    }
}

/// Runs the written regression file against `target`.
fn rerun(f: &Finding, target: &ExploreTarget) -> Verdict {
    let sc = load_file(&f.path).unwrap_or_else(|e| {
        panic!(
            "the regression {} does not load:\n{}",
            f.path.display(),
            e.render()
        )
    });
    assert_eq!(
        std::fs::read_to_string(&f.path).unwrap(),
        f.text,
        "the file is the text that ran"
    );
    let config = match target {
        ExploreTarget::Cloud(c) => RunConfig {
            cloud: Some(c.build(hwconform::profile::CloudTimings::FAQ)),
            device: None,
            ..hwconform::targets::defaults()
        },
        ExploreTarget::Device(d) => RunConfig {
            cloud: None,
            device: Some(d.build()),
            ..hwconform::targets::defaults()
        },
    };
    common::run_library(&[sc], config).remove(0).verdict
}

/// One row of the measurements table.
fn row(name: &str, f: &Finding) -> String {
    format!(
        "| `{name}` | {} | {:.2} s | {:.2} s | {} | {} |",
        f.case,
        f.time_to_find.as_secs_f64(),
        f.shrink_time.as_secs_f64(),
        f.actions,
        f.requirements.join(", ")
    )
}

/// Explores every broken target, checks each finding and its regression, prints the table.
fn find_all(what: &str, broken: Vec<(String, ExploreTarget)>, conformant: ExploreTarget) {
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (name, target) in broken {
        let explorer =
            Explorer::new(target.clone(), options(out_dir(&name))).expect("the explorer starts");
        match explorer.run().expect("exploration runs") {
            ExploreOutcome::Clean { cases, elapsed, .. } => {
                problems.push(format!(
                    "{name}: nothing found in {cases} cases ({:.1}s)",
                    elapsed.as_secs_f64()
                ));
            }
            ExploreOutcome::Found(f) => {
                rows.push(row(&name, &f));
                // A regression file is shared like a scenario: the fleet's credentials (which
                // the run used at every login) must not be in it.
                let fleet = hwconform::profile::fleet::Fleet::default_fleet();
                let credentials = fleet
                    .devices
                    .iter()
                    .map(|d| d.identity.secret_no.expose().to_string())
                    .chain(fleet.seed_secret_no.iter().map(|s| s.expose().to_string()));
                for c in credentials {
                    if f.text.contains(&c) {
                        problems.push(format!("{name}: the regression file shows a SecretNo"));
                    }
                }
                if !f.reproduced {
                    problems.push(format!(
                        "{name}: the written regression did not fail when run from its final text"
                    ));
                }
                if !rerun(&f, &target).is_bad() {
                    problems.push(format!(
                        "{name}: {} passes against the faulty target",
                        f.path.display()
                    ));
                }
                let clean = rerun(&f, &conformant);
                if clean != Verdict::Pass {
                    problems.push(format!(
                        "{name}: {} does not pass against the conformant target: {clean:?}\n{}",
                        f.path.display(),
                        f.text
                    ));
                }
                let _ = std::fs::remove_dir_all(f.path.parent().unwrap());
            }
        }
    }
    eprintln!("\n{what}: cases and time to the first failure, then shrinking\n");
    eprintln!("| broken | cases | time to find | shrink | actions | requirements |\n|---|---|---|---|---|---|");
    for r in &rows {
        eprintln!("{r}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Mock rules explore's cloud model does not reach (none today; a rule added here needs its
/// reason and a scenario in the cloud mutation matrix that catches it).
const NOT_MODELLED: &[&str] = &[];

#[test]
fn every_mock_rule_switched_off_is_found_and_reproduced() {
    for name in NOT_MODELLED {
        assert!(
            MockRule::parse(name).is_some(),
            "{name} is no longer a mock rule: drop it from NOT_MODELLED"
        );
    }
    let broken = MockRule::ALL
        .iter()
        .filter(|r| !NOT_MODELLED.contains(&r.name()))
        .map(|r| (r.name().to_string(), ExploreTarget::Cloud(mock(&[*r]))))
        .collect();
    find_all(
        "mock rules switched off",
        broken,
        ExploreTarget::Cloud(mock(&[])),
    );
}

#[test]
fn every_sim_fault_is_found_and_reproduced() {
    let broken = SimFault::ALL
        .iter()
        .map(|f| (f.name().to_string(), ExploreTarget::Device(sim(&[*f]))))
        .collect();
    find_all(
        "reference device faults",
        broken,
        ExploreTarget::Device(sim(&[])),
    );
}

#[test]
fn conformant_targets_pass_the_default_budget() {
    for target in [
        ExploreTarget::Cloud(mock(&[])),
        ExploreTarget::Device(sim(&[])),
    ] {
        let dir = out_dir(&format!("clean-{}", target.slug()));
        match explore(&target, &options(dir.clone())).expect("exploration runs") {
            ExploreOutcome::Clean {
                cases,
                elapsed,
                out_of_time,
            } => {
                eprintln!(
                    "{}: {cases} cases, {:.1}s",
                    target.describe(),
                    elapsed.as_secs_f64()
                );
                assert!(
                    !out_of_time && cases == hwconform::check::explore::DEFAULT_CASES,
                    "{cases} cases"
                );
            }
            ExploreOutcome::Found(f) => panic!(
                "{} is conformant, yet explore failed at case {}: {}\n{}",
                target.describe(),
                f.case,
                f.failure.message,
                f.text
            ),
        }
        assert!(!dir.exists(), "nothing is written when nothing is found");
    }
}

/// A variant makes a choice the protocol leaves open (no contacts, a late sync, activating
/// again with a cached secret, reconnecting on 600045, ...): the model must accept it. Each
/// is explored with its own statement, as `--device sim:variant=NAME` does.
#[test]
fn every_sim_variant_passes_a_fixed_seed() {
    let profile = hwconform::profile::default_profile();
    let mut problems = Vec::new();
    for &v in SimVariant::ALL {
        let variants: BTreeSet<SimVariant> = [v].into();
        let target = ExploreTarget::Device(DeviceChoice::Sim {
            faults: BTreeSet::new(),
            variants: variants.clone(),
        });
        let dir = out_dir(&format!("variant-{}", v.name()));
        // Seed 7 draws a 600045 to subscribe_corp by case 31 (the default seed only by 126).
        let mut opts = ExploreOptions {
            cases: 96,
            seed: 7,
            ..options(dir.clone())
        };
        opts.ics = Some(Arc::new(SimVariant::reference_statement(
            &variants,
            &opts.fleet,
            &*profile,
        )));
        match explore(&target, &opts).expect("exploration runs") {
            ExploreOutcome::Clean {
                cases, out_of_time, ..
            } => assert!(!out_of_time && cases == 96, "{}: {cases} cases", v.name()),
            ExploreOutcome::Found(f) => problems.push(format!(
                "{}: case {} failed: {}\n{}",
                v.name(),
                f.case,
                f.failure.message,
                f.text
            )),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        problems.is_empty(),
        "conformant variants failed:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_same_seed_explores_the_same_cases() {
    let target = ExploreTarget::Device(sim(&[SimFault::IgnoreInterval]));
    let a = explore(&target, &options(out_dir("seed-a"))).unwrap();
    let b = explore(&target, &options(out_dir("seed-b"))).unwrap();
    match (a, b) {
        (ExploreOutcome::Found(a), ExploreOutcome::Found(b)) => {
            assert_eq!((a.case, a.actions), (b.case, b.actions));
            let body = |t: &str| {
                t.lines()
                    .skip_while(|l| *l != "steps:")
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            assert_eq!(body(&a.text), body(&b.text), "same seed, same regression");
        }
        other => panic!("expected two findings, got {other:?}"),
    }
}

fn hwconform(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hwconform"))
        .args(args)
        .output()
        .expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn cli_exit_codes_and_rerunning_a_regression() {
    let dir = out_dir("cli");
    let out = dir.to_str().unwrap();
    let (code, text) = hwconform(&[
        "explore", "--cloud", "mock", "--cases", "5", "--seed", "7", "--out", out,
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("seed 7") && text.contains("no failure in 5 cases"),
        "{text}"
    );
    assert_eq!(hwconform(&["explore"]).0, 2, "a target is required");
    assert_eq!(
        hwconform(&["explore", "--cloud", "mock", "--device", "sim"]).0,
        2
    );
    assert_eq!(hwconform(&["explore", "--device", "sim:fault=nope"]).0, 2);
    assert_eq!(hwconform(&["explore", "--cloud", "http://x"]).0, 2);
    assert_eq!(
        hwconform(&["explore", "--cloud", "mock", "--time", "soon"]).0,
        2
    );

    let (code, text) = hwconform(&[
        "explore",
        "--device",
        "sim:fault=two-connections",
        "--cases",
        "20",
        "--out",
        out,
    ]);
    assert_eq!(code, 1, "{text}");
    let file = dir.join(format!(
        "sim-two-connections-seed-{}.yaml",
        hwconform::check::explore::DEFAULT_SEED
    ));
    assert!(
        text.contains(&file.display().to_string()) && text.contains("D22"),
        "{text}"
    );
    let file = file.to_str().unwrap();
    let reports = dir.join("reports");
    let reports = reports.to_str().unwrap();
    let (code, text) = hwconform(&[
        "run",
        file,
        "--device",
        "sim:fault=two-connections",
        "--reports",
        reports,
    ]);
    assert_eq!(
        code, 1,
        "the regression fails against the faulty device:\n{text}"
    );
    let (code, text) = hwconform(&["run", file, "--device", "sim", "--reports", reports]);
    assert_eq!(code, 0, "and passes against the conformant one:\n{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
