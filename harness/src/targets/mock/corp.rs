//! The mock's corp: its directory of users and visitors, the versions that count change
//! events (C16), the history of the pushes that carried them (C17), the firmware it
//! publishes, and what the devices reported (check-ins, enrolments, remote opens, logs).
//!
//! Pure data: a change returns the push bodies it causes, and the server sends them. Every
//! bound device belongs to this one corp (the reference has one corp per device; a mock with
//! one corp serves every test a lab runs against one device or a fleet of one customer).
//!
//! Where the reference is silent the mock decides (the guide's docs/src/reference/mock.md lists each):
//! * a userid change (`push_change_userid`) is a change event: `perm_version` rises by one;
//! * templates a device uploads (`upload_userinfo`) replace the user's templates of that
//!   algorithm and are a change event (`update_user`), so other devices fetch them;
//! * a check-in of an unknown userid is listed in `fail_list`; a re-sent record (same userid,
//!   user_type and timestamp) is accepted again and counted as a duplicate, not stored twice.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

/// 2018-01-01T00:00:00Z: `checkin` records before it are dropped silently (C18).
pub const CHECKIN_EPOCH: u64 = 1_514_764_800;
/// How long pushes stay in `get_notify_history` (C17: three months).
pub const HISTORY_KEPT_SECS: u64 = 90 * 24 * 3600;
/// The most items one page or one list request is answered with (C15 and the 200-item caps).
pub const MAX_ITEMS: usize = 200;
/// Reported records the mock keeps per kind; older ones are counted, not kept.
pub const MAX_RECORDS: usize = 100_000;
/// The algorithm a template without one belongs to.
pub const DEFAULT_ALGORITHM: &str = "default";

/// One recognition template: opaque feature data (never an image), and its algorithm.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub id: u32,
    pub data: String,
    #[serde(default = "default_algorithm")]
    pub algorithm: String,
}

fn default_algorithm() -> String {
    DEFAULT_ALGORITHM.to_string()
}

/// A pass rule as the pull pages give it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PassRule {
    pub id: u64,
    pub rule: String,
    #[serde(default)]
    pub effect_time: u64,
}

/// A member of the directory (employee `user_type` 0, student 2) or a visitor (1, userid
/// `<id>/<agentid>`, C20).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub userid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub user_type: u32,
    /// Directory data the wire does not carry; kept for the lab's own reading.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub departments: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fa: Vec<Template>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fp: Vec<Template>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pass_rules: Vec<PassRule>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub public_key: String,
}

/// A firmware release the corp publishes (`get_firmware_info`, `push_update_firmware`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Firmware {
    pub firmware_version: String,
    pub md5sum: String,
    pub size: u64,
    pub download_url: String,
}

/// Whether devices may enrol users themselves (`get_open_self_input`).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SelfInput {
    #[serde(default)]
    pub fp: bool,
    #[serde(default)]
    pub fa: bool,
}

/// The corp as a file gives it (`--corp FILE`, YAML or JSON).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CorpSeed {
    #[serde(default = "default_name")]
    pub name: String,
    #[serde(default)]
    pub perm_version: u32,
    #[serde(default)]
    pub visitor_version: u32,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub visitors: Vec<User>,
    #[serde(default)]
    pub admins: Vec<String>,
    #[serde(default)]
    pub firmware: Option<Firmware>,
    #[serde(default)]
    pub self_input: SelfInput,
}

fn default_name() -> String {
    super::CORP_NAME.to_string()
}

/// Why a corp file could not be loaded: the file, and where in it.
#[derive(Debug, thiserror::Error)]
pub enum CorpError {
    #[error("cannot read corp file {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{col}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: u32,
        col: u32,
        message: String,
    },
}

