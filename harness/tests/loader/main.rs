//! The scenario loader, end to end: every kind of invalid file gives one diagnostic at the
//! right place, rendered diagnostics are snapshotted, arbitrary input never panics, generated
//! scenarios survive a trip through YAML text, and the scenario library loads.

use hwconform::scenario::matcher::{Matcher, Op, SignatureKind};
use hwconform::scenario::{
    load_paths, load_str, loader, AutoReply, Capability, DeviceControl, DurationExpr, LoadError,
    ReplySpec, Role, Scenario, Span, Spanned, StepKind,
};
use proptest::prelude::*;
use rstest::rstest;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Lines 1-4 of most cases; `steps:` is line 5 and the first step line 6.
const HEAD: &str = "id: t.case\ntitle: a case\nrequirements: [C9]\nrole: device\n";

fn with_steps(steps: &str) -> String {
    format!("{HEAD}steps:\n{steps}")
}

/// Lines 1-4 of the cloud-role cases; `steps:` is line 5 and the first step line 6.
const CLOUD_HEAD: &str = "id: t.cloud\ntitle: a cloud case\nrequirements: [D12]\nrole: cloud\n";

fn cloud_steps(steps: &str) -> String {
    format!("{CLOUD_HEAD}steps:\n{steps}")
}

/// Lines 1-4 of the observer-role cases; `steps:` is line 5 and the first step line 6.
const OBSERVER_HEAD: &str =
    "id: t.observer\ntitle: an observer case\nrequirements: [D13, C9]\nrole: observer\n";

fn observer_steps(steps: &str) -> String {
    format!("{OBSERVER_HEAD}steps:\n{steps}")
}

fn load(text: &str) -> Result<Scenario, LoadError> {
    load_str(Path::new("case.yaml"), text)
}

