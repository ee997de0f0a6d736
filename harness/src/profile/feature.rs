//! Protocol areas a device may or may not implement, as a profile names them: the keys of
//! an implementation conformance statement's `[features]` table and of scenarios'
//! `requires:`. Data, not code, so the engine can gate scenarios on them without knowing
//! what any of them means.

/// One optional protocol area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feature {
    /// The key: `door`, `face`.
    pub name: &'static str,
    /// What implementing it means, for people (one line).
    pub description: &'static str,
    /// The obligations it gates (the ids a scenario that needs it checks).
    pub obligations: &'static [&'static str],
    /// The commands that exist only with it (sent by the device or pushed to it): a scenario
    /// that waits for or pushes one needs the feature, whatever else it checks.
    pub commands: &'static [&'static str],
}

/// The feature names of a list, in order.
pub fn names(features: &[Feature]) -> Vec<&'static str> {
    features.iter().map(|f| f.name).collect()
}
