//! stub
pub mod actions;
pub use actions::action;
use super::writer::Steps;
#[derive(Clone, Copy, Debug)]
pub struct DeviceSetup { pub device_control: bool }
pub struct Generated { pub steps: Steps, pub requires: Vec<&'static str>, pub extra: Vec<String>, pub duration_s: u64 }
pub struct DeviceModel;
impl DeviceModel {
    pub fn generate(_s: DeviceSetup, _a: &[actions::DeviceAction]) -> Generated {
        let mut steps = Steps::default();
        steps.push("accept", serde_json::json!({"within": "30s"}), &[], &[]);
        Generated { steps, requires: vec![], extra: vec![], duration_s: 0 }
    }
}