/// A fresh directory under the system temp dir, removed first if a previous run left it.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hwconform-loader-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[rstest]
#[case::unknown_key(with_steps("  - request: { cmd: ping, withn: 5s }\n"), (6, 27), "unknown key `withn` in a `request` step")]
#[case::judges_an_uncited_id(cloud_steps("  - accept: {}\n    judges: D13\n"), (7, 13), "`D13` is judged here but the scenario does not cite it")]
#[case::matcher_judges_an_uncited_id(cloud_steps("  - accept: {}\n  - receive: {}\n    check: { cmd: { $ne: x, $judges: D4 } }\n"), (8, 38), "`D4` is judged here but the scenario does not cite it")]
#[case::judges_an_unknown_part(cloud_steps("  - accept: {}\n    judges: { not_before: D12, early: D12 }\n"), (7, 32), "unknown key `early` in `judges`")]
#[case::scripted_reply_off_the_documented_shape(cloud_steps("  - accept: {}\n  - receive: { cmd: get_corp_info }\n  - reply: { body: { name: x } }\n"), (8, 5), "the reply to `get_corp_info` leaves out `corp_name`, which the documented one carries")]
#[case::scripted_push_of_the_wrong_type(cloud_steps("  - accept: {}\n  - push: { cmd: push_open_self_input, body: { open_self_input_fp: 1, open_self_input_fa: true } }\n"), (7, 5), "carries `open_self_input_fp` as a number, and the documented type is bool")]
#[case::feature_command_without_requires(cloud_steps("  - accept: {}\n  - receive: { cmd: checkin }\n"), (7, 5), "only a device with the `checkin` feature implements")]
#[case::feature_push_without_requires(cloud_steps("  - accept: {}\n  - push: { cmd: push_remote_open_door }\n"), (7, 5), "add `door` to `requires`")]
#[case::unknown_variable(with_steps("  - request: { cmd: ping, body: { t: \"${nosuch}\" } }\n"), (6, 38), "unknown variable `nosuch`")]
#[case::unknown_variable_suggests(with_steps("  - request: { cmd: ping, within: \"${heartbeat_timout}\" }\n"), (6, 35), "did you mean `heartbeat_timeout`?")]
#[case::settings_only_where_the_target_is_a_cloud(cloud_steps("  - receive: { cmd: register, within: \"${heartbeat_timeout}\" }\n"), (6, 39), "unknown variable `heartbeat_timeout`")]
#[case::unknown_variable_in_arithmetic(with_steps("  - request: { cmd: ping, body: { t: \"${noww-5}\" } }\n"), (6, 38), "did you mean `now`?")]
#[case::unknown_key_suggests(with_steps("  - request: { cmd: ping, withn: 5s }\n"), (6, 27), "did you mean `within`?")]
#[case::wrong_type(with_steps("  - request: { cmd: ping, within: [1] }\n"), (6, 35), "expected a duration like 10s, found a list")]
#[case::wrong_type_bool(with_steps("  - request: { cmd: ping, raw: yes }\n"), (6, 32), "expected true or false, found a string")]
#[case::unknown_step_kind(with_steps("  - reqest: { cmd: ping }\n"), (6, 5), "did you mean `request`?")]
#[case::two_kind_keys(with_steps("  - connect: a\n    send: { text: x }\n"), (7, 5), "exactly one kind; found `connect` and `send`")]
#[case::argument_beside_kind(with_steps("  - expect_closed: a\n    within: 5s\n"), (7, 5), "unknown key `within` beside `expect_closed`")]
#[case::unknown_requirement("id: x\ntitle: t\nrequirements: [C9, c12]\nrole: device\nsteps: [wait: 1s]\n", (3, 20), "did you mean `C12`?")]
#[case::requirement_out_of_range("id: x\ntitle: t\nrequirements: [D43]\nrole: device\nsteps: [wait: 1s]\n", (3, 16), "unknown requirement id `D43`")]
#[case::no_requirements("id: x\ntitle: t\nrequirements: []\nrole: device\nsteps: [wait: 1s]\n", (3, 15), "at least one requirement")]
#[case::bad_duration(with_steps("  - wait: 5 parsecs\n"), (6, 11), "invalid duration \"5 parsecs\"")]
#[case::bad_duration_template(with_steps("  - wait: \"${heartbeat_timeout\"\n"), (6, 11), "unclosed `${`")]
#[case::bad_ip(with_steps("  - connect: { from: 10.0.0.1 }\n"), (6, 22), "expected an IPv4 address 127.0.x.y")]
#[case::ip_outside_the_scenario_range(with_steps("  - connect: { from: 127.9.1.2 }\n"), (6, 22), "expected an IPv4 address 127.0.x.y")]
#[case::bad_ip_text(with_steps("  - change_ip: { to: localhost }\n"), (6, 22), "invalid address `localhost` for `to`")]
#[case::unknown_op(with_steps("  - expect: { frame: { x: { $regx: a } } }\n"), (6, 29), "did you mean `$regex`?")]
#[case::bad_regex(with_steps("  - expect: { frame: { x: { $regex: \"(a\" } } }\n"), (6, 37), "invalid $regex: unclosed group")]
#[case::bad_op_argument(with_steps("  - expect: { frame: { x: { $gte: [1] } } }\n"), (6, 35), "$gte takes a number")]
#[case::mixed_matcher(with_steps("  - expect: { frame: { $type: object, cmd: x } }\n"), (6, 39), "mixes operators (`$type`) with keys (`cmd`)")]
#[case::missing_step_key(with_steps("  - request: { conn: a }\n"), (6, 14), "missing required key `cmd` in a `request` step")]
#[case::missing_frame(with_steps("  - expect: { within: 1s }\n"), (6, 13), "missing required key `frame` in an `expect` step")]
#[case::missing_top_key("id: x\nrequirements: [C9]\nrole: device\nsteps: [wait: 1s]\n", (1, 1), "missing required key `title` in a scenario")]
#[case::unknown_top_key(format!("{HEAD}stepz: []\n"), (5, 1), "did you mean `steps`?")]
#[case::duplicate_mapping_key(with_steps("  - request: { cmd: a, cmd: b }\n"), (6, 24), "duplicate key `cmd` (first at line 6:16)")]
#[case::tab_indentation(with_steps("\t- wait: 1s\n"), (6, 2), "tabs disallowed")]
#[case::tab_hint(with_steps("\t- wait: 1s\n"), (6, 2), "indent with spaces")]
#[case::unclosed_flow_sequence("id: x\ntitle: t\nrequirements: [C9\nrole: device\nsteps: [wait: 1s]\n".to_string(), (3, 15), "this `[` is never closed with `]` (at line 4:5")]
#[case::unclosed_flow_mapping(with_steps("  - request: { cmd: ping\n  - wait: 1s\n"), (6, 14), "this `{` is never closed with `}`")]
#[case::scanner_error(with_steps("  - wait: \"1s\n"), (6, 11), "invalid YAML")]
#[case::second_document(format!("{HEAD}steps: [wait: 1s]\n---\nid: y\n"), (6, 1), "holds one YAML document")]
#[case::unsupported_tag(with_steps("  - wait: !duration 1s\n"), (6, 11), "tags are not supported")]
#[case::empty_file(String::new(), (1, 1), "empty scenario file")]
#[case::comments_only("# nothing yet\n".to_string(), (1, 1), "empty scenario file")]
#[case::top_level_list("- wait: 1s\n".to_string(), (1, 1), "a scenario file must be a mapping")]
#[case::top_level_scalar("hello\n".to_string(), (1, 1), "found a string")]
#[case::control_without_requires(with_steps("  - control: { bind: dev }\n"), (6, 5), "add `requires: [cloud_control]`")]
#[case::mock_operation_without_requires(with_steps("  - control: { swallow_reply: register }\n"), (6, 5), "add `requires: [control]`")]
#[case::mock_operation_with_cloud_control_only(format!("{HEAD}requires: [cloud_control]\nsteps:\n  - control: {{ close_link: dev }}\n"), (7, 5), "add `requires: [control]`")]
#[case::fetch_log_without_hint(format!("{HEAD}requires: [cloud_control]\nsteps:\n  - control: {{ fetch_log: {{}} }}\n"), (7, 27), "missing required key `hint` in a `fetch_log`")]
#[case::scan_qr_unknown_key(format!("{HEAD}requires: [cloud_control]\nsteps:\n  - control: {{ scan_qr: {{ userid: u, state: s, qr: x }} }}\n"), (7, 48), "unknown key `qr` in a `scan_qr`")]
#[case::remote_open_door_not_a_mapping(format!("{HEAD}requires: [cloud_control]\nsteps:\n  - control: {{ remote_open_door: zhangsan }}\n"), (7, 34), "expected a mapping with keys userid")]
#[case::cloud_control_in_cloud_role(format!("{CLOUD_HEAD}requires: [cloud_control]\nsteps: [wait: 1s]\n"), (5, 12), "capability `cloud_control` belongs to the device role")]
#[case::control_mock_without_op(format!("{HEAD}requires: [control]\nsteps:\n  - control: {{ mock: {{ user: u1 }} }}\n"), (7, 22), "expected a mapping with `op`")]
#[case::control_expect_beside_a_plain_op(format!("{HEAD}requires: [control]\nsteps:\n  - control: {{ bind: dev }}\n    expect: {{ ok: true }}\n"), (8, 13), "only a `mock` control operation has an answer")]
#[case::control_two_operations(format!("{HEAD}requires: [control]\nsteps:\n  - control: {{ bind: dev, unbind: dev }}\n"), (7, 27), "does one thing")]
#[case::unknown_device(with_steps("  - connect: { device: phone }\n"), (6, 24), "unknown device `phone`")]
#[case::bad_id("id: \"two words\"\ntitle: t\nrequirements: [C9]\nrole: device\nsteps: [wait: 1s]\n", (1, 5), "invalid scenario id `two words`")]
#[case::unknown_role("id: x\ntitle: t\nrequirements: [C9]\nrole: clud\nsteps: [wait: 1s]\n", (4, 7), "did you mean `cloud`?")]
#[case::repeat_out_of_range(with_steps("  - repeat: { times: 0, steps: [wait: 1s] }\n"), (6, 22), "an integer from 1 to 1000")]
#[case::repeat_too_many(with_steps("  - repeat: { times: 1001, steps: [wait: 1s] }\n"), (6, 22), "`times` is out of range")]
#[case::empty_steps(format!("{HEAD}steps: []\n"), (5, 8), "at least one step")]
#[case::scalar_step(with_steps("  - disconnect\n"), (6, 5), "write `disconnect:`")]
#[case::send_two_frames(with_steps("  - send: { text: a, json: 1 }\n"), (6, 22), "sends one frame")]
#[case::bad_hex(with_steps("  - send: { binary_hex: \"0g\" }\n"), (6, 25), "invalid `binary_hex`")]
#[case::no_reply_with_expect(with_steps("  - request: { cmd: ping, no_reply: true }\n    expect: { errcode: 0 }\n"), (7, 5), "cannot be used with `no_reply: true`")]
#[case::fixed_deadline(format!("{HEAD}deadline: \"${{x}}+1s\"\nsteps: [wait: 1s]\n"), (5, 11), "`deadline` must be a fixed duration")]
#[case::var_shadows_run_variable(format!("{HEAD}vars: {{ now: 1 }}\nsteps: [wait: 1s]\n"), (5, 9), "`now` is a run variable")]
#[case::window_inverted(with_steps("  - expect_closed: { within: 5s, not_before: 10s }\n"), (6, 46), "later than `within`")]
// ---- roles ----
#[case::device_step_in_cloud_role(cloud_steps("  - connect: a\n"), (6, 5), "a `connect` step belongs to the device role; this scenario has `role: cloud`")]
#[case::device_step_counterpart(cloud_steps("  - request: { cmd: ping }\n"), (6, 5), "`receive` takes a request the device sent")]
#[case::cloud_step_in_device_role(with_steps("  - accept:\n"), (6, 5), "an `accept` step belongs to the cloud role; this scenario has `role: device`")]
#[case::cloud_step_counterpart(with_steps("  - delay: 1s\n"), (6, 5), "`wait` lets scenario time pass")]
#[case::cloud_step_in_repeat(with_steps("  - repeat: { times: 2, steps: [mark: m] }\n"), (6, 33), "a `mark` step belongs to the cloud role")]
#[case::auto_reply_in_device_role(format!("{HEAD}auto_reply: {{ ping: off }}\nsteps: [wait: 1s]\n"), (5, 1), "`auto_reply` belongs to the cloud role")]
#[case::device_control_capability_in_device_role(format!("{HEAD}requires: [device_control]\nsteps: [wait: 1s]\n"), (5, 12), "capability `device_control` belongs to the cloud role")]
#[case::control_capability_in_cloud_role(format!("{CLOUD_HEAD}requires: [control]\nsteps: [accept: a]\n"), (5, 12), "capability `control` belongs to the device role")]
#[case::unbound_capability_in_cloud_role(format!("{CLOUD_HEAD}requires: [unbound]\nsteps: [accept: a]\n"), (5, 12), "capability `unbound` belongs to the device role")]
#[case::frame_limit_capability_in_cloud_role(format!("{CLOUD_HEAD}requires: [frame_limit]\nsteps: [accept: a]\n"), (5, 12), "capability `frame_limit` belongs to the device role")]
#[case::each_takes_a_matcher(with_steps("  - request: { cmd: ping }\n    expect: { body: { item: { $each: { $regex: \"(\" } } } }\n"), (7, 38), "invalid $regex")]
#[case::unknown_capability(format!("{CLOUD_HEAD}requires: [device_contrl]\nsteps: [accept: a]\n"), (5, 12), "did you mean `device_control`?")]
#[case::unknown_cloud_step_kind(cloud_steps("  - recieve: {}\n"), (6, 5), "did you mean `receive`?")]
// ---- top level: auto_reply, manual ----
#[case::auto_reply_bad_value(format!("{CLOUD_HEAD}auto_reply: {{ ping: on }}\nsteps: [accept: a]\n"), (5, 21), "expected a reply mapping (keys errcode, errmsg, body, suggestion, interval, no_advice, binary) or `off`")]
#[case::auto_reply_unknown_key(format!("{CLOUD_HEAD}auto_reply: {{ ping: {{ errcod: 1 }} }}\nsteps: [accept: a]\n"), (5, 23), "did you mean `errcode`?")]
#[case::auto_reply_not_a_map(format!("{CLOUD_HEAD}auto_reply: off\nsteps: [accept: a]\n"), (5, 13), "wrong type for `auto_reply`")]
#[case::manual_with_steps(format!("{CLOUD_HEAD}manual: look at the LED\nsteps: [accept: a]\n"), (6, 1), "a manual scenario has no steps")]
#[case::manual_empty(format!("{CLOUD_HEAD}manual: \"  \"\n"), (5, 9), "`manual` is empty")]
#[case::manual_not_text(format!("{CLOUD_HEAD}manual: [a]\n"), (5, 9), "wrong type for `manual`")]
#[case::steps_still_required(format!("{CLOUD_HEAD}\n"), (1, 1), "missing required key `steps`")]
// ---- accept, receive ----
#[case::accept_unknown_key(cloud_steps("  - accept: { within: 5s, from: 127.0.0.2 }\n"), (6, 27), "unknown key `from` in an `accept` step")]
#[case::receive_shorthand(cloud_steps("  - receive: register\n"), (6, 14), "write `receive: { cmd: register }`")]
#[case::receive_window(cloud_steps("  - receive: { within: 1s, not_before: 2s }\n"), (6, 40), "later than `within`")]
#[case::expect_beside_receive(cloud_steps("  - receive: { cmd: register }\n    expect: { errcode: 0 }\n"), (7, 5), "unknown key `expect` beside `receive`")]
#[case::expect_beside_receive_help(cloud_steps("  - receive: { cmd: register }\n    expect: { errcode: 0 }\n"), (7, 5), "checks the request with `check`")]
#[case::check_beside_request(with_steps("  - request: { cmd: ping }\n    check: { cmd: ping }\n"), (7, 5), "`check` goes beside `receive`; beside `request` write `expect`")]
#[case::check_alone(cloud_steps("  - check: { cmd: x }\n"), (6, 5), "`check` goes beside a `receive` step")]
#[case::bad_signature_kind(cloud_steps("  - receive:\n    check: { body: { sig: { $signature: md5 } } }\n"), (7, 41), "$signature takes `register` or `secret_no`")]
#[case::capture_shadows_req_id(cloud_steps("  - receive:\n    capture: { req_id: headers.req_id }\n"), (7, 16), "`req_id` is a run variable")]
// ---- reply, no_reply ----
#[case::reply_bad_suggestion(cloud_steps("  - receive:\n  - reply: { errcode: 600014, suggestion: retyr }\n"), (7, 43), "did you mean `retry`?")]
#[case::reply_interval(cloud_steps("  - receive:\n  - reply: { errcode: 600014, interval: -2 }\n"), (7, 41), "`interval` is out of range")]
#[case::reply_interval_type(cloud_steps("  - receive:\n  - reply: { errcode: 600014, interval: 1.5 }\n"), (7, 41), "or -1 for never, found a number")]
#[case::reply_no_advice_conflict(cloud_steps("  - receive:\n  - reply: { errcode: 600014, no_advice: true, suggestion: retry }\n"), (7, 48), "`suggestion` cannot be used with `no_advice: true`")]
#[case::reply_errcode_type(cloud_steps("  - receive:\n  - reply: { errcode: \"0\" }\n"), (7, 23), "expected an integer, found a string")]
#[case::reply_binary_type(cloud_steps("  - receive:\n  - reply: { binary: [1] }\n"), (7, 22), "wrong type for `binary`")]
#[case::reply_before_receive(cloud_steps("  - accept:\n  - reply: { errcode: 0 }\n"), (7, 5), "no `receive` step comes before it")]
#[case::no_reply_before_receive(cloud_steps("  - no_reply:\n"), (6, 5), "`no_reply` acts on the last received request")]
#[case::no_reply_beside_request(with_steps("  - request: { cmd: ping }\n    no_reply: true\n"), (7, 5), "`no_reply` is an argument of `request`")]
// ---- fault, wait keepalive ----
#[case::fault_without_action(with_steps("  - fault: { conn: a }\n"), (6, 12), "a `fault` step says what the harness does")]
#[case::fault_two_actions(with_steps("  - fault: { drop: inbound, reset: true }\n"), (6, 29), "a `fault` step does one thing; found `drop` and `reset`")]
#[case::fault_bad_direction(with_steps("  - fault: { drop: inbond }\n"), (6, 20), "did you mean `inbound`?")]
#[case::fault_delay_without_by(with_steps("  - fault: { delay: inbound }\n"), (6, 14), "missing required key `by` in a `fault` step that delays")]
#[case::fault_by_without_delay(with_steps("  - fault: { drop: inbound, by: 1s }\n"), (6, 29), "`by` applies to `delay`, not to `drop`")]
#[case::fault_bad_by(with_steps("  - fault: { delay: outbound, by: soon }\n"), (6, 35), "invalid duration \"soon\"")]
#[case::fault_match_on_reset(with_steps("  - fault: { reset: true, match: { cmd: x } }\n"), (6, 27), "`match` applies to frame faults (drop, delay, duplicate), not to `reset`")]
#[case::fault_match_unknown_key(with_steps("  - fault: { drop: inbound, match: { reply: register } }\n"), (6, 38), "unknown key `reply` in a fault's `match`")]
#[case::fault_match_both(with_steps("  - fault: { drop: inbound, match: { cmd: a, reply_to: b } }\n"), (6, 46), "takes `cmd` or `reply_to`, not both")]
#[case::fault_match_empty(with_steps("  - fault: { drop: inbound, match: {} }\n"), (6, 36), "an empty `match` takes every frame")]
#[case::fault_count_zero(with_steps("  - fault: { drop: inbound, count: 0 }\n"), (6, 36), "an integer from 1 to 1000")]
#[case::fault_half_open_false(with_steps("  - fault: { half_open: false }\n"), (6, 25), "`half_open: false` does nothing")]
#[case::fault_unknown_key(with_steps("  - fault: { drop: inbound, times: 2 }\n"), (6, 29), "unknown key `times` in a `fault` step")]
#[case::wait_keepalive_in_cloud_role(cloud_steps("  - wait: { for: 5s, keepalive: true }\n"), (6, 22), "`keepalive` belongs to the device role")]
#[case::wait_mapping_without_for(with_steps("  - wait: { keepalive: true }\n"), (6, 11), "missing required key `for` in a `wait` step")]
#[case::wait_keepalive_type(with_steps("  - wait: { for: 5s, keepalive: yes }\n"), (6, 33), "expected true or false, found a string")]
// ---- push, close, delay, expect_reconnect ----
#[case::push_cmd_prefix(cloud_steps("  - push: { cmd: unbind_corp }\n"), (6, 18), "the `cmd` of a push must start with `push_`")]
#[case::push_cmd_suggests(cloud_steps("  - push: { cmd: unbind_corp }\n"), (6, 18), "did you mean `push_unbind_corp`?")]
#[case::push_missing_cmd(cloud_steps("  - push: { body: {} }\n"), (6, 11), "missing required key `cmd` in a `push` step")]
#[case::close_code_range(cloud_steps("  - close: { code: 999 }\n"), (6, 20), "`code` is out of range: expected an integer from 1000 to 4999")]
#[case::close_code_reserved(cloud_steps("  - close: { code: 1006 }\n"), (6, 20), "close code 1006 cannot be sent")]
#[case::close_reason_long(cloud_steps(&format!("  - close: {{ reason: {} }}\n", "x".repeat(124))), (6, 22), "close reason is 124 bytes long")]
#[case::delay_bad(cloud_steps("  - delay: soon\n"), (6, 12), "invalid duration")]
#[case::reconnect_window(cloud_steps("  - expect_reconnect: { within: 5s, not_before: 10s }\n"), (6, 49), "later than `within`")]
// ---- mark, timing ----
#[case::mark_name(cloud_steps("  - mark: 1st\n"), (6, 11), "invalid mark name `1st`")]
#[case::timing_missing_cmd(cloud_steps("  - timing: { none: true }\n"), (6, 13), "missing required key `cmd` in a `timing` step")]
#[case::timing_no_check(cloud_steps("  - timing: { cmd: ping }\n"), (6, 13), "a `timing` step needs at least one check")]
#[case::timing_only_false(cloud_steps("  - timing: { cmd: ping, jitter: false, none: false }\n"), (6, 13), "needs at least one check")]
#[case::timing_since_later(cloud_steps("  - timing: { cmd: ping, since: start, none: true }\n  - mark: start\n"), (6, 33), "`since` names mark `start`, which no earlier step sets")]
#[case::timing_since_later_help(cloud_steps("  - timing: { cmd: ping, since: start, none: true }\n  - mark: start\n"), (6, 33), "move the `mark` before it")]
#[case::timing_since_typo(cloud_steps("  - mark: start\n  - timing: { cmd: ping, since: strat, none: true }\n"), (7, 33), "did you mean `start`?")]
#[case::timing_since_no_marks(cloud_steps("  - timing: { cmd: ping, since: start, min_count: 1 }\n"), (6, 33), "add `- mark: start`")]
#[case::timing_since_later_in_repeat(cloud_steps("  - repeat:\n      times: 2\n      steps:\n        - timing: { cmd: ping, since: m, min_count: 1 }\n        - mark: m\n"), (9, 39), "no earlier step sets")]
#[case::timing_none_conflict(cloud_steps("  - timing: { cmd: ping, none: true, min_count: 2 }\n"), (6, 38), "`min_count` cannot be used with `none: true`")]
#[case::timing_gaps_inverted(cloud_steps("  - timing: { cmd: ping, gaps: { min: 10s, max: 5s } }\n"), (6, 49), "`gaps.max` (5s) is less than `gaps.min` (10s)")]
#[case::timing_gaps_empty(cloud_steps("  - timing: { cmd: ping, gaps: {} }\n"), (6, 32), "`gaps` needs a bound")]
#[case::timing_gaps_typo(cloud_steps("  - timing: { cmd: ping, gaps: { mx: 5s } }\n"), (6, 34), "did you mean `max`?")]
#[case::timing_max_per_missing(cloud_steps("  - timing: { cmd: ping, max_per: { count: 5 } }\n"), (6, 35), "missing required key `per` in `max_per` of a `timing` step")]
#[case::timing_max_per_zero(cloud_steps("  - timing: { cmd: ping, max_per: { count: 5, per: 0s } }\n"), (6, 52), "`per` must be longer than zero")]
#[case::timing_min_count_zero(cloud_steps("  - timing: { cmd: ping, min_count: 0 }\n"), (6, 37), "`min_count` is out of range")]
#[case::timing_jitter_type(cloud_steps("  - timing: { cmd: ping, jitter: yes }\n"), (6, 34), "expected true or false, found a string")]
// ---- device_control ----
#[case::device_control_without_requires(cloud_steps("  - device_control: { checkin: { userid: zhangsan } }\n"), (6, 5), "add `requires: [device_control]`")]
#[case::checkin_pass_method(format!("{CLOUD_HEAD}requires: [device_control]\nsteps:\n  - device_control: {{ checkin: {{ userid: u1, pass_method: 7 }} }}\n"), (7, 59), "`pass_method` is out of range: expected an integer from 1 to 6")]
#[case::checkin_missing_userid(format!("{CLOUD_HEAD}requires: [device_control]\nsteps:\n  - device_control: {{ checkin: {{ pass_type: 1 }} }}\n"), (7, 32), "missing required key `userid` in a `checkin`")]
#[case::device_control_unknown_action(format!("{CLOUD_HEAD}requires: [device_control]\nsteps:\n  - device_control: {{ chekin: {{ userid: u }} }}\n"), (7, 23), "did you mean `checkin`?")]
#[case::device_control_no_action(format!("{CLOUD_HEAD}requires: [device_control]\nsteps:\n  - device_control: {{}}\n"), (7, 21), "needs an action")]
// ---- unreachable receives, operator hints ----
#[case::receive_auto_answered(cloud_steps("  - accept: {}\n  - receive: { cmd: ping }\n"), (7, 5), "add `auto_reply: { ping: off }` at the top level")]
#[case::receive_scenario_auto_reply(format!("{CLOUD_HEAD}auto_reply: {{ get_perm_version: {{}} }}\nsteps:\n  - accept: {{}}\n  - repeat: {{ times: 2, steps: [ {{ receive: {{ cmd: get_perm_version }} }} ] }}\n"), (8, 34), "`get_perm_version` is answered automatically")]
#[case::eq_operator(with_steps("  - request: { cmd: ping }\n    expect: { errcode: { $eq: 0 } }\n"), (7, 26), "equality needs no operator")]
// ---- expressions ----
#[case::division_by_zero(with_steps("  - request: { cmd: ping, body: { t: \"${now/0}\" } }\n"), (6, 38), "`${now/0}` divides by zero")]
#[case::offset_not_integer(with_steps("  - request: { cmd: ping, body: { t: \"x ${now+abc}\" } }\n"), (6, 38), "the offset after `+` must be an integer")]
#[case::unclosed_in_body(with_steps("  - request: { cmd: ping, body: { t: \"${now\" } }\n"), (6, 38), "unclosed `${`")]
// ---- purpose ----
#[case::purpose_twice(cloud_steps("  - purpose: one\n  - accept: {}\n  - purpose: two\n"), (8, 14), "one `purpose` per scenario; the test body already starts at line 6")]
#[case::purpose_nested(cloud_steps("  - repeat: { times: 2, steps: [ { purpose: inner } ] }\n"), (6, 45), "`purpose` at the top level of `steps`")]
#[case::purpose_empty(cloud_steps("  - purpose: \"  \"\n"), (6, 14), "`purpose` needs a sentence")]
#[case::assumption_not_text(format!("{CLOUD_HEAD}assumption: [1]\nsteps:\n  - wait: 1s\n"), (5, 13), "expected a sentence naming the undocumented reading")]
// ---- observer role ----
#[case::observer_expect_without_from(observer_steps("  - expect: { cmd: register }\n"), (6, 13), "missing required key `from`")]
#[case::observer_expect_unknown_party(observer_steps("  - expect: { from: mock, cmd: register }\n"), (6, 21), "unknown party `mock`")]
#[case::observer_expect_cmd_and_reply(observer_steps("  - expect: { from: cloud, cmd: a, reply_to: b }\n"), (6, 36), "takes `cmd` or `reply_to`, not both")]
#[case::observer_expect_conn(observer_steps("  - expect: { from: device, conn: a, cmd: register }\n"), (6, 29), "unknown key `conn`")]
#[case::observer_expect_capture(observer_steps("  - expect: { from: device, cmd: register }\n    capture: { id: headers.req_id }\n"), (7, 14), "`capture` is not taken by an observer's `expect`")]
#[case::observer_fault_direction(observer_steps("  - fault: { drop: inbound, match: { reply_to: register } }\n"), (6, 20), "invalid direction `inbound` for `drop`")]
#[case::observer_fault_count(observer_steps("  - fault: { drop: to_device, count: 2 }\n"), (6, 31), "unknown key `count`")]
#[case::observer_fault_delay_without_by(observer_steps("  - fault: { delay: to_device }\n"), (6, 14), "missing required key `by`")]
#[case::observer_step_of_a_party(observer_steps("  - receive: { cmd: register }\n"), (6, 5), "a `receive` step belongs to the cloud role; this scenario has `role: observer`")]
#[case::observer_window_unknown_constant(observer_steps("  - expect: { from: device, cmd: register, within: \"${resend_latst}\" }\n"), (6, 52), "did you mean `resend_latest`?")]
#[case::observer_from_in_device_role(with_steps("  - expect: { from: cloud, frame: {} }\n"), (6, 15), "unknown key `from`")]
#[case::link_fault_in_cloud_role(cloud_steps("  - fault: { drop: to_device }\n"), (6, 20), "invalid direction `to_device` for `drop`")]
fn invalid_files_point_at_the_problem(
    #[case] text: String,
    #[case] at: (u32, u32),
    #[case] fragment: &str,
) {
    let err = load(&text).expect_err("the file must not load");
    let d = &err.diagnostics()[0];
    let shown = d.to_string();
    assert!(
        shown.contains(fragment),
        "{fragment:?} not in {shown:?}\n{}",
        err.render()
    );
    assert_eq!((d.span.line, d.span.col), at, "{}", err.render());
}

