//! The device explorer: protocol codes, errors with every kind of advice, lost replies, and what happens between requests (pushes, delays, check-ins).

use super::*;

impl DeviceModel {
    /// A protocol code that fits the request; requests without one get success.
    pub(super) fn protocol(&mut self, e: Exp, p: u8) {
        match &e.kind {
            Kind::Register { .. } => {
                let mut resend: Vec<i64> = Vec::new();
                if e.lost_before && self.has_code {
                    resend.push(600012);
                }
                if e.lost_before && self.secret.is_some() {
                    resend.extend([600053, 600054]);
                }
                if !resend.is_empty() {
                    // A re-send after a lost register reply: the link has registered (600012).
                    let code = if e.recover {
                        resend[0]
                    } else {
                        resend[p as usize % resend.len()]
                    };
                    self.reply(err(code));
                    match code {
                        600012 => self.after_register(&["D17"]),
                        600053 => self.pending.push(exp(Kind::Subscribe, 0, 10_000, &["D18"])),
                        _ => self.login(&["D19"]),
                    }
                    return;
                }
                // 600002: another link holds the SN; back off 1–2 minutes (D20).
                let (args, interval) = match p % 3 {
                    0 => (err(600002), 90),
                    1 => (
                        ReplySpec {
                            no_advice: true,
                            ..err(600002)
                        },
                        0,
                    ),
                    _ => (
                        ReplySpec {
                            suggestion: Some("retry".into()),
                            interval: Some(30),
                            ..err(600002)
                        },
                        30,
                    ),
                };
                self.settle();
                self.reply(args);
                // Any wait the FAQ allows (1–2 minutes plus tolerance, no sooner than the
                // interval), not just the reference device's own 60–90 s.
                let not_before = self.constant_ms("wait_600002_min").max(interval * 1000);
                self.reconnect(
                    Some(not_before),
                    self.constant_ms("wait_600002_latest")
                        .max(interval * 1000 + 11_000),
                    &["D20"],
                );
            }
            Kind::Active { .. } => {
                if p % 3 != 2 {
                    // Not bound yet: the device drops what it had and polls every 5 s (D8, D23).
                    self.reply(err(600004));
                    self.deauthorize();
                    self.pending
                        .push(exp(Kind::Active { polling: true }, 4_500, 12_000, &["D8"]));
                } else {
                    self.reply(err(600014));
                    self.pending
                        .push(exp(Kind::Register { first: false }, 0, 10_000, &["D7"]));
                }
            }
            Kind::Subscribe => {
                let mut codes = vec![600004, 600045, 600014];
                if e.lost_before {
                    codes.push(600054);
                }
                let code = if e.recover {
                    600054
                } else {
                    codes[p as usize % codes.len()]
                };
                match code {
                    600004 => {
                        self.reply(err(600004));
                        self.deauthorize();
                        self.pending.push(exp(
                            Kind::Active { polling: false },
                            0,
                            10_000,
                            &["D23"],
                        ));
                    }
                    600045 => {
                        self.reply(err(600045));
                        let mut again = exp(Kind::Subscribe, 60_000, 65_000, &["D21", "D14"]);
                        again.alt = Alt::Reconnect;
                        self.pending.push(again);
                    }
                    600014 => {
                        self.reply(err(600014));
                        self.pending
                            .push(exp(Kind::Register { first: false }, 0, 10_000, &["D7"]));
                    }
                    _ => {
                        self.subscribes += 1;
                        self.reply(err(600054));
                        self.login(&["D19"]);
                    }
                }
            }
            Kind::Page {
                offset,
                version,
                first: false,
                staged,
                pages,
            } => {
                let (offset, version, staged, pages) = (*offset, *version, staged.clone(), *pages);
                self.page(
                    offset,
                    version,
                    version + 1,
                    staged,
                    pages,
                    1 + u64::from(p % 2),
                    false,
                );
            }
            _ => self.ok(e, p, false),
        }
    }