impl CorpSeed {
    /// The small corp the mock starts with: three members, one visitor, one admin, one
    /// firmware release, self-enrolment off.
    pub fn default_corp() -> CorpSeed {
        let user = |userid: &str, name: &str, face: &str| User {
            userid: userid.into(),
            name: name.into(),
            user_type: 0,
            departments: vec!["R&D".into()],
            fa: vec![Template {
                id: 0,
                data: face.into(),
                algorithm: default_algorithm(),
            }],
            fp: Vec::new(),
            pass_rules: Vec::new(),
            public_key: String::new(),
        };
        CorpSeed {
            name: default_name(),
            perm_version: 1,
            visitor_version: 1,
            users: vec![
                user("zhangsan", "Zhang San", "fa-zhangsan-v1"),
                user("lisi", "Li Si", "fa-lisi-v1"),
                user("wangwu", "Wang Wu", "fa-wangwu-v1"),
            ],
            visitors: vec![User {
                userid: "v1001/1000001".into(),
                name: "Visitor One".into(),
                user_type: 1,
                ..user("", "", "fa-v1001-v1")
            }],
            admins: vec!["zhangsan".into()],
            firmware: Some(Firmware {
                firmware_version: "1.0.1".into(),
                md5sum: "0123456789abcdef0123456789abcdef".into(),
                size: 1_048_576,
                download_url: "https://mock.invalid/firmware/1.0.1.bin".into(),
            }),
            self_input: SelfInput::default(),
        }
    }

    /// Reads a corp file: YAML (JSON is YAML too). Errors name file:line:col.
    pub fn from_file(path: &Path) -> Result<CorpSeed, CorpError> {
        let text = std::fs::read_to_string(path).map_err(|source| CorpError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        CorpSeed::from_text(path, &text)
    }

    /// Parses a corp file's text; each user, visitor and section is checked on its own so an
    /// error points at the item at fault.
    pub fn from_text(path: &Path, text: &str) -> Result<CorpSeed, CorpError> {
        use crate::scenario::yaml;
        let invalid = |span: crate::scenario::span::Span, message: String| CorpError::Invalid {
            path: path.to_path_buf(),
            line: span.line,
            col: span.col,
            message,
        };
        let root = yaml::parse(text).map_err(|e| invalid(e.span, e.message))?;
        let Some(root) = root else {
            return Ok(CorpSeed {
                users: Vec::new(),
                visitors: Vec::new(),
                ..CorpSeed::default_corp()
            });
        };
        let Some(pairs) = root.as_mapping() else {
            return Err(invalid(
                root.span,
                format!("expected a mapping of corp keys, found {}", root.describe()),
            ));
        };
        // Items first, each at its own position; then the whole (types of the top keys).
        for (key, value) in pairs {
            if matches!(key.key_text(), "users" | "visitors") {
                for item in value.as_sequence().unwrap_or_default() {
                    serde_json::from_value::<User>(yaml::to_json(item))
                        .map_err(|e| invalid(item.span, format!("in `{}`: {e}", key.key_text())))?;
                }
            }
        }
        let mut seed: CorpSeed = serde_json::from_value(yaml::to_json(&root))
            .map_err(|e| invalid(root.span, e.to_string()))?;
        let mut seen = std::collections::BTreeSet::new();
        for u in seed.users.iter_mut().chain(seed.visitors.iter_mut()) {
            if u.userid.is_empty() || u.userid.len() > 128 {
                return Err(invalid(
                    root.span,
                    format!("userid {:?} must be 1-128 bytes", u.userid),
                ));
            }
            if !seen.insert(u.userid.clone()) {
                return Err(invalid(
                    root.span,
                    format!("userid {:?} is listed twice", u.userid),
                ));
            }
        }
        for v in &mut seed.visitors {
            if !is_visitor_id(&v.userid) {
                return Err(invalid(
                    root.span,
                    format!(
                        "visitor userid {:?} must have the form <id>/<agentid> (C20)",
                        v.userid
                    ),
                ));
            }
            v.user_type = 1;
        }
        Ok(seed)
    }
}

/// `<id>/<agentid>`, both non-empty, the agent id numeric (C20).
pub fn is_visitor_id(userid: &str) -> bool {
    userid.split_once('/').is_some_and(|(id, agent)| {
        !id.is_empty() && !agent.is_empty() && agent.bytes().all(|b| b.is_ascii_digit())
    })
}

/// A push the corp's change causes, for every live device of the corp.
#[derive(Clone, Debug, PartialEq)]
pub struct CorpPush {
    pub cmd: &'static str,
    pub body: Option<Value>,
}

/// A change of the directory a control op asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum DirectoryChange {
    AddUser {
        user: User,
    },
    UpdateUser {
        user: User,
    },
    RemoveUser {
        userid: String,
    },
    ChangeUserid {
        old_userid: String,
        new_userid: String,
    },
    AddVisitor {
        visitor: User,
    },
    UpdateVisitor {
        visitor: User,
    },
    RemoveVisitor {
        userid: String,
    },
}

