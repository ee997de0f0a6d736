//! Property-based exploration (`hwconform explore`): sequences nobody wrote down.
//!
//! The library's scenarios check each rule once, on the path their author thought of.
//! Exploration draws random sequences from a protocol model instead — requests valid, out of
//! order, repeated, with lost replies, IP changes and silences against a cloud; random
//! answers, errors with every kind of advice, lost replies, closes and pushes against a
//! device — and checks every reply or request against what the model predicts and against
//! the engine's always-on monitors. A failing sequence is shrunk by proptest to a minimal
//! one and written as an ordinary scenario file (`scenarios/regressions/`), so the finding
//! is re-run with `hwconform run FILE` like any other scenario.
//!
//! Modules: [`cloud`] and [`device`] (each an action alphabet with its strategy and the model
//! that turns a sequence into steps), `writer` (scenario text), `runner` (proptest, shrinking,
//! regressions); its command line is `crate::cli::explore`.
//!
//! Everything is seeded: the same seed and options draw the same cases, and in-process
//! targets run on the virtual clock, so a run (and its regression) is reproducible.

pub mod cloud;
pub mod device;
mod runner;
#[cfg(test)]
mod tests;
pub mod writer;

use crate::engine::runner::Runner;
use crate::engine::{Failure, Verdict};
use crate::profile::fleet::Fleet;
use crate::profile::{CloudTimings, Profile};
use crate::targets::{CloudChoice, DeviceChoice};
use proptest::strategy::{BoxedStrategy, Strategy};
use runner::{Body, Engine, Side};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The seed used when none is given: fixed, so CI explores the same cases every time.
pub const DEFAULT_SEED: u64 = 20240601;
/// Default bound on cases, and on the time spent drawing them.
pub const DEFAULT_CASES: u32 = 256;
pub const DEFAULT_TIME: Duration = Duration::from_secs(60);
/// Longest generated sequence (before shrinking).
pub const MAX_ACTIONS: usize = 24;

/// What to explore.
#[derive(Clone, Debug)]
pub enum ExploreTarget {
    /// A cloud: the harness plays devices.
    Cloud(CloudChoice),
    /// A device: the harness plays the cloud.
    Device(DeviceChoice),
}

impl ExploreTarget {
    pub fn describe(&self) -> String {
        match self {
            ExploreTarget::Cloud(c) => c.describe(),
            ExploreTarget::Device(d) => d.describe(),
        }
    }

    /// The `hwconform run` options that select the same target.
    pub fn run_options(&self) -> String {
        match self {
            ExploreTarget::Cloud(CloudChoice::Mock(m)) if m.disabled_rules.is_empty() => {
                "--cloud mock".into()
            }
            ExploreTarget::Cloud(CloudChoice::Mock(m)) => format!(
                "--cloud mock (with the test-only mock rules off: {})",
                m.disabled_rules
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ExploreTarget::Cloud(CloudChoice::Url { url, insecure, .. }) => {
                format!(
                    "--cloud {url}{}",
                    if *insecure { " --insecure" } else { "" }
                )
            }
            ExploreTarget::Device(d @ DeviceChoice::Sim { .. }) => {
                let arg = d.sim_arg().unwrap_or_default();
                if arg.contains(';') {
                    format!("--device '{arg}'")
                } else {
                    format!("--device {arg}")
                }
            }
            ExploreTarget::Device(DeviceChoice::Exec { command }) => {
                format!("--device 'exec:{command}'")
            }
            ExploreTarget::Device(DeviceChoice::Listen { addr }) => {
                format!("--device listen:{addr}")
            }
        }
    }

    /// A short name for file names and ids: `mock`, `sim-no-jitter`, `cloud-127-0-0-1-9000`.
    pub fn slug(&self) -> String {
        let raw = match self {
            ExploreTarget::Cloud(CloudChoice::Mock(m)) => std::iter::once("mock")
                .chain(m.disabled_rules.iter().map(|r| r.name()))
                .collect::<Vec<_>>()
                .join("-"),
            ExploreTarget::Cloud(CloudChoice::Url { url, .. }) => {
                format!(
                    "cloud-{}",
                    url.split("://").nth(1).unwrap_or(url).trim_end_matches('/')
                )
            }
            ExploreTarget::Device(DeviceChoice::Sim { faults, variants }) => std::iter::once("sim")
                .chain(variants.iter().map(|v| v.name()))
                .chain(faults.iter().map(|f| f.name()))
                .collect::<Vec<_>>()
                .join("-"),
            ExploreTarget::Device(DeviceChoice::Exec { .. }) => "exec".into(),
            ExploreTarget::Device(DeviceChoice::Listen { .. }) => "listen".into(),
        };
        let mut slug: String = raw
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        while slug.contains("--") {
            slug = slug.replace("--", "-");
        }
        slug.trim_matches('-').chars().take(80).collect()
    }
}

/// How much to explore and where findings go.
#[derive(Clone)]
pub struct ExploreOptions {
    /// The protocol explored: its obligations, features and windows.
    pub profile: Arc<dyn Profile>,
    pub seed: u64,
    /// At most this many cases...
    pub cases: u32,
    /// ...drawn within this time (shrinking a failure has its own bound).
    pub time: Duration,
    pub shrink_time: Duration,
    /// Where the regression scenario is written.
    pub out: PathBuf,
    pub fleet: Arc<Fleet>,
    /// Run before each case against a device (`--device-reset`).
    pub device_reset: Option<String>,
    /// The device's statement: only what it implements is pushed (`--ics`).
    pub ics: Option<Arc<crate::ics::Ics>>,
}

impl std::fmt::Debug for ExploreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExploreOptions")
            .field("profile", &self.profile.name())
            .field("seed", &self.seed)
            .field("cases", &self.cases)
            .field("time", &self.time)
            .field("shrink_time", &self.shrink_time)
            .field("out", &self.out)
            .field("fleet", &self.fleet)
            .field("device_reset", &self.device_reset)
            .field("ics", &self.ics)
            .finish()
    }
}

