//! The built-in reference device as a device target: in-process on the scenario's virtual
//! clock, optionally with faults or conformant variants, dialing the session over duplex pipes.

use crate::engine::target::{
    DeviceCapabilities, DeviceLink, DeviceStart, DeviceTarget, TargetError,
};
use crate::targets::device_link::{handshake_and_forward, Incoming, Link, Task};
use crate::targets::sim::{self, Dialer, SimConfig, SimFault, SimVariant};
use crate::wire::transport::{self, BoxIo, TransportError, WsStream};
use futures_util::future::BoxFuture;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The reference device, with the faults it breaks obligations with on purpose and the
/// other conformant choices it makes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SimDeviceTarget {
    pub faults: BTreeSet<SimFault>,
    pub variants: BTreeSet<SimVariant>,
}

fn names<K: crate::targets::knobs::Knob>(knobs: &BTreeSet<K>) -> String {
    knobs
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl DeviceTarget for SimDeviceTarget {
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.variants.is_empty() {
            parts.push(format!("variants: {}", names(&self.variants)));
        }
        if !self.faults.is_empty() {
            parts.push(format!("faults: {}", names(&self.faults)));
        }
        if parts.is_empty() {
            "the reference device".into()
        } else {
            format!("the reference device with {}", parts.join("; "))
        }
    }

    fn capabilities(&self) -> DeviceCapabilities {
        DeviceCapabilities {
            control: true,
            in_process: true,
            single: false,
            ours: true,
        }
    }

    /// Only the reference's own choices are what the goldens record.
    fn reference(&self) -> bool {
        self.faults.is_empty() && self.variants.is_empty()
    }

    fn start(&self, start: DeviceStart) -> BoxFuture<'_, Result<Box<dyn DeviceLink>, TargetError>> {
        let mut config = SimConfig::new(start.identity);
        config.faults = self.faults.clone();
        config.variants = self.variants.clone();
        config.start_unix = start.start_unix;
        config.rng_seed = start.rng_seed;
        config.seed_secret_no = start.seed_secret_no;
        let (tx, incoming) = mpsc::channel(16);
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let dialer = Arc::new(PipeDialer {
            tx,
            next_port: AtomicU16::new(50000),
        });
        let task = tokio::spawn(sim::run(config, dialer, ctl_rx));
        let link = Link::new(
            self.capabilities(),
            incoming,
            Some(ctl_tx),
            Box::new(Task(task)),
        );
        Box::pin(async move { Ok(Box::new(link) as Box<dyn DeviceLink>) })
    }
}

/// Hands each connection the reference device opens to the session, over a duplex pipe.
struct PipeDialer {
    tx: mpsc::Sender<Incoming>,
    next_port: AtomicU16,
}

impl Dialer for PipeDialer {
    fn dial(&self) -> BoxFuture<'static, Result<WsStream, TransportError>> {
        let tx = self.tx.clone();
        let port = self.next_port.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let (client, server) = tokio::io::duplex(256 * 1024);
            handshake_and_forward(Box::new(server), format!("127.0.0.1:{port}"), tx);
            let io: BoxIo = Box::new(client);
            transport::handshake("ws://harness.hwconform.invalid/", io, None).await
        })
    }
}
