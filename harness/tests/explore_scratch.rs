use hwconform::check::explore::*;
use hwconform::engine::device_target::DeviceTarget;
use hwconform::engine::runner::CloudTarget;
use hwconform::engine::target::MockTarget;
use hwconform::targets::mock::MockRule;
use hwconform::targets::sim::SimFault;
use std::collections::BTreeSet;

fn seeds(name: &str, t: ExploreTarget) {
    let mut cases = Vec::new();
    for seed in 1..=12u64 {
        let o = ExploreOptions { out: "/tmp/xs".into(), seed, shrink_time: std::time::Duration::from_millis(1), cases: 1000, ..ExploreOptions::default() };
        match explore(&t, &o).unwrap() { ExploreOutcome::Clean { .. } => cases.push(9999), ExploreOutcome::Found(f) => cases.push(f.case) }
    }
    cases.sort();
    eprintln!("{:24} median {:4} max {:4} {:?}", name, cases[5], cases[11], cases);
}

#[test]
fn scratch_seeds() {
    for fault in SimFault::ALL { seeds(fault.name(), ExploreTarget::Device(DeviceTarget::Sim { faults: BTreeSet::from([*fault]) })); }
    for rule in MockRule::ALL { seeds(rule.name(), ExploreTarget::Cloud(CloudTarget::Mock(MockTarget { disabled_rules: BTreeSet::from([*rule]), ..MockTarget::default() }))); }
}
