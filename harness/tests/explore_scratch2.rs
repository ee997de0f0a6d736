use hwconform::check::explore::device::{self, DeviceModel, DeviceSetup};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

#[test]
fn gen_only() {
    let setup = DeviceSetup { device_control: true };
    let strat = proptest::collection::vec(device::action(setup), 1..=24);
    let mut runner = TestRunner::deterministic();
    for i in 0..300 {
        let v = strat.new_tree(&mut runner).unwrap().current();
        let v2 = v.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || { let g = DeviceModel::generate(setup, &v2); let _ = tx.send(g.steps.len()); });
        match rx.recv_timeout(std::time::Duration::from_secs(2)) {
            Ok(_) => {}
            Err(_) => { eprintln!("case {i} loops: {:?}", v); std::process::exit(1); }
        }
    }
}
