//! Faults on the live link, from the command line: `ACTION:DIRECTION:PATTERN[:DURATION]`.
//!
//! - ACTION: `drop` (the frame never arrives), `delay` (held for DURATION; frames behind it in
//!   that direction wait too), `dup` (arrives twice), `reset` (the frame never arrives and
//!   both TCP links are reset, as a broken network would);
//! - DIRECTION: `to-cloud` or `to-device`;
//! - PATTERN: `any` (any text or binary frame), `cmd=NAME` (a request or push of that
//!   command), `reply=NAME` (the reply to a request of that command).
//!
//! Each fault takes the next frame that matches, once per observe run.

use crate::profile::Profile;
use crate::scenario::expr::parse_duration;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// Which way a frame goes through the observer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toward {
    Cloud,
    Device,
}

impl Toward {
    pub fn name(self) -> &'static str {
        match self {
            Toward::Cloud => "to-cloud",
            Toward::Device => "to-device",
        }
    }
}

/// What a fault does to the frame it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Drop,
    Delay(Duration),
    Dup,
    Reset,
}

/// Which frames a fault takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    Any,
    /// A frame naming this command (a request, or a push).
    Cmd(String),
    /// The reply to a request of this command.
    Reply(String),
}

/// One fault given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkFault {
    pub action: Action,
    pub toward: Toward,
    pub pattern: Pattern,
    /// The text it was given as, for transcripts and messages.
    pub spec: String,
}

/// What the frame a fault looks at is, as the profile reads it.
pub struct FrameView<'a> {
    /// The command the frame names, if any.
    pub cmd: Option<&'a str>,
    /// For a reply: the command of the request it answers.
    pub reply_to: Option<&'a str>,
}

impl Pattern {
    pub fn matches(&self, frame: &FrameView<'_>) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Cmd(c) => frame.cmd == Some(c.as_str()),
            Pattern::Reply(c) => frame.reply_to == Some(c.as_str()),
        }
    }
}

impl fmt::Display for LinkFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec)
    }
}

const EXPECTED: &str = "expected ACTION:DIRECTION:PATTERN[:DURATION]: ACTION drop, delay, dup or reset; DIRECTION to-cloud or to-device; PATTERN any, cmd=NAME or reply=NAME; DURATION (delay only) like 2s or 500ms, e.g. drop:to-device:reply=register or delay:to-cloud:cmd=ping:2s";

impl std::str::FromStr for LinkFault {
    type Err = String;

    fn from_str(spec: &str) -> Result<LinkFault, String> {
        let bad = |why: String| format!("bad fault {spec:?}: {why}; {EXPECTED}");
        let parts: Vec<&str> = spec.split(':').collect();
        if parts.len() < 3 || parts.len() > 4 {
            return Err(bad(format!("{} parts", parts.len())));
        }
        let toward = match parts[1] {
            "to-cloud" => Toward::Cloud,
            "to-device" => Toward::Device,
            other => return Err(bad(format!("unknown direction {other:?}"))),
        };
        let pattern = match parts[2].split_once('=') {
            None if parts[2] == "any" => Pattern::Any,
            Some(("cmd", name)) if !name.is_empty() => Pattern::Cmd(name.to_string()),
            Some(("reply", name)) if !name.is_empty() => Pattern::Reply(name.to_string()),
            _ => return Err(bad(format!("unknown pattern {:?}", parts[2]))),
        };
        let duration = parts
            .get(3)
            .map(|d| parse_duration(d).map_err(|e| bad(format!("duration {d:?}: {e}"))));
        let action = match (parts[0], duration) {
            ("delay", Some(d)) => Action::Delay(d?),
            ("delay", None) => return Err(bad("delay needs a DURATION".into())),
            (_, Some(_)) if ["drop", "dup", "reset"].contains(&parts[0]) => {
                return Err(bad(format!("{} takes no DURATION", parts[0])))
            }
            ("drop", None) => Action::Drop,
            ("dup", None) => Action::Dup,
            ("reset", None) => Action::Reset,
            (other, _) => return Err(bad(format!("unknown action {other:?}"))),
        };
        Ok(LinkFault {
            action,
            toward,
            pattern,
            spec: spec.to_string(),
        })
    }
}

/// The faults of a run, each spent on the first frame it takes.
pub struct Faults {
    armed: std::sync::Mutex<Vec<LinkFault>>,
}

impl Faults {
    pub fn new(faults: Vec<LinkFault>) -> Faults {
        Faults {
            armed: std::sync::Mutex::new(faults),
        }
    }

    /// Arms one more fault (an observer scenario's `fault` step, while the link runs).
    pub fn arm(&self, fault: LinkFault) {
        self.armed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(fault);
    }

    /// The first armed fault that takes this frame going `toward`, disarmed.
    pub fn take(&self, toward: Toward, frame: &FrameView<'_>) -> Option<LinkFault> {
        let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
        let i = armed
            .iter()
            .position(|f| f.toward == toward && f.pattern.matches(frame))?;
        Some(armed.remove(i))
    }
}

