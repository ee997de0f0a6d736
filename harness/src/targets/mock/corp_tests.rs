use super::*;
use proptest::prelude::*;
use rstest::rstest;

fn member(userid: &str) -> User {
    User {
        userid: userid.into(),
        name: userid.to_uppercase(),
        user_type: 0,
        departments: Vec::new(),
        fa: Vec::new(),
        fp: Vec::new(),
        pass_rules: Vec::new(),
        public_key: String::new(),
    }
}

fn corp_of(n: usize, rules: CorpRules) -> Corp {
    let seed = CorpSeed {
        users: (0..n).map(|i| member(&format!("u{i:05}"))).collect(),
        visitors: Vec::new(),
        ..CorpSeed::default_corp()
    };
    Corp::new(seed, rules)
}

fn rules_without(f: impl FnOnce(&mut CorpRules)) -> CorpRules {
    let mut r = CorpRules::default();
    f(&mut r);
    r
}

const NOW: u64 = 1_800_000_000;

#[derive(Clone, Debug)]
enum Op {
    Add(u8),
    Update(u8),
    Remove(u8),
    Rename(u8, u8),
    AddVisitor(u8),
    RemoveVisitor(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u8>().prop_map(Op::Add),
        any::<u8>().prop_map(Op::Update),
        any::<u8>().prop_map(Op::Remove),
        (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::Rename(a, b)),
        any::<u8>().prop_map(Op::AddVisitor),
        any::<u8>().prop_map(Op::RemoveVisitor),
    ]
}

fn change_of(op: &Op) -> DirectoryChange {
    let id = |n: u8| format!("m{}", n % 16);
    let vid = |n: u8| format!("v{}/1000{}", n % 8, n % 2);
    match op {
        Op::Add(n) => DirectoryChange::AddUser {
            user: member(&id(*n)),
        },
        Op::Update(n) => DirectoryChange::UpdateUser {
            user: User {
                name: "changed".into(),
                ..member(&id(*n))
            },
        },
        Op::Remove(n) => DirectoryChange::RemoveUser { userid: id(*n) },
        Op::Rename(a, b) => DirectoryChange::ChangeUserid {
            old_userid: id(*a),
            new_userid: id(*b),
        },
        Op::AddVisitor(n) => DirectoryChange::AddVisitor {
            visitor: User {
                user_type: 1,
                ..member(&vid(*n))
            },
        },
        Op::RemoveVisitor(n) => DirectoryChange::RemoveVisitor { userid: vid(*n) },
    }
}

proptest! {
    /// C16: every change the corp accepts raises exactly one version by exactly one, and the
    /// push says the new version; a refused change moves nothing.
    #[test]
    fn versions_rise_by_one_per_change_event(ops in proptest::collection::vec(op(), 1..60)) {
        let mut corp = corp_of(0, CorpRules::default());
        for op in &ops {
            let (perm, visitor) = (corp.perm_version(), corp.visitor_version());
            match corp.change(change_of(op), NOW) {
                Ok(push) => {
                    let body = push.body.expect("a change push has a body");
                    if push.cmd == "push_visitor_list_change" {
                        prop_assert_eq!((corp.perm_version(), corp.visitor_version()), (perm, visitor + 1));
                        prop_assert_eq!(body["visitor_version"].as_u64(), Some(visitor as u64 + 1));
                    } else {
                        prop_assert_eq!((corp.perm_version(), corp.visitor_version()), (perm + 1, visitor));
                        prop_assert_eq!(body["perm_version"].as_u64(), Some(perm as u64 + 1));
                    }
                }
                Err(_) => prop_assert_eq!((corp.perm_version(), corp.visitor_version()), (perm, visitor)),
            }
        }
    }

    /// C15: a full pull page by page returns every member exactly once, in order, each page at
    /// most 200 items whatever `limit` asks, and only the last page says `is_last`.
    #[test]
    fn a_paged_pull_returns_every_member_once(n in 0usize..700, limit in 1usize..1000) {
        let corp = corp_of(n, CorpRules::default());
        let (mut offset, mut seen) = (0, Vec::new());
        loop {
            let (items, is_last) = corp.page_users(offset, limit);
            prop_assert!(items.len() <= MAX_ITEMS);
            offset += items.len();
            seen.extend(items.into_iter().map(|u| u.userid.clone()));
            if is_last {
                break;
            }
            prop_assert!(offset < n, "not last, yet nothing is left");
        }
        let all: Vec<String> = corp.users().map(|u| u.userid.clone()).collect();
        prop_assert_eq!(seen, all);
    }

    /// C17: the history holds only items above the asked version, each once.
    #[test]
    fn notify_history_is_only_above_the_asked_version(changes in 1usize..40, after in 0u32..50) {
        let mut corp = corp_of(0, CorpRules::default());
        for i in 0..changes {
            corp.change(DirectoryChange::AddUser { user: member(&format!("h{i}")) }, NOW).unwrap();
        }
        let (items, _) = corp.notify_history(after, 0, 200, NOW);
        let versions: Vec<u64> = items.iter().map(|i| i["perm_version"].as_u64().unwrap()).collect();
        let expected: Vec<u64> = (2..=changes as u64 + 1).filter(|v| *v > after as u64).collect();
        prop_assert_eq!(versions, expected);
    }
}