/// Why a change was refused (the control plane says so; no version moves).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ChangeError {
    #[error("no user {0:?} in the directory")]
    NoSuchUser(String),
    #[error("user {0:?} is already in the directory")]
    Exists(String),
    #[error("visitor userid {0:?} must have the form <id>/<agentid> (C20)")]
    NotVisitorId(String),
    #[error("userid {0:?} must be 1-128 bytes and not of the visitor form")]
    BadUserid(String),
}

/// One check-in record as the mock kept it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CheckinRecord {
    pub sn: String,
    pub userid: String,
    pub user_type: u32,
    pub timestamp: u64,
    pub pass_type: Option<u32>,
    pub pass_method: Option<u32>,
    /// Whether it made an access record (only with `pass_type`, C18).
    pub access_record: bool,
    /// How many more times the same record arrived.
    pub duplicates: u32,
}

/// A remote open the cloud pushed, and what came of it (C19).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RemoteOpen {
    pub sn: String,
    pub oper_id: String,
    pub userid: String,
    pub pushed_at: u64,
    /// `pending` until reported; `succeeded`, `failed` (status 1) or `late` (reported more
    /// than 3 s after the push: the cloud marked it failed).
    pub result: &'static str,
    pub reported_after_ms: Option<u64>,
}

/// Everything the devices reported, for the control plane's `recorded` query.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Recorded {
    pub checkins: Vec<CheckinRecord>,
    pub enrolments: Vec<Value>,
    pub remote_opens: Vec<RemoteOpen>,
    pub logs: Vec<Value>,
    pub temperatures: Vec<Value>,
    pub error_reports: Vec<Value>,
    pub photos: Vec<Value>,
    /// Records not kept because a list was full ([`MAX_RECORDS`]).
    pub dropped: u64,
}

/// The corp's rules a test can switch off (each by one `MockRule` knob), so every C15–C24
/// scenario can be shown to fail.
#[derive(Clone, Copy, Debug)]
pub struct CorpRules {
    /// A page is at most 200 items whatever `limit` asks (C15).
    pub page_cap: bool,
    /// A change event raises its version by exactly one (C16).
    pub version_step_one: bool,
    /// `get_notify_history` returns only items above the asked version (C17).
    pub history_by_version: bool,
    /// Pre-2018 check-ins are dropped silently, not listed in `fail_list` (C18).
    pub drop_old_checkins: bool,
    /// A remote-open report later than 3 s marks the open failed (C19).
    pub remote_open_deadline: bool,
    /// Visitor ids keep `/agentid` (C20).
    pub visitor_agentid: bool,
    /// Templates follow the algorithm priority a device announced (C21).
    pub algorithm_priority: bool,
}

impl Default for CorpRules {
    fn default() -> Self {
        CorpRules {
            page_cap: true,
            version_step_one: true,
            history_by_version: true,
            drop_old_checkins: true,
            remote_open_deadline: true,
            visitor_agentid: true,
            algorithm_priority: true,
        }
    }
}

/// The corp at run time.
#[derive(Debug)]
pub struct Corp {
    rules: CorpRules,
    pub name: String,
    perm_version: u32,
    visitor_version: u32,
    /// By userid: pages are in userid order, stable while nothing changes.
    users: BTreeMap<String, User>,
    visitors: BTreeMap<String, User>,
    /// Per user: how often its templates changed (`fa_ver`/`fp_ver`).
    template_versions: BTreeMap<String, (u32, u32)>,
    pub admins: Vec<String>,
    pub firmware: Option<Firmware>,
    pub self_input: SelfInput,
    /// (perm_version, cloud unix time, the push payload as text) per contact change (C17).
    history: VecDeque<(u32, u64, String)>,
    /// Per SN, the algorithms its `subscribe_corp` announced, in priority order (C21).
    algorithms: BTreeMap<String, Algorithms>,
    /// (sn, state, when) of every static login QR issued.
    issued_qr: VecDeque<(String, String, u64)>,
    /// (userid, user_type, timestamp) of every kept check-in: a re-sent one is found at once.
    checkin_keys: HashSet<(String, u32, u64)>,
    pub recorded: Recorded,
}