#[test]
fn duplicate_ids_across_files_point_at_the_second() {
    let dir = temp_dir("dup");
    std::fs::write(dir.join("a.yaml"), with_steps("  - wait: 1s\n")).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub").join("b.yml"), with_steps("  - wait: 2s\n")).unwrap();
    let err = load_paths(std::slice::from_ref(&dir)).expect_err("duplicate ids");
    let d = &err.diagnostics()[0];
    assert_eq!(d.path, dir.join("sub").join("b.yml"));
    assert_eq!((d.span.line, d.span.col), (1, 5));
    assert!(d.message.contains("duplicate scenario id `t.case`"), "{d}");
    let first = format!("{}:1:5", dir.join("a.yaml").display());
    assert!(
        d.note.as_deref().is_some_and(|n| n.contains(&first)),
        "{:?}",
        d.note
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_file_is_checked_and_good_files_still_count() {
    let dir = temp_dir("many");
    std::fs::write(dir.join("1-ok.yaml"), with_steps("  - wait: 1s\n")).unwrap();
    std::fs::write(dir.join("2-bad.yaml"), with_steps("  - wiat: 1s\n")).unwrap();
    std::fs::write(dir.join("3-bad.yaml"), "id: y\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "not a scenario").unwrap();
    let missing = dir.join("missing.yaml");
    let (ok, err) = loader::validate_paths(&[dir.clone(), missing.clone()]);
    let err = err.expect("errors");
    assert_eq!(ok, 1);
    assert_eq!(err.file_count(), 3, "{err:?}");
    let paths: Vec<&Path> = err.diagnostics().iter().map(|d| d.path.as_path()).collect();
    assert!(
        paths.contains(&dir.join("2-bad.yaml").as_path()) && paths.contains(&missing.as_path())
    );
    assert!(
        err.render().contains("cannot read scenario path"),
        "{err:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_empty_directory_loads_nothing() {
    let dir = temp_dir("empty");
    assert!(load_paths(std::slice::from_ref(&dir)).unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- cloud role: valid snippets ----

fn cloud(steps: &str) -> Scenario {
    load(&cloud_steps(steps)).unwrap()
}

fn secs(n: u64) -> Option<DurationExpr> {
    Some(DurationExpr::Fixed(Duration::from_secs(n)))
}

#[test]
fn accept_forms() {
    let s = cloud("  - accept:\n  - accept: b\n  - accept: { conn: c, within: 30s }\n");
    assert_eq!(s.role, Role::Cloud);
    assert!(matches!(&s.steps[0].kind, StepKind::Accept(a) if a.conn == "a" && a.within.is_none()));
    assert!(matches!(&s.steps[1].kind, StepKind::Accept(a) if a.conn == "b"));
    assert!(
        matches!(&s.steps[2].kind, StepKind::Accept(a) if a.conn == "c" && a.within == secs(30))
    );
}

#[test]
fn receive_with_check_and_capture() {
    let s = cloud(
        "  - receive: { cmd: register, within: 5s, not_before: 1s }\n    check: { body: { device_signature: { $signature: register } } }\n    capture: { first: headers.req_id }\n  - receive:\n  - receive: { conn: b }\n",
    );
    let StepKind::Receive(r) = &s.steps[0].kind else {
        panic!("{:?}", s.steps[0])
    };
    assert_eq!((r.conn.as_str(), r.cmd.as_deref()), ("a", Some("register")));
    assert_eq!((r.within.clone(), r.not_before.clone()), (secs(5), secs(1)));
    let check = r.check.as_ref().expect("check");
    assert_eq!((check.span.line, check.span.col), (7, 12));
    let want = Matcher::Object(vec![(
        "body".into(),
        Matcher::Object(vec![(
            "device_signature".into(),
            Matcher::Ops(vec![Op::Signature(SignatureKind::Register)]),
        )]),
    )]);
    assert_eq!(check.value, want);
    assert_eq!(r.capture["first"], "headers.req_id");
    assert!(
        matches!(&s.steps[1].kind, StepKind::Receive(r) if r.conn == "a" && r.cmd.is_none() && r.check.is_none())
    );
    assert!(matches!(&s.steps[2].kind, StepKind::Receive(r) if r.conn == "b"));
}

#[test]
fn reply_defaults_and_fields() {
    let s = cloud(
        "  - receive:\n  - reply:\n  - reply: { to: \"${req_id}\", errcode: 600014, errmsg: busy, body: { a: 1 }, suggestion: retry, interval: -1 }\n  - reply: { conn: b, errcode: 600003, no_advice: true }\n  - reply: { to: 7, binary: \"{}\" }\n",
    );
    let replies: Vec<_> = s.steps[1..]
        .iter()
        .map(|st| match &st.kind {
            StepKind::Reply(r) => r.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    let default = ReplySpec {
        errcode: 0,
        errmsg: None,
        body: None,
        suggestion: None,
        interval: None,
        binary: None,
        no_advice: false,
    };
    assert_eq!(
        (replies[0].conn.as_str(), replies[0].to.as_deref()),
        ("a", None)
    );
    assert_eq!(replies[0].spec, default);
    assert_eq!(replies[1].to.as_deref(), Some("${req_id}"));
    assert_eq!(
        replies[1].spec,
        ReplySpec {
            errcode: 600014,
            errmsg: Some("busy".into()),
            body: Some(json!({"a": 1})),
            suggestion: Some("retry".into()),
            interval: Some(-1),
            ..default.clone()
        }
    );
    assert_eq!(replies[2].conn, "b");
    assert_eq!(
        replies[2].spec,
        ReplySpec {
            errcode: 600003,
            no_advice: true,
            ..default.clone()
        }
    );
    assert_eq!(replies[3].to.as_deref(), Some("7"));
    assert_eq!(
        replies[3].spec,
        ReplySpec {
            binary: Some("{}".into()),
            ..default
        }
    );
}

#[test]
fn reply_with_to_needs_no_receive() {
    let s = cloud("  - accept:\n  - reply: { to: r1 }\n");
    assert!(matches!(&s.steps[1].kind, StepKind::Reply(r) if r.to.as_deref() == Some("r1")));
}

#[test]
fn no_reply_forms() {
    let s = cloud("  - receive:\n  - no_reply:\n  - no_reply: b\n  - no_reply: { conn: c }\n");
    let conns: Vec<&str> = s.steps[1..]
        .iter()
        .map(|st| match &st.kind {
            StepKind::NoReply(c) => c.conn.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(conns, ["a", "b", "c"]);
}

#[test]
fn push_close_delay_and_reconnect() {
    let s = cloud(
        "  - push: { cmd: push_unbind_corp }\n  - push: { conn: b, cmd: push_future_thing, body: { x: [1] }, req_id: 42 }\n  - close:\n  - close: { code: 4001, reason: bye }\n  - delay: \"${iteration}+1s\"\n  - expect_reconnect: { within: 30s, not_before: 1s }\n  - expect_reconnect:\n",
    );
    assert!(
        matches!(&s.steps[0].kind, StepKind::Push(p) if p.conn == "a" && p.cmd == "push_unbind_corp" && p.body.is_none() && p.req_id.is_none())
    );
    let StepKind::Push(p) = &s.steps[1].kind else {
        panic!()
    };
    assert_eq!(
        (p.conn.as_str(), p.cmd.as_str(), p.req_id.as_deref()),
        ("b", "push_future_thing", Some("42"))
    );
    assert_eq!(p.body, Some(json!({"x": [1]})));
    assert!(
        matches!(&s.steps[2].kind, StepKind::Close(c) if c.conn == "a" && c.code.is_none() && c.reason.is_none())
    );
    assert!(
        matches!(&s.steps[3].kind, StepKind::Close(c) if c.code == Some(4001) && c.reason.as_deref() == Some("bye"))
    );
    assert!(
        matches!(&s.steps[4].kind, StepKind::Delay(DurationExpr::Expr(e)) if e == "${iteration}+1s")
    );
    assert!(
        matches!(&s.steps[5].kind, StepKind::ExpectReconnect(r) if r.conn == "a" && r.within == secs(30) && r.not_before == secs(1))
    );
    assert!(
        matches!(&s.steps[6].kind, StepKind::ExpectReconnect(r) if r.within.is_none() && r.not_before.is_none())
    );
}

#[test]
fn mark_and_timing() {
    let s = cloud(
        "  - mark: start\n  - timing: { cmd: ping, conn: a, since: start, gaps: { min: 25s, max: \"${iteration}+5s\" }, jitter: true, min_count: 3, max_per: { count: 5, per: 60s } }\n  - timing: { cmd: register, none: true }\n  - timing: { cmd: ping, gaps: { max: 42s } }\n  - repeat: { times: 2, steps: [mark: again] }\n  - timing: { cmd: ping, since: again, jitter: true }\n",
    );
    assert!(matches!(&s.steps[0].kind, StepKind::Mark(m) if m == "start"));
    let StepKind::Timing(t) = &s.steps[1].kind else {
        panic!()
    };
    assert_eq!(
        (t.conn.as_deref(), t.cmd.as_str(), t.since.as_deref()),
        (Some("a"), "ping", Some("start"))
    );
    let gaps = t.gaps.as_ref().unwrap();
    assert_eq!(
        (gaps.min.clone(), gaps.max.clone()),
        (secs(25), Some(DurationExpr::Expr("${iteration}+5s".into())))
    );
    assert!(t.jitter && !t.none);
    assert_eq!(t.min_count, Some(3));
    assert_eq!(
        t.max_per,
        Some((5, DurationExpr::Fixed(Duration::from_secs(60))))
    );
    let StepKind::Timing(t) = &s.steps[2].kind else {
        panic!()
    };
    assert!(
        t.none
            && t.conn.is_none()
            && t.since.is_none()
            && t.gaps.is_none()
            && !t.jitter
            && t.min_count.is_none()
            && t.max_per.is_none()
    );
    let StepKind::Timing(t) = &s.steps[3].kind else {
        panic!()
    };
    assert!(matches!(&t.gaps, Some(g) if g.min.is_none() && g.max == secs(42)));
    assert!(matches!(&s.steps[5].kind, StepKind::Timing(t) if t.since.as_deref() == Some("again")));
}

#[test]
fn device_control_checkin() {
    let text = format!(
        "{CLOUD_HEAD}requires: [device_control]\nsteps:\n  - device_control: {{ checkin: {{ userid: zhangsan, pass_type: 1, pass_method: 3 }} }}\n  - device_control: {{ checkin: {{ userid: 1001 }} }}\n"
    );
    let s = load(&text).unwrap();
    assert_eq!(s.requires, [Capability::DeviceControl]);
    let StepKind::DeviceControl(d) = &s.steps[0].kind else {
        panic!()
    };
    assert_eq!(
        d,
        &DeviceControl::Checkin {
            userid: "zhangsan".into(),
            pass_type: Some(1),
            pass_method: Some(3)
        }
    );
    let StepKind::DeviceControl(d) = &s.steps[1].kind else {
        panic!()
    };
    assert_eq!(
        d,
        &DeviceControl::Checkin {
            userid: "1001".into(),
            pass_type: None,
            pass_method: None
        }
    );
}

#[test]
fn shared_steps_in_the_cloud_role() {
    let s = cloud("  - accept:\n  - wait: 1s\n  - expect_silence: { for: 45s, cmd: ping }\n  - expect_silence: { for: 5s }\n  - expect_closed: { within: 5s }\n  - disconnect:\n  - repeat: { times: 2, steps: [delay: 1s] }\n");
    assert!(
        matches!(&s.steps[2].kind, StepKind::ExpectSilence(e) if e.cmd.as_deref() == Some("ping") && e.duration == DurationExpr::Fixed(Duration::from_secs(45)))
    );
    assert!(matches!(&s.steps[3].kind, StepKind::ExpectSilence(e) if e.cmd.is_none()));
    assert!(
        matches!(&s.steps[6].kind, StepKind::Repeat(r) if matches!(r.steps[0].kind, StepKind::Delay(_)))
    );
    let silence = load(&with_steps("  - expect_silence: { for: 5s }\n")).unwrap();
    assert!(matches!(&silence.steps[0].kind, StepKind::ExpectSilence(e) if e.cmd.is_none()));
}

#[test]
fn auto_reply_entries() {
    let text = format!(
        "{CLOUD_HEAD}auto_reply:\n  ping: off\n  get_perm_version: {{ body: {{ perm_version: 3 }} }}\n  get_timestamp: {{}}\n  register: {{ errcode: 600014, suggestion: reconnect, interval: 90 }}\nsteps: [accept: a]\n"
    );
    let s = load(&text).unwrap();
    let auto = s.auto_reply.expect("auto_reply");
    assert_eq!(auto.len(), 4);
    assert_eq!(auto["ping"], AutoReply::Off);
    let AutoReply::Reply(perm) = &auto["get_perm_version"] else {
        panic!()
    };
    assert_eq!(
        (perm.errcode, perm.body.clone()),
        (0, Some(json!({"perm_version": 3})))
    );
    assert!(
        matches!(&auto["get_timestamp"], AutoReply::Reply(r) if r.errcode == 0 && r.body.is_none())
    );
    assert!(
        matches!(&auto["register"], AutoReply::Reply(r) if r.suggestion.as_deref() == Some("reconnect") && r.interval == Some(90))
    );
    assert!(
        cloud("  - accept:\n").auto_reply.is_none(),
        "no key means the defaults"
    );
}

#[test]
fn manual_scenarios_have_no_steps() {
    for rest in ["", "steps: []\n", "steps:\n"] {
        let s = load(&format!(
            "{CLOUD_HEAD}manual: |\n  Unplug the device and watch the LED.\n{rest}"
        ))
        .unwrap();
        assert_eq!(
            s.manual.as_deref(),
            Some("Unplug the device and watch the LED.\n")
        );
        assert!(s.steps.is_empty());
    }
    let s = load(&format!("{HEAD}manual: the cloud keeps audit logs\n")).unwrap();
    assert_eq!(
        (s.role, s.manual.as_deref()),
        (Role::Device, Some("the cloud keeps audit logs"))
    );
    assert!(load(&with_steps("  - wait: 1s\n"))
        .unwrap()
        .manual
        .is_none());
}

#[test]
fn every_error_of_a_cloud_file_is_reported() {
    let text =
        cloud_steps("  - connect: a\n  - receive: register\n  - push: { cmd: bind }\n  - timing: { cmd: ping, since: nope, none: true }\n");
    let err = load(&text).unwrap_err();
    let lines: Vec<u32> = err.diagnostics().iter().map(|d| d.span.line).collect();
    assert_eq!(lines, [6, 7, 8, 9], "{err:?}");
}

// ---- rendered diagnostics ----

fn rendered(text: &str) -> String {
    load_str(Path::new("scenarios/cloud/case.yaml"), text)
        .expect_err("invalid")
        .render()
}

#[test]
fn snapshot_unknown_key() {
    insta::assert_snapshot!(rendered(&with_steps(
        "  - connect: a\n  - request:\n      cmd: register\n      withn: 5s\n"
    )));
}

#[test]
fn snapshot_unknown_requirement_and_step_kind() {
    let text = "id: cloud.x\ntitle: t\nrequirements: [C9, C52]\nrole: device\nsteps:\n  - conect: b\n  - wait: 1s\n";
    insta::assert_snapshot!(rendered(text));
}

#[test]
fn snapshot_control_without_requires() {
    insta::assert_snapshot!(rendered(&with_steps(
        "  - connect: a\n  - control: { unbind: dev }\n"
    )));
}

#[test]
fn snapshot_cloud_role_steps() {
    let text = cloud_steps(
        "  - connect: a\n  - receive: { cmd: register }\n    expect: { errcode: 0 }\n  - timing: { cmd: ping, since: online, gaps: { max: 42s } }\n  - mark: online\n",
    );
    insta::assert_snapshot!(rendered(&text));
}

#[test]
fn snapshot_duplicate_id_and_missing_file() {
    let dir = temp_dir("snap");
    std::fs::write(dir.join("a.yaml"), with_steps("  - wait: 1s\n")).unwrap();
    std::fs::write(
        dir.join("b.yaml"),
        format!("# the same id again\n{}", with_steps("  - wait: 1s\n")),
    )
    .unwrap();
    let err = load_paths(&[dir.clone(), dir.join("gone.yaml")]).expect_err("errors");
    let text = err.render().replace(&dir.display().to_string(), "[dir]");
    let _ = std::fs::remove_dir_all(&dir);
    // The OS error text differs between platforms; keep only our part of the message.
    let text = text
        .lines()
        .map(|l| l.split(": No such file").next().unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!(text);
}

// ---- the library ----

/// Every file in the repository's `scenarios/` loads (none yet is fine); only manual
/// scenarios may have no steps.
#[test]
fn the_scenario_library_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scenarios");
    if !root.is_dir() {
        return;
    }
    let scenarios = match load_paths(std::slice::from_ref(&root)) {
        Ok(s) => s,
        Err(e) => panic!("the library does not load:\n{}", e.render()),
    };
    for s in &scenarios {
        assert!(s.manual.is_some() || !s.steps.is_empty(), "{}", s.id.value);
        // `to_yaml` writes text that loads back to the same scenario (same text again).
        let text = s.to_yaml();
        let again =
            load_str(&s.source.path, &text).unwrap_or_else(|e| panic!("{}\n{text}", e.render()));
        assert_eq!(again.to_yaml(), text, "{}", s.id.value);
        assert_eq!(again.steps.len(), s.steps.len(), "{}", s.id.value);
    }
}

mod properties;

#[test]
fn observer_steps_load_and_render_back() {
    let text = observer_steps(concat!(
        "  - fault: { drop: to_device, match: { reply_to: register } }\n",
        "  - fault: { delay: to_cloud, by: \"${retry_jitter_max}\", match: { cmd: ping } }\n",
        "  - fault: { reset: to_cloud }\n",
        "  - expect: { from: device, cmd: register, within: 30s }\n",
        "  - purpose: re-send\n",
        "  - expect: { from: device, cmd: register, not_before: \"${resend_earliest}\", within: \"${resend_latest}\" }\n",
        "    judges: [D13]\n",
        "  - expect: { from: cloud, reply_to: register, frame: { errcode: { $in: [0, 600012] } } }\n",
        "    judges: [C9]\n",
        "  - wait: 1s\n",
    ));
    let sc = load(&text).unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(sc.role, Role::Observer);
    let StepKind::Fault(f) = &sc.steps[0].kind else {
        panic!("{:?}", sc.steps[0])
    };
    assert_eq!(
        f.action,
        hwconform::scenario::FaultAction::Link {
            toward: hwconform::scenario::LinkDirection::ToDevice,
            what: hwconform::scenario::LinkFaultKind::Drop,
            only: Some(hwconform::scenario::FaultMatch::ReplyTo("register".into())),
        }
    );
    let StepKind::Expect(e) = &sc.steps[6].kind else {
        panic!("{:?}", sc.steps[6])
    };
    let o = e.observed.as_ref().expect("an observer's expect");
    assert_eq!(o.from, hwconform::scenario::ObservedParty::Cloud);
    assert_eq!(o.reply_to.as_deref(), Some("register"));
    // Rendered and loaded back: the same steps.
    let again = load(&sc.to_yaml()).unwrap_or_else(|e| panic!("{}\n{}", e.render(), sc.to_yaml()));
    assert_eq!(again.to_yaml(), sc.to_yaml());
}

/// `judges`, `$judges` and the protocol's windows load, and survive a trip through YAML text.
#[test]
fn judged_steps_and_protocol_windows_load_and_render_back() {
    let text = cloud_steps(
        "  - accept: {}\n    judges: []\n  - push: { cmd: push_open_self_input, body: { open_self_input_fa: true } }\n    deliberate: \"a push with fields left out\"\n  - receive: { cmd: register, not_before: \"${resend_earliest}\", within: \"${resend_latest}\" }\n    judges: { not_before: D12, rest: D12 }\n    check: { body: { nonce: { $type: integer, $judges: D12 } } }\n  - one_of:\n      a:\n        - receive: { cmd: checkin_none }\n      b:\n        - receive: { cmd: register }\n    judges: D12\n",
    );
    let sc = load(&text).unwrap_or_else(|e| panic!("{}", e.render()));
    assert!(sc.steps[0].judges_nothing);
    assert_eq!(
        sc.steps[1].deliberate.as_deref(),
        Some("a push with fields left out")
    );
    let sc = Scenario {
        steps: sc
            .steps
            .into_iter()
            .filter(|s| s.deliberate.is_none())
            .collect(),
        ..sc
    };
    assert_eq!(
        sc.steps[1]
            .judges
            .iter()
            .map(|j| j.value.as_str())
            .collect::<Vec<_>>(),
        ["D12"]
    );
    assert_eq!(
        sc.steps[1]
            .judges_not_before
            .iter()
            .map(|j| j.value.as_str())
            .collect::<Vec<_>>(),
        ["D12"]
    );
    assert_eq!(sc.steps[2].judges.len(), 1);
    let again = load(&sc.to_yaml()).unwrap_or_else(|e| panic!("{}\n{}", e.render(), sc.to_yaml()));
    assert_eq!(again.to_yaml(), sc.to_yaml());
    assert!(sc.to_yaml().contains("$judges: D12"), "{}", sc.to_yaml());
}

/// Every whole scenario the format guide shows (a ```yaml block that starts with `id:`)
/// loads: a guide whose examples drift fails here.
#[test]
fn the_guides_scenario_examples_load() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/src/reference/scenario-format.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let blocks: Vec<&str> = text
        .split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .filter(|b| b.starts_with("id:"))
        .collect();
    assert!(blocks.len() >= 2, "{} whole examples", blocks.len());
    for block in blocks {
        load_str(&path, block).unwrap_or_else(|e| panic!("{}\n{block}", e.render()));
    }
}