/// The requests seen going one way, so a reply coming back can be named by their command.
/// Bounded: a peer that never answers cannot grow it.
#[derive(Default)]
pub struct Asked {
    by_id: std::collections::VecDeque<(String, String)>,
}

const MAX_ASKED: usize = 1024;

impl Asked {
    /// Remembers `frame` if it is a request (or push) with a req_id.
    pub fn note(&mut self, profile: &dyn Profile, frame: &Value) {
        if let (Some(cmd), Some(id)) = (profile.command(frame), profile.req_id(frame)) {
            if self.by_id.len() >= MAX_ASKED {
                self.by_id.pop_front();
            }
            self.by_id.push_back((id.to_string(), cmd.to_string()));
        }
    }

    /// The command of the request `frame` replies to (the latest with its req_id).
    pub fn answered<'a>(&'a self, profile: &dyn Profile, frame: &Value) -> Option<&'a str> {
        if profile.command(frame).is_some() {
            return None;
        }
        let id = profile.req_id(frame)?;
        self.by_id
            .iter()
            .rev()
            .find(|(i, _)| i == id)
            .map(|(_, c)| c.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rstest::rstest]
    #[case("drop:to-cloud:cmd=register", Action::Drop, Toward::Cloud, Pattern::Cmd("register".into()))]
    #[case("drop:to-device:reply=register", Action::Drop, Toward::Device, Pattern::Reply("register".into()))]
    #[case(
        "delay:to-device:any:2s",
        Action::Delay(Duration::from_secs(2)),
        Toward::Device,
        Pattern::Any
    )]
    #[case("dup:to-cloud:cmd=ping", Action::Dup, Toward::Cloud, Pattern::Cmd("ping".into()))]
    #[case("reset:to-cloud:cmd=subscribe_corp", Action::Reset, Toward::Cloud, Pattern::Cmd("subscribe_corp".into()))]
    fn parses(
        #[case] spec: &str,
        #[case] action: Action,
        #[case] toward: Toward,
        #[case] pattern: Pattern,
    ) {
        let f: LinkFault = spec.parse().unwrap();
        assert_eq!((f.action, f.toward, &f.pattern), (action, toward, &pattern));
        assert_eq!(f.to_string(), spec);
    }

    #[rstest::rstest]
    #[case("drop", "1 parts")]
    #[case("drop:to-cloud", "2 parts")]
    #[case("drop:sideways:any", "unknown direction \"sideways\"")]
    #[case("drop:to-cloud:cmd=", "unknown pattern \"cmd=\"")]
    #[case("drop:to-cloud:frame=1", "unknown pattern \"frame=1\"")]
    #[case("delay:to-cloud:any", "delay needs a DURATION")]
    #[case("delay:to-cloud:any:soon", "duration \"soon\"")]
    #[case("drop:to-cloud:any:2s", "drop takes no DURATION")]
    #[case("lose:to-cloud:any", "unknown action \"lose\"")]
    fn a_bad_fault_says_what_was_expected(#[case] spec: &str, #[case] why: &str) {
        let e = spec.parse::<LinkFault>().unwrap_err();
        assert!(e.contains(why), "{e}");
        assert!(e.contains("expected ACTION:DIRECTION:PATTERN"), "{e}");
    }

    #[test]
    fn a_fault_takes_one_matching_frame_in_its_direction() {
        let faults = Faults::new(vec!["drop:to-device:reply=register".parse().unwrap()]);
        let reply = FrameView {
            cmd: None,
            reply_to: Some("register"),
        };
        assert!(faults.take(Toward::Cloud, &reply).is_none());
        let other = FrameView {
            cmd: None,
            reply_to: Some("active"),
        };
        assert!(faults.take(Toward::Device, &other).is_none());
        assert!(faults.take(Toward::Device, &reply).is_some());
        assert!(faults.take(Toward::Device, &reply).is_none(), "spent");
    }

    #[test]
    fn a_reply_is_named_by_the_request_it_answers() {
        let p = crate::profile::default_profile();
        let mut asked = Asked::default();
        asked.note(
            &*p,
            &serde_json::json!({"cmd": "register", "headers": {"req_id": "1"}}),
        );
        let reply = serde_json::json!({"headers": {"req_id": "1"}, "errcode": 0});
        assert_eq!(asked.answered(&*p, &reply), Some("register"));
        let push = serde_json::json!({"cmd": "push_x", "headers": {"req_id": "1"}});
        assert_eq!(asked.answered(&*p, &push), None);
        for i in 0..MAX_ASKED {
            asked.note(
                &*p,
                &serde_json::json!({"cmd": "ping", "headers": {"req_id": format!("p{i}")}}),
            );
        }
        assert_eq!(
            asked.answered(&*p, &reply),
            None,
            "bounded: the oldest went"
        );
    }
}