    /// An error reply with `advice`, and what the device must do next.
    pub(super) fn error(&mut self, e: Exp, advice: Advice) {
        if matches!(advice, Advice::Reconnect(_)) {
            self.settle();
        }
        let reply = match advice {
            Advice::None => ReplySpec {
                errmsg: Some("system busy".into()),
                no_advice: true,
                ..err(-1)
            },
            Advice::Retry(i) => advised(
                "system busy",
                "retry",
                RETRY_INTERVALS[i as usize % RETRY_INTERVALS.len()] as i64,
            ),
            Advice::Never => advised("system error, do not retry", "retry", -1),
            Advice::Reconnect(i) => advised(
                "system busy, reconnect",
                "reconnect",
                RECONNECT_INTERVALS[i as usize % RECONNECT_INTERVALS.len()] as i64,
            ),
        };
        self.reply(reply);
        // A retry is a retry: while the device waits out an interval the cloud gave, it need
        // not act on push_bind_corp (D14 against D9), so it no longer counts as polling.
        let again = |kind: Kind, nb: u64, within: u64, reqs: &[&'static str]| {
            let mut e = exp(kind.again(), nb, within, reqs);
            if matches!(e.kind, Kind::Checkin { .. }) {
                // Records of a failed upload are kept and sent again (D33).
                e.reqs.push("D33");
            }
            e
        };
        match advice {
            Advice::None => self.pending.push(again(e.kind, 1_000, 3_500, &["D14"])),
            Advice::Retry(i) => {
                let n = RETRY_INTERVALS[i as usize % RETRY_INTERVALS.len()] * 1000;
                self.pending.push(again(e.kind, n, n + 5_000, &["D14"]));
            }
            Advice::Never => {
                match e.kind {
                    Kind::Register { .. } | Kind::Active { .. } | Kind::Subscribe => {
                        self.dead = true
                    }
                    Kind::Checkin { .. } => self.uploader = false,
                    _ => {}
                }
                self.pending
                    .push(exp(Kind::Silence { cmd: e.kind.cmd() }, 0, 0, &["D15"]));
            }
            Advice::Reconnect(i) => {
                let n = RECONNECT_INTERVALS[i as usize % RECONNECT_INTERVALS.len()] * 1000;
                self.reconnect(Some(n), n + 6_000, &["D16", "D14"]);
            }
        }
    }

    /// The profile's timing constant `name` in milliseconds (0 when it has none).
    fn constant_ms(&self, name: &str) -> u64 {
        self.setup
            .timings
            .iter()
            .find(|c| c.name == name)
            .map_or(0, |c| c.value.as_millis() as u64)
    }

    /// No reply: the device re-sends after its 5–10 s timeout (D13). With `recover`, the
    /// request took effect (the FAQ's "succeeded, but the reply timed out") and the re-send
    /// of a register or subscribe is answered with the code that says so (D17, D19).
    pub(super) fn lost(&mut self, e: Exp, recover: bool) {
        self.steps
            .add(StepKind::NoReply(ConnRef { conn: "a".into() }), &[]);
        // The check-in uploader also waits 5–10 s after a timeout before it sends again.
        // Otherwise the protocol's composed window: the longest timeout and the staggered
        // retry after it.
        let within = if matches!(e.kind, Kind::Checkin { .. }) {
            25_000
        } else {
            self.constant_ms("resend_latest")
        };
        let kind = e.kind.again();
        let recover = recover
            && match kind {
                Kind::Register { .. } => self.has_code,
                Kind::Subscribe => true,
                _ => false,
            };
        let reqs: &[&'static str] = match (&kind, recover) {
            (_, true) => &["D13", "D17", "D19"],
            (Kind::Checkin { .. }, _) => &["D13", "D33"],
            _ => &["D13"],
        };
        let mut again = exp(kind, self.constant_ms("resend_earliest"), within, reqs);
        again.lost_before = true;
        again.recover = recover;
        self.pending.push(again);
    }

    // ---- idle ----

