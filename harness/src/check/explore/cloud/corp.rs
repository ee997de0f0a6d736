//! The corp in the cloud model: directory and visitor changes with their pushes (C16, C20),
//! the notify history (C17), a page above 200 (C15), a pre-2018 check-in (C18), a late remote
//! open (C19), the announced algorithm priority (C21), a log request (C22) and an expired
//! dynamic QR (C24), predicted from the reference's §6.2 and the guide's
//! "The mock as a corp". Only with harness control: the corp changes through it.
//!
//! Versions are captured from the cloud at the first corp action (a standalone mock may have
//! been seeded with any corp) and predicted relative to that.

use super::actions::CorpOp;
use super::{CloudModel, Phase, NAMES};
use crate::check::explore::writer::{expect, matcher, request_expecting, s, Steps};
use crate::scenario::{Control, StepKind};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// What every login the model sends announces: `algo_x` no cloud holds, then `algo_b`.
pub(super) static EXT_ARGS: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(|| json!({"fa_algorithm": ["algo_x", "algo_b", "default"]}));

/// What the model knows of the corp since its versions were captured.
#[derive(Debug, Default)]
pub(super) struct CorpState {
    captured: bool,
    /// Contact change events since the capture (`perm_version` = `pv` + this).
    changes: u32,
    visitor_changes: u32,
    users: BTreeSet<String>,
    visitors: BTreeSet<String>,
    bulked: bool,
    templated: bool,
    /// Remote opens the cloud was asked for, in order.
    remote_opens: u32,
}

fn control(request: Value, expect: Option<Value>, capture: &[(&str, &str)]) -> StepKind {
    let capture: BTreeMap<String, String> = capture
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    StepKind::Control(Control::Mock {
        request,
        expect: expect.map(matcher),
        capture,
    })
}

/// `${name}` plus `k` (the expression language has no `+0`).
fn plus(name: &str, k: u32) -> Value {
    if k == 0 {
        json!(format!("${{{name}}}"))
    } else {
        json!(format!("${{{name}+{k}}}"))
    }
}

impl CloudModel {
    pub(super) fn corp(&mut self, op: CorpOp, n: u8) {
        self.uses_control = true;
        if !self.corp.captured {
            self.corp.captured = true;
            // The default corp's members (a bulk pull counts on one beside the 200 joiners).
            self.steps.add(
                control(
                    json!({"op": "use_default_corp", "sn": "${dev.sn}"}),
                    None,
                    &[],
                ),
                &[],
            );
            let capture = control(
                json!({"op": "corp", "sn": "${dev.sn}"}),
                None,
                &[("pv", "perm_version"), ("vv", "visitor_version")],
            );
            self.steps.add(capture, &[]);
        }
        // Corp pushes reach the SN's live link while the device is bound.
        let pushed_to = self.live_visible().filter(|_| self.bound);
        match op {
            CorpOp::ToggleUser => self.toggle(false, format!("x{}", n % 4), pushed_to),
            CorpOp::ToggleVisitor => {
                self.toggle(true, format!("g{}/100000{}", n % 3, n % 2), pushed_to)
            }
            CorpOp::Bulk if !self.corp.bulked => {
                self.corp.bulked = true;
                let mut inner = Steps::default();
                inner.add(control(json!({"op": "add_user", "sn": "${dev.sn}", "user": {"userid": "bulk-${iteration}"}}), None, &[]), &[]);
                if let Some(name) = pushed_to {
                    inner.add(
                        expect(NAMES[name], json!({"cmd": "push_change_contact"}), s(5)),
                        &["C16"],
                    );
                }
                self.steps.repeat(200, inner);
                self.corp.changes += 200;
                self.page();
            }
            CorpOp::Bulk => self.page(),
            // Which pushes the history keeps is the mock's reading (every contact change).
            CorpOp::History if self.setup.caps.strict => {
                let Some(conn) = self.logged_in() else { return };
                let back = n as u32 % (self.corp.changes.min(50) + 1);
                let above = self.corp.changes - back;
                let items: Vec<Value> = (above + 1..=self.corp.changes)
                    .map(|k| json!({"perm_version": plus("pv", k)}))
                    .collect();
                let body = json!({"perm_version": plus("pv", above), "offset": 0, "limit": 100});
                self.steps.add(
                    request_expecting(
                        NAMES[conn],
                        "get_notify_history",
                        Some(body),
                        json!({"errcode": 0, "body": {"item": items}}),
                    ),
                    &["C17"],
                );
            }
            CorpOp::OldCheckin => {
                let Some(conn) = self.logged_in() else { return };
                let body = json!({"checkin_data": [{"userid": "zhangsan", "timestamp": 1_400_000_000, "pass_type": 1}]});
                self.steps.add(
                    request_expecting(
                        NAMES[conn],
                        "checkin",
                        Some(body),
                        json!({"errcode": 0, "body": {"fail_list": []}}),
                    ),
                    &["C18"],
                );
            }
            CorpOp::FetchLog => {
                let hint = format!("op_logs h{n}");
                self.steps.add(
                    control(
                        json!({"op": "fetch_log", "sn": "${dev.sn}", "hint": hint}),
                        None,
                        &[],
                    ),
                    &[],
                );
                if let Some(name) = self.live_visible() {
                    self.steps.add(
                        expect(
                            NAMES[name],
                            json!({"cmd": "push_fetch_log", "body": {"hint": hint}}),
                            s(5),
                        ),
                        &["C22"],
                    );
                }
            }
            CorpOp::LateRemoteOpen => {
                self.corp.remote_opens += 1;
                let k = self.corp.remote_opens;
                let oper = format!("op{k}");
                let open =
                    json!({"op": "remote_open_door", "sn": "${dev.sn}", "userid": "zhangsan"});
                self.steps
                    .add(control(open, None, &[(&oper, "oper_id")]), &[]);
                // `push_remote_open_door` goes to the SN's live link, bound or not.
                if let Some(name) = self.live_visible() {
                    let frame = json!({"cmd": "push_remote_open_door", "body": {"oper_id": format!("${{{oper}}}")}});
                    self.steps.add(expect(NAMES[name], frame, s(5)), &["C2"]);
                }
                self.advance(4);
                let result = match self.logged_in() {
                    Some(conn) => {
                        let body = json!({"type": "remote_open_door", "oper_id": format!("${{{oper}}}"), "status": 0});
                        self.steps.add(
                            request_expecting(
                                NAMES[conn],
                                "report_remote_open_door",
                                Some(body),
                                json!({"errcode": 0}),
                            ),
                            &[],
                        );
                        "late"
                    }
                    None => "pending",
                };
                let mut opens: Vec<Value> = (1..k).map(|_| json!({})).collect();
                opens.push(json!({"oper_id": format!("${{{oper}}}"), "result": result}));
                let recorded = control(
                    json!({"op": "recorded", "sn": "${dev.sn}"}),
                    Some(json!({"remote_opens": opens})),
                    &[],
                );
                self.steps.add(recorded, &["C19"]);
            }
            CorpOp::Templates => {
                if !self.corp.templated {
                    self.corp.templated = true;
                    let fa = json!([{"id": 0, "data": "fa-default", "algorithm": "default"}, {"id": 0, "data": "fa-b", "algorithm": "algo_b"}]);
                    let add = json!({"op": "add_user", "sn": "${dev.sn}", "user": {"userid": "tmpl", "fa": fa}});
                    self.steps.add(control(add, None, &[]), &[]);
                    self.corp.changes += 1;
                    if let Some(name) = pushed_to {
                        let frame = json!({"cmd": "push_change_contact", "body": {"perm_version": plus("pv", self.corp.changes)}});
                        self.steps.add(expect(NAMES[name], frame, s(5)), &["C16"]);
                    }
                }
                let Some(conn) = self.logged_in() else { return };
                let body = json!({"userids": ["tmpl"], "is_req_fa_info": 1});
                let expected = json!({"errcode": 0, "body": {"userinfo": [{"userid": "tmpl", "fa_list": [{"id": 0, "data": "fa-b"}]}]}});
                self.steps.add(
                    request_expecting(NAMES[conn], "get_userinfo_by_ids", Some(body), expected),
                    &["C21"],
                );
            }
            CorpOp::History => {}
            CorpOp::OldDynamicQr => {
                let scan = json!({"op": "scan_login_qr", "sn": "${dev.sn}", "userid": "zhangsan", "state": "dq", "dynamic_timestamp": "${now-1900}"});
                self.steps
                    .add(control(scan, Some(json!({"pushed": false})), &[]), &["C24"]);
            }
        }
    }

