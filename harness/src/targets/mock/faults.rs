//! Injected faults, scoped per SN so scenarios using different SNs on one mock never
//! interfere: swallowed replies (FAQ: "可能是调用成功，但是回包到设备端超时") and delayed replies.

use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Faults {
    /// Per SN: commands whose next request takes effect but gets no reply (a multiset).
    swallow: HashMap<String, Vec<String>>,
    delay: HashMap<String, Duration>,
}

impl Faults {
    pub fn swallow_next(&mut self, sn: &str, cmd: &str) {
        self.swallow
            .entry(sn.to_string())
            .or_default()
            .push(cmd.to_string());
    }

    /// Whether the reply to this request must be swallowed; consumes the fault.
    pub fn take_swallow(&mut self, sn: &str, cmd: &str) -> bool {
        let Some(list) = self.swallow.get_mut(sn) else {
            return false;
        };
        let Some(i) = list.iter().position(|c| c == cmd) else {
            return false;
        };
        list.remove(i);
        if list.is_empty() {
            self.swallow.remove(sn);
        }
        true
    }

    /// Delays every reply to `sn` by `delay`; zero stops delaying.
    pub fn set_delay(&mut self, sn: &str, delay: Duration) {
        if delay.is_zero() {
            self.delay.remove(sn);
        } else {
            self.delay.insert(sn.to_string(), delay);
        }
    }

    pub fn delay(&self, sn: &str) -> Duration {
        self.delay.get(sn).copied().unwrap_or_default()
    }

    pub fn clear(&mut self, sn: &str) {
        self.swallow.remove(sn);
        self.delay.remove(sn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swallow_is_per_sn_per_cmd_and_consumed_once() {
        let mut f = Faults::default();
        f.swallow_next("A", "register");
        assert!(!f.take_swallow("B", "register"));
        assert!(!f.take_swallow("A", "active"));
        assert!(f.take_swallow("A", "register"));
        assert!(!f.take_swallow("A", "register"));
    }

    #[test]
    fn delay_and_clear() {
        let mut f = Faults::default();
        f.set_delay("A", Duration::from_millis(300));
        assert_eq!(f.delay("A"), Duration::from_millis(300));
        assert_eq!(f.delay("B"), Duration::ZERO);
        f.set_delay("A", Duration::ZERO);
        assert_eq!(f.delay("A"), Duration::ZERO);
        f.set_delay("A", Duration::from_millis(1));
        f.swallow_next("A", "ping");
        f.clear("A");
        assert_eq!(f.delay("A"), Duration::ZERO);
        assert!(!f.take_swallow("A", "ping"));
    }
}
