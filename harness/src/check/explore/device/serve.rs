//! The device explorer: receiving the expected request (its check and capture) and answering it with success.

use super::*;

impl DeviceModel {
    pub(super) fn receive(&mut self, e: &Exp) {
        self.budget_ms += e.within;
        let step = self.receive_step(e);
        match e.alt {
            Alt::None => self.steps.add(StepKind::Receive(step), &e.reqs),
            Alt::Reactivate => {
                let one_of = self.skip_or_reactivate(step);
                self.steps.add(one_of, &e.reqs);
            }
            Alt::Reconnect => self.same_link_or_reconnect(step, e),
        }
        self.last_received = Some(e.kind.cmd());
    }

    /// The `receive` of the expected request, with its check and capture. Before login the
    /// `cmd` sits in the check (another request is a mismatch, not a wait); an opening of a
    /// `one_of` names it too, as that is what picks the branch.
    fn receive_step(&mut self, e: &Exp) -> Receive {
        let cmd = e.kind.cmd();
        let pre = !self.logged_in;
        let mut check = self.check(&e.kind);
        if pre {
            let mut with_cmd = serde_json::Map::new();
            with_cmd.insert("cmd".into(), json!(cmd));
            if let Value::Object(m) = check {
                with_cmd.extend(m);
            }
            check = Value::Object(with_cmd);
        }
        let check = check
            .as_object()
            .is_some_and(|m| !m.is_empty())
            .then(|| matcher(check));
        let capture = self.capture(&e.kind);
        Receive {
            conn: "a".into(),
            cmd: (!pre || e.alt != Alt::None).then(|| cmd.to_string()),
            within: Some(ms(e.within)),
            not_before: (e.not_before > 0).then(|| ms(e.not_before)),
            check,
            capture,
        }
    }

    /// D10: with a cached secret the device may skip `active` (`subscribe` straight away) or
    /// activate again with its active_code; the cloud then hands back the secret it holds,
    /// so both branches end in the same `subscribe_corp`.
    fn skip_or_reactivate(&mut self, subscribe: Receive) -> StepKind {
        let e = exp(Kind::Active { polling: false }, 0, 10_000, &[]);
        let active = Receive {
            cmd: Some("active".into()),
            ..self.receive_step(&e)
        };
        self.budget_ms += e.within;
        let secret = self
            .secret
            .map(|n| format!("sk-explore-{n}"))
            .unwrap_or_default();
        let reply = Reply {
            conn: "a".into(),
            to: None,
            spec: ok(Some(json!({"secret": secret}))),
        };
        let reactivate = vec![
            Step::new(StepKind::Receive(active)),
            Step::new(StepKind::Reply(reply)),
            Step::new(StepKind::Receive(subscribe.clone())),
        ];
        StepKind::OneOf(OneOf {
            branches: vec![
                Branch {
                    name: "skip_active".into(),
                    steps: vec![Step::new(StepKind::Receive(subscribe))],
                },
                Branch {
                    name: "reactivate".into(),
                    steps: reactivate,
                },
            ],
        })
    }

    /// D21: after 600045 the device backs off — on its link, or by closing it and coming
    /// back after the interval with a new handshake (register, then the same subscribe).
    fn same_link_or_reconnect(&mut self, subscribe: Receive, e: &Exp) {
        let back = ExpectReconnect {
            conn: "a".into(),
            within: Some(ms(e.within)),
            not_before: Some(ms(e.not_before)),
        };
        let register = exp(Kind::Register { first: true }, 0, 15_000, &[]);
        let register = Receive {
            cmd: Some("register".into()),
            ..self.receive_step(&register)
        };
        self.budget_ms += 15_000;
        let code = Reply {
            conn: "a".into(),
            to: None,
            spec: ok(Some(json!({"active_code": CODE}))),
        };
        // On the new link the back-off is over: the subscribe comes as after any register.
        let again = Receive {
            not_before: None,
            within: Some(ms(10_000 + BUDGET_MS)),
            ..subscribe.clone()
        };
        let resubscribe = self.skip_or_reactivate(again);
        let reconnect = vec![
            Step::new(StepKind::ExpectReconnect(back)),
            Step::new(StepKind::Receive(register)),
            Step::new(StepKind::Reply(code)),
            Step::new(resubscribe),
        ];
        let branches = vec![
            Branch {
                name: "same_link".into(),
                steps: vec![Step::new(StepKind::Receive(subscribe))],
            },
            Branch {
                name: "reconnect".into(),
                steps: reconnect,
            },
        ];
        let mut reqs = e.reqs.clone();
        reqs.extend(["D22", "D7"].iter().filter(|r| !e.reqs.contains(r)));
        self.steps.add(StepKind::OneOf(OneOf { branches }), &reqs);
    }

