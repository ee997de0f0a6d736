//! The explorer: proptest's `TestRunner` draws action sequences from the target's strategy,
//! each becomes scenario text that is loaded and run like any scenario file, and the first
//! failing sequence is shrunk (actions removed and simplified) to a minimal one, written as a
//! regression scenario and run once more from its final text to show that it reproduces.

use super::writer::{wrap, Header, Rendered, Steps};
use super::{ExploreError, ExploreOptions, ExploreOutcome, ExploreTarget, Finding};
use crate::engine::runner::{RunConfig, Runner};
use crate::engine::{RunEvent, ScenarioResult, Verdict};
use crate::profile::CloudTimings;
use crate::scenario::load_str;
use proptest::strategy::BoxedStrategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::cell::RefCell;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One side of the wire the explorer can play: its action alphabet, how a sequence becomes
/// steps, and the scenario's fixed keys.
pub(super) trait Side {
    type Action: Clone + Debug + 'static;
    fn strategy(&self) -> BoxedStrategy<Vec<Self::Action>>;
    /// The steps (and `requires`, extra top-level lines, scenario duration) for `actions`.
    fn generate(&self, actions: &[Self::Action]) -> Body;
}

/// What a side generates for one sequence.
pub(super) struct Body {
    pub steps: Steps,
    pub role: &'static str,
    pub requires: Vec<&'static str>,
    pub extra: Vec<String>,
    pub duration_s: u64,
}

/// What a failing run showed.
#[derive(Clone)]
struct Failed {
    result: ScenarioResult,
    text: String,
}

#[derive(Default)]
struct State {
    /// Cases drawn before the first failure (the failing one included).
    cases: u32,
    found_at: Option<(u32, Duration)>,
    runs: u32,
    last_failure: Option<Failed>,
    fatal: Option<ExploreError>,
    out_of_time: bool,
}

/// Runs one exploration for a target (see [`super::Explorer`]).
pub(super) struct Engine<'a> {
    pub target: &'a ExploreTarget,
    pub options: &'a ExploreOptions,
    pub runner: &'a Runner,
    pub slug: &'a str,
}