/// The algorithms a device announced in `subscribe_corp.ext_args`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Algorithms {
    pub fa: Vec<String>,
    pub fp: Vec<String>,
}

impl Corp {
    pub fn new(seed: CorpSeed, rules: CorpRules) -> Corp {
        let users: BTreeMap<String, User> = seed
            .users
            .into_iter()
            .map(|u| (u.userid.clone(), u))
            .collect();
        let visitors: BTreeMap<String, User> = seed
            .visitors
            .into_iter()
            .map(|u| (u.userid.clone(), u))
            .collect();
        let template_versions = users
            .keys()
            .chain(visitors.keys())
            .map(|k| (k.clone(), (1, 1)))
            .collect();
        Corp {
            rules,
            name: seed.name,
            perm_version: seed.perm_version,
            visitor_version: seed.visitor_version,
            users,
            visitors,
            template_versions,
            admins: seed.admins,
            firmware: seed.firmware,
            self_input: seed.self_input,
            history: VecDeque::new(),
            algorithms: BTreeMap::new(),
            issued_qr: VecDeque::new(),
            checkin_keys: HashSet::new(),
            recorded: Recorded::default(),
        }
    }

    /// How much a change event raises its version (1, or 2 with the C16 rule off).
    fn step(&self) -> u32 {
        if self.rules.version_step_one {
            1
        } else {
            2
        }
    }

