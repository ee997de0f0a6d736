//! A business day, end to end: the reference device against the mock corp, in-process on the
//! virtual clock. A full pull of 1,000 users, incremental changes, a userid change, visitors,
//! check-ins while online and while offline (sent once the device is back), a remote open, a
//! firmware push and a log fetch; at each stage the device's directory equals the mock's, and
//! at the end every check-in arrived once.

use super::cloud::{config, START};
use crate::profile::fleet::{Fleet, FleetDevice};
use crate::profile::identity::DeviceIdentity;
use crate::targets::mock::corp::{CorpSeed, Template, User};
use crate::targets::mock::{MockCloud, MockConfig};
use crate::targets::sim::device::Device;
use crate::targets::sim::{run_device, Checkin, Dialer, SimControl};
use crate::wire::transport::{self, BoxIo, TransportError, WsStream};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SN: &str = "SIM-DAY-1";
const USERS: usize = 1000;

/// Dials the mock in-process; while `offline`, the network is down.
struct Network {
    cloud: Arc<MockCloud>,
    offline: AtomicBool,
    dials: AtomicUsize,
}

impl Dialer for Network {
    fn dial(&self) -> BoxFuture<'static, Result<WsStream, TransportError>> {
        self.dials.fetch_add(1, Ordering::SeqCst);
        let cloud = self.cloud.clone();
        let offline = self.offline.load(Ordering::SeqCst);
        async move {
            if offline {
                let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "offline");
                return Err(TransportError::Connect {
                    addr: "mock".into(),
                    source: refused,
                });
            }
            let (client, server) = tokio::io::duplex(1 << 20);
            tokio::spawn(cloud.serve_connection(server, "127.0.0.1:40000".parse().unwrap()));
            let io: BoxIo = Box::new(client);
            transport::handshake("ws://mock.test/", io, None).await
        }
        .boxed()
    }
}

fn user(i: usize) -> User {
    User {
        userid: format!("emp{i:04}"),
        name: format!("Employee {i}"),
        user_type: 0,
        departments: vec![format!("dept-{}", i % 7)],
        fa: vec![Template {
            id: 0,
            data: format!("fa-{i}"),
            algorithm: "default".into(),
        }],
        fp: Vec::new(),
        pass_rules: Vec::new(),
        public_key: String::new(),
    }
}

fn corp() -> CorpSeed {
    let visitor = User {
        userid: "guest1/1000001".into(),
        user_type: 1,
        ..user(9999)
    };
    CorpSeed {
        users: (0..USERS).map(user).collect(),
        visitors: vec![visitor],
        perm_version: 7,
        visitor_version: 3,
        ..CorpSeed::default_corp()
    }
}