#[test]
fn knobs_break_exactly_their_rule() {
    // C15: a limit above 200 is honoured.
    let corp = corp_of(300, rules_without(|r| r.page_cap = false));
    assert_eq!(corp.page_users(0, 250).0.len(), 250);
    // C16: versions skip.
    let mut corp = corp_of(0, rules_without(|r| r.version_step_one = false));
    corp.change(DirectoryChange::AddUser { user: member("a") }, NOW)
        .unwrap();
    assert_eq!(corp.perm_version(), 3);
    // C17: old items come back.
    let mut corp17 = corp_of(0, rules_without(|r| r.history_by_version = false));
    corp17
        .change(DirectoryChange::AddUser { user: member("a") }, NOW)
        .unwrap();
    assert_eq!(corp17.notify_history(5, 0, 200, NOW).0.len(), 1);
    // C20: the agent id goes.
    let corp = Corp::new(
        CorpSeed::default_corp(),
        rules_without(|r| r.visitor_agentid = false),
    );
    let v = corp.visitors().next().unwrap();
    assert_eq!(
        corp.userinfo(v, "SN", false, true, false)["userid"],
        "v1001"
    );
}

#[test]
fn history_forgets_after_three_months() {
    let mut corp = corp_of(0, CorpRules::default());
    corp.change(
        DirectoryChange::AddUser {
            user: member("old"),
        },
        NOW,
    )
    .unwrap();
    corp.change(
        DirectoryChange::AddUser {
            user: member("new"),
        },
        NOW + HISTORY_KEPT_SECS,
    )
    .unwrap();
    let (items, is_last) = corp.notify_history(0, 0, 200, NOW + HISTORY_KEPT_SECS + 1);
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(is_last);
    let data: Value = serde_json::from_str(items[0]["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        (
            data["cmd"].as_str(),
            data["body"]["create_user"][0]["userid"].as_str()
        ),
        (Some("push_change_contact"), Some("new"))
    );
}

#[rstest]
#[case::counted(json!({"userid": "zhangsan", "timestamp": CHECKIN_EPOCH, "pass_type": 1}), Ok(true), Some(true))]
#[case::no_pass_type_no_access_record(json!({"userid": "zhangsan", "timestamp": CHECKIN_EPOCH + 5}), Ok(true), Some(false))]
#[case::pre_2018_dropped_silently(json!({"userid": "zhangsan", "timestamp": CHECKIN_EPOCH - 1, "pass_type": 1}), Ok(false), None)]
#[case::unknown_user_rejected(json!({"userid": "nobody", "timestamp": CHECKIN_EPOCH, "pass_type": 1}), Err(CheckinRejected), None)]
#[case::no_timestamp_rejected(json!({"userid": "zhangsan"}), Err(CheckinRejected), None)]
#[case::visitor_counted(json!({"userid": "v1001/1000001", "user_type": 1, "timestamp": CHECKIN_EPOCH, "pass_type": 2}), Ok(true), Some(true))]
fn checkin_rules(
    #[case] record: Value,
    #[case] outcome: Result<bool, CheckinRejected>,
    #[case] access_record: Option<bool>,
) {
    let mut corp = Corp::new(CorpSeed::default_corp(), CorpRules::default());
    assert_eq!(corp.checkin("SN", &record), outcome);
    assert_eq!(
        corp.recorded.checkins.first().map(|c| c.access_record),
        access_record
    );
}