    /// The matcher on the expected request (without `cmd`).
    pub(super) fn check(&self, kind: &Kind) -> Value {
        match kind {
            Kind::Register { first: false } => {
                json!({"body": {"device_signature": {"$signature": "register"}}})
            }
            Kind::Register { first: true } => json!({"body": {
                "sn": "${sn}",
                "device_signature": {"$regex": "^[0-9a-f]{40}$", "$signature": "register"},
                "timestamp": {"$type": "integer", "$gte": "${now-300}", "$lte": "${now+300}"},
                "nonce": {"$type": "integer"},
            }}),
            Kind::Active { .. } => json!({"body": {"active_code": CODE}}),
            Kind::Subscribe => {
                let secret = self
                    .secret
                    .map(|n| format!("sk-explore-{n}"))
                    .unwrap_or_default();
                json!({"body": {"secret": secret, "firmware_version": {"$type": "string"}}})
            }
            Kind::Page { offset, .. } => {
                json!({"body": {"offset": offset, "limit": {"$type": "integer", "$gte": 1, "$lte": 200}}})
            }
            // DOC 93984 documents the old `userids` list and the new `user_item` one; the
            // changed users come in no set order.
            Kind::Ids { ids, .. } => {
                let items: Vec<Value> = ids.iter().map(|id| json!({"userid": id})).collect();
                json!({"body": {"$any_of": [
                    {"userids": {"$same_items": ids}},
                    {"user_item": {"$same_items": items}},
                ]}})
            }
            Kind::Visitors { ids } => json!({"body": {"userids": ids}}),
            Kind::Report { scan, oper, .. } => {
                let t = if *scan {
                    "scan_qrcode_open"
                } else {
                    "remote_open_door"
                };
                json!({"body": {"type": t, "oper_id": oper, "status": {"$in": [0, 1]}}})
            }
            Kind::Upload { oper, userid, fp } => {
                let template = json!([{"id": {"$type": "integer", "$gte": 0, "$lte": 11}, "data": {"$type": "string", "$regex": NOT_IMAGE}}]);
                let key = if *fp { "fp" } else { "fa_list" };
                json!({"body": {"oper_id": oper, "userinfo": [{"userid": userid, key: template}]}})
            }
            Kind::Log => {
                json!({"binary": {"data_len": {"$gte": 1}, "data": {"$regex": TIMESTAMPED}}})
            }
            Kind::Checkin { batch } => {
                let records: Vec<Value> = batch
                    .iter()
                    .filter_map(|seq| self.recs.iter().find(|r| r.seq == *seq))
                    .map(|r| {
                        let mut m = json!({"userid": r.userid, "pass_type": r.pass_type, "pass_method": r.pass_method});
                        if r.captured {
                            m["timestamp"] = json!(format!("${{t{}}}", r.seq));
                        }
                        m
                    })
                    .collect();
                json!({"body": {"checkin_data": records}})
            }
            Kind::PermVersion | Kind::Firmware | Kind::Silence { .. } => json!({}),
        }
    }

