//! A link's two results: the device judged by its monitors, the cloud by its.

use super::link::{lock, Link};
use crate::engine::verdict::{Failure, Judged, ScenarioResult, Verdict};
use crate::scenario::Role;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// An SN as it may stand in a result id.
pub(super) fn id_safe(sn: &str) -> String {
    sn.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The link's two results: the device judged by its monitors, the cloud by its.
pub(super) fn results(link: &Link, wall: Instant, error: Option<String>) -> Vec<ScenarioResult> {
    link.sweep(&link.device, true);
    link.sweep(&link.cloud, true);
    let sn = lock(&link.sn).clone();
    let who = sn.as_deref().unwrap_or("unknown");
    let profile = &link.ctx.profile;
    [
        (
            &link.device,
            Role::Cloud,
            format!("the device {who} on link {}", link.n),
        ),
        (
            &link.cloud,
            Role::Device,
            format!(
                "the cloud {} with device {who} on link {}",
                link.ctx.upstream.endpoint.url, link.n
            ),
        ),
    ]
    .into_iter()
    .map(|(view, role, title)| {
        let spoke = view.spoke.load(Ordering::SeqCst);
        let capped = link.capped.get();
        let steps = match (&error, spoke) {
            (Some(why), _) => Verdict::Error(Failure::new(why.clone())),
            (None, _) if capped.is_some() => {
                Verdict::Inconclusive(Failure::new(capped.cloned().unwrap_or_default()))
            }
            (None, true) => Verdict::Pass,
            (None, false) => Verdict::Inconclusive(Failure::new(format!(
                "the {} sent no frame to judge",
                view.judged.name()
            ))),
        };
        let mut requirements: Vec<String> = Vec::new();
        let here = lock(&view.judged_here).clone();
        for r in lock(&view.monitor).exercised().into_iter().chain(here) {
            if !requirements.iter().any(|x| x == r) {
                requirements.push(r.to_string());
            }
        }
        let mut r = ScenarioResult {
            id: format!(
                "observe.{:03}.{}.{}",
                link.n,
                id_safe(who),
                view.judged.name()
            ),
            title,
            file: std::path::PathBuf::from(format!("observe/{}", link.conn)),
            role,
            requirements,
            tags: vec!["observe".into()],
            verdict: steps.clone(),
            findings: lock(&view.findings).clone(),
            obligations: BTreeMap::new(),
            not_reached: BTreeMap::new(),
            wall_time: wall.elapsed(),
            scenario_time: view.rec.now(),
            transcript: view.rec.take(),
            // A capped transcript is not the conversation: judged again, its end would look
            // like a silence. `rejudge` keeps it as recorded.
            judged: (error.is_none() && capped.is_none()).then(|| Judged {
                steps: None,
                in_process: false,
                reference: false,
                strict_codes: false,
                swept: Some(view.swept.load(Ordering::SeqCst)),
                seeded: None,
            }),
        };
        r.conclude(&|id| profile.binding(id));
        if let Some(j) = &mut r.judged {
            j.steps = Some(steps).filter(|s| *s != r.verdict);
        }
        r
    })
    .collect()
}
