//! Faults on the live link, from the command line:
//! `ACTION:DIRECTION:PATTERN[:DURATION][@COUNT|@every]`.
//!
//! - ACTION: `drop` (the frame never arrives), `delay` (held for DURATION; frames behind it in
//!   that direction wait too), `dup` (arrives twice), `reset` (the frame never arrives and
//!   both TCP links are reset, as a broken network would), `half-open` (the frame never
//!   arrives, and from then on nothing goes that way: the observer stops reading from its
//!   sender and closes nothing, as a dead NAT does), `new-address` (the frame never arrives,
//!   the device's link is reset, the link to the cloud is kept open and silent, and the
//!   device's next connection reaches the cloud from another source address: the IP change
//!   of a live device);
//! - DIRECTION: `to-cloud` or `to-device`;
//! - PATTERN: `any` (any text or binary frame), `cmd=NAME` (a request or push of that
//!   command), `reply=NAME` (the reply to a request of that command);
//! - `@COUNT` or `@every`: how many matching frames of each device connection the fault
//!   takes (the first COUNT, or all of them); once per connection when not given.

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
    HalfOpen,
    NewAddress,
}

impl Action {
    /// Whether the fault ends forwarding on its link: taking it again is meaningless.
    fn ends_forwarding(self) -> bool {
        matches!(self, Action::Reset | Action::HalfOpen | Action::NewAddress)
    }
}

/// How many matching frames of each device connection a fault takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Times {
    Count(u32),
    Every,
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
    pub times: Times,
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

const EXPECTED: &str = "expected ACTION:DIRECTION:PATTERN[:DURATION][@COUNT|@every]: ACTION drop, delay, dup, reset, half-open or new-address; DIRECTION to-cloud or to-device; PATTERN any, cmd=NAME or reply=NAME; DURATION (delay only) like 2s or 500ms; COUNT the matching frames taken per device connection (1 when not given), e.g. drop:to-device:reply=register or delay:to-cloud:cmd=ping:2s@every";

impl std::str::FromStr for LinkFault {
    type Err = String;

    fn from_str(spec: &str) -> Result<LinkFault, String> {
        let bad = |why: String| format!("bad fault {spec:?}: {why}; {EXPECTED}");
        let (body, times) = match spec.rsplit_once('@') {
            None => (spec, Times::Count(1)),
            Some((body, "every")) => (body, Times::Every),
            Some((body, n)) => match n.parse::<u32>() {
                Ok(n) if n >= 1 => (body, Times::Count(n)),
                _ => {
                    return Err(bad(format!(
                        "count {n:?} is neither a number from 1 nor `every`"
                    )))
                }
            },
        };
        let parts: Vec<&str> = body.split(':').collect();
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
            (_, Some(_))
                if ["drop", "dup", "reset", "half-open", "new-address"].contains(&parts[0]) =>
            {
                return Err(bad(format!("{} takes no DURATION", parts[0])))
            }
            ("drop", None) => Action::Drop,
            ("dup", None) => Action::Dup,
            ("reset", None) => Action::Reset,
            ("half-open", None) => Action::HalfOpen,
            ("new-address", None) => Action::NewAddress,
            (other, _) => return Err(bad(format!("unknown action {other:?}"))),
        };
        if action.ends_forwarding() && times != Times::Count(1) {
            return Err(bad(format!(
                "{} ends forwarding on its link: it takes one frame per connection",
                parts[0]
            )));
        }
        Ok(LinkFault {
            action,
            toward,
            pattern,
            times,
            spec: spec.to_string(),
        })
    }
}

/// The faults of a run: each device connection gets them afresh ([`Faults::arm`]); an
/// observer scenario's `fault` step arms one more while the links run
/// ([`Faults::arm_live`]), for the next matching frame of any link.
pub struct Faults {
    plan: Vec<LinkFault>,
    live: std::sync::Mutex<Vec<LinkFault>>,
}

impl Faults {
    pub fn new(faults: Vec<LinkFault>) -> Faults {
        Faults {
            plan: faults,
            live: Default::default(),
        }
    }

