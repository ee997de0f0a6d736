//! stub
use proptest::prelude::*;
#[derive(Clone, Debug)]
pub enum DeviceAction { Nothing }
pub fn action(_s: super::DeviceSetup) -> BoxedStrategy<DeviceAction> { Just(DeviceAction::Nothing).boxed() }