    pub(super) fn idle(&mut self, i: Idle) {
        if self.dead {
            match i {
                Idle::Delay(s) => {
                    self.steps
                        .add(StepKind::Delay(writer::s(u64::from(s))), &[]);
                    self.budget_ms += u64::from(s) * 1000;
                }
                Idle::Close => self.close_link(),
                _ => {}
            }
            return;
        }
        if !self.logged_in {
            return;
        }
        let n = self.fresh();
        match i {
            Idle::Delay(s) => {
                self.steps
                    .add(StepKind::Delay(writer::s(u64::from(s))), &["D12"]);
                self.budget_ms += u64::from(s) * 1000;
            }
            Idle::Close => self.close_link(),
            Idle::ChangeContact {
                gap,
                created,
                delete,
            } => {
                let gap = u64::from(gap.clamp(1, 3));
                let pushed = self.version + gap;
                let created: Vec<String> =
                    (0..created.min(2)).map(|k| format!("c{n}x{k}")).collect();
                let deleted: Vec<String> = if delete {
                    self.users.first().cloned().into_iter().collect()
                } else {
                    Vec::new()
                };
                let list = |ids: &[String]| {
                    ids.iter()
                        .map(|u| json!({"userid": u, "user_type": 0}))
                        .collect::<Vec<_>>()
                };
                let body = json!({"timestamp": "${now}", "perm_version": pushed, "create_user": list(&created), "update_user": [], "delete_user": list(&deleted)});
                self.steps.add(push("push_change_contact", Some(body)), &[]);
                if gap >= 2 {
                    let page = Kind::Page {
                        offset: 0,
                        version: pushed,
                        first: true,
                        staged: Vec::new(),
                        pages: 0,
                    };
                    self.pending.push(exp(page, 0, 10_000, &["D29"]));
                } else {
                    self.users.retain(|u| !deleted.contains(u));
                    if created.is_empty() {
                        // Nothing to fetch: the device stores the version silently. A second
                        // lets it do so before anything else happens (a close right after a push
                        // may otherwise overtake it).
                        self.steps.add(StepKind::Delay(s(1)), &[]);
                        self.budget_ms += 1000;
                        self.version = pushed;
                    } else {
                        self.pending.push(exp(
                            Kind::Ids {
                                ids: created,
                                version: pushed,
                            },
                            0,
                            10_000,
                            &["D28"],
                        ));
                    }
                }
            }
            Idle::Visitors { n: count } => {
                let ids: Vec<String> = (0..count.clamp(1, 2))
                    .map(|k| format!("v{n}x{k}/1000006"))
                    .collect();
                let list: Vec<Value> = ids.iter().map(|u| json!({"userid": u})).collect();
                let body = json!({"timestamp": "${now}", "visitor_version": n, "create_visitor": list, "update_visitor": [], "delete_visitor": []});
                self.steps
                    .add(push("push_visitor_list_change", Some(body)), &[]);
                self.pending
                    .push(exp(Kind::Visitors { ids }, 0, 10_000, &["D30", "D31"]));
            }
            Idle::RemoteOpen => {
                let (oper, userid) = (format!("op-remote-{n}"), format!("admin{n}"));
                self.steps.add(
                    push(
                        "push_remote_open_door",
                        Some(json!({"userid": userid, "oper_id": oper})),
                    ),
                    &[],
                );
                self.pending.push(exp(
                    Kind::Report {
                        scan: false,
                        oper,
                        userid: Some(userid),
                    },
                    0,
                    3_000,
                    &["D34"],
                ));
            }
            Idle::Scan => {
                let oper = format!("op-scan-{n}");
                let body = json!({"userid": "member1", "op_type": "scan_qrcode_open", "oper_id": oper, "state": "door1", "user_type": 0});
                self.steps.add(push("push_user_scan", Some(body)), &[]);
                self.pending.push(exp(
                    Kind::Report {
                        scan: true,
                        oper,
                        userid: None,
                    },
                    0,
                    3_000,
                    &["D35"],
                ));
            }
            Idle::EnterPage { fp } => {
                let (oper, userid) = (format!("op-enrol-{n}"), format!("enrol{n}"));
                let body = json!({"page_type": if fp { "fp" } else { "fa" }, "oper_id": oper, "userid": userid, "user_type": 0});
                self.steps.add(push("push_enter_page", Some(body)), &[]);
                self.pending.push(exp(
                    Kind::Upload { oper, userid, fp },
                    0,
                    10_000,
                    &["D36", "D37"],
                ));
            }
            Idle::Firmware if self.fw => {
                self.steps.add(push("push_update_firmware", None), &[]);
                self.pending.push(exp(Kind::Firmware, 0, 10_000, &["D40"]));
            }
            Idle::FetchLog => {
                self.steps
                    .add(push("push_fetch_log", Some(json!({"hint": "main"}))), &[]);
                self.pending.push(exp(Kind::Log, 0, 10_000, &["D41", "D3"]));
            }
            Idle::Checkin { user } if self.setup.device_control && !self.users.is_empty() => {
                let userid = self.users[user as usize % self.users.len()].clone();
                self.device_checkin(&userid, 1 + u32::from(user % 2));
                if self.uploader {
                    let batch = self.recs.iter().map(|r| r.seq).collect();
                    self.pending
                        .push(exp(Kind::Checkin { batch }, 0, 10_000, &["D32"]));
                }
            }
            _ => {}
        }
    }
}

/// An error reply with explicit advice.
fn advised(errmsg: &str, suggestion: &str, interval: i64) -> ReplySpec {
    ReplySpec {
        errmsg: Some(errmsg.into()),
        suggestion: Some(suggestion.into()),
        interval: Some(interval),
        ..err(-1)
    }
}

/// A `timing` step on every connection with no check yet.
pub(super) fn timing(cmd: &str) -> Timing {
    Timing {
        conn: None,
        cmd: cmd.to_string(),
        since: None,
        gaps: None,
        jitter: false,
        min_count: None,
        max_per: None,
        none: false,
    }
}
