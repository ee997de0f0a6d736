//! One file per step kind: its execution, mirroring `scenario/steps/` (Hurl's runner mirrors
//! its parser the same way). What several kinds share stays in the session: `mod.rs` (time
//! bounds, variables, connections, the monitor), `device.rs` (opening links to the cloud),
//! `cloud.rs` (accepting the device's links, auto replies, reply frames).

/// What every step file uses.
mod prelude {
    pub(super) use crate::engine::session::device::*;

    pub(super) use crate::engine::session::{
        redacted, redacted_text, At, Session, StepResult, Stop, Target,
    };
    pub(super) use crate::engine::target::{Answer, CloudAction, CloudControl, DeviceAction};
    pub(super) use crate::profile::{DefaultContext, Profile, Secret};
    pub(super) use crate::scenario::expr::format_duration;
    pub(super) use crate::scenario::model::*;
    pub(super) use crate::wire::connection::{
        pending_bytes, Connection, Inbound, Item, MAX_PENDING, MAX_PENDING_BYTES,
    };
    pub(super) use serde_json::{json, Value};
    pub(super) use std::collections::VecDeque;
    pub(super) use std::time::Duration;
    pub(super) use tokio::time::Instant;
    pub(super) use tokio_tungstenite::tungstenite::Message;
}

/// The step modules and the session's dispatch, from the one table of kinds: each kind's
/// execution is the method its module adds to `Session`, named as the module. The dispatch is
/// by role: a device-role step runs only against a cloud, a cloud-role step only against a
/// device (the loader already refuses the other role's kinds; a scenario built in code that
/// mixes them is an error here, once, not in every step).
macro_rules! session_steps {
    (
        device { $( $(#[doc = $ddoc:literal])* $dv:ident($dty:ty) = $dm:ident [$($dexp:ident),*], )* }
        cloud { $( $(#[doc = $kdoc:literal])* $kv:ident($kty:ty) = $km:ident [$($kexp:ident),*], )* }
        common { $( $(#[doc = $cdoc:literal])* $cv:ident($cty:ty) = $cm:ident [$($cexp:ident),*], )* }
    ) => {
        $( mod $cm; )*
        $( mod $dm; )*
        $( mod $km; )*

        impl prelude::Session<'_> {
            /// Runs one step: its own file's method.
            pub(in crate::engine::session) async fn step(&mut self, kind: &prelude::StepKind, at: &prelude::At) -> prelude::StepResult {
                use prelude::{CloudStep, CommonStep, DeviceStep, RoleStep, Target};
                match (kind.by_role(), &self.target) {
                    (RoleStep::Common(step), _) => match step {
                        $( CommonStep::$cv(x) => self.$cm(x, at).await, )*
                    },
                    (RoleStep::Device(step), Target::Cloud(_)) => match step {
                        $( DeviceStep::$dv(x) => self.$dm(x, at).await, )*
                    },
                    (RoleStep::Cloud(step), Target::Device(_)) => match step {
                        $( CloudStep::$kv(x) => self.$km(x, at).await, )*
                    },
                    (RoleStep::Device(_), Target::Device(_)) => {
                        Err(at.error(format!("`{}` is a device-role step; this scenario has the harness play the cloud", at.kind)))
                    }
                    (RoleStep::Cloud(_), Target::Cloud(_)) => {
                        Err(at.error(format!("`{}` is a cloud-role step; this scenario has the harness play a device", at.kind)))
                    }
                }
            }
        }
    };
}
crate::scenario::steps::with_step_kinds!(session_steps);