#[test]
fn a_resent_checkin_is_counted_once() {
    let mut corp = Corp::new(CorpSeed::default_corp(), CorpRules::default());
    let r = json!({"userid": "lisi", "timestamp": CHECKIN_EPOCH + 60, "pass_type": 1});
    assert_eq!(corp.checkin("SN", &r), Ok(true));
    assert_eq!(corp.checkin("SN", &r), Ok(true));
    assert_eq!(corp.recorded.checkins.len(), 1);
    assert_eq!(corp.recorded.checkins[0].duplicates, 1);
    // With the C18 rule off, a pre-2018 record is rejected instead of dropped.
    let mut broken = Corp::new(
        CorpSeed::default_corp(),
        rules_without(|r| r.drop_old_checkins = false),
    );
    assert_eq!(
        broken.checkin("SN", &json!({"userid": "lisi", "timestamp": 1})),
        Err(CheckinRejected)
    );
}

#[rstest]
#[case::in_time_success(2_000, Some(0), true, "succeeded")]
#[case::in_time_failure(2_000, Some(1), true, "failed")]
#[case::late(3_001, Some(0), true, "late")]
#[case::late_rule_off(3_001, Some(0), false, "succeeded")]
fn remote_open_deadline(
    #[case] after_ms: u64,
    #[case] status: Option<u64>,
    #[case] deadline: bool,
    #[case] result: &str,
) {
    let mut corp = Corp::new(
        CorpSeed::default_corp(),
        rules_without(|r| r.remote_open_deadline = deadline),
    );
    corp.remote_open("SN", "op-1", "zhangsan", 10_000);
    assert!(corp.report_remote_open("op-1", status, 10_000 + after_ms));
    assert_eq!(corp.recorded.remote_opens[0].result, result);
    assert!(
        !corp.report_remote_open("op-1", status, 10_000 + after_ms),
        "reported once"
    );
}

fn templated(fa: &[(&str, &str)]) -> User {
    User {
        fa: fa
            .iter()
            .enumerate()
            .map(|(i, (alg, data))| Template {
                id: i as u32,
                data: data.to_string(),
                algorithm: alg.to_string(),
            })
            .collect(),
        ..member("t")
    }
}

#[rstest]
#[case::first_announced_held(&["b", "a"], "b", "tb")]
#[case::skips_unheld(&["x", "a"], "a", "ta")]
#[case::nothing_announced_default(&[], "default", "td")]
fn templates_follow_the_announced_priority(
    #[case] announced: &[&str],
    #[case] algorithm: &str,
    #[case] data: &str,
) {
    let mut corp = Corp::new(
        CorpSeed {
            users: vec![templated(&[("default", "td"), ("a", "ta"), ("b", "tb")])],
            ..CorpSeed::default_corp()
        },
        CorpRules::default(),
    );
    corp.announce("SN", Some(&json!({"fa_algorithm": announced})));
    let info = corp.userinfo(corp.user("t").unwrap(), "SN", false, true, false);
    assert_eq!(
        (
            info["fa_algorithm"].as_str(),
            info["fa_list"][0]["data"].as_str()
        ),
        (Some(algorithm), Some(data))
    );
    // With the C21 rule off the default algorithm comes whatever was announced.
    let mut broken = Corp::new(
        CorpSeed {
            users: vec![templated(&[("default", "td"), ("b", "tb")])],
            ..CorpSeed::default_corp()
        },
        rules_without(|r| r.algorithm_priority = false),
    );
    broken.announce("SN", Some(&json!({"fa_algorithm": ["b"]})));
    assert_eq!(
        broken.userinfo(broken.user("t").unwrap(), "SN", false, true, false)["fa_algorithm"],
        "default"
    );
}

