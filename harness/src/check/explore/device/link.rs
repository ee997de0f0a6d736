//! The device explorer: the link (new links, closes, reconnects, login) and the pending expectations.

use super::*;

impl DeviceModel {
    pub(super) fn peek(&self) -> Option<DeviceAction> {
        if self.winding {
            None
        } else {
            self.actions.get(self.next).copied()
        }
    }

    /// The answer for the request under test: the next action when it is one, else success.
    pub(super) fn take_answer(&mut self) -> Answer {
        match self.peek() {
            Some(DeviceAction::Answer(a)) => {
                self.next += 1;
                a
            }
            _ => Answer::Ok(0),
        }
    }

    pub(super) fn fresh(&mut self) -> u32 {
        self.counter += 1;
        self.counter
    }

    // ---- the link ----

    pub(super) fn new_link(&mut self) {
        self.logged_in = false;
        self.dead = false;
        self.uploader = false;
        self.run = None;
        self.pending.clear();
        self.pending.push(exp(
            Kind::Register { first: true },
            0,
            15_000,
            &["D7", "D4", "D5"],
        ));
    }

    /// The cloud closes the link; the device dials again after 1–3 s.
    pub(super) fn close_link(&mut self) {
        self.settle();
        self.steps.add(
            StepKind::Close(Close {
                conn: "a".into(),
                code: Some(1001),
                reason: Some("going away".into()),
            }),
            &[],
        );
        self.reconnect(None, 10_000, &["D22"]);
    }

    /// A second before anything that ends the link, so the device has taken in the replies
    /// already sent: a close right behind a last page, or a reconnect advice right behind the
    /// reply to a check-in, could otherwise overtake them (the device would rightly act as if
    /// they never came).
    pub(super) fn settle(&mut self) {
        self.steps.add(StepKind::Delay(s(1)), &[]);
        self.budget_ms += 1000;
    }

