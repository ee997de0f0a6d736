//! The reference device against the built-in mock cloud: the two must get along for a
//! full device life (seed swap, unbound polling, bind push, unbind, heartbeat) without one
//! needless reconnect.

use super::cloud::{config, START};
use crate::profile::fleet::{Fleet, FleetDevice};
use crate::profile::identity::{DeviceIdentity, Secret};
use crate::targets::mock::{ControlRequest, MockCloud, MockConfig};
use crate::targets::sim::{run, Dialer};
use crate::wire::transport::{self, BoxIo, TransportError, WsStream};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct MockDialer {
    cloud: Arc<MockCloud>,
    dials: AtomicUsize,
}

impl Dialer for MockDialer {
    fn dial(&self) -> BoxFuture<'static, Result<WsStream, TransportError>> {
        self.dials.fetch_add(1, Ordering::SeqCst);
        let cloud = self.cloud.clone();
        async move {
            let (client, server) = tokio::io::duplex(1 << 20);
            tokio::spawn(cloud.serve_connection(server, "127.0.0.1:40000".parse().unwrap()));
            let io: BoxIo = Box::new(client);
            transport::handshake("ws://mock.test/", io, None).await
        }
        .boxed()
    }
}

#[tokio::test(start_paused = true)]
async fn a_device_life_against_the_mock_cloud() {
    device_life().await;
}

async fn device_life() {
    let sn = "SIM-MOCK-1";
    let fleet = Fleet {
        devices: vec![FleetDevice {
            identity: DeviceIdentity::new(sn, "unused-until-issued"),
            bound: false,
        }],
        seed_secret_no: Some(Secret::new("mock-seed")),
    };
    let cloud = MockCloud::new(MockConfig {
        fleet,
        start_unix: START,
        ..MockConfig::default()
    });
    let dialer = Arc::new(MockDialer {
        cloud: cloud.clone(),
        dials: AtomicUsize::new(0),
    });
    let mut cfg = config(&[]);
    cfg.identity = DeviceIdentity::new(sn, "not-the-issued-one");
    cfg.seed_secret_no = Some(Secret::new("mock-seed"));
    let (_control, rx) = tokio::sync::mpsc::unbounded_channel();
    let device = tokio::spawn(run(cfg, dialer.clone(), rx));
    let bind = ControlRequest::Bind { sn: sn.into() };
    let unbind = ControlRequest::Unbind { sn: sn.into() };
    let min = Duration::from_secs(60);

    // get_secret_no → register (with the issued SecretNo) → active polled while unbound.
    tokio::time::sleep(min).await;
    assert_eq!(
        cloud.control(bind.clone()).unwrap()["pushed"],
        true,
        "registered and live"
    );
    // push_bind_corp → active → subscribe_corp; the heartbeat keeps the link.
    tokio::time::sleep(5 * min).await;
    assert_eq!(dialer.dials.load(Ordering::SeqCst), 1);
    // Unbound on a subscribed link: re-activation answers 600054, so the device starts over.
    assert_eq!(cloud.control(unbind).unwrap()["pushed"], true);
    tokio::time::sleep(min).await;
    assert_eq!(dialer.dials.load(Ordering::SeqCst), 2);
    assert_eq!(
        cloud.control(bind).unwrap()["pushed"],
        true,
        "polling on the new link"
    );
    tokio::time::sleep(5 * min).await;
    assert_eq!(
        dialer.dials.load(Ordering::SeqCst),
        2,
        "logged in again and kept alive"
    );
    assert!(!device.is_finished());
    device.abort();
}

#[tokio::test]
async fn standalone_over_tcp_against_the_listening_mock() {
    use crate::profile::identity::default_fleet_device;
    use crate::targets::sim::{run_standalone, SimConfig};
    assert!(
        run_standalone("http://nope", SimConfig::new(default_fleet_device(0)))
            .await
            .is_err()
    );
    let cloud = MockCloud::new(MockConfig::default());
    let (addr, server) = cloud.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let identity = default_fleet_device(0);
    let sn = identity.sn.clone();
    let url = format!("ws://{addr}/");
    let device = tokio::spawn(async move { run_standalone(&url, SimConfig::new(identity)).await });
    let mut live = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if cloud
            .control(ControlRequest::Bind { sn: sn.clone() })
            .unwrap()["pushed"]
            == true
        {
            live = true;
            break;
        }
    }
    assert!(live, "the device registered over TCP");
    assert!(!device.is_finished());
    device.abort();
    server.abort();
}