#[test]
fn uploaded_templates_replace_and_delete_and_are_a_change() {
    let mut corp = Corp::new(CorpSeed::default_corp(), CorpRules::default());
    let before = corp.perm_version();
    let item = json!({"userid": "zhangsan", "fa_list": [{"id": 0, "data": ""}, {"id": 3, "data": "new-face"}], "fa": "ignored"});
    let push = corp.upload_templates("SN", &item, NOW).unwrap().unwrap();
    assert_eq!(
        (push.cmd, corp.perm_version()),
        ("push_change_contact", before + 1)
    );
    let fa: Vec<(u32, &str)> = corp
        .user("zhangsan")
        .unwrap()
        .fa
        .iter()
        .map(|t| (t.id, t.data.as_str()))
        .collect();
    assert_eq!(fa, vec![(3, "new-face")]);
    assert_eq!(corp.recorded.enrolments.len(), 1);
    assert!(corp
        .upload_templates("SN", &json!({"userid": "nobody"}), NOW)
        .is_none());
}

#[test]
fn a_userid_change_moves_the_user_and_its_templates() {
    let mut corp = Corp::new(CorpSeed::default_corp(), CorpRules::default());
    let push = corp
        .change(
            DirectoryChange::ChangeUserid {
                old_userid: "lisi".into(),
                new_userid: "lisi2".into(),
            },
            NOW,
        )
        .unwrap();
    let body = push.body.unwrap();
    assert_eq!(
        (
            push.cmd,
            body["old_userid"].as_str(),
            body["new_userid"].as_str()
        ),
        ("push_change_userid", Some("lisi"), Some("lisi2"))
    );
    assert!(corp.user("lisi").is_none());
    assert_eq!(corp.user("lisi2").unwrap().fa[0].data, "fa-lisi-v1");
    assert_eq!(
        corp.change(
            DirectoryChange::ChangeUserid {
                old_userid: "zhangsan".into(),
                new_userid: "wangwu".into()
            },
            NOW
        ),
        Err(ChangeError::Exists("wangwu".into()))
    );
    assert_eq!(
        corp.change(
            DirectoryChange::AddVisitor {
                visitor: member("no-agent")
            },
            NOW
        ),
        Err(ChangeError::NotVisitorId("no-agent".into()))
    );
    assert_eq!(
        corp.change(
            DirectoryChange::AddUser {
                user: member("x/1")
            },
            NOW
        ),
        Err(ChangeError::BadUserid("x/1".into()))
    );
}

#[rstest]
#[case::not_a_mapping("- a\n", (1, 1), "expected a mapping")]
#[case::unknown_user_key("users:\n  - userid: a\n    nmae: A\n", (2, 5), "unknown field `nmae`")]
#[case::unknown_top_key("user: []\n", (1, 1), "unknown field `user`")]
#[case::visitor_without_agent("visitors:\n  - userid: v1\n", (1, 1), "<id>/<agentid>")]
#[case::duplicate("users:\n  - userid: a\n  - userid: a\n", (1, 1), "listed twice")]
#[case::yaml_syntax("users: [\n", (1, 8), "")]
fn corp_file_errors_point_at_the_item(
    #[case] text: &str,
    #[case] at: (u32, u32),
    #[case] fragment: &str,
) {
    let err = CorpSeed::from_text(Path::new("corp.yaml"), text).unwrap_err();
    let CorpError::Invalid {
        line, col, message, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert!(message.contains(fragment), "{err}");
    assert_eq!((*line, *col), at, "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("corp.yaml:{}:{}: ", at.0, at.1)),
        "{err}"
    );
}

#[test]
fn a_corp_file_loads_yaml_and_json_alike() {
    let yaml = "name: Acme\nusers:\n  - userid: a\n    name: A\n    fa: [{ id: 0, data: f1, algorithm: x }]\nvisitors:\n  - userid: v9/100\nadmins: [a]\n";
    let json = r#"{"name":"Acme","users":[{"userid":"a","name":"A","fa":[{"id":0,"data":"f1","algorithm":"x"}]}],"visitors":[{"userid":"v9/100"}],"admins":["a"]}"#;
    let a = CorpSeed::from_text(Path::new("c.yaml"), yaml).unwrap();
    let b = CorpSeed::from_text(Path::new("c.json"), json).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        (
            a.name.as_str(),
            a.visitors[0].user_type,
            a.users[0].fa[0].algorithm.as_str()
        ),
        ("Acme", 1, "x")
    );
}
