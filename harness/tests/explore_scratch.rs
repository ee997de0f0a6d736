use hwconform::check::explore::*;
use hwconform::engine::device_target::DeviceTarget;
use hwconform::targets::sim::SimFault;
use std::collections::BTreeSet;

#[test]
fn scratch_seeds() {
    let faults: Vec<SimFault> = match std::env::var("FAULTS") { Ok(r) => r.split(',').filter_map(SimFault::parse).collect(), Err(_) => SimFault::ALL.to_vec() };
    for fault in faults {
        let mut cases = Vec::new();
        for seed in 1..=12u64 {
            let t = ExploreTarget::Device(DeviceTarget::Sim { faults: BTreeSet::from([fault]) });
            let o = ExploreOptions { out: "/tmp/xs".into(), seed, shrink_time: std::time::Duration::from_millis(1), cases: 1000, ..ExploreOptions::default() };
            match explore(&t, &o).unwrap() { ExploreOutcome::Clean { .. } => cases.push(9999), ExploreOutcome::Found(f) => cases.push(f.case) }
        }
        cases.sort();
        eprintln!("{:24} {:?}", fault.name(), cases);
    }
}