impl Engine<'_> {
    fn id(&self) -> String {
        format!("regression.{}.seed-{}", self.slug, self.options.seed)
    }

    fn file_name(&self) -> String {
        format!("{}-seed-{}.yaml", self.slug, self.options.seed)
    }

    fn render(&self, body: &Body, title: &str, description: &str, involved: &[String]) -> Rendered {
        let header = Header {
            id: self.id(),
            title: title.to_string(),
            description: description.to_string(),
            role: body.role,
            requires: body.requires.clone(),
            extra: body.extra.clone(),
            deadline_s: (body.duration_s + 600).max(600),
        };
        let mut reqs: Vec<String> = involved.to_vec();
        for r in body.steps.requirements() {
            if !reqs.iter().any(|x| x == r) {
                reqs.push(r.to_string());
            }
        }
        if reqs.is_empty() {
            reqs.push(if body.role == "device" {
                "C1".into()
            } else {
                "D1".into()
            });
        }
        let reqs: Vec<&str> = reqs.iter().map(String::as_str).collect();
        body.steps.render(&*self.options.profile, &header, &reqs)
    }

    /// Loads `text` as a scenario file and runs it against the target.
    fn run_text(&self, text: &str) -> Result<ScenarioResult, ExploreError> {
        let path = self.options.out.join(self.file_name());
        let sc = load_str(&path, text).map_err(|e| ExploreError::Generated {
            diagnostics: e.render(),
            text: text.to_string(),
        })?;
        let mut out = None;
        self.runner
            .run(std::slice::from_ref(&sc), |e| {
                if let RunEvent::ScenarioFinished { result, .. } = e.kind {
                    out = Some(std::sync::Arc::unwrap_or_clone(result));
                }
            })
            .map_err(|e| ExploreError::Run(e.to_string()))?;
        out.ok_or_else(|| ExploreError::Run("the runner reported no result".into()))
    }

    pub fn explore<S: Side>(&self, side: &S) -> Result<ExploreOutcome, ExploreError> {
        let started = Instant::now();
        let deadline = started + self.options.time;
        let config = Config {
            cases: self.options.cases.max(1),
            failure_persistence: None,
            max_shrink_time: self
                .options
                .shrink_time
                .as_millis()
                .min(u128::from(u32::MAX)) as u32,
            max_shrink_iters: 4096,
            ..Config::default()
        };
        let mut rng_seed = [0u8; 32];
        for (i, chunk) in rng_seed.chunks_mut(8).enumerate() {
            chunk
                .copy_from_slice(&splitmix(self.options.seed.wrapping_add(i as u64)).to_le_bytes());
        }
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed));
        let state = RefCell::new(State::default());
        let exploring = "explored sequence";
        let result = runner.run(&side.strategy(), |actions| {
            {
                let mut st = state.borrow_mut();
                if st.fatal.is_some() {
                    return Ok(());
                }
                if st.found_at.is_none() {
                    if Instant::now() >= deadline {
                        st.out_of_time = true;
                        return Ok(());
                    }
                    st.cases += 1;
                }
                st.runs += 1;
            }
            let body = side.generate(&actions);
            let text = self.render(&body, exploring, "", &[]).text;
            let result = match self.run_text(&text) {
                Ok(r) => r,
                Err(e) => {
                    state.borrow_mut().fatal = Some(e);
                    return Ok(());
                }
            };
            match &result.verdict {
                Verdict::Fail(f) | Verdict::Error(f) => {
                    let message = f.message.clone();
                    let mut st = state.borrow_mut();
                    if st.found_at.is_none() {
                        st.found_at = Some((st.cases, started.elapsed()));
                    }
                    st.last_failure = Some(Failed {
                        result: result.clone(),
                        text,
                    });
                    Err(TestCaseError::fail(message))
                }
                Verdict::Skip { reason } => {
                    state.borrow_mut().fatal = Some(ExploreError::Skipped(reason.clone()));
                    Ok(())
                }
                // Nothing proven against the target, or a deviation that binds it not.
                Verdict::Pass
                | Verdict::Manual { .. }
                | Verdict::Inconclusive(_)
                | Verdict::Warn(_) => Ok(()),
            }
        });
        let st = state.into_inner();
        if let Some(e) = st.fatal {
            return Err(e);
        }
        let minimal = match result {
            Ok(()) => {
                return Ok(ExploreOutcome::Clean {
                    cases: st.cases,
                    elapsed: started.elapsed(),
                    out_of_time: st.out_of_time,
                })
            }
            Err(TestError::Fail(_, minimal)) => minimal,
            Err(TestError::Abort(why)) => {
                return Err(ExploreError::Run(format!("proptest gave up: {why}")))
            }
        };
        let (case, time_to_find) = st.found_at.unwrap_or((st.cases, started.elapsed()));
        let shrunk_in = started.elapsed().saturating_sub(time_to_find);
        self.write_regression(
            side,
            &minimal,
            st.last_failure,
            case,
            time_to_find,
            shrunk_in,
            st.runs,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn write_regression<S: Side>(
        &self,
        side: &S,
        minimal: &[S::Action],
        last: Option<Failed>,
        case: u32,
        time_to_find: Duration,
        shrunk_in: Duration,
        runs: u32,
    ) -> Result<ExploreOutcome, ExploreError> {
        let body = side.generate(minimal);
        // First the failure as the shrunk sequence showed it (its text has the short header),
        // then the final text with the failure described, run once more.
        let probe_text = self.render(&body, "explored sequence", "", &[]).text;
        let probe = match last.filter(|l| l.text == probe_text) {
            Some(l) => l.result,
            None => self.run_text(&probe_text)?,
        };
        let failure = match &probe.verdict {
            Verdict::Fail(f) | Verdict::Error(f) => f.clone(),
            other => {
                return Err(ExploreError::Run(format!(
                "the shrunk sequence no longer fails (verdict {}): the target is not deterministic",
                other.name()
            )))
            }
        };
        let probe_rendered = self.render(&body, "explored sequence", "", &[]);
        let involved = involved(&*self.options.profile, &failure, &probe_rendered);
        let steps = body.steps.len();
        let mut title = format!("{}: {}", involved.join(", "), first_line(&failure.message));
        if title.chars().count() > 110 {
            title = title.chars().take(107).collect::<String>() + "...";
        }
        let where_ = match (&failure.step, &failure.step_kind) {
            (Some(s), Some(k)) => format!("step {s} ({k})"),
            _ => "an always-on check".to_string(),
        };
        let mut description = format!(
            "Found by `hwconform explore` against {} with seed {}: case {case} failed and was shrunk to {} actions ({steps} steps).",
            self.target.describe(),
            self.options.seed,
            minimal.len(),
        );
        description.push_str(&format!(
            "\nWhat failed: {where_}: {}",
            failure.message.replace('\n', " ")
        ));
        if let (Some(e), Some(a)) = (&failure.expected, &failure.actual) {
            let (e, a) = (one_line(e), one_line(a));
            if !failure.message.contains(&e) || !failure.message.contains(&a) {
                description.push_str(&format!("\nExpected {e}, got {a}."));
            }
        }
        description.push_str(&format!(
            "\nRequirements involved: {}.",
            involved.join(", ")
        ));
        description.push_str(&format!(
            "\nRe-run: hwconform run {} {}",
            self.display_path().display(),
            self.target.run_options()
        ));
        // What a target sent lands in the title and the description: scrubbed of every
        // credential of the run (the fleet's, and any the wire taught).
        let scrub = self.runner.credentials().all();
        let title = scrub.redact_text(&title);
        let description = scrub.redact_text(&wrap(&description, 92));
        let rendered = self.render(&body, &title, &description, &involved);
        let result = self.run_text(&rendered.text)?;
        let reproduced = result.verdict.is_bad();
        let (verdict, mut failure) = match &result.verdict {
            Verdict::Fail(f) | Verdict::Error(f) => (result.verdict.clone(), f.clone()),
            _ => (probe.verdict.clone(), failure),
        };
        // Shown on the terminal.
        failure.message = scrub.redact_text(&failure.message);
        failure.expected = failure.expected.map(|e| scrub.redact_text(&e));
        failure.actual = failure.actual.map(|a| scrub.redact_text(&a));
        std::fs::create_dir_all(&self.options.out).map_err(|source| ExploreError::Write {
            path: self.options.out.clone(),
            source,
        })?;
        let path = self.options.out.join(self.file_name());
        std::fs::write(&path, &rendered.text).map_err(|source| ExploreError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(ExploreOutcome::Found(Box::new(Finding {
            path,
            text: rendered.text,
            verdict,
            failure,
            requirements: involved,
            case,
            actions: minimal.len(),
            steps,
            time_to_find,
            shrink_time: shrunk_in,
            runs,
            reproduced,
        })))
    }

    fn display_path(&self) -> PathBuf {
        Path::new(&self.options.out).join(self.file_name())
    }
}

/// The requirement ids a failure involves: the rule an always-on check names, else those
/// of the step at the failing line.
fn involved(
    profile: &dyn crate::profile::Profile,
    f: &crate::engine::Failure,
    rendered: &Rendered,
) -> Vec<String> {
    if let Some(rule) = &f.rule {
        return vec![rule.clone()];
    }
    // A monitor failure folded into a step failure starts with its rule: `D13: ...`.
    if let Some((head, _)) = f.message.split_once(':') {
        if profile.is_obligation(head.trim()) {
            return vec![head.trim().to_string()];
        }
    }
    let reqs = f
        .line
        .and_then(|l| rendered.at_line(l))
        .map(|(_, r)| r)
        .unwrap_or_default();
    if reqs.is_empty() {
        vec![if rendered.text.contains("role: cloud") {
            "D1".into()
        } else {
            "C1".into()
        }]
    } else {
        reqs.into_iter().map(str::to_string).collect()
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

fn one_line(s: &str) -> String {
    let joined = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 200 {
        joined.chars().take(197).collect::<String>() + "..."
    } else {
        joined
    }
}

/// SplitMix64: spreads a small seed over the RNG's 32 bytes.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A run configuration for one target: one scenario at a time, no golden files.
pub(super) fn run_config(target: &ExploreTarget, options: &ExploreOptions) -> RunConfig {
    let (cloud, device) = match target {
        ExploreTarget::Cloud(c) => (Some(c.build(CloudTimings::FAQ)), None),
        ExploreTarget::Device(d) => (None, Some(d.build())),
    };
    RunConfig {
        cloud,
        device,
        fleet: options.fleet.clone(),
        jobs: 1,
        device_reset: options.device_reset.clone(),
        remedies: std::sync::Arc::new(crate::targets::remedies()),
        profile: options.profile.clone(),
        ..RunConfig::default()
    }
}
