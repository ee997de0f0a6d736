//! One device connection as the cloud sees it, and what the cloud sends back for one frame.

use super::super::lifecycle::Phase;
use super::super::registry::LinkCommand;
use serde_json::Value;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Duration;
use tokio::sync::mpsc::Sender;

/// How many recent push req_ids a connection remembers to accept acknowledgements.
const REMEMBERED_PUSHES: usize = 64;

/// One device connection as the cloud sees it.
#[derive(Debug)]
pub(crate) struct Conn {
    pub id: u64,
    pub ip: IpAddr,
    pub phase: Phase,
    /// The SN this connection registered (None before `register`).
    pub sn: Option<String>,
    /// Where the registry reaches this connection (pushes, kicks).
    pub tx: Sender<LinkCommand>,
    pub(super) pushes: VecDeque<String>,
}

impl Conn {
    pub fn new(id: u64, ip: IpAddr, tx: Sender<LinkCommand>) -> Conn {
        Conn {
            id,
            ip,
            phase: Phase::Opened,
            sn: None,
            tx,
            pushes: VecDeque::new(),
        }
    }

    /// Remembers a push sent on this connection, so its acknowledgement is not malformed.
    pub fn sent_push(&mut self, frame: &Value) {
        if let Some(id) = frame.pointer("/headers/req_id").and_then(Value::as_str) {
            if self.pushes.len() == REMEMBERED_PUSHES {
                self.pushes.pop_front();
            }
            self.pushes.push_back(id.to_string());
        }
    }
}

/// What to send for one inbound frame: reply (unless swallowed or silenced) then pushes,
/// all after `delay`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Response {
    pub frames: Vec<Value>,
    pub delay: Duration,
}