impl ExploreOptions {
    /// The default budget (cases, time, seed) for exploring `profile`'s protocol.
    pub fn for_profile(profile: Arc<dyn Profile>) -> Self {
        ExploreOptions {
            profile,
            seed: DEFAULT_SEED,
            cases: DEFAULT_CASES,
            time: DEFAULT_TIME,
            shrink_time: Duration::from_secs(30),
            out: PathBuf::from("scenarios/regressions"),
            fleet: Arc::new(Fleet::default_fleet()),
            device_reset: None,
            ics: None,
        }
    }
}

/// What an exploration came to.
#[derive(Debug)]
pub enum ExploreOutcome {
    /// Every case passed. `out_of_time`: the time bound ended the run before `cases`.
    Clean {
        cases: u32,
        elapsed: Duration,
        out_of_time: bool,
    },
    /// A case failed; it was shrunk and written as a regression.
    Found(Box<Finding>),
}

/// A failure found, shrunk and written.
#[derive(Debug)]
pub struct Finding {
    /// The regression scenario file.
    pub path: PathBuf,
    /// Its text: exactly what was run last.
    pub text: String,
    pub verdict: Verdict,
    pub failure: Failure,
    /// The obligation ids involved in the failure.
    pub requirements: Vec<String>,
    /// The case (1-based) that failed first.
    pub case: u32,
    /// Actions and steps of the shrunk sequence.
    pub actions: usize,
    pub steps: usize,
    /// Time until the first failure, and then spent shrinking.
    pub time_to_find: Duration,
    pub shrink_time: Duration,
    /// Scenarios run in all (cases and shrink attempts).
    pub runs: u32,
    /// Whether the written file failed again when run from its final text.
    pub reproduced: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ExploreError {
    #[error("the cloud target {url} is unusable: {reason}")]
    Target { url: String, reason: String },
    /// A bug of the explorer: it generated a scenario the loader refuses.
    #[error("the explorer generated a scenario that does not load:\n{diagnostics}\n--- scenario ---\n{text}")]
    Generated { diagnostics: String, text: String },
    #[error("the target skipped the generated scenario: {0}")]
    Skipped(String),
    #[error("the run failed to start: {0}")]
    Run(String),
    #[error("cannot write the regression to {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The side an explorer plays, with what it learned about its target.
enum Play {
    Cloud(cloud::CloudSetup),
    Device(device::DeviceSetup),
}

/// Explores one target; build it once and [`Explorer::run`] it (tests reuse one per target).
pub struct Explorer {
    target: ExploreTarget,
    options: ExploreOptions,
    runner: Runner,
    play: Play,
    slug: String,
}

struct CloudSide(cloud::CloudSetup);

impl Side for CloudSide {
    type Action = cloud::actions::CloudAction;
    fn strategy(&self) -> BoxedStrategy<Vec<Self::Action>> {
        proptest::collection::vec(cloud::action(self.0.caps), 1..=MAX_ACTIONS).boxed()
    }
    fn generate(&self, actions: &[Self::Action]) -> Body {
        let g = cloud::CloudModel::generate(self.0, actions);
        Body {
            steps: g.steps,
            role: "device",
            requires: g.requires,
            extra: Vec::new(),
            duration_s: g.duration_s,
        }
    }
}

struct DeviceSide(device::DeviceSetup);

impl Side for DeviceSide {
    type Action = device::actions::DeviceAction;
    fn strategy(&self) -> BoxedStrategy<Vec<Self::Action>> {
        proptest::collection::vec(device::action(self.0), 1..=MAX_ACTIONS).boxed()
    }
    fn generate(&self, actions: &[Self::Action]) -> Body {
        let g = device::DeviceModel::generate(self.0, actions);
        Body {
            steps: g.steps,
            role: "cloud",
            requires: g.requires,
            extra: g.extra,
            duration_s: g.duration_s,
        }
    }
}

impl Explorer {
    /// Learns what the target allows (a URL is probed once: does it accept harness control,
    /// what are its timers, can the harness pick source addresses).
    pub fn new(target: ExploreTarget, options: ExploreOptions) -> Result<Explorer, ExploreError> {
        let seed = options.fleet.seed_secret_no.is_some();
        let play = match &target {
            ExploreTarget::Cloud(choice) => {
                let target = choice.build(CloudTimings::FAQ);
                let err = |reason: String| ExploreError::Target {
                    url: target.describe(),
                    reason,
                };
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| err(e.to_string()))?;
                rt.block_on(target.prepare())
                    .map_err(|e| err(e.to_string()))?;
                let (caps, settings) = (target.capabilities(), target.settings());
                let settings = settings
                    .get::<CloudTimings>()
                    .copied()
                    .unwrap_or(CloudTimings::FAQ);
                let hb = settings.heartbeat_timeout.as_secs();
                Play::Cloud(cloud::CloudSetup {
                    caps: cloud::actions::Capabilities {
                        control: caps.control,
                        addresses: caps.source_addresses,
                        seed: seed && caps.control,
                        strict: caps.strict_codes,
                    },
                    // A cloud that does not report its timers promises only "1–2 minutes".
                    heartbeat: if caps.control { (hb, hb) } else { (60, 120) },
                    window: settings.subscribe_window.as_secs(),
                    limit: settings.subscribe_limit,
                })
            }
            ExploreTarget::Device(d) => Play::Device(device::DeviceSetup {
                device_control: d.build().capabilities().control,
                implemented: options.ics.as_deref().map_or_else(
                    || device::Implemented::all(&*options.profile),
                    |ics| device::Implemented::from_ics(ics, &*options.profile),
                ),
                timings: options.profile.timing_constants(),
            }),
        };
        let runner = Runner::new(runner::run_config(&target, &options));
        let slug = target.slug();
        Ok(Explorer {
            target,
            options,
            runner,
            play,
            slug,
        })
    }

    pub fn target(&self) -> &ExploreTarget {
        &self.target
    }

    pub fn options(&self) -> &ExploreOptions {
        &self.options
    }

    /// Draws cases until one fails (then shrinks it and writes the regression), the case
    /// bound is reached or the time bound passes.
    pub fn run(&self) -> Result<ExploreOutcome, ExploreError> {
        let engine = Engine {
            target: &self.target,
            options: &self.options,
            runner: &self.runner,
            slug: &self.slug,
        };
        match &self.play {
            Play::Cloud(setup) => engine.explore(&CloudSide(*setup)),
            Play::Device(setup) => engine.explore(&DeviceSide(*setup)),
        }
    }
}

/// Explores `target` with `options`: the library entry point (the CLI is a thin layer on it).
pub fn explore(
    target: &ExploreTarget,
    options: &ExploreOptions,
) -> Result<ExploreOutcome, ExploreError> {
    Explorer::new(target.clone(), options.clone())?.run()
}