    /// The device's link ends and it opens a new one within the bounds.
    pub(super) fn reconnect(
        &mut self,
        not_before: Option<u64>,
        within: u64,
        reqs: &[&'static str],
    ) {
        let step = ExpectReconnect {
            conn: "a".into(),
            within: Some(ms(within)),
            not_before: not_before.map(ms),
        };
        self.steps.add(StepKind::ExpectReconnect(step), reqs);
        self.budget_ms += within;
        self.new_link();
    }

    pub(super) fn login(&mut self, reqs: &[&'static str]) {
        self.logged_in = true;
        self.uploader = true;
        if self.setup.implemented.has("contacts") {
            let mut r = vec!["D24"];
            r.extend_from_slice(reqs);
            self.pending.push(exp(Kind::PermVersion, 0, SYNC_MS, &r));
        }
        if !self.recs.is_empty() {
            let batch = self.recs.iter().map(|r| r.seq).collect();
            self.pending
                .push(exp(Kind::Checkin { batch }, 0, 10_000, &["D33", "D32"]));
        }
        if self.pending.is_empty() {
            // Nothing the device owes yet (it has no contacts to sync): some post-login
            // request — a ping at the latest — shows it is logged in before the cloud acts.
            self.steps.add(
                StepKind::LoggedIn(LoggedIn {
                    conn: "a".into(),
                    within: None,
                }),
                &["D12"],
            );
            self.budget_ms += 45_000;
        }
    }

    /// "Corp not authorized" (600004): the device drops its secret and local data (D23).
    pub(super) fn deauthorize(&mut self) {
        self.secret = None;
        self.version = 0;
        self.users.clear();
        self.recs.clear();
    }

    // ---- serving requests ----

    pub(super) fn step_pending(&mut self) {
        self.pending.sort_by_key(|e| e.kind.priority());
        let requests = self
            .pending
            .iter()
            .filter(|e| !matches!(e.kind, Kind::Silence { .. }))
            .count();
        if requests > 1 {
            // Requests that came together: all but the first get plain success, first.
            let e = self.pending.remove(requests - 1);
            return self.serve(e, Answer::Ok(0), true);
        }
        let mut e = self.pending.remove(0);
        if let Kind::Silence { cmd } = e.kind {
            let shown = if self.last_received == Some(cmd) {
                "${last_cmd}"
            } else {
                cmd
            };
            self.steps.add(
                StepKind::ExpectSilence(ExpectSilence {
                    conn: "a".into(),
                    duration: s(20),
                    cmd: Some(shown.into()),
                }),
                &["D15"],
            );
            self.budget_ms += 20_000;
            return;
        }
        if let (Kind::Active { polling: true }, Some(DeviceAction::Idle(_))) =
            (&e.kind, self.peek())
        {
            // While the device polls unbound, what happens in the world is that the corp binds
            // it: a second into the poll wait comes `push_bind_corp`, and `active` at once (D9).
            self.next += 1;
            self.steps.add(StepKind::Delay(s(1)), &[]);
            self.steps.add(push("push_bind_corp", None), &[]);
            e.not_before = 0;
            e.within = 2_000;
            e.reqs = vec!["D9"];
        }
        let cmd = e.kind.cmd();
        let (answer, judge) = match self.run.as_mut() {
            Some(run) if run.cmd == cmd && run.remaining > 0 && !self.winding => {
                run.remaining -= 1;
                (Answer::Error(run.advice), None)
            }
            Some(run) if run.cmd == cmd => {
                // The first request after a run of errors: its retries can now be judged.
                let mark = if run.remaining == 0 {
                    run.mark.take()
                } else {
                    None
                };
                self.run = None;
                (self.take_answer(), mark)
            }
            _ if e.recover && !self.winding => (Answer::Protocol(0), None),
            _ => (self.take_answer(), None),
        };
        let winding = self.winding;
        self.serve_judged(e, answer, winding, judge);
    }

    /// Receives the expected request, then answers it.
    pub(super) fn serve(&mut self, e: Exp, answer: Answer, forced: bool) {
        self.serve_judged(e, answer, forced, None)
    }

    /// [`Self::serve`], judging the spacing of a run's retries (`since` its mark) once the
    /// request after the run has arrived (D14: a random 1–3 s, not a fixed delay).
    pub(super) fn serve_judged(
        &mut self,
        e: Exp,
        answer: Answer,
        forced: bool,
        since: Option<String>,
    ) {
        self.serves += 1;
        let cmd = e.kind.cmd();
        self.receive(&e);
        if let Some(mark) = since {
            let gaps = Some(DurationRange {
                min: Some(s(1)),
                max: Some(ms(3500)),
            });
            self.steps.add(
                StepKind::Timing(Timing {
                    since: Some(mark),
                    jitter: true,
                    gaps,
                    ..timing(cmd)
                }),
                &["D14"],
            );
        }
        if let (Kind::Page { .. }, false) = (&e.kind, forced) {
            self.checkin_during_pull();
        }
        let answer = match (&e.kind, answer) {
            // A report's outcome decides whether the device records a pass; only answers that
            // leave the job running to its end are used (D34 does not say more).
            (
                Kind::Report { .. },
                Answer::Close | Answer::Error(Advice::Never | Advice::Reconnect(_)),
            ) => Answer::Ok(0),
            (
                Kind::Report { .. },
                Answer::Reject {
                    advice: Advice::Never | Advice::Reconnect(_),
                    ..
                },
            ) => Answer::Ok(0),
            (_, a) => a,
        };
        match answer {
            Answer::Ok(v) => self.ok(e, v, forced),
            Answer::Protocol(p) => self.protocol(e, p),
            Answer::Error(advice) => self.error(e, advice),
            Answer::Reject { times, advice } => {
                let judge = advice == Advice::None
                    && times >= 6
                    && matches!(
                        e.kind,
                        Kind::Register { .. } | Kind::Active { polling: false }
                    );
                let retries = matches!(advice, Advice::None | Advice::Retry(_));
                self.error(e, advice);
                if retries {
                    let mark = judge.then(|| format!("run{}", self.fresh()));
                    if let Some(m) = &mark {
                        self.steps.add(StepKind::Mark(m.clone()), &[]);
                    }
                    self.run = Some(Run {
                        cmd,
                        remaining: times - 1,
                        advice,
                        mark,
                    });
                }
            }
            Answer::Lost { recover } => self.lost(e, recover),
            Answer::Close => self.close_link(),
        }
        self.reply_to = None;
    }
}