/// The userids of a mock corp list, and of the device's store.
fn mock_ids(cloud: &MockCloud, key: &str) -> BTreeSet<String> {
    let corp = cloud.control_text(r#"{"op":"corp"}"#);
    corp[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userid"].as_str().unwrap().to_string())
        .collect()
}

fn device_ids(dev: &Device, visitors: bool) -> BTreeSet<String> {
    let store = dev.store();
    let set = if visitors {
        &store.visitors
    } else {
        &store.contacts
    };
    set.users.keys().cloned().collect()
}

fn control(cloud: &MockCloud, op: Value) -> Value {
    let r = cloud.control_text(&op.to_string());
    assert_eq!(r["ok"], true, "{op}: {r}");
    r
}

#[tokio::test(start_paused = true)]
async fn a_business_day_against_the_mock_corp() {
    let wall = std::time::Instant::now();
    let fleet = Fleet {
        devices: vec![FleetDevice {
            identity: DeviceIdentity::new(SN, "day-secret-no"),
            bound: true,
        }],
        seed_secret_no: None,
    };
    let cloud = MockCloud::new(MockConfig {
        fleet,
        start_unix: START,
        corp: corp(),
        ..MockConfig::default()
    });
    let net = Arc::new(Network {
        cloud: cloud.clone(),
        offline: AtomicBool::new(false),
        dials: AtomicUsize::new(0),
    });
    let mut cfg = config(&[]);
    cfg.identity = DeviceIdentity::new(SN, "day-secret-no");
    cfg.seed_secret_no = None;
    let dev = Arc::new(Device::new(cfg));
    let (to_device, rx) = tokio::sync::mpsc::unbounded_channel();
    let running = {
        let (dev, net) = (dev.clone(), net.clone());
        tokio::spawn(async move { run_device(&dev, net, rx).await })
    };
    let minute = Duration::from_secs(60);

    // Morning: login and a full pull of the 1,000 users, at the cloud's version.
    tokio::time::sleep(minute).await;
    assert_eq!(device_ids(&dev, false).len(), USERS);
    assert_eq!(device_ids(&dev, false), mock_ids(&cloud, "users"));
    assert_eq!(dev.store().contacts.version, 7);

    // Incremental changes: two joiners, a name change, a leaver, then a userid change.
    control(
        &cloud,
        json!({"op": "add_user", "user": {"userid": "new1", "name": "New One"}}),
    );
    control(
        &cloud,
        json!({"op": "add_user", "user": {"userid": "new2", "name": "New Two"}}),
    );
    control(
        &cloud,
        json!({"op": "update_user", "user": {"userid": "emp0001", "name": "Renamed"}}),
    );
    control(&cloud, json!({"op": "remove_user", "userid": "emp0002"}));
    control(
        &cloud,
        json!({"op": "change_userid", "old_userid": "emp0003", "new_userid": "emp0003b"}),
    );
    tokio::time::sleep(minute).await;
    assert_eq!(device_ids(&dev, false), mock_ids(&cloud, "users"));
    assert_eq!(
        dev.store().contacts.version,
        12,
        "one version per change event"
    );
    assert_eq!(
        dev.store().contacts.users["emp0001"].value()["name"],
        "Renamed"
    );

    // Visitors: one arrives, the seed's one leaves; ids keep their /agentid.
    control(
        &cloud,
        json!({"op": "add_visitor", "visitor": {"userid": "guest2/1000001", "name": "Guest Two"}}),
    );
    control(
        &cloud,
        json!({"op": "remove_visitor", "userid": "guest1/1000001"}),
    );
    tokio::time::sleep(minute).await;
    assert_eq!(
        device_ids(&dev, true),
        BTreeSet::from(["guest2/1000001".to_string()])
    );

    // Check-ins online, then while the network is down (kept), then sent once it is back.
    let checkin = |userid: &str| {
        to_device
            .send(SimControl::Checkin(Box::new(Checkin {
                userid: userid.into(),
                pass_type: Some(1),
                pass_method: Some(1),
            })))
            .unwrap()
    };
    for i in 10..15 {
        checkin(&format!("emp{i:04}"));
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tokio::time::sleep(minute).await;
    net.offline.store(true, Ordering::SeqCst);
    control(&cloud, json!({"op": "close_link", "sn": SN}));
    tokio::time::sleep(Duration::from_secs(5)).await;
    for i in 20..25 {
        checkin(&format!("emp{i:04}"));
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tokio::time::sleep(minute).await;
    let recorded = control(&cloud, json!({"op": "recorded"}));
    assert_eq!(
        recorded["checkins"].as_array().unwrap().len(),
        5,
        "the offline ones wait on the device"
    );
    net.offline.store(false, Ordering::SeqCst);
    tokio::time::sleep(5 * minute).await;

    // A remote open, a firmware release and a log request.
    let open = control(
        &cloud,
        json!({"op": "remote_open_door", "sn": SN, "userid": "emp0010"}),
    );
    control(
        &cloud,
        json!({"op": "publish_firmware", "firmware": {"firmware_version": "9.9.9", "md5sum": "00", "size": 1, "download_url": "https://mock.invalid/9.9.9"}}),
    );
    control(
        &cloud,
        json!({"op": "fetch_log", "sn": SN, "hint": "op_logs"}),
    );
    tokio::time::sleep(minute).await;

    let recorded = control(&cloud, json!({"op": "recorded", "sn": SN}));
    let checkins = recorded["checkins"].as_array().unwrap();
    let arrived: Vec<&str> = checkins
        .iter()
        .map(|c| c["userid"].as_str().unwrap())
        .collect();
    // The ten people, then the remote open's own pass (D34: pass_method 3, remote).
    let expected: Vec<String> = (10..15)
        .chain(20..25)
        .chain(10..11)
        .map(|i| format!("emp{i:04}"))
        .collect();
    assert_eq!(arrived, expected, "every check-in arrived, in order");
    assert_eq!(checkins[10]["pass_method"], 3);
    assert!(
        checkins
            .iter()
            .all(|c| c["duplicates"] == 0 && c["access_record"] == true),
        "{checkins:?}"
    );
    assert!(dev.store().checkins.is_empty(), "nothing left to send");
    assert_eq!(recorded["remote_opens"][0]["oper_id"], open["oper_id"]);
    assert_eq!(
        recorded["remote_opens"][0]["result"], "succeeded",
        "{recorded}"
    );
    assert!(
        dev.store()
            .log
            .iter()
            .any(|l| l.contains("firmware 9.9.9 offered")),
        "the device asked get_firmware_info"
    );
    assert_eq!(
        recorded["logs"].as_array().map(Vec::len),
        Some(1),
        "{recorded}"
    );
    assert!(
        recorded["logs"][0]["start"]
            .as_str()
            .is_some_and(|s| s.contains("T")),
        "timestamped lines"
    );
    assert_eq!(
        device_ids(&dev, false),
        mock_ids(&cloud, "users"),
        "the directory still matches at close of day"
    );
    assert!(!running.is_finished());
    running.abort();
    // Figures for the notes (not a timed test): printed with --nocapture.
    eprintln!(
        "business day: {} dials, {:?} wall",
        net.dials.load(Ordering::SeqCst),
        wall.elapsed()
    );
}