    /// A member (or a visitor) joins, or leaves when the explorer added it before: one change
    /// event, its version one up, its id as written (C16, C20).
    fn toggle(&mut self, visitor: bool, id: String, pushed_to: Option<usize>) {
        let (noun, list, version, cmd) = if visitor {
            ("visitor", "_visitor", "vv", "push_visitor_list_change")
        } else {
            ("user", "_user", "pv", "push_change_contact")
        };
        let set = if visitor {
            &mut self.corp.visitors
        } else {
            &mut self.corp.users
        };
        let joins = !set.remove(&id);
        if joins {
            set.insert(id.clone());
        }
        let request = if joins {
            json!({"op": format!("add_{noun}"), "sn": "${dev.sn}", noun: {"userid": id}})
        } else {
            json!({"op": format!("remove_{noun}"), "sn": "${dev.sn}", "userid": id})
        };
        self.steps.add(control(request, None, &[]), &[]);
        let count = if visitor {
            &mut self.corp.visitor_changes
        } else {
            &mut self.corp.changes
        };
        *count += 1;
        let k = *count;
        if let Some(name) = pushed_to {
            let key = format!("{}{list}", if joins { "create" } else { "delete" });
            let frame = json!({"cmd": cmd, "body": {format!("{}_version", if visitor { "visitor" } else { "perm" }): plus(version, k), key: [{"userid": id}]}});
            self.steps.add(
                expect(NAMES[name], frame, s(5)),
                &["C16", if visitor { "C20" } else { "C2" }],
            );
        }
    }

    /// A page of limit 1000 once there are more than 200 members: 200 of them, not the last.
    fn page(&mut self) {
        let Some(conn) = self.logged_in() else { return };
        if !self.corp.bulked {
            return;
        }
        let body = json!({"offset": 0, "limit": 1000, "is_req_fa_info": 0, "is_req_fp_info": 0});
        let expected = json!({"errcode": 0, "body": {"is_last": false, "perm_version": plus("pv", self.corp.changes), "userinfo": {"$len": 200}}});
        self.steps.add(
            request_expecting(NAMES[conn], "get_userinfo_by_page", Some(body), expected),
            &["C15"],
        );
    }

    /// A driven link that is logged in while the device is bound (business commands work),
    /// by name; the request about to go out on it resets its heartbeat timer.
    fn logged_in(&mut self) -> Option<usize> {
        if !self.bound {
            return None;
        }
        let now = self.now;
        let link = self
            .links
            .iter_mut()
            .find(|l| l.phase == Phase::Subscribed && l.name.is_some())?;
        link.last_in = now;
        link.name
    }
}
