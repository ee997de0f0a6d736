//! Service-level objectives (`--slo 'login.p99<2s,errors<0.1%'`): each compares one figure
//! of the report with a bound; a missed one makes `hwconform fleet` exit 1.

use super::report::{Figures, SloOutcome};
use crate::profile::Profile;
use crate::scenario::expr::parse_duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Op {
    fn holds(self, actual: f64, bound: f64) -> bool {
        match self {
            Op::Lt => actual < bound,
            Op::Le => actual <= bound,
            Op::Gt => actual > bound,
            Op::Ge => actual >= bound,
            Op::Eq => actual == bound,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Metric {
    /// `<cmd>.p50|p90|p99|max`, or `login.…` for the time to log in; milliseconds.
    Latency { cmd: String, figure: String },
    /// Error replies and unanswered requests, percent of requests.
    Errors,
    /// Devices logged in at the end, percent of devices.
    LoggedIn,
    /// Devices that never connected: a count, or percent of devices.
    NeverConnected { percent: bool },
    /// A count or rate of the report.
    Count(&'static str),
}

const COUNTS: &[&str] = &[
    "breaks",
    "reconnects",
    "logins",
    "dial_failures",
    "lost_by_cloud",
    "logins_per_s",
    "unanswered",
];

/// The figures of a latency histogram.
const LATENCY_FIGURES: &[&str] = &["p50", "p90", "p99", "max"];

/// Every figure an objective may name, for an error message: all are known before the fleet
/// runs, so a misspelt one stops it at once instead of failing it at the end.
fn known_figures(profile: &dyn Profile) -> String {
    let commands = profile.device_commands();
    format!(
        "known figures: login.{lat} (time to log in), CMD.{lat} (a request's round trip; CMD one of {}), errors (%), logged_in (%), never_connected (a count or %), {}",
        commands.join(", "),
        COUNTS.join(", "),
        lat = LATENCY_FIGURES.join("|"),
    )
}

/// One objective.
#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    text: String,
    metric: Metric,
    op: Op,
    bound: f64,
}

/// Parses a comma-separated list of objectives; the round-trip figures are those of
/// `profile`'s device commands.
pub fn parse(text: &str, profile: &dyn Profile) -> Result<Vec<Objective>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|t| parse_one(t, profile))
        .collect()
}

fn parse_one(text: &str, profile: &dyn Profile) -> Result<Objective, String> {
    let at = text.find(['<', '>', '=']).ok_or_else(|| {
        format!("{text:?}: expected METRIC<VALUE (or <=, >, >=, ==), e.g. login.p99<2s")
    })?;
    let (name, rest) = text.split_at(at);
    let (op, value) = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .iter()
    .find_map(|(s, op)| rest.strip_prefix(s).map(|v| (*op, v.trim())))
    .ok_or_else(|| format!("{text:?}: unknown comparison (expected <, <=, >, >= or ==)"))?;
    let name = name.trim();
    let percent = |v: &str| -> Result<f64, String> {
        v.strip_suffix('%')
            .ok_or_else(|| format!("{text:?}: {name} is a percentage (e.g. 0.1%)"))?
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("{text:?}: {v:?} is not a number"))
    };
    let (metric, bound) = match name {
        "errors" => (Metric::Errors, percent(value)?),
        "logged_in" => (Metric::LoggedIn, percent(value)?),
        "never_connected" => match value.strip_suffix('%') {
            Some(_) => (Metric::NeverConnected { percent: true }, percent(value)?),
            None => (
                Metric::NeverConnected { percent: false },
                value
                    .parse::<f64>()
                    .map_err(|_| format!("{text:?}: {value:?} is not a number"))?,
            ),
        },
        n if COUNTS.contains(&n) => {
            let count = COUNTS.iter().find(|c| **c == n).expect("listed");
            (
                Metric::Count(count),
                value
                    .parse::<f64>()
                    .map_err(|_| format!("{text:?}: {value:?} is not a number"))?,
            )
        }
        n => {
            let (cmd, figure) = n
                .rsplit_once('.')
                .filter(|(cmd, _)| {
                    *cmd == "login" || profile.device_commands().iter().any(|c| c == cmd)
                })
                .ok_or_else(|| {
                    format!("{text:?}: unknown figure {n:?}; {}", known_figures(profile))
                })?;
            if !LATENCY_FIGURES.contains(&figure) {
                return Err(format!(
                    "{text:?}: {figure:?} is not a latency figure (p50, p90, p99 or max)"
                ));
            }
            let d = parse_duration(value)
                .map_err(|_| format!("{text:?}: {value:?} is not a duration (e.g. 2s, 300ms)"))?;
            (
                Metric::Latency {
                    cmd: cmd.to_string(),
                    figure: figure.to_string(),
                },
                d.as_secs_f64() * 1000.0,
            )
        }
    };
    Ok(Objective {
        text: text.to_string(),
        metric,
        op,
        bound,
    })
}

