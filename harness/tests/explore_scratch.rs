use hwconform::check::explore::*;
use hwconform::engine::runner::CloudTarget;
use hwconform::engine::target::MockTarget;
use hwconform::targets::mock::MockRule;
use std::collections::BTreeSet;

#[test]
fn scratch() {
    let rules: Vec<MockRule> = match std::env::var("RULES") { Ok(r) => r.split(',').filter_map(MockRule::parse).collect(), Err(_) => MockRule::ALL.to_vec() };
    for rule in rules {
        let t = ExploreTarget::Cloud(CloudTarget::Mock(MockTarget { disabled_rules: BTreeSet::from([rule]), ..MockTarget::default() }));
        let o = ExploreOptions { out: "/tmp/xp".into(), ..ExploreOptions::default() };
        let started = std::time::Instant::now();
        match explore(&t, &o).unwrap() {
            ExploreOutcome::Clean { cases, .. } => eprintln!("{:28} NOT FOUND in {cases} cases {:?}", rule.name(), started.elapsed()),
            ExploreOutcome::Found(f) => eprintln!("{:28} case {:4} find {:6.2}s shrink {:6.2}s runs {:4} actions {} repro {} reqs {:?}: {}", rule.name(), f.case, f.time_to_find.as_secs_f64(), f.shrink_time.as_secs_f64(), f.runs, f.actions, f.reproduced, f.requirements, f.failure.message.chars().take(100).collect::<String>()),
        }
    }
}