    pub(super) fn capture(&mut self, kind: &Kind) -> BTreeMap<String, String> {
        match kind {
            Kind::Subscribe => {
                self.fw = true;
                capture([("fw".into(), "body.firmware_version".into())])
            }
            Kind::Checkin { batch } => {
                let mut m = BTreeMap::new();
                for (i, seq) in batch.iter().enumerate() {
                    if let Some(r) = self.recs.iter_mut().find(|r| r.seq == *seq && !r.captured) {
                        r.captured = true;
                        m.insert(
                            format!("t{seq}"),
                            format!("body.checkin_data.{i}.timestamp"),
                        );
                    }
                }
                m
            }
            _ => BTreeMap::new(),
        }
    }

    pub(super) fn reply(&mut self, spec: ReplySpec) {
        let to = self.reply_to.take();
        self.steps.add(
            StepKind::Reply(Reply {
                conn: "a".into(),
                to,
                spec,
            }),
            &[],
        );
    }

    /// D27: while a page is outstanding, a member of the old data set checks in; the device
    /// must still recognise them and upload the record at once.
    pub(super) fn checkin_during_pull(&mut self) {
        let Some(DeviceAction::Idle(Idle::Checkin { user })) = self.peek() else {
            return;
        };
        if !self.setup.device_control || !self.uploader || self.users.is_empty() {
            return;
        }
        self.next += 1;
        let page = format!("page{}", self.fresh());
        // Capture the page's req_id on the receive just emitted: re-emit it with a capture.
        if let Some(StepKind::Receive(r)) = self.steps.last_mut() {
            r.capture.insert(page.clone(), "headers.req_id".into());
        }
        let userid = self.users[user as usize % self.users.len()].clone();
        self.device_checkin(&userid, 1);
        if let Some(seq) = self.recs.last().map(|r| r.seq) {
            let batch = self
                .recs
                .iter()
                .map(|r| r.seq)
                .filter(|s| *s <= seq)
                .collect();
            let e = exp(Kind::Checkin { batch }, 0, 5_000, &["D27", "D32"]);
            self.serve(e, Answer::Ok(0), true);
        }
        self.reply_to = Some(format!("${{{page}}}"));
    }

    pub(super) fn device_checkin(&mut self, userid: &str, pass_type: u32) {
        self.device_control = true;
        let checkin = DeviceControl::Checkin {
            userid: userid.to_string(),
            pass_type: Some(pass_type),
            pass_method: Some(1),
        };
        self.steps.add(StepKind::DeviceControl(checkin), &["D32"]);
        self.record(userid, pass_type, 1);
    }

    pub(super) fn record(&mut self, userid: &str, pass_type: u32, pass_method: u32) {
        let seq = self.fresh();
        self.recs.push(Rec {
            seq,
            userid: userid.to_string(),
            pass_type,
            pass_method,
            captured: false,
        });
    }