/// Judges every objective on the figures.
pub fn judge(objectives: &[Objective], f: &Figures) -> Vec<SloOutcome> {
    objectives
        .iter()
        .map(|o| {
            let actual = match &o.metric {
                Metric::Latency { cmd, figure } => {
                    let l = if cmd == "login" {
                        Some(&f.login)
                    } else {
                        f.latency.get(cmd)
                    };
                    l.filter(|l| l.count > 0)
                        .and_then(|l| l.figure(figure))
                        .map(|ms| (ms, format!("{ms:.3} ms")))
                }
                Metric::Errors => (f.requests > 0).then(|| {
                    let p = 100.0 * (f.error_replies + f.unanswered) as f64 / f.requests as f64;
                    (
                        p,
                        format!(
                            "{p:.3}% ({} of {} requests)",
                            f.error_replies + f.unanswered,
                            f.requests
                        ),
                    )
                }),
                Metric::LoggedIn => (f.devices > 0).then(|| {
                    let p = 100.0 * f.logged_in_at_end as f64 / f.devices as f64;
                    (
                        p,
                        format!("{p:.2}% ({} of {} devices)", f.logged_in_at_end, f.devices),
                    )
                }),
                Metric::NeverConnected { percent } => {
                    let d = &f.accounting;
                    let why = if d.never_connected > 0 {
                        format!(": {}", d.never_connected_reasons())
                    } else {
                        String::new()
                    };
                    let shown = format!("{} of {} devices{why}", d.never_connected, f.devices);
                    match percent {
                        false => Some((d.never_connected as f64, shown)),
                        true => (f.devices > 0).then(|| {
                            let p = 100.0 * d.never_connected as f64 / f.devices as f64;
                            (p, format!("{p:.2}% ({shown})"))
                        }),
                    }
                }
                Metric::Count(name) => {
                    let v = match *name {
                        "breaks" => f.breaks.values().map(|b| b.count).sum::<u64>() as f64,
                        "reconnects" => f.reconnects as f64,
                        "logins" => f.logins as f64,
                        "dial_failures" => f.dial_failures as f64,
                        "lost_by_cloud" => f.lost_by_cloud as f64,
                        "unanswered" => f.unanswered as f64,
                        _ => f.logins_per_s,
                    };
                    Some((v, format!("{v}")))
                }
            };
            match actual {
                Some((v, shown)) => SloOutcome {
                    objective: o.text.clone(),
                    met: o.op.holds(v, o.bound),
                    actual: shown,
                },
                None => SloOutcome {
                    objective: o.text.clone(),
                    met: false,
                    actual: "no samples".into(),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::latency::{self, Latency};
    use rstest::rstest;
    use std::time::Duration;

    fn figures() -> Figures {
        let mut login = latency::histogram();
        for ms in 1..=1000 {
            latency::record(&mut login, Duration::from_millis(ms));
        }
        Figures {
            devices: 100,
            logged_in_at_end: 99,
            requests: 2000,
            error_replies: 1,
            unanswered: 1,
            logins: 100,
            login: Latency::of(&login),
            accounting: crate::fleet::report::Devices {
                connected: 98,
                never_connected: 2,
                never_connected_by: [("timed_out".to_string(), 2)].into(),
                ..Default::default()
            },
            ..Figures::default()
        }
    }

    #[rstest]
    #[case("login.p99<2s", true)]
    #[case("login.p99<500ms", false)]
    #[case("login.max<=1.01s", true)]
    #[case("errors<0.1%", false)]
    #[case("errors<=0.1%", true)]
    #[case("logged_in>=99%", true)]
    #[case("logged_in==100%", false)]
    #[case("breaks==0", true)]
    #[case("logins>100", false)]
    #[case("ping.p99<1s", false)]
    #[case("never_connected==0", false)]
    #[case("never_connected<=2", true)]
    #[case("never_connected<5%", true)]
    #[case("never_connected<1%", false)]
    fn objectives_are_judged(#[case] text: &str, #[case] met: bool) {
        let o = parse(text, &*crate::profile::default_profile()).unwrap();
        let outcome = &judge(&o, &figures())[0];
        assert_eq!(outcome.met, met, "{outcome:?}");
    }

    #[rstest]
    #[case("login.p99", "expected METRIC<VALUE")]
    #[case("login.p42<2s", "not a latency figure")]
    #[case("login.p99<fast", "not a duration")]
    #[case("errors<0.1", "is a percentage")]
    #[case("latency<2s", "unknown figure")]
    #[case("latency.p99<2s", "known figures: login.p50|p90|p99|max")]
    #[case("pong.p99<2s", "CMD one of get_secret_no")]
    #[case("breaks=<1", "unknown comparison")]
    #[case("never_connected<many", "is not a number")]
    fn bad_objectives_say_why(#[case] text: &str, #[case] says: &str) {
        let e = parse(text, &*crate::profile::default_profile()).unwrap_err();
        assert!(e.contains(says), "{e}");
    }

    #[test]
    fn lists_parse() {
        assert_eq!(
            parse(
                "login.p99<2s, errors<0.1%,",
                &*crate::profile::default_profile()
            )
            .unwrap()
            .len(),
            2
        );
    }
}