    /// A userid as the wire shows it: a visitor's loses `/agentid` only with the C20 rule off.
    pub fn wire_id<'a>(&self, userid: &'a str) -> &'a str {
        match userid.split_once('/') {
            Some((id, _)) if !self.rules.visitor_agentid => id,
            _ => userid,
        }
    }

    /// A page of the members, from `offset` (C15: at most 200, whatever `limit` says).
    pub fn page_users(&self, offset: usize, limit: usize) -> (Vec<&User>, bool) {
        let cap = if self.rules.page_cap {
            MAX_ITEMS
        } else {
            usize::MAX
        };
        page(self.users.values().collect(), offset, limit, cap)
    }

    /// A static login QR the device asked for (`gen_login_qrcode`), so a scan can be checked.
    pub fn issued_qr(&mut self, sn: &str, state: &str, now_unix: u64) {
        if self.issued_qr.len() >= MAX_RECORDS {
            self.issued_qr.pop_front();
        }
        self.issued_qr
            .push_back((sn.to_string(), state.to_string(), now_unix));
    }

    /// A device bound or unbound: its login QRs are void (the catalog: a QR is invalid after
    /// rebinding).
    pub fn void_qrs(&mut self, sn: &str) {
        self.issued_qr.retain(|(s, _, _)| s != sn);
    }

    /// Whether `sn` asked for a login QR with this `state`.
    pub fn qr_issued(&self, sn: &str, state: &str) -> bool {
        self.issued_qr
            .iter()
            .any(|(s, st, _)| s == sn && st == state)
    }

    pub fn perm_version(&self) -> u32 {
        self.perm_version
    }

    pub fn visitor_version(&self) -> u32 {
        self.visitor_version
    }

    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    pub fn visitors(&self) -> impl Iterator<Item = &User> {
        self.visitors.values()
    }

    pub fn user(&self, userid: &str) -> Option<&User> {
        self.users.get(userid).or_else(|| self.visitors.get(userid))
    }

    /// The directory as the control plane shows it (templates included: they are test data,
    /// not credentials).
    pub fn snapshot(&self) -> Value {
        json!({
            "name": self.name,
            "perm_version": self.perm_version,
            "visitor_version": self.visitor_version,
            "users": self.users.values().collect::<Vec<_>>(),
            "visitors": self.visitors.values().collect::<Vec<_>>(),
            "admins": self.admins,
            "firmware": self.firmware,
            "self_input": self.self_input,
        })
    }

    /// What `sn` announced at its last login, to carry into a corp it moves to.
    pub fn announced(&self, sn: &str) -> Option<Algorithms> {
        self.algorithms.get(sn).cloned()
    }

    pub fn set_announced(&mut self, sn: &str, algorithms: Algorithms) {
        self.algorithms.insert(sn.to_string(), algorithms);
    }

    /// Remembers what a device announced at login (C21).
    pub fn announce(&mut self, sn: &str, ext_args: Option<&Value>) {
        let list = |key: &str| -> Vec<String> {
            ext_args
                .and_then(|e| e.get(key))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .take(5)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        self.algorithms.insert(
            sn.to_string(),
            Algorithms {
                fa: list("fa_algorithm"),
                fp: list("fp_algorithm"),
            },
        );
    }

    /// Applies one change: the versions rise by exactly one (C16), and the push that tells
    /// the devices is returned (and kept in the history, C17).
    pub fn change(
        &mut self,
        change: DirectoryChange,
        now_unix: u64,
    ) -> Result<CorpPush, ChangeError> {
        let member = |u: &User| json!([{"userid": u.userid, "user_type": u.user_type}]);
        let step = self.step();
        let check_member_id = |id: &str| {
            if id.is_empty() || id.len() > 128 || is_visitor_id(id) {
                Err(ChangeError::BadUserid(id.to_string()))
            } else {
                Ok(())
            }
        };
        let (key, entry) = match change {
            DirectoryChange::AddUser { user } => {
                check_member_id(&user.userid)?;
                if self.users.contains_key(&user.userid) {
                    return Err(ChangeError::Exists(user.userid));
                }
                let e = member(&user);
                self.template_versions.insert(user.userid.clone(), (1, 1));
                self.users.insert(user.userid.clone(), user);
                ("create_user", e)
            }
            DirectoryChange::UpdateUser { user } => {
                let old = self
                    .users
                    .get(&user.userid)
                    .ok_or_else(|| ChangeError::NoSuchUser(user.userid.clone()))?;
                self.bump_templates(&user.userid, old.fa != user.fa, old.fp != user.fp);
                let e = member(&user);
                self.users.insert(user.userid.clone(), user);
                ("update_user", e)
            }
            DirectoryChange::RemoveUser { userid } => {
                let old = self
                    .users
                    .remove(&userid)
                    .ok_or(ChangeError::NoSuchUser(userid))?;
                self.template_versions.remove(&old.userid);
                ("delete_user", member(&old))
            }
            DirectoryChange::ChangeUserid {
                old_userid,
                new_userid,
            } => {
                check_member_id(&new_userid)?;
                if self.users.contains_key(&new_userid) {
                    return Err(ChangeError::Exists(new_userid));
                }
                let mut user = self
                    .users
                    .remove(&old_userid)
                    .ok_or_else(|| ChangeError::NoSuchUser(old_userid.clone()))?;
                user.userid = new_userid.clone();
                let versions = self.template_versions.remove(&old_userid).unwrap_or((1, 1));
                self.template_versions.insert(new_userid.clone(), versions);
                let user_type = user.user_type;
                self.users.insert(new_userid.clone(), user);
                self.perm_version += step;
                let body = json!({"timestamp": now_unix, "old_userid": old_userid, "new_userid": new_userid, "perm_version": self.perm_version, "user_type": user_type});
                self.remember(now_unix, "push_change_userid", &body);
                return Ok(CorpPush {
                    cmd: "push_change_userid",
                    body: Some(body),
                });
            }
            DirectoryChange::AddVisitor { visitor }
            | DirectoryChange::UpdateVisitor { visitor }
                if !is_visitor_id(&visitor.userid) =>
            {
                return Err(ChangeError::NotVisitorId(visitor.userid));
            }
            DirectoryChange::AddVisitor { mut visitor } => {
                if self.visitors.contains_key(&visitor.userid) {
                    return Err(ChangeError::Exists(visitor.userid));
                }
                visitor.user_type = 1;
                let id = visitor.userid.clone();
                self.template_versions.insert(id.clone(), (1, 1));
                self.visitors.insert(id.clone(), visitor);
                return Ok(self.visitor_push("create_visitor", &id, now_unix));
            }
            DirectoryChange::UpdateVisitor { mut visitor } => {
                let old = self
                    .visitors
                    .get(&visitor.userid)
                    .ok_or_else(|| ChangeError::NoSuchUser(visitor.userid.clone()))?;
                self.bump_templates(&visitor.userid, old.fa != visitor.fa, old.fp != visitor.fp);
                visitor.user_type = 1;
                let id = visitor.userid.clone();
                self.visitors.insert(id.clone(), visitor);
                return Ok(self.visitor_push("update_visitor", &id, now_unix));
            }
            DirectoryChange::RemoveVisitor { userid } => {
                self.visitors
                    .remove(&userid)
                    .ok_or_else(|| ChangeError::NoSuchUser(userid.clone()))?;
                self.template_versions.remove(&userid);
                return Ok(self.visitor_push("delete_visitor", &userid, now_unix));
            }
        };
        self.perm_version += step;
        let mut body = json!({"timestamp": now_unix, "perm_version": self.perm_version, "create_user": [], "update_user": [], "delete_user": []});
        body[key] = entry;
        self.remember(now_unix, "push_change_contact", &body);
        Ok(CorpPush {
            cmd: "push_change_contact",
            body: Some(body),
        })
    }

    fn visitor_push(&mut self, key: &str, userid: &str, now_unix: u64) -> CorpPush {
        self.visitor_version += self.step();
        let mut body = json!({"timestamp": now_unix, "visitor_version": self.visitor_version, "create_visitor": [], "update_visitor": [], "delete_visitor": []});
        body[key] = json!([{"userid": self.wire_id(userid)}]);
        CorpPush {
            cmd: "push_visitor_list_change",
            body: Some(body),
        }
    }

    fn bump_templates(&mut self, userid: &str, fa: bool, fp: bool) {
        let v = self
            .template_versions
            .entry(userid.to_string())
            .or_insert((1, 1));
        v.0 += fa as u32;
        v.1 += fp as u32;
    }

    fn remember(&mut self, now_unix: u64, cmd: &str, body: &Value) {
        let data = json!({"cmd": cmd, "body": body}).to_string();
        self.history.push_back((self.perm_version, now_unix, data));
        if self.history.len() > MAX_RECORDS {
            self.history.pop_front();
        }
    }

    /// `get_notify_history`: the contact pushes above `after` (C17), at most three months old,
    /// a page of them from `offset`.
    pub fn notify_history(
        &self,
        after: u32,
        offset: usize,
        limit: usize,
        now_unix: u64,
    ) -> (Vec<Value>, bool) {
        let kept = self.history.iter().filter(|(v, at, _)| {
            (*v > after || !self.rules.history_by_version)
                && now_unix.saturating_sub(*at) <= HISTORY_KEPT_SECS
        });
        let all: Vec<Value> = kept
            .map(|(v, _, data)| json!({"data": data, "perm_version": v}))
            .collect();
        page(all, offset, limit, MAX_ITEMS)
    }

    /// One `userinfo[]` item for `sn`, with what the request asked for: templates of the
    /// highest-priority algorithm the device announced that the user holds (C21).
    pub fn userinfo(&self, user: &User, sn: &str, fp: bool, fa: bool, public_key: bool) -> Value {
        let announced = if self.rules.algorithm_priority {
            self.algorithms.get(sn).cloned().unwrap_or_default()
        } else {
            Algorithms::default()
        };
        let (fa_ver, fp_ver) = self
            .template_versions
            .get(&user.userid)
            .copied()
            .unwrap_or((1, 1));
        let mut item = Map::new();
        item.insert("userid".into(), json!(self.wire_id(&user.userid)));
        item.insert("openvid".into(), json!(openvid(&user.userid)));
        item.insert("user_type".into(), json!(user.user_type));
        item.insert("name".into(), json!(user.name));
        item.insert("fa_ver".into(), json!(fa_ver));
        item.insert("fp_ver".into(), json!(fp_ver));
        let rules: Vec<Value> = user
            .pass_rules
            .iter()
            .map(|r| json!({"id": r.id, "rule": r.rule, "effect_time": r.effect_time}))
            .collect();
        item.insert("pass_rule_list".into(), json!(rules));
        if public_key {
            item.insert("public_key".into(), json!(user.public_key));
        }
        if fa {
            let (algorithm, list) = chosen(&user.fa, &announced.fa);
            item.insert("fa_list".into(), json!(list));
            item.insert("fa_algorithm".into(), json!(algorithm));
        }
        if fp {
            let (algorithm, list) = chosen(&user.fp, &announced.fp);
            item.insert("fp".into(), json!(list));
            // The docs' example spells it `fp_alogrithm` (sic); both, so either reading finds it.
            item.insert("fp_alogrithm".into(), json!(algorithm));
            item.insert("fp_algorithm".into(), json!(algorithm));
        }
        Value::Object(item)
    }

    /// Templates a device uploaded for a user (`upload_userinfo`): they replace the user's
    /// templates of that algorithm (an empty `data` deletes that id) and are a change event.
    pub fn upload_templates(
        &mut self,
        sn: &str,
        item: &Value,
        now_unix: u64,
    ) -> Option<Result<CorpPush, ChangeError>> {
        let userid = item.get("userid")?.as_str()?;
        let before = self.user(userid)?.clone();
        let mut user = before.clone();
        let apply =
            |templates: &mut Vec<Template>, list: Option<&Value>, algorithm: Option<&str>| {
                let Some(list) = list.and_then(Value::as_array) else {
                    return;
                };
                let algorithm = algorithm.unwrap_or(DEFAULT_ALGORITHM).to_string();
                for t in list {
                    // Ids 0-11 (at most 12 templates per algorithm, §3); others are not kept.
                    let (Some(id), Some(data)) = (
                        t.get("id").and_then(Value::as_u64).filter(|id| *id <= 11),
                        t.get("data").and_then(Value::as_str),
                    ) else {
                        continue;
                    };
                    templates.retain(|x| !(x.id == id as u32 && x.algorithm == algorithm));
                    if !data.is_empty() {
                        templates.push(Template {
                            id: id as u32,
                            data: data.to_string(),
                            algorithm: algorithm.clone(),
                        });
                    }
                }
            };
        // `fa_list` present → the legacy `fa` is ignored.
        let fa_list = item.get("fa_list").cloned().or_else(|| {
            item.get("fa")
                .and_then(Value::as_str)
                .map(|f| json!([{"id": 0, "data": f}]))
        });
        apply(
            &mut user.fa,
            fa_list.as_ref(),
            item.get("fa_algorithm").and_then(Value::as_str),
        );
        apply(
            &mut user.fp,
            item.get("fp"),
            item.get("fp_algorithm").and_then(Value::as_str),
        );
        self.keep(
            |r| &mut r.enrolments,
            json!({"sn": sn, "userid": userid, "at": now_unix, "item": item}),
        );
        if user == before {
            return None;
        }
        let change = if is_visitor_id(userid) {
            DirectoryChange::UpdateVisitor { visitor: user }
        } else {
            DirectoryChange::UpdateUser { user }
        };
        Some(self.change(change, now_unix))
    }

    /// Records one check-in; `Err` for one the cloud rejects (`fail_list`), `Ok(false)` for a
    /// pre-2018 one dropped silently (C18).
    pub fn checkin(&mut self, sn: &str, record: &Value) -> Result<bool, CheckinRejected> {
        let timestamp = record
            .get("timestamp")
            .and_then(Value::as_u64)
            .ok_or(CheckinRejected)?;
        let userid = record
            .get("userid")
            .and_then(Value::as_str)
            .ok_or(CheckinRejected)?;
        if timestamp < CHECKIN_EPOCH {
            return if self.rules.drop_old_checkins {
                Ok(false)
            } else {
                Err(CheckinRejected)
            };
        }
        if self.user(userid).is_none() {
            return Err(CheckinRejected);
        }
        let user_type = record.get("user_type").and_then(Value::as_u64).unwrap_or(0) as u32;
        let pass_type = record
            .get("pass_type")
            .and_then(Value::as_u64)
            .map(|p| p as u32);
        if self
            .checkin_keys
            .contains(&(userid.to_string(), user_type, timestamp))
        {
            if let Some(same) = self.recorded.checkins.iter_mut().rev().find(|c| {
                c.userid == userid && c.user_type == user_type && c.timestamp == timestamp
            }) {
                same.duplicates += 1;
            }
            return Ok(true);
        }
        if self.recorded.checkins.len() < MAX_RECORDS {
            self.checkin_keys
                .insert((userid.to_string(), user_type, timestamp));
        }
        let kept = CheckinRecord {
            sn: sn.to_string(),
            userid: userid.to_string(),
            user_type,
            timestamp,
            pass_type,
            pass_method: record
                .get("pass_method")
                .and_then(Value::as_u64)
                .map(|p| p as u32),
            access_record: pass_type.is_some(),
            duplicates: 0,
        };
        self.keep(|r| &mut r.checkins, kept);
        Ok(true)
    }

    /// A remote open the cloud pushes to `sn`.
    pub fn remote_open(&mut self, sn: &str, oper_id: &str, userid: &str, pushed_at_ms: u64) {
        let open = RemoteOpen {
            sn: sn.into(),
            oper_id: oper_id.into(),
            userid: userid.into(),
            pushed_at: pushed_at_ms,
            result: "pending",
            reported_after_ms: None,
        };
        self.keep(|r| &mut r.remote_opens, open);
    }

    /// The device's report of a remote open: later than 3 s after the push, the open is
    /// failed whatever the device says (C19). `false`: no such pushed open.
    pub fn report_remote_open(&mut self, oper_id: &str, status: Option<u64>, now_ms: u64) -> bool {
        let Some(open) = self
            .recorded
            .remote_opens
            .iter_mut()
            .rev()
            .find(|o| o.oper_id == oper_id && o.result == "pending")
        else {
            return false;
        };
        let after = now_ms.saturating_sub(open.pushed_at);
        open.reported_after_ms = Some(after);
        open.result = if after > 3_000 && self.rules.remote_open_deadline {
            "late"
        } else if status == Some(0) {
            "succeeded"
        } else {
            "failed"
        };
        true
    }

    /// Keeps a reported record, bounded.
    pub fn keep<T>(&mut self, list: impl FnOnce(&mut Recorded) -> &mut Vec<T>, item: T) {
        let kept = list(&mut self.recorded);
        if kept.len() < MAX_RECORDS {
            kept.push(item);
            return;
        }
        self.recorded.dropped += 1;
    }
}

