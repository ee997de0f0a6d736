//! The optional areas of the WeCom smart-hardware protocol: what an access-control or
//! attendance device may leave out, each with the obligations of §6.1 it gates. A device's
//! implementation conformance statement says true or false for each; scenarios that check
//! one name it in `requires:`.

use crate::profile::feature::Feature;

/// Every optional area, in the order the ICS template lists them.
pub const FEATURES: &[Feature] = &[
    Feature {
        name: "contacts",
        description: "contact sync: get_perm_version, get_userinfo_by_page full pulls, push_change_contact increments",
        obligations: &["D24", "D25", "D26", "D27", "D28", "D29"],
        commands: &["get_perm_version", "get_userinfo_by_page", "get_userinfo_by_ids", "push_change_contact"],
    },
    Feature {
        name: "visitors",
        description: "visitor sync: push_visitor_list_change and get_visitor_by_ids",
        obligations: &["D30", "D31"],
        commands: &["push_visitor_list_change", "get_visitor_by_ids", "get_visitor_list"],
    },
    Feature {
        name: "checkin",
        description: "check-in and pass records uploaded with checkin, failed ones cached and retried",
        obligations: &["D32", "D33"],
        commands: &["checkin"],
    },
    Feature {
        name: "door",
        description: "remote door opening: push_remote_open_door answered with report_remote_open_door",
        obligations: &["D34"],
        commands: &["push_remote_open_door", "report_remote_open_door"],
    },
    Feature {
        name: "qr_open",
        description: "opening by scanning a QR code: push_user_scan with scan_qrcode_open",
        obligations: &["D35"],
        commands: &["push_user_scan"],
    },
    Feature {
        name: "face",
        description: "face enrolment: push_enter_page (fa) answered with upload_userinfo face templates",
        obligations: &["D36", "D37"],
        commands: &["push_enter_page", "upload_userinfo"],
    },
    Feature {
        name: "fingerprint",
        description: "fingerprint enrolment: push_enter_page (fp) answered with upload_userinfo fingerprint templates",
        obligations: &["D36", "D37"],
        commands: &["push_enter_page", "upload_userinfo"],
    },
    Feature {
        name: "temperature",
        description: "body-temperature reports: async_batch_report_user_temperature",
        obligations: &["D38"],
        commands: &["async_batch_report_user_temperature"],
    },
    Feature {
        name: "dynamic_qr",
        description: "a dynamic login QR code shown on the device's screen",
        obligations: &["D39"],
        commands: &[],
    },
    Feature {
        name: "firmware",
        description: "firmware updates: push_update_firmware followed by get_firmware_info",
        obligations: &["D40"],
        commands: &["push_update_firmware", "get_firmware_info"],
    },
    Feature {
        name: "log",
        description: "log upload: push_fetch_log answered with a binary upload_log",
        obligations: &["D41"],
        commands: &["push_fetch_log", "upload_log"],
    },
    Feature {
        name: "selfhelp",
        description: "self-help notifications: selfhelp_notify",
        obligations: &["D42"],
        commands: &["selfhelp_notify"],
    },
];

/// The features a command belongs to (several for `upload_userinfo`: face or fingerprint);
/// none for a command every device may send or receive.
pub fn owners(cmd: &str) -> Vec<&'static str> {
    FEATURES
        .iter()
        .filter(|f| f.commands.contains(&cmd))
        .map(|f| f.name)
        .collect()
}