    /// Arms one more fault, once, for whichever link sends the next matching frame.
    pub fn arm_live(&self, fault: LinkFault) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(fault);
    }

    /// The first fault armed live that takes this frame going `toward`, disarmed.
    pub fn take_live(&self, toward: Toward, frame: &FrameView<'_>) -> Option<LinkFault> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let i = live
            .iter()
            .position(|f| f.toward == toward && f.pattern.matches(frame))?;
        Some(live.remove(i))
    }

    /// The faults for one more device connection, each with all its frames to take.
    pub fn arm(&self) -> Armed {
        Armed {
            left: self
                .plan
                .iter()
                .map(|f| {
                    let n = match f.times {
                        Times::Count(n) => Some(n),
                        Times::Every => None,
                    };
                    (f.clone(), n)
                })
                .collect(),
        }
    }
}

/// One connection's faults, with how many frames each may still take (`None`: every one).
pub struct Armed {
    left: Vec<(LinkFault, Option<u32>)>,
}

impl Armed {
    /// The first fault with frames left that takes this frame going `toward`; one frame
    /// fewer for it.
    pub fn take(&mut self, toward: Toward, frame: &FrameView<'_>) -> Option<LinkFault> {
        let (fault, left) = self
            .left
            .iter_mut()
            .find(|(f, left)| *left != Some(0) && f.toward == toward && f.pattern.matches(frame))?;
        if let Some(n) = left {
            *n -= 1;
        }
        Some(fault.clone())
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
    #[case("half-open:to-cloud:cmd=ping", Action::HalfOpen, Toward::Cloud, Pattern::Cmd("ping".into()))]
    #[case(
        "new-address:to-device:any",
        Action::NewAddress,
        Toward::Device,
        Pattern::Any
    )]
    #[case("drop:to-device:any@3", Action::Drop, Toward::Device, Pattern::Any)]
    #[case(
        "delay:to-cloud:any:1s@every",
        Action::Delay(Duration::from_secs(1)),
        Toward::Cloud,
        Pattern::Any
    )]
    fn parses(
        #[case] spec: &str,
        #[case] action: Action,
        #[case] toward: Toward,
        #[case] pattern: Pattern,
    ) {
        let f: LinkFault = spec.parse().unwrap();
        assert_eq!((f.action, f.toward, &f.pattern), (action, toward, &pattern));
        let times = match spec.rsplit_once('@') {
            None => Times::Count(1),
            Some((_, "every")) => Times::Every,
            Some((_, n)) => Times::Count(n.parse().unwrap()),
        };
        assert_eq!(f.times, times);
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
    #[case("drop:to-cloud:any@0", "count \"0\"")]
    #[case("drop:to-cloud:any@often", "count \"often\"")]
    #[case("half-open:to-cloud:any:2s", "half-open takes no DURATION")]
    #[case("reset:to-cloud:any@every", "ends forwarding on its link")]
    #[case("new-address:to-cloud:any@2", "ends forwarding on its link")]
    fn a_bad_fault_says_what_was_expected(#[case] spec: &str, #[case] why: &str) {
        let e = spec.parse::<LinkFault>().unwrap_err();
        assert!(e.contains(why), "{e}");
        assert!(e.contains("expected ACTION:DIRECTION:PATTERN"), "{e}");
    }

    #[test]
    fn a_fault_takes_one_matching_frame_in_its_direction_per_connection() {
        let faults = Faults::new(vec!["drop:to-device:reply=register".parse().unwrap()]);
        let mut armed = faults.arm();
        let reply = FrameView {
            cmd: None,
            reply_to: Some("register"),
        };
        assert!(armed.take(Toward::Cloud, &reply).is_none());
        let other = FrameView {
            cmd: None,
            reply_to: Some("active"),
        };
        assert!(armed.take(Toward::Device, &other).is_none());
        assert!(armed.take(Toward::Device, &reply).is_some());
        assert!(armed.take(Toward::Device, &reply).is_none(), "spent");
        assert!(
            faults.arm().take(Toward::Device, &reply).is_some(),
            "the next connection has it afresh"
        );
    }

    #[test]
    fn a_count_takes_that_many_frames_and_every_takes_all() {
        let any = FrameView {
            cmd: Some("ping"),
            reply_to: None,
        };
        let taken = |spec: &str| {
            let mut armed = Faults::new(vec![spec.parse().unwrap()]).arm();
            (0..10)
                .filter(|_| armed.take(Toward::Cloud, &any).is_some())
                .count()
        };
        assert_eq!(taken("drop:to-cloud:cmd=ping@3"), 3);
        assert_eq!(taken("drop:to-cloud:cmd=ping@every"), 10);
        assert_eq!(taken("drop:to-cloud:cmd=ping"), 1);
        assert_eq!(taken("drop:to-cloud:cmd=pong@every"), 0);
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