/// The templates of the first announced algorithm the user holds; without an announcement,
/// the default algorithm's (C21).
fn chosen(templates: &[Template], announced: &[String]) -> (String, Vec<Value>) {
    let default = [DEFAULT_ALGORITHM.to_string()];
    let order = if announced.is_empty() {
        &default[..]
    } else {
        announced
    };
    for algorithm in order {
        let list: Vec<Value> = templates
            .iter()
            .filter(|t| &t.algorithm == algorithm)
            .map(|t| json!({"id": t.id, "data": t.data}))
            .collect();
        if !list.is_empty() {
            return (algorithm.clone(), list);
        }
    }
    (order[0].clone(), Vec::new())
}

/// A stable open id per userid (the docs give a uint64 and say no more).
fn openvid(userid: &str) -> u64 {
    userid.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    }) >> 11
}

/// Items `offset..offset+limit` (limit at most `cap`), and whether it is the last page.
pub fn page<T>(all: Vec<T>, offset: usize, limit: usize, cap: usize) -> (Vec<T>, bool) {
    let limit = limit.clamp(1, cap);
    let total = all.len();
    let items: Vec<T> = all.into_iter().skip(offset).take(limit).collect();
    (items, offset.saturating_add(limit) >= total)
}

#[cfg(test)]
#[path = "corp_tests.rs"]
mod tests;

/// A check-in the cloud rejects: it goes into the reply's `fail_list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckinRejected;
