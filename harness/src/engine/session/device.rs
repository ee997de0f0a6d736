//! Device-role steps: the harness plays a device and the target is a cloud.

use super::{At, Session, StepResult, Stop, Target};
use crate::engine::target::CloudLink;
use crate::scenario::expr::format_duration;
use crate::wire::connection::Connection;
use std::net::Ipv4Addr;
use std::time::Duration;

impl<'a> Session<'a> {
    pub(super) fn cloud(&mut self, at: &At) -> Result<&mut Box<dyn CloudLink>, Stop> {
        match &mut self.target {
            Target::Cloud(c) => Ok(c),
            Target::Device(_) => Err(at.error(format!(
                "`{}` is a device-role step; this scenario has the harness play the cloud",
                at.kind
            ))),
        }
    }

    pub(super) fn device_name(&self, device: &Option<String>) -> String {
        device.clone().unwrap_or_else(|| {
            self.sc
                .devices
                .first()
                .cloned()
                .unwrap_or_else(|| "dev".into())
        })
    }

    pub(super) fn device_sn(&self, device: &Option<String>, at: &At) -> Result<String, Stop> {
        let name = self.device_name(device);
        self.devices
            .get(&name)
            .map(|d| d.identity.sn.clone())
            .ok_or_else(|| at.error(format!("no device `{name}` in this scenario")))
    }

    pub(super) async fn open(
        &mut self,
        conn: &str,
        device: String,
        from: Ipv4Addr,
        within: Duration,
        at: &At,
    ) -> StepResult {
        let cloud = self.cloud(at)?;
        let (ws, local) = match tokio::time::timeout(within, cloud.connect(from)).await {
            Ok(Ok(ok)) => ok,
            Ok(Err(e)) => return Err(at.error(format!("could not connect: {e}"))),
            Err(_) => {
                return Err(at.error(format!(
                    "could not connect within {}",
                    format_duration(within)
                )))
            }
        };
        let c = Connection::open(conn, &device, local, ws, self.rec.clone(), None);
        if let Some(old) = self.conns.insert(conn.to_string(), c) {
            old.close(1000, "").await;
        }
        Ok(())
    }
}

pub(super) fn parse_ip(from: Option<&str>, at: &At) -> Result<Ipv4Addr, Stop> {
    match from {
        None => Ok(Ipv4Addr::LOCALHOST),
        Some(s) => s
            .parse()
            .map_err(|_| at.error(format!("`{s}` is not an IPv4 address"))),
    }
}