    /// Success, with the body the request needs.
    pub(super) fn ok(&mut self, e: Exp, v: u8, forced: bool) {
        match e.kind {
            Kind::Register { .. } => {
                self.reply(ok(Some(json!({"active_code": CODE}))));
                self.has_code = true;
                self.after_register(&["D10"]);
            }
            Kind::Active { .. } => {
                self.issued += 1;
                self.secret = Some(self.issued);
                self.reply(ok(Some(
                    json!({"secret": format!("sk-explore-{}", self.issued)}),
                )));
                self.pending.push(exp(Kind::Subscribe, 0, 10_000, &["D11"]));
            }
            Kind::Subscribe => {
                self.subscribes += 1;
                self.reply(ok(None));
                self.login(&[]);
            }
            Kind::PermVersion => {
                let cloud = match (forced, v % 3) {
                    (true, _) | (_, 0) => self.version,
                    (_, 1) => self.version + 1,
                    _ => self.version + 4,
                };
                self.reply(ok(Some(json!({"perm_version": cloud}))));
                if cloud != self.version {
                    let page = Kind::Page {
                        offset: 0,
                        version: cloud,
                        first: true,
                        staged: Vec::new(),
                        pages: 0,
                    };
                    self.pending.push(exp(page, 0, 10_000, &["D24", "D25"]));
                }
            }
            Kind::Page {
                offset,
                version,
                staged,
                pages,
                ..
            } => {
                let last = forced || v.is_multiple_of(3) || pages >= 2;
                self.page(
                    offset,
                    version,
                    version,
                    staged,
                    pages,
                    1 + u64::from(v % 2),
                    last,
                );
            }
            Kind::Ids { ids, version } => {
                let users: Vec<Value> = ids
                    .iter()
                    .map(|u| json!({"userid": u, "user_type": 0, "name": u}))
                    .collect();
                self.reply(ok(Some(json!({"userinfo": users}))));
                for id in ids {
                    if !self.users.contains(&id) {
                        self.users.push(id);
                    }
                }
                self.version = version;
            }
            Kind::Visitors { ids } => {
                let users: Vec<Value> = ids
                    .iter()
                    .map(|u| json!({"userid": u, "user_type": 1, "name": u, "pass_rule_list": []}))
                    .collect();
                self.reply(ok(Some(json!({"userinfo": users}))));
            }
            Kind::Report { userid, .. } => {
                self.reply(ok(None));
                if let Some(u) = userid {
                    self.record(&u, 1, 3);
                    if self.uploader {
                        let batch = self.recs.iter().map(|r| r.seq).collect();
                        self.pending
                            .push(exp(Kind::Checkin { batch }, 0, 10_000, &["D34", "D32"]));
                    }
                }
            }
            Kind::Upload { .. } | Kind::Log => self.reply(ok(None)),
            Kind::Firmware => self.reply(ok(Some(json!({
                "firmware_version": "${fw}",
                "md5sum": "d41d8cd98f00b204e9800998ecf8427e",
                "size": 0,
                "download_url": "http://127.0.0.1:9/firmware/current.bin",
            })))),
            Kind::Checkin { batch } => {
                if !forced && v % 3 == 1 {
                    let fails: Vec<Value> = batch
                        .iter()
                        .filter_map(|seq| self.recs.iter().find(|r| r.seq == *seq))
                        .map(|r| json!({"userid": r.userid, "user_type": 0, "timestamp": format!("${{t{}}}", r.seq)}))
                        .collect();
                    self.reply(ok(Some(json!({"fail_list": fails}))));
                    self.pending
                        .push(exp(Kind::Checkin { batch }, 0, 20_000, &["D33"]));
                } else {
                    self.reply(ok(Some(json!({"fail_list": []}))));
                    self.recs.retain(|r| !batch.contains(&r.seq));
                }
            }
            Kind::Silence { .. } => {}
        }
    }

    /// Answers one page; `reported` is the perm_version the page carries.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn page(
        &mut self,
        offset: u64,
        version: u64,
        reported: u64,
        mut staged: Vec<String>,
        pages: u32,
        count: u64,
        last: bool,
    ) {
        let mut users = Vec::new();
        for _ in 0..count {
            let id = format!("m{}", self.fresh());
            users.push(json!({"userid": id, "user_type": 0, "name": id}));
            staged.push(id);
        }
        self.reply(ok(Some(
            json!({"is_last": last, "perm_version": reported, "userinfo": users}),
        )));
        if reported != version {
            // The contacts changed between pages: the pull starts over (D26).
            let page = Kind::Page {
                offset: 0,
                version: reported,
                first: true,
                staged: Vec::new(),
                pages: 0,
            };
            self.pending.push(exp(page, 0, 10_000, &["D26"]));
        } else if last {
            self.version = version;
            self.users = staged;
        } else {
            let page = Kind::Page {
                offset: offset + count,
                version,
                first: false,
                staged,
                pages: pages + 1,
            };
            self.pending.push(exp(page, 0, 10_000, &["D25"]));
        }
    }

    pub(super) fn after_register(&mut self, reqs: &[&'static str]) {
        if self.secret.is_some() {
            let mut e = exp(Kind::Subscribe, 0, 10_000, reqs);
            e.alt = Alt::Reactivate;
            self.pending.push(e);
        } else {
            self.pending
                .push(exp(Kind::Active { polling: false }, 0, 10_000, &["D7"]));
        }
    }
}
