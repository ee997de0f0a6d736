//! Which corp each device belongs to. Every device starts in the seed corp (so a fleet shares
//! one directory); `forget` gives an SN a fresh copy of the seed, so scenarios run side by side
//! against one standalone mock cannot see each other's directory changes, versions or pushes.

use super::corp::{Corp, CorpRules, CorpSeed};
use serde_json::Value;
use std::collections::HashMap;

/// The seed corp's index.
const SEED: usize = 0;

#[derive(Debug)]
pub struct Corps {
    seed: CorpSeed,
    rules: CorpRules,
    list: Vec<Corp>,
    /// SNs with a corp of their own (from `forget`); the rest are in the seed corp.
    own: HashMap<String, usize>,
}

impl Corps {
    pub fn new(seed: CorpSeed, rules: CorpRules) -> Corps {
        Corps {
            list: vec![Corp::new(seed.clone(), rules)],
            seed,
            rules,
            own: HashMap::new(),
        }
    }

    /// The index of the corp `sn` belongs to (the seed corp for none).
    pub fn index_of(&self, sn: Option<&str>) -> usize {
        sn.and_then(|sn| self.own.get(sn)).copied().unwrap_or(SEED)
    }

    pub fn at(&mut self, index: usize) -> &mut Corp {
        &mut self.list[index]
    }

    /// The corp of `sn`.
    pub fn of(&mut self, sn: Option<&str>) -> &mut Corp {
        let i = self.index_of(sn);
        &mut self.list[i]
    }

    /// Gives `sn` a fresh copy of the default corp (the built-in one, whatever the seed): for
    /// a scenario whose checks rest on its members.
    pub fn detach_default(&mut self, sn: &str) {
        self.give(sn, CorpSeed::default_corp());
    }

    /// Gives `sn` a fresh copy of the seed corp (its old own corp, if any, is reset in place:
    /// at most one corp per SN besides the seed).
    pub fn detach(&mut self, sn: &str) {
        self.give(sn, self.seed.clone());
    }

    /// `sn` moves to a fresh corp of `seed`; what it announced at login goes with it (the
    /// login is the device's, not the corp's).
    fn give(&mut self, sn: &str, seed: CorpSeed) {
        let announced = self.of(Some(sn)).announced(sn);
        let mut fresh = Corp::new(seed, self.rules);
        if let Some(a) = announced {
            fresh.set_announced(sn, a);
        }
        match self.own.get(sn) {
            Some(&i) => self.list[i] = fresh,
            None => {
                self.list.push(fresh);
                self.own.insert(sn.to_string(), self.list.len() - 1);
            }
        }
    }

    /// Every corp's reports, the lists joined: `recorded` without an SN answers for the whole
    /// mock, however many SNs were given corps of their own.
    pub fn recorded(&self) -> Value {
        let mut all = serde_json::Map::new();
        for corp in &self.list {
            let Ok(Value::Object(map)) = serde_json::to_value(&corp.recorded) else {
                continue;
            };
            for (key, value) in map {
                match (all.get_mut(&key), value) {
                    (Some(Value::Array(list)), Value::Array(more)) => list.extend(more),
                    (Some(Value::Number(n)), Value::Number(m)) => {
                        *n = (n.as_u64().unwrap_or(0) + m.as_u64().unwrap_or(0)).into()
                    }
                    (None, v) => {
                        all.insert(key, v);
                    }
                    _ => {}
                }
            }
        }
        Value::Object(all)
    }
}
