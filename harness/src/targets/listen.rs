//! A real device connecting to ADDR as a device target: the run binds the listener once, and
//! each scenario takes the device's next connection.

use crate::engine::target::{
    DeviceCapabilities, DeviceLink, DeviceStart, DeviceTarget, TargetError,
};
use crate::targets::device_link::{forward, Link, Task};
use futures_util::future::BoxFuture;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Waits for a real device to connect to `addr`.
pub struct ListenTarget {
    addr: SocketAddr,
    /// The run's listener; a failure to bind is every cloud-role scenario's `error` (a
    /// harness-side fault, never the device's).
    listener: Mutex<Option<Result<Arc<std::net::TcpListener>, String>>>,
}

impl ListenTarget {
    pub fn new(addr: SocketAddr) -> ListenTarget {
        ListenTarget {
            addr,
            listener: Mutex::new(None),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl DeviceTarget for ListenTarget {
    fn describe(&self) -> String {
        format!("the device connecting to {}", self.addr)
    }

    /// Binds the run's listener; the notice names the bound URL (the port chosen for `:0`).
    fn prepare(&self) -> Option<String> {
        let mut slot = self.listener.lock().unwrap_or_else(|p| p.into_inner());
        // An earlier run's listener goes first, so this run can bind the same address.
        *slot = None;
        let bound = std::net::TcpListener::bind(self.addr)
            .map_err(|e| format!("cannot listen for the device on {}: {e}", self.addr));
        let notice = bound
            .as_ref()
            .ok()
            .and_then(|l| l.local_addr().ok())
            .map(|a| format!("waiting for the device on ws://{a}/ ..."));
        *slot = Some(bound.map(Arc::new));
        notice
    }

    fn capabilities(&self) -> DeviceCapabilities {
        DeviceCapabilities {
            control: false,
            in_process: false,
            single: true,
            ours: false,
        }
    }

    fn reference(&self) -> bool {
        false
    }

    /// A clone of the run's listener, on this scenario's runtime.
    fn start(
        &self,
        _start: DeviceStart,
    ) -> BoxFuture<'_, Result<Box<dyn DeviceLink>, TargetError>> {
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let result = (|| {
            let listener = match listener {
                Some(Ok(l)) => l,
                Some(Err(e)) => return Err(TargetError::Failed(e)),
                None => return Err(TargetError::failed("the device listener is not open")),
            };
            let l = listener
                .try_clone()
                .map_err(|e| TargetError::io("cannot share the listener", e))?;
            l.set_nonblocking(true)
                .map_err(|e| TargetError::Failed(e.to_string()))?;
            let l = tokio::net::TcpListener::from_std(l)
                .map_err(|e| TargetError::Failed(e.to_string()))?;
            let (tx, incoming) = mpsc::channel(16);
            Ok(Box::new(Link::new(
                self.capabilities(),
                incoming,
                None,
                Box::new(Task(forward(l, tx))),
            )) as Box<dyn DeviceLink>)
        })();
        Box::pin(async move { result })
    }
}
